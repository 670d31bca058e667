#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/cli/run.sh - deskpoolctl against a real deskpoold on test:///default
#
# Starts the daemon on a private socket and state directory (libvirt's
# in-memory test driver: no domains or volumes outside this process), then
# runs deskpoolctl's error paths (exit status and stderr text) and success
# paths, then broker sessions: acquired with curl as a broker would, listed,
# shown and force-ended with deskpoolctl, and the audit log. Prints
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

# ---- daemon gone: exit 1 -------------------------------------------------

kill "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
daemon_pid=
check "daemon not running" 1 "^deskpoolctl: cannot connect to deskpoold at $sock" ctl health
check "daemon not running --json" 1 "" ctl --json health
expect_json "daemon not running --json prints an error document" \
    "'cannot connect' in d['error']['message']"

finish
