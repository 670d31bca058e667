#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/cli/run.sh - deskpoolctl against a real deskpoold on test:///default
#
# Starts the daemon on a private socket and state directory (libvirt's
# in-memory test driver: no domains or volumes outside this process), then
# runs deskpoolctl's error paths (exit status and stderr text) and success
# paths, then broker sessions: acquired with curl as a broker would, listed,
# shown and force-ended with deskpoolctl, the audit log, and hosts: a second
# test-driver host (a node file of its own) added, limited, drained,
# undrained and removed, and a pool's placement. Prints
# "ok - NAME" / "not ok - NAME" per check and "N passed, N failed" at the
# end; exits 1 on any failure. A missing daemon or CLI binary is a failure,
# never a skip.
#
# Environment (set by `make check`; defaults relative to this script):
#   DESKPOOLD, DESKPOOLCTL  the binaries
#   DP_SRCDIR               the source tree (for templates/)
#
# The test driver cannot change a domain's devices live, so the daemon runs
# with console_password=none (no one-time console passwords to set).

. "$(dirname "$0")/harness.sh"
harness_require curl qemu-img python3
harness_start clitest

qemu-img create -q -f qcow2 "$T/g.qcow2" 64M
qemu-img create -q -f qcow2 -F qcow2 -b "$T/g.qcow2" "$T/overlay.qcow2"
echo "not a disk image" >"$T/text.img"

# ---- usage errors: exit 2, nothing sent ----------------------------------

check "help" 0 "" ctl --help
grep -q "pool create" "$T/out" || not_ok "help lists pool create"
if grep -q "^  host capacity \[--pool P\]$" "$T/out"; then ok "help lists the host commands"; else
    not_ok "help lists the host commands" "$(grep host "$T/out")"; fi
check "version" 0 "" ctl --version
check "pool --help" 0 "" ctl pool --help
check "no command" 2 "^deskpoolctl: no command given" ctl
check "unknown command" 2 "^deskpoolctl: unknown command 'frobnicate'" ctl frobnicate
check "unknown pool verb" 2 "^deskpoolctl: unknown command 'pool frob'" ctl pool frob
check "unknown option" 2 "^deskpoolctl: pool list: unknown option '--bogus'" \
    ctl pool list --bogus
check "option of another command" 2 "unknown option '--min'" ctl pool list --min 3
check "missing argument" 2 "expected 1 argument" ctl pool show
# A dead socket proves the number is refused before anything is sent.
check "bad number" 2 "^deskpoolctl: --min: 'x' is not a number\.$" \
    "$DESKPOOLCTL" --socket "$T/nowhere" pool create p --image g --min x --spare 1 --max 2
check "negative number" 2 "^deskpoolctl: --spare: '-1' is not a number\.$" \
    "$DESKPOOLCTL" --socket "$T/nowhere" pool create p --image g --min 1 --spare -1 --max 2
check "number out of range" 2 "^deskpoolctl: --max: '99999999999' is out of range\.$" \
    ctl pool create p --image g --min 1 --spare 1 --max 99999999999
check "bad pool name" 2 "^deskpoolctl: 'Bad/Name' is not a valid pool name" ctl pool show Bad/Name
check "missing --image" 2 "--image is required" ctl pool create p --min 1 --spare 1 --max 2
check "resize without sizes" 2 "nothing to change" ctl pool resize p
check "bad --image-version" 2 "^deskpoolctl: --image-version: 'x' is not a version" \
    ctl pool create p --image g --image-version x --min 1 --spare 1 --max 2
check "--image-version v0" 2 "^deskpoolctl: --image-version: 'v0' is not a version" \
    "$DESKPOOLCTL" --socket "$T/nowhere" pool create p --image g --image-version v0 --min 1 \
    --spare 1 --max 2
check "--socket with --url" 2 "cannot be used together" \
    "$DESKPOOLCTL" --socket "$sock" --url http://127.0.0.1:1 health
check "--instance with --socket" 2 "cannot be used together" \
    "$DESKPOOLCTL" --instance lab2 --socket "$sock" health
