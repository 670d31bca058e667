#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# wipe.sh [ROUNDS] - logout-to-ready on real libvirtd + QEMU (TCG here) with
# the tiny guest, for one desktop of a floating pool (default 3 rounds).
# One daemon runs two pools of one desktop each: "bench" (--clone boot) and
# "benchi" (--clone instant; its parent is booted and saved before the
# rounds, untimed).
#
#   revert:   bench: DELETE /v1/sessions/ID until that desktop is ready
#             again: the revert to its clean memory snapshot plus the clock
#             resync.
#   instant:  benchi: DELETE /v1/sessions/ID until that desktop is ready
#             again under its other domain name ("I.N" <-> "I.N.b"): the old
#             incarnation paused, the next one restored from the parent's
#             saved state onto a fresh overlay and given its identity (NICs,
#             clock, host name) while the old one is destroyed. The old
#             incarnation's undefine and overlay deletion, which follow the
#             ready, are waited for (untimed) before the round ends.
#   re-clone: what a wipe without snapshots costs, done by the same daemon
#             on bench in the same run: destroy the dirty desktop (pool
#             shrinks by one: destroy, undefine, overlay deleted) plus
#             provision a fresh one (pool grows by one: overlay clone,
#             define, boot until the guest agent answers, clean snapshot).
#
# The three alternate (revert, instant, re-clone), ROUNDS times each; the
# figures are medians. Ratios: revert / instant (> 1: the instant clone is
# ahead) and re-clone / revert (> 1: the revert is ahead).
set -euo pipefail
rounds=${1:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${DP_BUILDDIR:-$top/build}
GUEST=/var/lib/deskpool/tiny-guest
work=$(mktemp -d /var/tmp/deskpool-bench.XXXXXX)
chmod 755 "$work"
inst=wipe$$
V=(virsh -q -c qemu:///system)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    for d in $("${V[@]}" list --all --name | grep "^$inst\\." || true); do
        "${V[@]}" destroy "$d" >/dev/null 2>&1 || true
        "${V[@]}" undefine --snapshots-metadata "$d" >/dev/null 2>&1 || true
    done
    "${V[@]}" pool-destroy "$inst" >/dev/null 2>&1 || true
    "${V[@]}" pool-undefine "$inst" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

"$top/tests/guest/build-guest.sh" --out "$GUEST" >/dev/null

# ------------------------------------------------------------- daemon
ctl() { "$B/deskpoolctl" --socket "$work/sock" "$@"; }
# api METHOD PATH [BODY]: prints the body; fails unless 2xx
api() {
    local args=(-sf --max-time 120 --unix-socket "$work/sock" -X "$1")
    [ $# -gt 2 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    curl "${args[@]}" "http://localhost$2"
}
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
# the KVM/TCG probe is not what is measured here
"$B/deskpoold" --foreground --uri qemu:///system --state-dir "$work/state" --socket "$work/sock" \
    --instance "$inst" --templates-dir "$top/templates" --set storage_pool="$inst" \
    --set storage_dir="$work/overlays" --set virt_type=qemu --log-level info \
    2>>"$work/daemon.log" &
pid=$!
for _ in $(seq 1 300); do ctl health >/dev/null 2>&1 && break; sleep 0.1; done
ctl health >/dev/null || { cat "$work/daemon.log" >&2; exit 1; }
ctl image add bench "$GUEST/golden-v1.qcow2" >/dev/null
api POST /v1/pools '{"name":"bench","image":"bench","template":"tiny","mode":"floating","clone":"boot","min":1,"spare":0,"max":3}' >/dev/null
api POST /v1/pools '{"name":"benchi","image":"bench","template":"tiny","mode":"floating","clone":"instant","min":1,"spare":0,"max":1}' >/dev/null

# until_pool POOL COND: poll every 0.1 s until the python condition COND on
# GET /v1/pools/POOL holds
until_pool() {
    local cond=$2 t0
    t0=$(now)
    until [ "$(api GET "/v1/pools/$1" | jget "$cond")" = True ]; do
        sleep 0.1
        if [ "$(echo "$(now) - $t0 > 600" | bc)" = 1 ]; then
            echo "timeout: $1: $cond" >&2
            exit 1
        fi
    done
}
until_pool bench "d['counts']['ready'] == 1"
until_pool benchi "d['counts']['ready'] == 1"
# instant clones of one ready parent, or there is nothing to measure
pj=$(api GET /v1/pools/benchi)
[ "$(echo "$pj" | jget "d['clone_effective'] == 'instant' and len(d['parents']) == 1 and d['parents'][0]['state'] == 'ready' and d['desktops'][0]['parent'] == d['parents'][0]['name']")" = True ] ||
    { echo "benchi does not make instant clones:" >&2; echo "$pj" >&2; exit 1; }

# wipe_round POOL I: acquire, 1 s of session, release; prints the seconds
# from the release until the desktop is ready again (for an instant clone:
# ready under the other domain name)
wipe_round() {
    local s id desk dom ndom t0 t
    s=$(api POST "/v1/pools/$1/sessions" "{\"user\":\"u$2\",\"client\":\"bench\"}")
    id=$(echo "$s" | jget "d['id']")
    desk=$(echo "$s" | jget "d['desktop']")
    dom=$(api GET "/v1/pools/$1" | jget "[x['domain'] for x in d['desktops'] if x['name'] == '$desk'][0]")
    sleep 1 # a session that lived
    t0=$(now)
    api DELETE "/v1/sessions/$id" >/dev/null
    if [ "$1" = bench ]; then
        until_pool "$1" "[x['state'] for x in d['desktops'] if x['name'] == '$desk'] == ['ready']"
        echo "$(now) - $t0" | bc
        return
    fi
    until_pool "$1" "[(x['state'], x['domain'] != '$dom') for x in d['desktops'] if x['name'] == '$desk'] == [('ready', True)]"
    t=$(echo "$(now) - $t0" | bc)
    ndom=$(api GET "/v1/pools/$1" | jget "[x['domain'] for x in d['desktops'] if x['name'] == '$desk'][0]")
    if [ "$ndom" != "$dom.b" ] && [ "$dom" != "$ndom.b" ]; then
        echo "instant wipe: $desk went from '$dom' to '$ndom', not its other name" >&2
        exit 1
    fi
    # the old incarnation goes after the ready: not timed, not left to the next round
    for _ in $(seq 1 600); do
        "${V[@]}" dominfo "$dom" >/dev/null 2>&1 || break
        sleep 0.1
    done
    echo "$t"
}

reclone_round() {
    local t0 td tp
    # destroy: the one desktop goes (min 0), nothing else is there
    t0=$(now)
    api PATCH /v1/pools/bench '{"min":0}' >/dev/null
    until_pool bench "d['counts']['total'] == 0"
    td=$(echo "$(now) - $t0" | bc)
    # re-clone and boot: a fresh one (min 1) until ready
    t0=$(now)
    api PATCH /v1/pools/bench '{"min":1}' >/dev/null
    until_pool bench "d['counts']['ready'] == 1"
    tp=$(echo "$(now) - $t0" | bc)
    echo "$td $tp $(echo "$td + $tp" | bc)"
}

echo "# wipe.sh: $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
: >"$work/tw"
: >"$work/ti"
: >"$work/tr"
for i in $(seq 1 "$rounds"); do
    wipe_round bench "$i" >>"$work/tw"
    wipe_round benchi "$i" >>"$work/ti"
    reclone_round >>"$work/tr"
done
tw=$(median <"$work/tw")
ti=$(median <"$work/ti")
tdel=$(cut -d' ' -f1 "$work/tr" | median)
tprov=$(cut -d' ' -f2 "$work/tr" | median)
tr=$(cut -d' ' -f3 "$work/tr" | median)
printf 'wipe qemu, %d rounds: release->ready by revert %.2f s [%s]; by instant clone %.2f s [%s], ratio revert/instant %.2f\n' \
    "$rounds" "$tw" "$(paste -sd' ' "$work/tw")" "$ti" "$(paste -sd' ' "$work/ti")" \
    "$(echo "$tw / $ti" | bc -l)"
printf 're-clone %.2f s [%s] (destroy %.2f s + clone/boot/snapshot %.2f s), ratio re-clone/revert %.2f (clone/boot/snapshot alone: %.2f)\n' \
    "$tr" "$(cut -d' ' -f3 "$work/tr" | paste -sd' ')" \
    "$tdel" "$tprov" "$(echo "$tr / $tw" | bc -l)" "$(echo "$tprov / $tw" | bc -l)"
grep -E "Desktop '[^']*' wiped( and ready again|: cloned again)" "$work/daemon.log" |
    sed 's/^.*: Desktop/# daemon: Desktop/' || true
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
