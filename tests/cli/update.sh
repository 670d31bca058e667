#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/cli/update.sh - deskpoolctl's standard-desktop updates against a real deskpoold
#
# Starts the daemon on libvirt's in-memory test:///default driver (private
# socket and state directory, boot_delay=0, a reconcile pass every second),
# publishes real qcow2 images and drives what an operator does on patch day:
# publish a version (a pool that follows latest rebases by itself), list
# and follow operations, retire versions, rebase explicitly in batches,
# refresh a pool (once, even when two cron jobs start it together), and the
# usage errors. Prints "ok - NAME" / "not ok - NAME" per check and
# "N passed, N failed" at the end; exits 1 on any failure. A missing daemon
# or CLI binary is a failure, never a skip.
#
# Environment (set by `make check`; defaults relative to this script):
#   DESKPOOLD, DESKPOOLCTL  the binaries
#   DP_SRCDIR               the source tree (for templates/)

. "$(dirname "$0")/harness.sh"
harness_require qemu-img python3
# jq_py EXPR: print EXPR evaluated with d = the JSON document on stdin.
jq_py() {
    python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# grep_out NAME ERE: $T/out has a line matching ERE.
grep_out() {
    if grep -Eq -- "$2" "$T/out"; then
        ok "$1"
    else
        not_ok "$1" "stdout: $(head -c 800 "$T/out")"
    fi
}

harness_start cliupd --set boot_delay=0 --set reconcile_interval=1

for v in 1 2 3; do
    qemu-img create -q -f qcow2 "$T/g$v.qcow2" $((64 + v))M
done

# ---- usage errors: exit 2, nothing sent ----------------------------------

nowhere() {
    "$DESKPOOLCTL" --socket "$T/nowhere" "$@"
}
check "help lists the update commands" 0 "" ctl --help
for c in "image publish" "image versions" "image retire" "image refresh" "pool rebase" \
    "operation list" "operation show"; do
    grep -q "^  $c" "$T/out" || not_ok "help lists $c"
done
check "image refresh with neither --pool nor --all" 2 \
    "^deskpoolctl: image refresh: give either --pool P or --all\.$" nowhere image refresh
check "image refresh with both" 2 "give either" nowhere image refresh --pool p --all
check "image retire with a bad version" 2 "^deskpoolctl: image retire: 'x2' is not a version" \
    nowhere image retire g x2
check "image retire v0" 2 "is not a version" nowhere image retire g v0
check "pool rebase with a bad --to" 2 "^deskpoolctl: --to: 'v' is not a version" \
    nowhere pool rebase p --to v
check "pool rebase with a bad --policy" 2 "^deskpoolctl: --policy: 'now'" \
    nowhere pool rebase p --policy now
check "pool rebase --batch 0" 2 "^deskpoolctl: --batch: must be at least 1" \
    nowhere pool rebase p --batch 0
check "pool rebase with a bad --warn" 2 "^deskpoolctl: --warn: '5x' is not a duration" \
    nowhere pool rebase p --warn 5x
check "pool set with a bad --image-version" 2 "^deskpoolctl: --image-version: 'vx'" \
    nowhere pool set p --image-version vx
check "operation show not-an-id" 2 "^deskpoolctl: 'not-an-id' is not an operation ID" \
    ctl operation show not-an-id
check "operation show not-an-id --json" 2 "" ctl --json operation show not-an-id
expect_json "operation show not-an-id --json prints an error document" \
    "d['error']['code'] == 'invalid_argument'"
check "operation show of an unknown ID" 2 "^deskpoolctl: No operation" \
    ctl operation show 00000000-0000-0000-0000-000000000000

# ---- publish, automatic rebase to latest ---------------------------------

check "image publish v1" 0 "" ctl image publish g "$T/g1.qcow2" --note first
grep_out "image publish says published" \
    "^Image 'g' version 1 published: [0-9.]+[KMG]?B?, sha256 [0-9a-f]{64}\.$"
check "pool create" 0 "" ctl pool create demo --image g --template test --min 3 --spare 0 \
    --max 3 --wait --timeout 120
check "pool show (v1)" 0 "" ctl pool show demo
grep_out "pool show says it runs v1 and follows latest" "^Runs: +v1 \(follows latest\)$"
names_v1=$(ctl --json pool show demo | jq_py "' '.join(sorted(x['name'] for x in d['desktops']))")

check "image publish v2" 0 "" ctl image publish g "$T/g2.qcow2" --note second
grep_out "image publish v2" "^Image 'g' version 2 published: "
check "image versions" 0 "" ctl image versions g
grep_out "image versions header" \
    "^VERSION +SIZE +SHA256 +CREATED +CREATED-BY +RETIRED +NOTE$"
grep_out "image versions shows v1" "^1 +[^ ]+ +[0-9a-f]{12} +[0-9T:Z-]+ +[^ ]+ +no +first$"
grep_out "image versions shows v2" "^2 +[^ ]+ +[0-9a-f]{12} +[0-9T:Z-]+ +[^ ]+ +no +second$"
[ "$(wc -l <"$T/out")" -eq 3 ] && ok "image versions has 2 versions" ||
    not_ok "image versions has 2 versions" "$(cat "$T/out")"

# The pool follows latest: the reconciler starts a rebase to v2 by itself.
opid=
for _ in $(seq 100); do
    ctl --json operation list --all --pool demo >"$T/ops" 2>/dev/null
    opid=$(jq_py "next((o['id'] for o in d['operations'] if o['kind'] == 'rebase' and \
o['to_version'] == 2), '')" <"$T/ops")
    [ -n "$opid" ] && break
    sleep 0.2
done
if [ -n "$opid" ]; then ok "a rebase to v2 starts by itself"; else
    not_ok "a rebase to v2 starts by itself" "$(cat "$T/ops")"; opid=none; fi
check "operation list --all" 0 "" ctl operation list --all
grep_out "operation list header" \
    "^ID +KIND +POOL +FROM +TO +STATE +DONE/TOTAL +FAILED +STEP$"
grep_out "operation list --all shows the rebase" \
    "^$opid +rebase +demo +v1 +v2 +[a-z]+ +[0-9]+/[0-9]+ "
check "operation show --wait" 0 "" ctl operation show "$opid" --wait --timeout 120
# (it may have ended already: then there is only the final line)
grep_out "operation show --wait shows progress" \
    "^demo: rebase to v2 (\[[#-]{10}\] [0-9]+/[0-9]+|succeeded$)"
grep_out "operation show --wait ends succeeded" "^State: +succeeded$"
check "operation show --json" 0 "" ctl --json operation show "$opid"
expect_json "the operation succeeded" \
    "d['id'] == '$opid' and d['state'] == 'succeeded' and d['to_version'] == 2"
check "operation list (running only)" 0 "" ctl operation list
grep -q "^$opid " "$T/out" && not_ok "finished operation left the running list" "$(cat "$T/out")" ||
    ok "finished operation left the running list"
check "pool wait" 0 "" ctl pool wait demo --timeout 120
check "pool show --json (v2)" 0 "" ctl --json pool show demo
expect_json "pool runs v2" \
    "d['current_version'] == 2 and d['image_version'] == 'latest' and \
all(x['image_version'] == 2 for x in d['desktops'])"

# ---- retire --------------------------------------------------------------

check "image retire v1" 0 "" ctl image retire g v1
grep_out "image retire says so" "^Image 'g' version 1 retired"
check "image retire v1 again" 2 "^deskpoolctl: Version 1 of image 'g' is retired already" \
    ctl image retire g 1
check "image retire v2 (in use)" 2 "^deskpoolctl: Version 2 of image 'g' is still used" \
    ctl image retire g v2
check "image retire v2 --json" 2 "" ctl --json image retire g v2
expect_json "image retire in use --json prints the conflict" "d['error']['code'] == 'conflict'"
check "image versions after retire" 0 "" ctl --json image versions g
expect_json "v1 is retired, v2 is not" \
    "[(v['version'], v['retired']) for v in d['versions']] == [(1, True), (2, False)]"

# ---- explicit rebase in batches ------------------------------------------

# Pin the pool to the version it runs before publishing v3, so no automatic
# rebase to latest races the explicit one below.
check "pool set --image-version v2" 0 "" ctl pool set demo --image-version v2
grep_out "pool set prints the pin" "^Pool 'demo' changed: image g@v2, runs v2 \(pinned to v2\);"
check "image publish v3" 0 "" ctl image publish g "$T/g3.qcow2"
check "pool set --image-version v99" 2 "^deskpoolctl: Image 'g' has no usable version 99" \
    ctl pool set demo --image-version v99
check "pool rebase --to v3 --batch 2 --wait" 0 "" \
    ctl pool rebase demo --to v3 --batch 2 --wait --timeout 120
grep_out "rebase prints its start" "^Rebase [0-9a-f-]{36} of pool 'demo' to v3 started\.$"
grep_out "rebase --wait shows progress" "^demo: rebase to v3 \[[#-]{10}\] [0-9]+/[0-9]+"
grep_out "rebase --wait ends succeeded" "^demo: rebase to v3 succeeded$"
grep_out "rebase --wait ends with a summary" \
    "^Rebase [0-9a-f-]{36} succeeded: pool 'demo' runs v3\.$"
cp "$T/out" "$T/rebase.out"
check "pool show --json (v3)" 0 "" ctl --json pool show demo
expect_json "desktops on v3" \
    "d['current_version'] == 3 and d['image_version'] == 3 and len(d['desktops']) == 3 and \
all(x['image_version'] == 3 for x in d['desktops'])"
check "pool show (pinned)" 0 "" ctl pool show demo
grep_out "pool show says pinned" "^Runs: +v3 \(pinned to v3\)$"
check "pool rebase --to v3 again" 2 "^deskpoolctl: Pool 'demo' runs version 3 already" \
    ctl pool rebase demo --to v3
check "pool rebase --json" 2 "" ctl --json pool rebase demo --to 3
expect_json "pool rebase again --json prints the error" "d['error']['code'] == 'invalid_argument'"
check "pool set --image-version latest" 0 "" ctl pool set demo --image-version latest
grep_out "pool set latest" "^Pool 'demo' changed: image g@latest, runs v3 \(follows latest\);"

# ---- refresh -------------------------------------------------------------

count_refreshes() {
    ctl --json operation list --all --pool demo |
        jq_py "len([o for o in d['operations'] if o['kind'] == 'refresh'])"
}
max_seq() {
    ctl --json pool show demo | jq_py "max(int(x['name'].rsplit('-', 1)[1]) for x in d['desktops'])"
}
min_seq() {
    ctl --json pool show demo | jq_py "min(int(x['name'].rsplit('-', 1)[1]) for x in d['desktops'])"
}

before=$(max_seq)
check "image refresh --pool" 0 "" ctl image refresh --pool demo --timeout 120
grep_out "image refresh says it started" "^demo: refresh [0-9a-f-]{36} to v3 started\.$"
# The count is the operation's last progress snapshot (done), which the
# daemon does not settle when the operation finishes: any number passes.
grep_out "image refresh summary" "^demo: refreshed [0-9]+ desktop\(s\)$"
cp "$T/out" "$T/refresh.out"
check "pool wait after refresh" 0 "" ctl pool wait demo --timeout 120
after=$(min_seq)
if [ "$after" -gt "$before" ]; then ok "all desktops are new after refresh"; else
    not_ok "all desktops are new after refresh" "highest before $before, lowest after $after"; fi

# Two cron jobs at once: one refresh operation, both wait on it.
n0=$(count_refreshes)
ctl image refresh --pool demo --timeout 120 >"$T/r1.out" 2>&1 &
p1=$!
ctl image refresh --pool demo --timeout 120 >"$T/r2.out" 2>&1 &
p2=$!
wait "$p1"; rc1=$?
wait "$p2"; rc2=$?
if [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ]; then ok "two refreshes at once both exit 0"; else
    not_ok "two refreshes at once both exit 0" "rc $rc1: $(cat "$T/r1.out")" \
        "rc $rc2: $(cat "$T/r2.out")"; fi
n1=$(count_refreshes)
if [ "$n1" -eq $((n0 + 1)) ]; then ok "two refreshes at once make one operation"; else
    not_ok "two refreshes at once make one operation" "refreshes before $n0, after $n1"; fi
waiting_re="^demo: waiting for the refresh already running \([0-9a-f-]{36}\)\.$"
if cat "$T/r1.out" "$T/r2.out" | grep -Eq "$waiting_re"; then
    ok "the second one says it waits on the first"; else
    not_ok "the second one says it waits on the first" "$(cat "$T/r1.out" "$T/r2.out")"; fi
if grep -Eq "^demo: refreshed [0-9]+ desktop\(s\)$" "$T/r1.out" &&
    grep -Eq "^demo: refreshed [0-9]+ desktop\(s\)$" "$T/r2.out"; then
    ok "both print the summary"; else
    not_ok "both print the summary" "$(cat "$T/r1.out" "$T/r2.out")"; fi

check "image refresh --pool --json --no-wait" 0 "" ctl --json image refresh --pool demo --no-wait
expect_json "image refresh --no-wait --json prints the operations" \
    "len(d['operations']) == 1 and d['operations'][0]['kind'] == 'refresh'"
check "image refresh --all --json" 0 "" ctl --json image refresh --all --timeout 120
expect_json "image refresh --all --json waits until they end" \
    "len(d['operations']) == 1 and d['operations'][0]['state'] == 'succeeded'"
check "image refresh of an unknown pool" 2 "^deskpoolctl: No pool 'nosuch'" \
    ctl image refresh --pool nosuch

check "pool delete" 0 "" ctl pool delete demo --force --wait --timeout 120

finish