check "--instance names its socket" 1 "/run/deskpool-nosuchinstance/deskpoold.sock" \
    "$DESKPOOLCTL" --instance nosuchinstance health
check "--instance refuses a bad name" 2 "not a valid instance name" \
    "$DESKPOOLCTL" --instance ../x health
check "bad duration" 2 "^deskpoolctl: --idle-timeout: '15x' is not a duration" \
    "$DESKPOOLCTL" --socket "$T/nowhere" pool create p --image g --min 1 --spare 1 --max 2 \
    --idle-timeout 15x
check "duration out of range" 2 "^deskpoolctl: --max-session: '99999999d' is out of range" \
    "$DESKPOOLCTL" --socket "$T/nowhere" pool create p --image g --min 1 --spare 1 --max 2 \
    --max-session 99999999d
check "bad group name" 2 "^deskpoolctl: 'bad/group' is not a valid group name" \
    "$DESKPOOLCTL" --socket "$T/nowhere" pool create p --image g --min 1 --spare 1 --max 2 \
    --groups radiology,bad/group
check "empty group name" 2 "^deskpoolctl: '' is not a valid group name" \
    "$DESKPOOLCTL" --socket "$T/nowhere" pool set p --groups radiology,
check "pool set without changes" 2 "nothing to change" \
    "$DESKPOOLCTL" --socket "$T/nowhere" pool set p
check "pool set bad yes/no" 2 "'maybe' is not yes or no" \
    "$DESKPOOLCTL" --socket "$T/nowhere" pool set p --allow-device-redirection maybe
check "session list --all --ended" 2 "cannot be used together" \
    "$DESKPOOLCTL" --socket "$T/nowhere" session list --all --ended
check "session list bad user" 2 "^deskpoolctl: 'al ice' is not a valid user name" \
    "$DESKPOOLCTL" --socket "$T/nowhere" session list --user 'al ice'
check "audit --limit 0" 2 "^deskpoolctl: audit: --limit must be at least 1\.$" \
    "$DESKPOOLCTL" --socket "$T/nowhere" audit --limit 0
check "audit --limit x" 2 "^deskpoolctl: --limit: 'x' is not a number" \
    "$DESKPOOLCTL" --socket "$T/nowhere" audit --limit x
check "session end without ID" 2 "expected 1 argument" ctl session end
check "host add with a bad URI" 2 "^deskpoolctl: 'not-a-uri' is not a libvirt URI \(DRIVER" \
    "$DESKPOOLCTL" --socket "$T/nowhere" host add bad not-a-uri
check "host add with a bad size" 2 "^deskpoolctl: --reserve-memory: '4X' is not a size" \
    "$DESKPOOLCTL" --socket "$T/nowhere" host add h test:///default --reserve-memory 4X
check "host add with a bad label" 2 "^deskpoolctl: --labels: 'site' is not a label \(KEY=VALUE" \
    "$DESKPOOLCTL" --socket "$T/nowhere" host add h test:///default --labels gpu=yes,site
check "host set with a key twice" 2 "^deskpoolctl: --labels: label key 'a' is given twice\.$" \
    "$DESKPOOLCTL" --socket "$T/nowhere" host set h --labels a=1,a=2
check "host set bad --max-desktops" 2 "^deskpoolctl: --max-desktops: 'x' is not a number\.$" \
    "$DESKPOOLCTL" --socket "$T/nowhere" host set h --max-desktops x
check "host set without changes" 2 "^deskpoolctl: host set: nothing to change" \
    "$DESKPOOLCTL" --socket "$T/nowhere" host set h
check "host add with a relative --storage-dir" 2 "^deskpoolctl: --storage-dir: 'd' is not an" \
    "$DESKPOOLCTL" --socket "$T/nowhere" host add h test:///default --storage-dir d
check "host drain bad --warn" 2 "^deskpoolctl: --warn: '5x' is not a duration" \
    "$DESKPOOLCTL" --socket "$T/nowhere" host drain h --warn 5x
