#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# wipe.sh [ROUNDS] - logout-to-ready on real libvirtd + QEMU (TCG here) with
# the tiny guest, for one desktop of a floating pool (default 3 rounds).
#
#   wipe:     DELETE /v1/sessions/ID until that desktop is ready again: the
#             revert to its clean memory snapshot plus the clock resync.
#   re-clone: what a wipe without snapshots costs, done by the same daemon
#             in the same run: destroy the dirty desktop (pool shrinks by
#             one: destroy, undefine, overlay deleted) plus provision a fresh
#             one (pool grows by one: overlay clone, define, boot until the
#             guest agent answers, clean snapshot).
#
# The two alternate, ROUNDS times each; the figures are medians and the
# ratio is re-clone / wipe (> 1: the revert is ahead).
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

# poll every 0.1 s until the python condition COND on the pool holds
until_pool() {
    local cond=$1 t0
    t0=$(now)
    until [ "$(api GET /v1/pools/bench | jget "$cond")" = True ]; do
        sleep 0.1
        if [ "$(echo "$(now) - $t0 > 600" | bc)" = 1 ]; then
            echo "timeout: $cond" >&2
            exit 1
        fi
    done
}
until_pool "d['counts']['ready'] == 1"

wipe_round() {
    local s id desk t0
    s=$(api POST /v1/pools/bench/sessions "{\"user\":\"u$1\",\"client\":\"bench\"}")
    id=$(echo "$s" | jget "d['id']")
    desk=$(echo "$s" | jget "d['desktop']")
    sleep 1 # a session that lived
    t0=$(now)
    api DELETE "/v1/sessions/$id" >/dev/null
    until_pool "[x['state'] for x in d['desktops'] if x['name'] == '$desk'] == ['ready']"
    echo "$(now) - $t0" | bc
}

reclone_round() {
    local t0 td tp
    # destroy: the one desktop goes (min 0), nothing else is there
    t0=$(now)
    api PATCH /v1/pools/bench '{"min":0}' >/dev/null
    until_pool "d['counts']['total'] == 0"
    td=$(echo "$(now) - $t0" | bc)
    # re-clone and boot: a fresh one (min 1) until ready
    t0=$(now)
    api PATCH /v1/pools/bench '{"min":1}' >/dev/null
    until_pool "d['counts']['ready'] == 1"
    tp=$(echo "$(now) - $t0" | bc)
    echo "$td $tp $(echo "$td + $tp" | bc)"
}

: >"$work/tw"
: >"$work/tr"
for i in $(seq 1 "$rounds"); do
    wipe_round "$i" >>"$work/tw"
    reclone_round >>"$work/tr"
done
tw=$(median <"$work/tw")
tdel=$(cut -d' ' -f1 "$work/tr" | median)
tprov=$(cut -d' ' -f2 "$work/tr" | median)
tr=$(cut -d' ' -f3 "$work/tr" | median)
printf 'wipe qemu, %d rounds: release->ready by revert %.2f s [%s]; re-clone %.2f s [%s] (destroy %.2f s + clone/boot/snapshot %.2f s), ratio re-clone/wipe %.2f (clone/boot/snapshot alone: %.2f)\n' \
    "$rounds" "$tw" "$(paste -sd' ' "$work/tw")" "$tr" "$(cut -d' ' -f3 "$work/tr" | paste -sd' ')" \
    "$tdel" "$tprov" "$(echo "$tr / $tw" | bc -l)" "$(echo "$tprov / $tw" | bc -l)"
grep -E 'wiped and ready again' "$work/daemon.log" | sed 's/^.*: Desktop/# daemon: Desktop/' || true
