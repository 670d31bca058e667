#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run.sh - deskpoold as a process: configuration file and flags, SIGHUP
# reload, SIGTERM shutdown, the state-directory lock, the socket, forking
# into the background, and the TCP listener with bearer tokens and roles.
# Real daemon on libvirt's test:///default driver.
. "$(dirname "$0")/../lib.sh"
t_require_binaries
D=$DESKPOOLD
t_tmpdir dir

# --- configuration ---
cat >"$dir/bad.conf" <<'CONF'
# a comment
uri = test:///default
max_concurrent = lots
CONF
out=$("$D" --config "$dir/bad.conf" --print-config 2>&1); rc=$?
check "bad config value: exit 2" [ $rc = 2 ]
check "bad config value: FILE:LINE in the message" grep -q "bad.conf:3: Value of 'max_concurrent' must be a whole number" <<<"$out"
printf 'no_such_key = 1\n' >"$dir/unknown.conf"
out=$("$D" --config "$dir/unknown.conf" --print-config 2>&1); rc=$?
check_both "unknown config key: exit 2 and named" [ $rc = 2 ] -- grep -q "Unknown configuration key 'no_such_key'" <<<"$out"
out=$("$D" --config "$dir/missing.conf" --print-config 2>&1); rc=$?
check_both "missing --config file: exit 2" [ $rc = 2 ] -- grep -q "Cannot read configuration file" <<<"$out"
cat >"$dir/good.conf" <<'CONF'
uri = "test:///default"
max_concurrent = 2
boot_timeout = 5m
CONF
out=$("$D" --config "$dir/good.conf" --set max_concurrent=7 --print-config 2>&1)
check "file values apply (quoted uri, duration 5m = 300)" grep -q "^boot_timeout = 300$" <<<"$out"
check "flags override the file" grep -q "^max_concurrent = 7$" <<<"$out"
sd=$(sed -n 's/^state_dir = //p' <<<"$out")
check "images_dir derived from state_dir ($sd)" grep -q "^images_dir = $sd/images$" <<<"$out"
out=$("$D" --bogus 2>&1); rc=$?
check "unknown flag: exit 2" [ $rc = 2 ]
check "--help exits 0" quiet "$D" --help
check "--version prints the version" grep -q "^deskpoold " <<<"$("$D" --version)"

# --- a daemon with a config file; SIGHUP reload ---
cp "$dir/good.conf" "$dir/run.conf"
printf 'boot_delay = 0\n' >>"$dir/run.conf"
dp_start "$dir" "dmn$$" --config "$dir/run.conf" || fail_now "daemon did not start"
first_pid=$DP_PID
check "healthz answers" api GET /healthz
printf 'max_concurrent = 3\nlog_level = debug\nuri = test:///other\n' >>"$dir/run.conf"
kill -HUP "$DP_PID"
reloaded() { grep -q "Reloaded 'max_concurrent' = '3'" "$dir/daemon.log"; }
check "SIGHUP applies a reloadable key" wait_for 10 reloaded
check "SIGHUP refuses a key that needs a restart" grep -q "Key 'uri' changed .* needs a restart" "$dir/daemon.log"
printf 'max_concurrent = zero\n' >>"$dir/run.conf"
kill -HUP "$DP_PID"
refused() { grep -q "Reload refused, configuration unchanged" "$dir/daemon.log"; }
check "SIGHUP with a bad file keeps the running configuration" wait_for 10 refused
check "daemon still serves after a refused reload" api GET /healthz

# --- one daemon per state directory, one per socket ---
out=$("$D" --config /dev/null --foreground --uri test:///default --state-dir "$dir/state" --socket "$dir/other.sock" \
    --instance "dmn$$" 2>&1); rc=$?
check_both "second daemon on the same state dir is refused" [ $rc = 1 ] -- grep -q "Another deskpoold uses the state directory" <<<"$out"
t_tmpdir dir2
out=$("$D" --config /dev/null --foreground --uri test:///default --state-dir "$dir2/state" --socket "$DP_SOCK" \
    --instance "dmn2$$" --set storage_pool="dmn2$$" --set storage_dir="$dir2/ov" 2>&1); rc=$?
check_both "second daemon on a served socket is refused" [ $rc = 1 ] -- grep -q "Another deskpoold is serving" <<<"$out"

# --- SIGTERM: clean exit, socket removed ---
dp_stop TERM
wait "$first_pid"; rc=$?
check "SIGTERM: exit status 0" [ $rc = 0 ]
check "SIGTERM: socket removed" [ ! -e "$DP_SOCK" ]
check "SIGTERM: logged the shutdown" grep -q "deskpoold stopped" "$dir/daemon.log"
out=$("$D" --config /dev/null --foreground --uri test:///default --state-dir "$dir/state" --socket "$dir/x.sock" \
    --instance "renamed$$" 2>&1); rc=$?