check "host show bad name" 2 "^deskpoolctl: 'Bad/Name' is not a valid host name" \
    "$DESKPOOLCTL" --socket "$T/nowhere" host show Bad/Name
check "host capacity bad pool" 2 "^deskpoolctl: 'Bad/Name' is not a valid pool name" \
    "$DESKPOOLCTL" --socket "$T/nowhere" host capacity --pool Bad/Name
check "host list --labels" 2 "unknown option '--labels'" ctl host list --labels a=b
check "bad --placement" 2 "^deskpoolctl: --placement takes spread or pack, not 'wide'\.$" \
    "$DESKPOOLCTL" --socket "$T/nowhere" pool create p --image g --min 1 --spare 1 --max 2 \
    --placement wide
check "bad --require-labels" 2 "^deskpoolctl: --require-labels: 'gpu' is not a label" \
    "$DESKPOOLCTL" --socket "$T/nowhere" pool set p --require-labels gpu

# ---- server-side refusals: exit 2 with the server's message --------------

check "health" 0 "" ctl health
grep -q "^status: *ok" "$T/out" || not_ok "health says ok" "$(cat "$T/out")"
check "image add of a missing file" 2 "^deskpoolctl: " ctl image add g "$T/missing.qcow2"
check "image add of a non-qcow2 file" 2 "^deskpoolctl: " ctl image add g "$T/text.img"
check "image add of a qcow2 with a backing file" 2 "^deskpoolctl: " \
    ctl image add g "$T/overlay.qcow2"
check "image show of an unknown image" 2 "^deskpoolctl: " ctl image show nosuch
check "pool show of an unknown pool" 2 "^deskpoolctl: " ctl pool show nosuch
check "pool delete of an unknown pool" 2 "^deskpoolctl: " ctl pool delete nosuch
check "pool resize of an unknown pool" 2 "^deskpoolctl: " ctl pool resize nosuch --max 3
check "unknown pool --json" 2 "^deskpoolctl: " ctl --json pool show nosuch
expect_json "unknown pool --json prints the error document" \
    "isinstance(d['error']['message'], str) and d['error']['code'] == 'not_found'"

# ---- success paths -------------------------------------------------------

# A relative FILE is sent as an absolute path.
check "image add" 0 "" bash -c "cd '$T' && '$DESKPOOLCTL' --socket '$sock' image add g g.qcow2 \
    --note 'cli test'"
check "image list" 0 "" ctl image list
grep -Eq "^g +1 " "$T/out" || not_ok "image list shows g v1" "$(cat "$T/out")"
check "image show --json" 0 "" ctl --json image show g
expect_json "image show has version 1" \
    "d['name'] == 'g' and d['versions'][0]['version'] == 1 and d['versions'][0]['note'] == 'cli test'"

check "min > max" 2 "^deskpoolctl: min \(4\) is larger than max \(2\)\.$" \
    ctl pool create demo --image g --template test --min 4 --spare 1 --max 2
check "pool create of an unknown image" 2 "^deskpoolctl: " \
    ctl pool create demo --image nosuch --template test --min 1 --spare 1 --max 2
check "pool create with an unknown template" 2 "^deskpoolctl: " \
    ctl pool create demo --image g --template nosuch --min 1 --spare 1 --max 2
check "pool create" 0 "" ctl pool create demo --image g --template test --min 2 --spare 1 --max 3
check "duplicate pool" 2 "^deskpoolctl: " \
    ctl pool create demo --image g --template test --min 2 --spare 1 --max 3
check "pool list" 0 "" ctl pool list
grep -Eq "^NAME +MODE +IMAGE +MIN +SPARE +MAX +READY +BUSY +PENDING +FAILED +STATE$" "$T/out" ||
    not_ok "pool list header" "$(cat "$T/out")"
grep -Eq "^demo +floating +g@latest +2 +1 +3 " "$T/out" ||
    not_ok "pool list shows demo" "$(cat "$T/out")"
if grep -q ' $' "$T/out"; then not_ok "pool list has no trailing spaces"; else
    ok "pool list has no trailing spaces"; fi

