#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# sessions.sh - the broker's session routes against a live deskpoold on
# test:///default: acquire races (200 users for 10 desktops, one user 20
# times), release racing itself, idle timeout and max_session, group
# entitlement, roles and bearer tokens over TCP, and bad input that must be
# refused with a JSON error and assign nothing.
#
# The idle and max_session waits (30 s and 60 s, the API minimums) run in
# the background while the other cases run, so the suite takes ~70 s.
. "$(dirname "$0")/../lib.sh"
t_require_binaries
command -v python3 >/dev/null || fail_now "python3 is missing"

t_tmpdir dir
port=$((20000 + ($$ + 7919) % 20000))
tok() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
broker=b-$(tok)
reader=r-$(tok)
oper=o-$(tok)
hash() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
{
    echo "broker $(hash "$broker") the broker"
    echo "reader $(hash "$reader") monitoring"
    echo "operator $(hash "$oper") ops"
} >"$dir/tokens"
dp_start "$dir" "sess$$" --listen "127.0.0.1:$port" --set tokens_file="$dir/tokens" \
    --set console_password=none --set boot_delay=0 --set reconcile_interval=1 \
    || fail_now "deskpoold did not start"
U=http://127.0.0.1:$port

# burst METHOD PATH BODY N: N requests released at once from N threads (a
# barrier), over the unix socket; {i} in BODY is the request number. Prints
# one line per request: STATUS BODY.
cat >"$dir/burst.py" <<'PY'
import http.client, json, socket, sys, threading
sock, method, path, body_tpl, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=120)
        self.unix_path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(120)
        self.sock.connect(self.unix_path)
results = [None] * n
barrier = threading.Barrier(n)
def run(i):
    c = UnixConn(sock)
    try:
        c.connect()
        body = body_tpl.replace("{i}", str(i)).encode() if body_tpl else None
        barrier.wait()
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        c.request(method, path, body=body, headers=hdrs)
        r = c.getresponse()
        results[i] = (r.status, r.read().decode())
    except Exception as e:
        results[i] = (0, json.dumps({"exception": repr(e)}))
    finally:
        c.close()
ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
for s, b in results:
    print(s, b.replace("\n", " "))
PY
burst() { python3 "$dir/burst.py" "$DP_SOCK" "$@"; }