check_both "a state dir refuses another instance name" [ $rc = 1 ] -- grep -q "belongs to instance" <<<"$out"

# --- forking into the background: the parent returns once it serves ---
t_tmpdir dir3
# (--config: the host's /etc/deskpool/deskpoold.conf, e.g. the demo's with
# its listen address in use, must not reach the test)
touch "$dir3/none.conf"
"$D" --config "$dir3/none.conf" --uri test:///default --state-dir "$dir3/state" \
    --socket "$dir3/sock" --instance "bg$$" \
    --set storage_pool="bg$$" --set storage_dir="$dir3/ov" --set tokens_file="$dir3/none"; rc=$?
check "background start returns 0" [ $rc = 0 ]
check "socket is served when the parent returns" curl -sf --unix-socket "$dir3/sock" http://localhost/healthz -o /dev/null
bgpid=$(pgrep -f -- "--instance bg$$" | head -n 1)
check "the daemon logs to STATE_DIR/deskpoold.log" grep -q "started" "$dir3/state/deskpoold.log"
[ -n "$bgpid" ] && kill "$bgpid"
"$D" --config "$dir3/none.conf" --uri test:///nonexistent-driver-xyz --state-dir "$dir3/state2" \
    --socket "$dir3/sock2" --instance "bg$$" 2>/dev/null; rc=$?
check "background start that fails returns 1" [ $rc = 1 ]

# --- TCP with bearer tokens and roles ---
t_tmpdir dir4
port=$((20000 + $$ % 20000))
reader=r-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
oper=o-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
{
    echo "# tokens"
    echo "reader $(printf %s "$reader" | sha256sum | cut -d' ' -f1) monitoring"
    echo "operator $(printf %s "$oper" | sha256sum | cut -d' ' -f1) ops"
} >"$dir4/tokens"
dp_start "$dir4" "tcp$$" --listen "127.0.0.1:$port" --set tokens_file="$dir4/tokens" || fail_now "tcp daemon"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
U=http://127.0.0.1:$port
check "TCP: /healthz is open" [ "$(code $U/healthz)" = 200 ]
check "TCP: no token is 401" [ "$(code $U/v1/pools)" = 401 ]
check "TCP: a wrong token is 401" [ "$(code -H "Authorization: Bearer nope" $U/v1/pools)" = 401 ]
check "TCP: reader may GET" [ "$(code -H "Authorization: Bearer $reader" $U/v1/pools)" = 200 ]
check "TCP: reader may not POST (403)" [ "$(code -X POST -H "Authorization: Bearer $reader" -H 'Content-Type: application/json' -d '{}' $U/v1/pools)" = 403 ]
check "TCP: operator may POST (400 for the empty body, past auth)" [ "$(code -X POST -H "Authorization: Bearer $oper" -H 'Content-Type: application/json' -d '{}' $U/v1/pools)" = 400 ]
check "TCP: deskpoolctl --url --token works" quiet "$DESKPOOLCTL" --url "$U" --token "$oper" pool list
check "TCP: the token never reaches the log" bash -c "! grep -q '$oper' '$dir4/daemon.log'"

# --- hooks: a pre-provision veto, a post-assign with the event ---
t_tmpdir dir5
mkdir -p "$dir5/hooks"
cat >"$dir5/hooks/pre-provision" <<'HOOK'
#!/bin/sh
if [ -e "$(dirname "$0")/hold" ]; then
    printf 'held for maintenance\033]0;pwned\007\033[2J\nforged: error: x\n'; exit 1
fi
exit 0
HOOK
cat >"$dir5/hooks/post-assign" <<HOOK
#!/bin/sh
{ env | grep ^DESKPOOL_ | sort; cat; } > "$dir5/assigned"
HOOK
chmod 755 "$dir5/hooks/pre-provision" "$dir5/hooks/post-assign"
touch "$dir5/hooks/hold"
dp_start "$dir5" "hk$$" --set hooks_dir="$dir5/hooks" --set boot_delay=0 \
    --set console_password=none --set max_boot_failures=2 --set reconcile_interval=1 \
    || fail_now "hooks daemon"