check "pool wait" 0 "" ctl pool wait demo --timeout 120
check "pool show --json" 0 "" ctl --json pool show demo
expect_json "pool show --json has desktops" \
    "d['name'] == 'demo' and len(d['desktops']) >= 2 and all(x['name'] and x['state'] and \
x['domain'] and x['volume'] for x in d['desktops'])"
check "pool show" 0 "" ctl pool show demo
grep -Eq "^Runs: +v1 \(follows latest\)$" "$T/out" ||
    not_ok "pool show says which version runs" "$(cat "$T/out")"
grep -Eq "^NAME +STATE +DOMAIN +IMAGE +BOOT-FAILURES +LAST-ERROR$" "$T/out" ||
    not_ok "pool show desktop table" "$(cat "$T/out")"
check "desktop list --pool" 0 "" ctl --json desktop list --pool demo
expect_json "desktop list --pool shows demo's desktops" \
    "len(d['desktops']) >= 2 and all(x['pool'] == 'demo' for x in d['desktops'])"

check "pool resize --min > --max" 2 "^deskpoolctl: " ctl pool resize demo --min 5
check "pool resize --wait" 0 "" ctl pool resize demo --max 4 --spare 2 --wait --timeout 120
check "pool show after resize" 0 "" ctl --json pool show demo
expect_json "resize took effect" \
    "d['max'] == 4 and d['spare'] == 2 and d['counts']['ready'] >= 2"
check "pool wait --json" 0 "" ctl pool wait demo --json --timeout 120
expect_json "pool wait --json prints the pool" "d['name'] == 'demo'"

check "pool delete --wait" 0 "" ctl pool delete demo --wait --timeout 120
check "deleted pool is gone" 2 "^deskpoolctl: " ctl pool show demo

# ---- session policy ------------------------------------------------------

check "pool create with a session policy" 0 "" ctl pool create sess --image g --template test \
    --min 1 --spare 1 --max 2 --groups radiology,er --idle-timeout 15m --max-session 12h \
    --wait --timeout 120
check "pool show --json (policy)" 0 "" ctl --json pool show sess
expect_json "the policy was sent in seconds" \
    "d['groups'] == ['radiology', 'er'] and d['idle_timeout'] == 900 and \
d['max_session'] == 43200 and d['allow_device_redirection'] is False"
check "pool show (policy)" 0 "" ctl pool show sess
grep -Eq "^Groups: +radiology, er$" "$T/out" ||
    not_ok "pool show shows the groups" "$(cat "$T/out")"
grep -Eq "^Idle timeout: +15m \(900 s\)$" "$T/out" ||
    not_ok "pool show shows the idle timeout" "$(cat "$T/out")"
grep -Eq "^Max session: +12h \(43200 s\)$" "$T/out" ||
    not_ok "pool show shows the max session" "$(cat "$T/out")"
grep -Eq "^Device redirection: +no$" "$T/out" ||
    not_ok "pool show shows device redirection" "$(cat "$T/out")"
check "idle timeout refused by the server" 2 "^deskpoolctl: Field 'idle_timeout' must be" \
    ctl pool set sess --idle-timeout 10
check "pool set" 0 "" ctl pool set sess --groups '' --max-session 1d \
    --allow-device-redirection yes
grep -q "groups everyone; idle timeout 15m; max session 1d; device redirection allowed" \
    "$T/out" || not_ok "pool set prints the new policy" "$(cat "$T/out")"
check "pool show after pool set" 0 "" ctl pool show sess
grep -Eq "^Groups: +everyone$" "$T/out" && grep -Eq "^Device redirection: +yes$" "$T/out" ||
    not_ok "pool show shows everyone and redirection yes" "$(cat "$T/out")"
check "pool set --json" 0 "" ctl --json pool set sess --groups radiology,er \
    --allow-device-redirection=no
expect_json "pool set took effect" \
    "d['groups'] == ['radiology', 'er'] and d['max_session'] == 86400 and \
d['idle_timeout'] == 900 and d['allow_device_redirection'] is False"
check "pool set of an unknown pool" 2 "^deskpoolctl: " ctl pool set nosuch --max-session 1h

