#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# scale.sh [N] - daemon memory and reconcile pass time with N desktops
# (default 500) on libvirt's test:///default driver.
#
# Baseline, same invocation: the same daemon with no pool. Prints RSS and
# the reconcile pass time (from /metrics, the mean of several idle passes)
# at 0 and at N desktops, and their ratios.
set -euo pipefail
n=${1:-500}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${DP_BUILDDIR:-$top/build}
work=$(mktemp -d /var/tmp/deskpool-bench.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
inst=scale$$
"$B/deskpoold" --foreground --uri test:///default --set memory_overcommit=100000 --state-dir "$work/state" --socket "$work/sock" \
    --instance "$inst" --templates-dir "$top/templates" --set storage_pool="$inst" \
    --set storage_dir="$work/ov" --set boot_delay=0 --set reconcile_interval=1 \
    --log-level warning 2>"$work/log" &
pid=$!
ctl() { "$B/deskpoolctl" --socket "$work/sock" "$@"; }
for _ in $(seq 1 100); do ctl health >/dev/null 2>&1 && break; sleep 0.1; done
metric() { curl -s --unix-socket "$work/sock" http://localhost/metrics | awk -v m="$1" '$1 == m {print $2}'; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
# mean pass time over K idle passes (reconcile_interval 1 s)
pass_time() {
    local sum=0 k=5 v
    for _ in $(seq 1 $k); do
        sleep 1.1
        v=$(metric deskpool_reconcile_last_pass_seconds)
        sum=$(echo "$sum + $v" | bc -l)
    done
    echo "$sum / $k" | bc -l
}
sleep 1
rss0=$(rss)
pass0=$(pass_time)
qemu-img create -q -f qcow2 "$work/g.qcow2" 64M
ctl image add g "$work/g.qcow2" >/dev/null
ctl pool create big --image g --template test --min "$n" --spare 0 --max "$n" >/dev/null
ctl pool wait big --timeout 600 >/dev/null
rssn=$(rss)
passn=$(pass_time)
printf 'scale N=%d: RSS %d KiB at 0 desktops, %d KiB at %d (%.1f KiB per desktop, ratio %.2f)\n' \
    "$n" "$rss0" "$rssn" "$n" "$(echo "($rssn - $rss0) / $n" | bc -l)" "$(echo "$rssn / $rss0" | bc -l)"
printf 'scale N=%d: reconcile pass %.2f ms at 0 desktops, %.2f ms at %d (ratio %.1f)\n' \
    "$n" "$(echo "$pass0 * 1000" | bc -l)" "$(echo "$passn * 1000" | bc -l)" "$n" \
    "$(echo "$passn / $pass0" | bc -l)"