qemu-img create -q -f qcow2 "$dir5/g.qcow2" 64M
ctl image add g "$dir5/g.qcow2" >/dev/null
ctl pool create hp --image g --template test --min 1 --spare 0 --max 2 >/dev/null
vetoed() {
    api GET /v1/pools/hp
    [ "$(jget "$BODY" "d['counts']['failed'] >= 1 and 'held for maintenance' in (d['desktops'][0]['last_error'] or '')")" = True ]
}
check "pre-provision veto: desktop quarantined after 2 vetoes, hook output in last_error" wait_for 20 vetoed
api GET /v1/pools/hp
check "a vetoed desktop never became ready" [ "$(jget "$BODY" "d['counts']['ready']")" = 0 ]
# issue 11 #10: the hook's output is escaped in last_error and in the log
check "hook output in last_error is escaped" [ "$(jget "$BODY" \
    "'held for maintenance\\\\x1b]0;pwned\\\\x07\\\\x1b[2J\\\\nforged: error: x' in d['desktops'][0]['last_error']")" = True ]
check "hook output reaches the log escaped: no ESC, no BEL, no forged line" \
    bash -c "grep -q 'held for maintenance' '$dir5/daemon.log' && ! grep -q \$'[\\e\\a]' '$dir5/daemon.log' && ! grep -q '^forged' '$dir5/daemon.log'"
rm "$dir5/hooks/hold"
api GET /v1/pools/hp
failed_one=$(jget "$BODY" "d['desktops'][0]['name']")
ctl pool resize hp --max 4 >/dev/null
ready_one() { api GET /v1/pools/hp; [ "$(jget "$BODY" "d['counts']['ready']")" = 1 ]; }
check "without the hold, provisioning goes on" wait_for 20 ready_one
api POST /v1/pools/hp/sessions '{"user":"dr.hook","groups":["x"],"client":"site-9"}'
check "acquire with hooks: 201" [ "$STATUS" = 201 ]
sid=$(jget "$BODY" "d['id']")
assigned() { grep -q "DESKPOOL_SESSION=$sid" "$dir5/assigned" 2>/dev/null; }
check "post-assign hook ran with the session in its environment" wait_for 10 assigned
check "post-assign hook got DESKPOOL_USER and the event JSON on stdin" \
    bash -c "grep -q '^DESKPOOL_USER=dr.hook$' '$dir5/assigned' && grep -q '\"event\":\"post-assign\"' '$dir5/assigned' && grep -q '\"detail\":\"site-9\"' '$dir5/assigned'"
check "the quarantined desktop ($failed_one) was left for inspection" \
    bash -c "curl -s --unix-socket '$DP_SOCK' http://x/v1/pools/hp | grep -q '\"name\":\"$failed_one\",\"pool\":\"hp\",\"state\":\"failed\"'"

# --- console lock-down: a template that allows copy/paste is refused ---
t_tmpdir dir6
mkdir -p "$dir6/templates"
cp "$DP_SRCDIR/templates/test.xml" "$dir6/templates/"
sed -e "s|<graphics type='vnc' port='5901' autoport='no' listen='127.0.0.1'>|<graphics type='spice' port='5901' autoport='no' listen='127.0.0.1'><clipboard copypaste='yes'/><filetransfer enable='no'/>|" \
    -e "s|</graphics>|</graphics><redirdev bus='usb' type='spicevmc'/>|" \
    "$DP_SRCDIR/templates/test.xml" >"$dir6/templates/leaky.xml"
sed -e "s|</devices>|<redirdev bus='usb' type='spicevmc'/></devices>|" \
    "$DP_SRCDIR/templates/test.xml" >"$dir6/templates/usbredir.xml"
dp_start "$dir6" "ld$$" --templates-dir "$dir6/templates" --set console_password=none \
    --set boot_delay=0 || fail_now "lock-down daemon"
qemu-img create -q -f qcow2 "$dir6/g.qcow2" 64M
api POST /v1/images "{\"name\":\"g\",\"path\":\"$dir6/g.qcow2\"}"
api POST /v1/pools '{"name":"leak","image":"g","template":"leaky","max":1}'
check_both "template with clipboard copypaste='yes' refused (400)" [ "$STATUS" = 400 ] -- \
    grep -q "clipboard" <<<"$BODY"
api POST /v1/pools '{"name":"usb","image":"g","template":"usbredir","max":1}'
check_both "template with USB redirection refused, naming <redirdev>" [ "$STATUS" = 400 ] -- \
    grep -q "redirdev" <<<"$BODY"
api GET /v1/pools
check "nothing was created by the refusals" [ "$(jget "$BODY" "len(d['pools'])")" = 0 ]
api POST /v1/pools '{"name":"usb","image":"g","template":"usbredir","max":1,"allow_device_redirection":true}'
check "the same template is accepted when the pool allows redirection explicitly" [ "$STATUS" = 201 ]
api POST /v1/pools '{"name":"locked","image":"g","template":"test","max":1}'
check "the locked-down test template is accepted" [ "$STATUS" = 201 ]