# jtrue JSON EXPR: the expression is true on the parsed document.
jtrue() { [ "$(jget "$1" "$2" 2>&1)" = True ]; }
# counts POOL: "ready assigned in_use" of a pool.
counts() {
    api GET "/v1/pools/$1"
    jget "$BODY" "'%d %d %d' % (d['counts']['ready'], d['counts']['assigned'], d['counts']['in_use'])"
}
ready_is() { api GET "/v1/pools/$1"; jtrue "$BODY" "d['counts']['ready'] == $2"; }
n_active() {
    api GET "/v1/sessions?pool=$1"
    jget "$BODY" "len(d['sessions'])"
}
# session_get ID: BODY holds the session.
session_get() { api GET "/v1/sessions/$1"; }
ended_with() { session_get "$1"; jtrue "$BODY" "d['state'] == 'ended' and d['end_reason'] == '$2'"; }
# span ID: seconds from created_at to ended_at of a session.
span() {
    session_get "$1"
    jget "$BODY" "__import__('calendar').timegm(__import__('time').strptime(d['ended_at'], '%Y-%m-%dT%H:%M:%SZ')) - __import__('calendar').timegm(__import__('time').strptime(d['created_at'], '%Y-%m-%dT%H:%M:%SZ'))"
}
# acquire POOL USER [GROUPS-JSON]: sets STATUS, BODY, SID.
acquire() {
    local g=${3:+,\"groups\":$3}
    api POST "/v1/pools/$1/sessions" "{\"user\":\"$2\"$g}"
    SID=$(jget "$BODY" "d.get('id', '')" 2>/dev/null)
}

# ---------------------------------------------------------------- fixture
make_qcow2 "$dir/img.qcow2"
api POST /v1/images "{\"name\":\"img\",\"path\":\"$dir/img.qcow2\"}"
[ "$STATUS" = 201 ] || fail_now "image not added: $STATUS $BODY"
mkpool() {
    api POST /v1/pools "{\"image\":\"img\",\"template\":\"test\",$1}"
    [ "$STATUS" = 201 ] || fail_now "pool not created ($1): $STATUS $BODY"
}
mkpool '"name":"race","min":10,"spare":0,"max":10'
mkpool '"name":"idle","min":2,"spare":0,"max":2,"idle_timeout":30'
mkpool '"name":"maxs","min":1,"spare":0,"max":1,"idle_timeout":30,"max_session":60'
mkpool '"name":"rel","min":1,"spare":0,"max":1'
mkpool '"name":"rad","min":2,"spare":0,"max":2,"groups":["radiology"]'
mkpool '"name":"open","min":2,"spare":0,"max":2'
mkpool '"name":"tcp","min":3,"spare":0,"max":3'
mkpool '"name":"bad","min":1,"spare":0,"max":1'
for p in race:10 idle:2 maxs:1 rel:1 rad:2 open:2 tcp:3 bad:1; do
    wait_for 60 ready_is "${p%%:*}" "${p#*:}" || fail_now "pool ${p%%:*} not ready: $BODY"
done

# ------------------------------------------- timeouts, started first (background)
acquire idle u.idle
[ "$STATUS" = 201 ] || fail_now "idle acquire: $STATUS $BODY"
sid_idle=$SID
acquire idle u.alive
[ "$STATUS" = 201 ] || fail_now "idle acquire 2: $STATUS $BODY"
sid_alive=$SID
acquire maxs u.max
[ "$STATUS" = 201 ] || fail_now "maxs acquire: $STATUS $BODY"
sid_max=$SID
t_timers=$SECONDS
(
    while :; do
        for s in "$sid_alive" "$sid_max"; do
            curl -s -o /dev/null --max-time 5 --unix-socket "$DP_SOCK" -X POST \
                "http://localhost/v1/sessions/$s/heartbeat"
        done
        sleep 5
    done
) &
hb_pid=$!
T_CLEANUPS+=("kill $hb_pid")
check "acquire answers a console with no password (console_password=none)" \
    jtrue "$BODY" "d['connection']['protocol'] == 'vnc' and d['connection']['password'] is None"

# ---------------------------------------------------------------- race
burst POST /v1/pools/race/sessions '{"user":"racer{i}","client":"c{i}"}' 200 >"$dir/race.out" 2>&1
race_stats() {
    python3 - "$1" <<'PY'
import json, sys
ok, exh, other, desks = 0, 0, [], set()
for line in open(sys.argv[1]):
    s, _, b = line.rstrip("\n").partition(" ")
    try:
        d = json.loads(b)
    except ValueError:
        other.append(line[:120]); continue
    if s == "201":
        ok += 1; desks.add(d["desktop"])
    elif s == "503" and d.get("error", {}).get("code") == "pool_exhausted":
        exh += 1
    else:
        other.append(line[:160])
print(ok, exh, len(desks), len(other))
for o in other[:5]:
    print("  unexpected:", o, file=sys.stderr)
PY
}
read -r r_ok r_exh r_desks r_other < <(race_stats "$dir/race.out")
check "race: 200 concurrent users, 10 desktops: exactly 10 x 201 (got $r_ok)" [ "$r_ok" = 10 ]
check "race: the 10 winners got 10 different desktops (got $r_desks)" [ "$r_desks" = 10 ]
check "race: 190 x 503 pool_exhausted (got $r_exh, other $r_other)" [ "$r_exh" = 190 ]
[ "$r_other" = 0 ] || race_stats "$dir/race.out" >/dev/null
check "race: the store shows 10 active sessions" [ "$(n_active race)" = 10 ]
check "race: pool counts 0 ready, 10 assigned" [ "$(counts race)" = "0 10 0" ]
api GET "/v1/sessions?pool=race"
check "race: the active sessions are on 10 different desktops" \
    jtrue "$BODY" "len(set(x['desktop'] for x in d['sessions'])) == 10"

burst POST /v1/pools/open/sessions '{"user":"same.user","client":"c{i}"}' 20 >"$dir/same.out" 2>&1
same_stats() {
    python3 - "$1" <<'PY'
import json, sys
st, ids = {}, set()
for line in open(sys.argv[1]):
    s, _, b = line.rstrip("\n").partition(" ")
    st[s] = st.get(s, 0) + 1
    try:
        ids.add(json.loads(b).get("id"))
    except ValueError:
        ids.add("bad json")
print(st.get("201", 0), st.get("200", 0), len(ids))
PY
}
read -r s_201 s_200 s_ids < <(same_stats "$dir/same.out")
check "same user x20 concurrently: one 201 (got $s_201)" [ "$s_201" = 1 ]
check "same user x20 concurrently: nineteen 200 (got $s_200)" [ "$s_200" = 19 ]
check "same user x20 concurrently: one session id in all answers (got $s_ids)" [ "$s_ids" = 1 ]
check "same user: one active session in the store" [ "$(n_active open)" = 1 ]
api GET "/v1/sessions?pool=open"
same_sid=$(jget "$BODY" "d['sessions'][0]['id']")
api DELETE "/v1/sessions/$same_sid"

# ---------------------------------------------------------------- release race
acquire rel u.rel
[ "$STATUS" = 201 ] || fail_now "rel acquire: $STATUS $BODY"
sid_rel=$SID
burst DELETE "/v1/sessions/$sid_rel" '' 10 >"$dir/rel.out" 2>&1
check "10 concurrent DELETEs: exactly one 200" [ "$(grep -c '^200 ' "$dir/rel.out")" = 1 ]
check "10 concurrent DELETEs: nine 409 conflict" \
    [ "$(grep -c '^409 .*"code":"conflict"' "$dir/rel.out")" = 9 ]
api GET "/v1/audit?limit=1000"
check "audit: exactly one session.logout for the session" \
    jtrue "$BODY" "sum(1 for e in d['entries'] if e['action'] == 'session.logout' and e['detail'] == '$sid_rel') == 1"
check "audit: the logout names user and desktop" \
    jtrue "$BODY" "[e for e in d['entries'] if e['action'] == 'session.logout' and e['detail'] == '$sid_rel'][0]['user'] == 'u.rel'"
ended_with "$sid_rel" logout
check "released session: state ended, end_reason logout" jtrue "$BODY" "d['state'] == 'ended' and d['end_reason'] == 'logout'"
api POST "/v1/sessions/$sid_rel/heartbeat"
check "heartbeat on an ended session: 409" [ "$STATUS" = 409 ]
check "heartbeat on an ended session: JSON error conflict" jtrue "$BODY" "d['error']['code'] == 'conflict'"
check "the released desktop is wiped and ready again" wait_for 20 ready_is rel 1

# ---------------------------------------------------------------- entitlement
before=$(counts rad)
acquire rad u.cardio '["cardiology"]'
check "entitlement: user in cardiology -> 403" [ "$STATUS" = 403 ]
check "entitlement: 403 is permission_denied" jtrue "$BODY" "d['error']['code'] == 'permission_denied'"
acquire rad u.nogroups
check "entitlement: user without groups -> 403" [ "$STATUS" = 403 ]
check "entitlement: nothing assigned after the refusals" [ "$(counts rad)" = "$before" ]
check "entitlement: no active session in the pool" [ "$(n_active rad)" = 0 ]
api GET "/v1/audit?limit=50"
check "entitlement: the refusal is audited (session.denied)" \
    jtrue "$BODY" "any(e['action'] == 'session.denied' and e['user'] == 'u.cardio' for e in d['entries'])"
api POST /v1/pools/rad/sessions '{"user":"u.nul","groups":["radiology\u0000x"]}'
check "entitlement: group 'radiology\\u0000x' is refused with 400, not matched as radiology (got $STATUS)" \
    [ "$STATUS" = 400 ]
[ "$STATUS" = 201 ] && api DELETE "/v1/sessions/$(jget "$BODY" "d['id']")"
acquire rad u.radio '["cardiology","radiology"]'
check "entitlement: user in radiology -> 201" [ "$STATUS" = 201 ]
api DELETE "/v1/sessions/$SID"
acquire open u.anyone '["cardiology"]'
check "entitlement: pool without groups: any group -> 201" [ "$STATUS" = 201 ]
api DELETE "/v1/sessions/$SID"
acquire open u.anyone2
check "entitlement: pool without groups: no groups -> 201" [ "$STATUS" = 201 ]
api DELETE "/v1/sessions/$SID"

# ---------------------------------------------------------------- roles over TCP
# tcurl TOKEN METHOD PATH [BODY]: sets STATUS and BODY over TCP.
tcurl() {
    local t=$1 method=$2 path=$3 data=${4:-} out
    local args=(-s --max-time 30 -X "$method" -w '\n%{http_code}')
    [ -n "$t" ] && args+=(-H "Authorization: Bearer $t")
    [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
    out=$(curl "${args[@]}" "$U$path") || { STATUS=000; BODY=; return 1; }
    STATUS=${out##*$'\n'}
    BODY=${out%$'\n'*}
}
tcurl "$broker" POST /v1/pools/tcp/sessions '{"user":"u.tcp","client":"site-1"}'
check "broker: acquire over TCP -> 201" [ "$STATUS" = 201 ]
sid_tcp=$(jget "$BODY" "d.get('id', '')")
tcurl "$broker" POST "/v1/sessions/$sid_tcp/heartbeat"
check "broker: heartbeat -> 200" [ "$STATUS" = 200 ]
tcurl "$broker" GET "/v1/sessions?pool=tcp"
check "broker: list sessions -> 200 with the session" \
    jtrue "$BODY" "[x['id'] for x in d['sessions']] == ['$sid_tcp']"
tcurl "$broker" GET "/v1/sessions/$sid_tcp"
check "broker: get session -> 200" [ "$STATUS" = 200 ]
check "audit of the broker's acquire names actor broker" \
    bash -c "curl -s --unix-socket '$DP_SOCK' 'http://x/v1/audit?limit=50' | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if any(e[\"action\"]==\"session.acquire\" and e[\"detail\"]==\"$sid_tcp\" and e[\"actor\"]==\"broker\" for e in d[\"entries\"]) else 1)'"
tcurl "$broker" DELETE "/v1/sessions/$sid_tcp?reason=forced"
check "broker: forced logout -> 403" [ "$STATUS" = 403 ]
check "broker: forced logout refusal is permission_denied" jtrue "$BODY" "d['error']['code'] == 'permission_denied'"
session_get "$sid_tcp"
check "broker: the refused forced logout left the session active" jtrue "$BODY" "d['state'] == 'active'"
tcurl "$broker" DELETE "/v1/sessions/$sid_tcp"
check "broker: release -> 200" [ "$STATUS" = 200 ]
check "broker: release ends with logout" jtrue "$BODY" "d['end_reason'] == 'logout'"
tcurl "$broker" POST /v1/pools '{"name":"nope","image":"img","template":"test","min":0,"spare":0,"max":1}'
check "broker: POST /v1/pools -> 403" [ "$STATUS" = 403 ]
tcurl "$broker" GET /v1/pools
check "broker: GET /v1/pools -> 403" [ "$STATUS" = 403 ]
tcurl "$broker" GET /v1/audit
check "broker: GET /v1/audit -> 403" [ "$STATUS" = 403 ]
tcurl "$reader" GET /v1/sessions
check "reader: GET /v1/sessions -> 200" [ "$STATUS" = 200 ]
tcurl "$reader" POST /v1/pools/tcp/sessions '{"user":"u.reader"}'
check "reader: acquire -> 403" [ "$STATUS" = 403 ]
tcurl "" POST /v1/pools/tcp/sessions '{"user":"u.anon"}'
check "no token: acquire -> 401" [ "$STATUS" = 401 ]
check "no token: JSON error unauthenticated" jtrue "$BODY" "d['error']['code'] == 'unauthenticated'"
tcurl "wrong-$broker" POST /v1/pools/tcp/sessions '{"user":"u.anon"}'
check "wrong token: acquire -> 401" [ "$STATUS" = 401 ]
tcurl "" GET /v1/sessions
check "no token: list sessions -> 401" [ "$STATUS" = 401 ]
check "TCP refusals assigned nothing (no active session in pool tcp)" [ "$(n_active tcp)" = 0 ]
tcurl "$broker" POST /v1/pools/tcp/sessions '{"user":"u.forced"}'
sid_forced=$(jget "$BODY" "d.get('id', '')")
tcurl "$oper" DELETE "/v1/sessions/$sid_forced?reason=forced"
check "operator: forced logout -> 200" [ "$STATUS" = 200 ]
check "operator: end_reason forced" jtrue "$BODY" "d['state'] == 'ended' and d['end_reason'] == 'forced'"
api GET "/v1/audit?limit=50"
check "audit: session.forced by operator" \
    jtrue "$BODY" "any(e['action'] == 'session.forced' and e['actor'] == 'operator' and e['detail'] == '$sid_forced' for e in d['entries'])"
check "the token never reaches the log" bash -c "! grep -qE '$broker|$oper|$reader' '$dir/daemon.log'"

# ---------------------------------------------------------------- bad input
api GET /v1/pools/bad
bad_before=$(jget "$BODY" "d['counts']")
api GET "/v1/audit?limit=1"
audit_top=$(jget "$BODY" "d['entries'][0]['id']")
# bad EXPECTED-STATUS NAME METHOD PATH [BODY]: a clear 4xx with a JSON error.
bad() {
    local want=$1 name=$2
    api "$3" "$4" "${5:-}"
    if [ "$STATUS" != "$want" ]; then
        not_ok "bad input: $name: status $STATUS, expected $want: ${BODY:0:200}"
    elif ! jtrue "$BODY" "bool(d['error']['code']) and bool(d['error']['message'])"; then
        not_ok "bad input: $name: no JSON error: ${BODY:0:200}"
    else
        ok "bad input: $name -> $want $(jget "$BODY" "d['error']['code']")"
    fi
}
A=/v1/pools/bad/sessions
bad 400 "malformed JSON" POST $A '{"user":'
bad 400 "trailing garbage" POST $A '{"user":"a"} x'
bad 400 "array body" POST $A '[{"user":"a"}]'
bad 400 "string body" POST $A '"a"'
bad 400 "user: 5" POST $A '{"user":5}'
bad 400 "user: null" POST $A '{"user":null}'
bad 400 "groups: \"x\"" POST $A '{"user":"a","groups":"x"}'
bad 400 "groups: [1]" POST $A '{"user":"a","groups":[1]}'
bad 400 "groups: [\"bad name\"]" POST $A '{"user":"a","groups":["bad name"]}'
bad 400 "client: 7" POST $A '{"user":"a","client":7}'
bad 400 "unknown field" POST $A '{"user":"a","pool":"race"}'
bad 400 "missing user" POST $A '{"groups":["radiology"]}'
bad 400 "empty object" POST $A '{}'
bad 400 "user \"\"" POST $A '{"user":""}'
bad 400 "user \"a b\"" POST $A '{"user":"a b"}'
bad 400 "user \"../x\"" POST $A '{"user":"../x"}'
bad 400 "user of 65 chars" POST $A "{\"user\":\"$(printf 'a%.0s' $(seq 1 65))\"}"
bad 400 "user \"-x\"" POST $A '{"user":"-x"}'
bad 400 "user with a NUL escape" POST $A '{"user":"a\u0000b"}'
bad 400 "65 groups" POST $A "{\"user\":\"a\",\"groups\":[$(printf '"g%d",' $(seq 1 64))\"g65\"]}"
printf '{"user":"a","client":"%s"}' "$(head -c 71680 /dev/zero | tr '\0' x)" >"$dir/big.json"
big=$(curl -s --max-time 30 --unix-socket "$DP_SOCK" -X POST -H 'Content-Type: application/json' \
    --data-binary "@$dir/big.json" -w '\n%{http_code}' "http://localhost$A")
STATUS=${big##*$'\n'}
BODY=${big%$'\n'*}
check "bad input: 70 KB body -> 413 (got $STATUS)" [ "$STATUS" = 413 ]
check "bad input: 413 is payload_too_large JSON" jtrue "$BODY" "d['error']['code'] == 'payload_too_large'"
tp=$(curl -s --max-time 30 --unix-socket "$DP_SOCK" -X POST -H 'Content-Type: text/plain' \
    --data-binary '{"user":"a"}' -o /dev/null -w '%{http_code}' "http://localhost$A")
check "bad input: text/plain body -> 415 (got $tp)" [ "$tp" = 415 ]
bad 400 "no body" POST $A
bad 404 "unknown pool" POST /v1/pools/nosuchpool/sessions '{"user":"a"}'
bad 400 "invalid pool name" POST /v1/pools/..%2Fx/sessions '{"user":"a"}'
u0=00000000-0000-4000-8000-000000000000
bad 404 "unknown session id (GET)" GET /v1/sessions/$u0
bad 404 "unknown session id (DELETE)" DELETE /v1/sessions/$u0
bad 404 "unknown session id (heartbeat)" POST /v1/sessions/$u0/heartbeat
bad 404 "non-UUID id (GET)" GET /v1/sessions/not-a-uuid
bad 404 "non-UUID id (DELETE)" DELETE "/v1/sessions/'%3B%20DROP%20TABLE%20sessions%3B--"
bad 404 "upper-case UUID" GET "/v1/sessions/$(tr a-z A-Z <<<"$sid_rel")"
bad 409 "heartbeat on an ended session" POST "/v1/sessions/$sid_rel/heartbeat"
bad 409 "release of an ended session" DELETE "/v1/sessions/$sid_rel"
bad 400 "bad ?reason=" DELETE "/v1/sessions/$u0?reason=bored"
bad 400 "bad ?state=" GET "/v1/sessions?state=open"
bad 400 "bad ?user=" GET "/v1/sessions?user=a%20b"
bad 400 "audit ?limit=0" GET "/v1/audit?limit=0"
bad 400 "audit ?limit=1001" GET "/v1/audit?limit=1001"
bad 400 "audit ?limit=x" GET "/v1/audit?limit=x"
bad 405 "PUT on sessions" PUT $A '{"user":"a"}'
api GET /v1/pools/bad
check "bad input: pool counts unchanged after the batch" jtrue "$BODY" "d['counts'] == $bad_before"
check "bad input: no active session in the pool" [ "$(n_active bad)" = 0 ]
api GET "/v1/audit?limit=100"
check "bad input: no session.acquire audited during the batch" \
    jtrue "$BODY" "not any(e['id'] > $audit_top and e['action'] == 'session.acquire' for e in d['entries'])"
check "daemon still healthy after the bad input" api GET /healthz

# ---------------------------------------------------------------- timeouts: results
idle_over() { session_get "$sid_idle"; jtrue "$BODY" "d['state'] == 'ended'"; }
left=$((t_timers + 40 - SECONDS))
[ $left -gt 0 ] || left=1
check "idle: the session without heartbeats ended" wait_for "$left" idle_over
check "idle: end_reason idle_timeout" ended_with "$sid_idle" idle_timeout
sp=$(span "$sid_idle")
check_both "idle: ended $sp s after it began (30..36)" [ "$sp" -ge 30 ] -- [ "$sp" -le 36 ]
session_get "$sid_alive"
check "idle: the session with heartbeats every 5 s is still active" jtrue "$BODY" "d['state'] == 'active'"
check "idle: its desktop is ready again" wait_for 20 ready_is idle 1
api GET "/v1/audit?limit=1000"
check "idle: audited as session.idle_timeout by deskpoold" \
    jtrue "$BODY" "any(e['action'] == 'session.idle_timeout' and e['detail'] == '$sid_idle' for e in d['entries'])"
max_over() { session_get "$sid_max"; jtrue "$BODY" "d['state'] == 'ended'"; }
left=$((t_timers + 70 - SECONDS))
[ $left -gt 0 ] || left=1
check "max_session: the session with heartbeats ended" wait_for "$left" max_over
check "max_session: end_reason max_session" ended_with "$sid_max" max_session
sp=$(span "$sid_max")
check_both "max_session: ended $sp s after it began (60..66)" [ "$sp" -ge 60 ] -- [ "$sp" -le 66 ]
session_get "$sid_alive"
check "idle: the kept-alive session survived $((SECONDS - t_timers)) s" jtrue "$BODY" "d['state'] == 'active'"
check "max_session: its desktop is ready again" wait_for 20 ready_is maxs 1
kill "$hb_pid" 2>/dev/null
check "daemon still healthy at the end" api GET /healthz
t_finish
