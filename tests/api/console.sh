#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# console.sh - browser console tickets against a live deskpoold on
# test:///default: the acquire's browser_url and websocket_url, the gateway
# role (and nothing more), redeeming once, refusals (used, expired, forged,
# malformed, session ended) that all look alike to the caller, the watch
# long poll that reports ended sessions, bad input, and no ticket in the log.
# The console itself through a real gateway and QEMU: tests/browser/console.sh.
. "$(dirname "$0")/../lib.sh"
t_require_binaries
command -v python3 >/dev/null || fail_now "python3 is missing"

t_tmpdir dir
port=$((20000 + ($$ + 4241) % 20000))
t_tokens "$dir/tokens" broker=broker reader=reader gateway=gw
printf 'console_gateway_url = https://gw.test:6443\nconsole_ticket_ttl = 60\n' >"$dir/dp.conf"
dp_start "$dir" "cons$$" --config "$dir/dp.conf" --listen "127.0.0.1:$port" \
    --set tokens_file="$dir/tokens" --set console_password=none --set boot_delay=0 \
    --set reconcile_interval=1 || fail_now "deskpoold did not start"
U=http://127.0.0.1:$port

# tcp TOKEN METHOD PATH [BODY]: STATUS and BODY over TCP with a bearer token.
tcp() {
    local token=$1 method=$2 path=$3 data=${4:-} out
    local args=(-s --max-time 40 -X "$method" -w '\n%{http_code}')
    [ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
    [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
    out=$(curl "${args[@]}" "$U$path") || { STATUS=000; BODY=; return 1; }
    STATUS=${out##*$'\n'}
    BODY=${out%$'\n'*}
}
jtrue() { [ "$(jget "$1" "$2" 2>&1)" = True ]; }
ready_is() { api GET "/v1/pools/$1"; jtrue "$BODY" "d['counts']['ready'] == $2"; }
# acquire USER: as the broker; sets STATUS, BODY, SID, TICKET.
acquire() {
    tcp "$broker" POST /v1/pools/web/sessions "{\"user\":\"$1\"}"
    SID=$(jget "$BODY" "d.get('id', '')" 2>/dev/null)
    TICKET=$(jget "$BODY" "d['connection']['browser_url'].split('ticket=')[1]" 2>/dev/null)
}
# reload KEY VALUE: appends KEY = VALUE to the config file, sends SIGHUP and
# waits until deskpoold logs that it took it.
reload() {
    printf '%s = %s\n' "$1" "$2" >>"$dir/dp.conf"
    kill -HUP "$DP_PID"
    wait_for 10 grep -q "Reloaded '$1' = '$2'" "$dir/daemon.log" ||
        fail_now "$1 was not reloaded to '$2'"
}
redeem() { tcp "$gw" POST /v1/console/redeem "{\"ticket\":\"$1\"}"; }
refused() { [ "$STATUS" = 403 ] && jtrue "$BODY" "d['error']['code'] == 'ticket_refused'"; }
TICKETS=()

make_qcow2 "$dir/img.qcow2"
api POST /v1/images "{\"name\":\"img\",\"path\":\"$dir/img.qcow2\"}"
[ "$STATUS" = 201 ] || fail_now "image not added: $STATUS $BODY"
api POST /v1/pools '{"name":"web","image":"img","template":"test","min":4,"spare":0,"max":4}'
[ "$STATUS" = 201 ] || fail_now "pool not created: $STATUS $BODY"
wait_for 60 ready_is web 4 || fail_now "pool web not ready: $BODY"

# ---------------------------------------------------------------- acquire
acquire alice
check "acquire answers 201" [ "$STATUS" = 201 ]
TICKETS+=("$TICKET")
check "browser_url is the gateway's /desktop with a 43-character ticket" \
    jtrue "$BODY" "__import__('re').fullmatch(r'https://gw\.test:6443/desktop\?ticket=[A-Za-z0-9_-]{43}', d['connection']['browser_url']) is not None"
check "websocket_url is wss:// on the gateway's /console with the same ticket" \
    jtrue "$BODY" "d['connection']['websocket_url'] == 'wss://gw.test:6443/console?ticket=$TICKET'"
check "ticket_expires is console_ticket_ttl (60 s) ahead" \
    jtrue "$BODY" "55 <= __import__('calendar').timegm(__import__('time').strptime(d['connection']['ticket_expires'], '%Y-%m-%dT%H:%M:%SZ')) - __import__('time').time() <= 61"
sid_alice=$SID
t_alice=$TICKET
acquire alice
same_new() { [ "$STATUS" = 200 ] && [ "$SID" = "$sid_alice" ] && [ -n "$TICKET" ] &&
             [ "$TICKET" != "$t_alice" ]; }
check "a repeated acquire: the same session (200) with a new ticket" same_new
t_alice2=$TICKET
TICKETS+=("$TICKET")

# ---------------------------------------------------------------- roles
redeem "$t_alice"
tcp "$broker" POST /v1/console/redeem "{\"ticket\":\"$t_alice2\"}"
check "the broker cannot redeem a ticket (403)" [ "$STATUS" = 403 ]
tcp "$reader" POST /v1/console/redeem "{\"ticket\":\"$t_alice2\"}"
check "a reader cannot redeem a ticket (403)" [ "$STATUS" = 403 ]
tcp "" POST /v1/console/redeem "{\"ticket\":\"$t_alice2\"}"
check "no token: 401" [ "$STATUS" = 401 ]
tcp "$gw" POST /v1/pools/web/sessions '{"user":"mallory"}'
check "the gateway cannot acquire (403)" [ "$STATUS" = 403 ]
tcp "$gw" GET /v1/sessions
check "the gateway cannot list sessions (403)" [ "$STATUS" = 403 ]
tcp "$gw" GET /v1/pools
check "the gateway cannot read pools (403)" [ "$STATUS" = 403 ]

# ---------------------------------------------------------------- redeem
redeem "$t_alice2"
check "the gateway redeems a fresh ticket (200)" [ "$STATUS" = 200 ]
check "the redeem names the session, pool, desktop and user" \
    jtrue "$BODY" "d['session'] == '$sid_alice' and d['pool'] == 'web' and d['user'] == 'alice' and d['desktop'].startswith('web-')"
check "the redeem gives the console's protocol, host and port" \
    jtrue "$BODY" "d['connection']['protocol'] == 'vnc' and d['connection']['host'] == '127.0.0.1' and 'port' in d['connection']"
redeem "$t_alice2"
check "a ticket used once is refused (403 ticket_refused)" refused
grep -q "Console ticket refused: already used; session $sid_alice" "$dir/daemon.log"
check "deskpoold logs why: already used, with the session" [ $? = 0 ]
api GET "/v1/audit?action=console.open"
check "the redeem is in the audit log (console.open)" \
    jtrue "$BODY" "any(e['action'] == 'console.open' and e['detail'] == '$sid_alice' for e in d['entries'])"

forged=$(python3 -c 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))')
redeem "$forged"
check "a forged ticket of the right shape is refused the same way" refused
check "deskpoold logs it as unknown" grep -q "Console ticket refused: unknown" "$dir/daemon.log"
for bad in short "${t_alice:0:42}?" "${t_alice}A" "$(printf '%043d' 0 | tr 0 '+')"; do
    redeem "$bad"
    check "a malformed ticket '${bad:0:8}...' is refused without a lookup (403)" refused
done
tcp "$gw" POST /v1/console/redeem '{}'
check "redeem without a ticket: 400" [ "$STATUS" = 400 ]
tcp "$gw" POST /v1/console/redeem "{\"ticket\":\"$forged\",\"x\":1}"
check "redeem with an unknown field: 400" [ "$STATUS" = 400 ]
tcp "$gw" POST /v1/console/redeem 'not json'
check "redeem with a body that is not JSON: 400" [ "$STATUS" = 400 ]
tcp "$gw" POST /v1/console/redeem '{"ticket":7}'
check "redeem with a ticket that is not a string: refused (403)" refused

# ---------------------------------------------------------------- expiry
reload console_ticket_ttl 1
acquire bob
TICKETS+=("$TICKET")
sid_bob=$SID
sleep 2.2
redeem "$TICKET"
check "an expired ticket is refused (403)" refused
check "deskpoold logs it as expired" grep -q "Console ticket refused: expired; session $sid_bob" "$dir/daemon.log"
reload console_ticket_ttl 60

# ---------------------------------------------------------------- session ends
acquire carol
TICKETS+=("$TICKET")
sid_carol=$SID
t_carol=$TICKET
acquire dave
TICKETS+=("$TICKET")
sid_dave=$SID
tcp "$gw" POST /v1/console/watch "{\"sessions\":[\"$sid_carol\",\"$sid_dave\"],\"wait\":1}"
check_both "watch of active sessions answers after its wait with none ended" \
    [ "$STATUS" = 200 ] -- jtrue "$BODY" "d['ended'] == []"
# a long poll, answered when carol's session ends
start=$(date +%s.%N)
( tcp "$gw" POST /v1/console/watch "{\"sessions\":[\"$sid_carol\",\"$sid_dave\"],\"wait\":30}"
  echo "$STATUS $BODY $(date +%s.%N)" >"$dir/watch.out" ) &
watch_pid=$!
sleep 1
rel_at=$(date +%s.%N)
tcp "$broker" DELETE "/v1/sessions/$sid_carol"
check "carol's session is released" [ "$STATUS" = 200 ]
wait "$watch_pid"
read -r w_status w_body w_at <"$dir/watch.out"
check_both "the long poll answers 200 with carol's session ended" \
    [ "$w_status" = 200 ] -- jtrue "$w_body" "d['ended'] == ['$sid_carol']"
lag=$(python3 -c "print(round($w_at - $rel_at, 2))")
check "the long poll answers within 1.5 s of the release (took $lag s)" \
    python3 -c "import sys; sys.exit(0 if $lag < 1.5 else 1)"
redeem "$t_carol"
check "the unused ticket of a released session is refused (403)" refused
check "deskpoold logs it as session ended" \
    grep -q "Console ticket refused: session ended; session $sid_carol" "$dir/daemon.log"
tcp "$gw" POST /v1/console/watch '{"sessions":["00000000-0000-4000-8000-000000000000"],"wait":30}'
check_both "watch of an unknown session answers at once: ended" \
    [ "$STATUS" = 200 ] -- jtrue "$BODY" "d['ended'] == ['00000000-0000-4000-8000-000000000000']"
tcp "$gw" POST /v1/console/watch '{"sessions":["nope"]}'
check "watch with a bad session id: 400" [ "$STATUS" = 400 ]
tcp "$gw" POST /v1/console/watch '{"sessions":"x"}'
check "watch with sessions not an array: 400" [ "$STATUS" = 400 ]
tcp "$gw" POST /v1/console/watch "{\"sessions\":[],\"wait\":61}"
check "watch with wait over 60: 400" [ "$STATUS" = 400 ]
tcp "$broker" POST /v1/console/watch "{\"sessions\":[]}"
check "the broker cannot watch (403)" [ "$STATUS" = 403 ]

# ---------------------------------------------------------------- no gateway
reload console_gateway_url ""
acquire erin
check_both "without console_gateway_url the acquire has no browser_url" \
    [ "$STATUS" = 201 ] -- jtrue "$BODY" "'browser_url' not in d['connection'] and 'websocket_url' not in d['connection']"

# ---------------------------------------------------------------- secrets
leaked=0
for t in "${TICKETS[@]}"; do
    [ -n "$t" ] && grep -qF -- "$t" "$dir/daemon.log" && leaked=$((leaked + 1))
done
check_both "no ticket appears in deskpoold's log (${#TICKETS[@]} checked, $leaked found)" \
    [ "$leaked" = 0 ] -- [ "${#TICKETS[@]}" -ge 5 ]
t_finish