# ---- sessions and audit --------------------------------------------------

# acquire USER GROUP: POST /v1/pools/sess/sessions as a broker would; the
# answer lands in $T/acq, the status in $acq_status.
acquire() {
    acq_status=$(curl -sS --max-time 90 --unix-socket "$sock" -o "$T/acq" -w '%{http_code}' \
        -X POST -H 'Content-Type: application/json' \
        -d "{\"user\":\"$1\",\"groups\":[\"$2\"],\"client\":\"cli-test\"}" \
        http://localhost/v1/pools/sess/sessions)
}

acquire alice radiology
if [ "$acq_status" = 201 ]; then ok "acquire (curl)"; else
    not_ok "acquire (curl)" "HTTP $acq_status: $(head -c 600 "$T/acq")"; fi
sid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/acq" 2>/dev/null)
[ -n "$sid" ] || sid=00000000-0000-0000-0000-000000000000
acquire mallory finance
if [ "$acq_status" = 403 ]; then ok "acquire without an entitled group is refused"; else
    not_ok "acquire without an entitled group is refused" "HTTP $acq_status"; fi

check "session list" 0 "" ctl session list
grep -Eq "^ID +DESKTOP +POOL +USER +CLIENT +STATE +CREATED +LAST-HEARTBEAT +END-REASON$" \
    "$T/out" || not_ok "session list header" "$(cat "$T/out")"
grep -Eq "^$sid +sess-[0-9]+ +sess +alice +cli-test +active +[0-9T:Z-]+ +[0-9T:Z-]+ +-$" \
    "$T/out" || not_ok "session list shows alice's session" "$(cat "$T/out")"
check "session list --user alice" 0 "" ctl session list --user alice --pool sess
grep -q "^$sid " "$T/out" || not_ok "session list --user alice shows it" "$(cat "$T/out")"
check "session list --user bob" 0 "" ctl session list --user bob
[ "$(wc -l <"$T/out")" -eq 1 ] || not_ok "session list --user bob is empty" "$(cat "$T/out")"
check "session list --json" 0 "" ctl --json session list --pool sess
expect_json "session list --json" \
    "[x['id'] for x in d['sessions']] == ['$sid'] and d['sessions'][0]['user'] == 'alice'"
check "session show" 0 "" ctl session show "$sid"
grep -Eq "^User: +alice$" "$T/out" && grep -Eq "^State: +active$" "$T/out" ||
    not_ok "session show shows user and state" "$(cat "$T/out")"
check "session show --json" 0 "" ctl --json session show "$sid"
expect_json "session show --json has no connection" \
    "d['id'] == '$sid' and d['state'] == 'active' and 'connection' not in d"
check "session show not-a-uuid" 2 "^deskpoolctl: No session" ctl session show not-a-uuid
check "session show unknown --json" 2 "" ctl --json session show not-a-uuid
expect_json "session show unknown --json prints the error" "d['error']['code'] == 'not_found'"

# Rows older than the API's check on 'client', and hook output in a
# desktop's last_error, may hold terminal escapes and newlines (issue 11
# #10): people see them escaped, one row per row; --json keeps the value.
old_row() {
    python3 - "$T/state/deskpool.db" "$@" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
db.execute(sys.argv[2], tuple(sys.argv[3:]))
db.commit()
PY
}
hostile=$'evil\e]0;pwned\a\e[2J\n'"$sid  sess-9  sess  root"
old_row "UPDATE sessions SET client = ? WHERE id = ?" "$hostile" "$sid"
old_row "UPDATE desktops SET last_error = ? WHERE pool = 'sess'" $'hook said\e[31m\nforged'
check "session list with a hostile client" 0 "" ctl session list --pool sess
if grep -q $'[\e\a]' "$T/out"; then not_ok "session list prints no terminal escape" \
    "$(od -c "$T/out" | head -n 20)"; else ok "session list prints no terminal escape"; fi
[ "$(wc -l <"$T/out")" -eq 2 ] || not_ok "session list: no forged row" "$(cat "$T/out")"
grep -qF "evil\x1b]0;pwned\x07\x1b[2J\n$sid  sess-9  sess  root" "$T/out" ||
    not_ok "session list shows the client escaped" "$(cat "$T/out")"
check "session show with a hostile client" 0 "" ctl session show "$sid"
grep -qxF "Client:         evil\x1b]0;pwned\x07\x1b[2J\n$sid  sess-9  sess  root" "$T/out" ||
    not_ok "session show shows the client escaped on one line" "$(cat "$T/out")"
check "session list --json keeps the client" 0 "" ctl --json session list --pool sess
expect_json "session list --json has the stored value" \
    "d['sessions'][0]['client'].startswith('evil\x1b]0;pwned\x07\x1b[2J\n')"
check "pool show with a hostile last_error" 0 "" ctl pool show sess
if grep -q $'\e' "$T/out"; then not_ok "pool show prints no terminal escape"; else
    ok "pool show prints no terminal escape"; fi
grep -q '^forged' "$T/out" && not_ok "pool show: no forged line" "$(cat "$T/out")"
grep -qF 'hook said\x1b[31m\nforged' "$T/out" ||
    not_ok "pool show shows last_error escaped" "$(cat "$T/out")"
old_row "UPDATE sessions SET client = 'cli-test' WHERE id = ?" "$sid"

check "session end" 0 "" ctl session end "$sid"
grep -qx "Session $sid ended (forced)." "$T/out" || not_ok "session end says so" "$(cat "$T/out")"
check "session end again (409)" 2 "^deskpoolctl: Session '$sid' ended already \(forced\)" \
    ctl session end "$sid"
check "session end again --json" 2 "" ctl --json session end "$sid"
expect_json "session end again --json prints the conflict" "d['error']['code'] == 'conflict'"
check "session list after end" 0 "" ctl session list
grep -q "^$sid " "$T/out" && not_ok "ended session left the active list" "$(cat "$T/out")"
check "session list --ended" 0 "" ctl session list --ended
grep -Eq "^$sid +.* ended +.* forced$" "$T/out" ||
    not_ok "session list --ended shows END-REASON forced" "$(cat "$T/out")"
check "session list --all --json" 0 "" ctl --json session list --all --user alice
expect_json "session list --all --json" \
    "any(x['id'] == '$sid' and x['state'] == 'ended' and x['end_reason'] == 'forced' \
for x in d['sessions'])"

check "audit" 0 "" ctl audit
grep -Eq "^AT +ACTOR +ACTION +POOL +DESKTOP +USER +DETAIL$" "$T/out" ||
    not_ok "audit header" "$(cat "$T/out")"
grep -Eq " session\.acquire +sess +sess-[0-9]+ +alice " "$T/out" ||
    not_ok "audit shows session.acquire" "$(cat "$T/out")"
grep -Eq " session\.forced +sess +sess-[0-9]+ +alice " "$T/out" ||
    not_ok "audit shows session.forced" "$(cat "$T/out")"
check "audit --limit 1 --json" 0 "" ctl --json audit --limit 1
expect_json "audit --limit 1 --json" "len(d['entries']) == 1"
# deskpoold pages lists (at most 1000 an answer); deskpoolctl follows the pages
check "audit --limit 100000 (every entry, page by page)" 0 "" ctl audit --limit 100000
grep -q "session.forced" "$T/out" || not_ok "audit --limit 100000 lists the entries" "$(cat "$T/out")"

check "pool delete sess" 0 "" ctl pool delete sess --force --wait --timeout 120

# ---- hosts ---------------------------------------------------------------

# expect_out NAME ERE: a line of $T/out matches ERE.
expect_out() {
    if grep -Eq -- "$2" "$T/out"; then ok "$1"; else not_ok "$1" "$(cat "$T/out")"; fi
}

# wait_host NAME PYTHON_EXPR: poll `host show NAME --json` for 10 s until
# EXPR holds (d = the host); the last answer stays in $T/out.
wait_host() {
    for _ in $(seq 40); do
        ctl --json host show "$1" >"$T/out" 2>"$T/err"
        python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(not eval(sys.argv[2]))' "$T/out" "$2" 2>/dev/null && return 0
        sleep 0.25
    done
    return 1
}

wait_host local "d['state'] == 'up'"
check "host list" 0 "" ctl host list
expect_out "host list header" "^NAME +STATE +URI +DESKTOPS +MEMORY +CPUS +VIRT +LABELS$"
expect_out "host list shows local up" "^local +up +test:///default +[0-9]+ "
check "host list --json" 0 "" ctl --json host list
expect_json "host list --json has local" \
    "[h['name'] for h in d['hosts'] if h['state'] == 'up'] == ['local']"

# A second test-driver "host": its own node, 4 CPUs and 8 GiB.
cat >"$T/kvm2.xml" <<'EOF'
<node>
  <cpu><mhz>2000</mhz><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads></cpu>
  <memory>8388608</memory>
</node>
EOF
kvm2_uri="test://$T/kvm2.xml"
check "host add" 0 "" ctl host add kvm2 "$kvm2_uri" --max-desktops 5 --reserve-memory 1G \
    --labels site=a,gpu=yes
expect_out "host add says so" "^Host 'kvm2' added: test://.*/kvm2\.xml, max desktops 5, \
reserve memory 1\.0G, labels gpu=yes,site=a; state [a-z]+\.$"
check "host show --json" 0 "" ctl --json host show kvm2
expect_json "host show --json has the limits" \
    "d['name'] == 'kvm2' and d['uri'] == '$kvm2_uri' and d['max_desktops'] == 5 and \
d['reserve_memory'] == 1 << 30 and sorted(d['labels']) == ['gpu=yes', 'site=a'] and \
d['admin'] == 'active' and d['counts']['total'] == 0"
if wait_host kvm2 "d['state'] == 'up'"; then ok "kvm2 is up within 10 s"; else
    not_ok "kvm2 is up within 10 s" "$(cat "$T/out")"; fi
expect_json "kvm2 has the node file's memory and CPUs" \
    "d['memory'] == 8 << 30 and d['cpus'] == 4 and d['connection'] == 'up'"
check "host show" 0 "" ctl host show kvm2
expect_out "host show shows the state" "^State: +up$"
expect_out "host show shows max desktops" "^Max desktops: +5$"
expect_out "host show shows the reserve" "^Reserve memory: +1\.0G$"
expect_out "host show shows the labels" "^Labels: +gpu=yes,site=a$"
expect_out "host show shows how its domains are observed" \
    "^Observation: +[0-9]+ events, [0-9]+ full listings, [0-9]+ from events, [0-9]+ domains read again$"
expect_out "host show shows the desktops" \
    "^Desktops: +0 total, 0 ready, 0 busy, 0 pending, 0 failed, 0 deleting$"
check "host list with kvm2" 0 "" ctl host list
expect_out "host list shows kvm2" \
    "^kvm2 +up +test://.*/kvm2\.xml +0 +8\.0G +4 +[a-z]+ +gpu=yes,site=a$"
check "host add of the same name again" 2 "^deskpoolctl: A host named 'kvm2' .* exists" \
    ctl host add kvm2 "$kvm2_uri"
check "host add of deskpoold's own URI" 2 "^deskpoolctl: 'test:///default' is deskpoold's own" \
    ctl host add other test:///default
check "host add with a bad URI" 2 "^deskpoolctl: 'bad' is not a libvirt URI" ctl host add bad bad
check "host show of an unknown host" 2 "^deskpoolctl: No host 'nosuch'\.$" ctl host show nosuch
check "host set" 0 "" ctl host set kvm2 --max-desktops 0 --labels '' --reserve-memory 512M
expect_out "host set says so" \
    "^Host 'kvm2' changed: max desktops no limit, reserve memory 512M, labels none\.$"
check "host set --json" 0 "" ctl --json host set kvm2 --labels site=a --max-desktops 3
expect_json "host set took effect" \
    "d['labels'] == ['site=a'] and d['max_desktops'] == 3 and d['reserve_memory'] == 512 << 20"

# A pool's placement: sent, stored, shown, changed (min 0: no desktop made).
check "pool create with a placement" 0 "" ctl pool create placed --image g --template test \
    --min 0 --spare 0 --max 1 --placement pack --require-labels site=a
check "pool show --json (placement)" 0 "" ctl --json pool show placed
expect_json "the placement was sent" "d['placement'] == 'pack' and d['host_labels'] == ['site=a']"
check "pool show (placement)" 0 "" ctl pool show placed
expect_out "pool show shows the placement" "^Placement: +pack, on hosts with site=a$"
check "pool set placement" 0 "" ctl pool set placed --placement spread --require-labels ''
expect_out "pool set prints the placement" "; placement spread, on any host\.$"
check "pool delete placed" 0 "" ctl pool delete placed --wait --timeout 120
# Admission control: a min no host can take is refused, unless --overcommit.
check "pool create whose min does not fit" 2 "^deskpoolctl: Pool 'nofit' needs 1 more" \
    ctl pool create nofit --image g --template test --min 1 --spare 0 --max 1 \
    --require-labels gpu=none
check "pool create --overcommit" 0 "" ctl pool create nofit --image g --template test \
    --min 1 --spare 0 --max 1 --require-labels gpu=none --overcommit
check "host capacity --pool nofit" 0 "" ctl host capacity --pool nofit
expect_out "host capacity names the label limit" "^kvm2 +nofit +test +[0-9]+M\*? +0 +labels$"
expect_out "host capacity says the min does not fit" \
    "^Pool 'nofit': 0 more desktop\(s\) fit; it has 0 \(min 1, max 1\): its min does not fit\.$"
check "pool delete nofit" 0 "" ctl pool delete nofit --wait --timeout 120

check "host capacity" 0 "" ctl host capacity
expect_out "host capacity header" "^HOST +POOL +TEMPLATE +FOOTPRINT +FITS +LIMIT$"
expect_out "host capacity lists kvm2" "^kvm2 "
check "host capacity --json" 0 "" ctl --json host capacity
expect_json "host capacity --json has both hosts" \
    "sorted(h['name'] for h in d['hosts']) == ['kvm2', 'local'] and isinstance(d['pools'], list)"

check "host drain" 0 "" ctl host drain kvm2 --warn 60
expect_out "host drain says so" "^Host 'kvm2' is draining: .* after a 1m warning\.$"
check "host show after drain" 0 "" ctl --json host show kvm2
expect_json "kvm2 is draining" \
    "d['admin'] == 'draining' and d['state'] == 'draining' and d['drain_warn'] == 60 and \
d['drain_since']"
check "host show (draining)" 0 "" ctl host show kvm2
expect_out "host show shows admin draining" "^Admin: +draining$"
check "host undrain" 0 "" ctl host undrain kvm2
expect_out "host undrain says so" "^Host 'kvm2' takes desktops again\.$"
check "host show after undrain" 0 "" ctl --json host show kvm2
expect_json "kvm2 is active again" "d['admin'] == 'active'"
check "host remove local" 2 \
    "^deskpoolctl: Host 'local' is deskpoold's own URI and cannot be removed" \
    ctl host remove local
check "host remove local --json" 2 "" ctl --json host remove local
expect_json "host remove local --json prints the conflict" "d['error']['code'] == 'conflict'"
check "host remove" 0 "" ctl host remove kvm2
expect_out "host remove says so" "^Host 'kvm2' removed\.$"
check "removed host is gone" 2 "^deskpoolctl: No host 'kvm2'" ctl host show kvm2
check "host remove of an unknown host" 2 "^deskpoolctl: No host 'kvm2'" ctl host remove kvm2

# ---- daemon gone: exit 1 -------------------------------------------------

kill "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
daemon_pid=
check "daemon not running" 1 "^deskpoolctl: cannot connect to deskpoold at $sock" ctl health
check "daemon not running --json" 1 "" ctl --json health
expect_json "daemon not running --json prints an error document" \
    "'cannot connect' in d['error']['message']"

finish
