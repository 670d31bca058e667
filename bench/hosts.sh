#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hosts.sh [HOSTS] - reconcile pass time and daemon RSS with desktops spread
# over HOSTS hosts (default 10), at 500, 2,000 and 5,000 desktops.
#
# Each host is a libvirt test driver file (test:///DIR/hN.xml, 64 GiB,
# max_desktops 500) reached through its own connection, as a remote host
# is; the daemon's own host (test:///default) is drained. Two baselines, in
# the same invocation: the same sizes on the daemon's one host alone, and
# on the same hosts with every pass a full listing (libvirt_resync_interval
# 1, as before lifecycle events were used: "full"). The pass time is the mean of 5 idle passes (/metrics); RSS is the daemon's
# VmRSS. The test driver keeps every domain inside the daemon's memory, so
# RSS here counts libvirt's copies of the domains too: tests/e2e/hosts.sh
# prints the daemon's RSS on real hosts (real QEMU, two libvirt daemons)
# and the time from a host's loss to its spares restored.
set -euo pipefail
nhosts=${1:-10}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${DP_BUILDDIR:-$top/build}
work=$(mktemp -d /var/tmp/deskpool-bench.XXXXXX)
chmod 755 "$work"
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
qemu-img create -q -f qcow2 "$work/g.qcow2" 16M

# run MODE: one daemon; MODE "one" (one host), "many" (nhosts hosts) or
# "full" (nhosts hosts, a full listing every pass). Prints "SIZE PASS_MS
# RSS_KIB" for each size.
run() {
    local mode=$1 d=$work/$1 inst=bh$1$$ resync=60
    [ "$mode" = full ] && resync=1
    mkdir -p "$d"
    "$B/deskpoold" --foreground --set libvirt_resync_interval=$resync --uri test:///default --set memory_overcommit=100000 \
        --state-dir "$d/state" --socket "$d/sock" --instance "$inst" \
        --templates-dir "$top/templates" --set storage_pool="$inst" \
        --set storage_dir="$d/ov" --set boot_delay=0 --set reconcile_interval=1 \
        --set max_concurrent=16 --set host_max_starts=16 --set console_password=none \
        --log-level error 2>"$d/log" &
    pid=$!
    ctl() { "$B/deskpoolctl" --socket "$d/sock" "$@"; }
    for _ in $(seq 1 100); do ctl health >/dev/null 2>&1 && break; sleep 0.1; done
    metric() { curl -s --unix-socket "$d/sock" http://localhost/metrics | awk -v m="$1" '$1 == m {print $2}'; }
    ctl image add g "$work/g.qcow2" >/dev/null
    if [ "$mode" != one ]; then
        for i in $(seq 1 "$nhosts"); do
            printf '<node><cpu><mhz>2000</mhz><nodes>1</nodes><sockets>1</sockets><cores>64</cores><threads>1</threads></cpu><memory>%s</memory></node>\n' \
                $((64 * 1024 * 1024)) >"$d/h$i.xml"
            ctl host add "h$i" "test://$d/h$i.xml" --max-desktops 500 >/dev/null
        done
        ctl host drain local >/dev/null
        for _ in $(seq 1 200); do
            [ "$(ctl --json host list | python3 -c 'import json,sys; print(sum(h["state"] == "up" for h in json.load(sys.stdin)["hosts"]))')" = "$nhosts" ] && break
            sleep 0.1
        done
    fi
    local first=1
    for n in 500 2000 5000; do
        [ "$mode" != one ] && [ "$n" -gt $((nhosts * 500)) ] && continue
        if [ $first = 1 ]; then
            ctl pool create big --image g --template test --min "$n" --spare 0 --max 5000 >/dev/null
            first=0
        else
            ctl pool resize big --min "$n" >/dev/null
        fi
        ctl pool wait big --timeout 900 >/dev/null || { echo "hosts: pool big did not fill ($mode, $n)" >&2; exit 1; }
        local sum=0 v
        for _ in 1 2 3 4 5; do
            sleep 1.1
            v=$(metric deskpool_reconcile_last_pass_seconds)
            sum=$(echo "$sum + $v" | bc -l)
        done
        echo "$n $(echo "$sum * 200" | bc -l) $(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
}

one=$(run one)
many=$(run many)
full=$(run full)
echo "size  | 1 host: pass ms  RSS MiB | $nhosts hosts: pass ms  RSS MiB | $nhosts hosts, full listings: pass ms | ratio to 1 host: pass  RSS | ratio to full listings: pass"
while read -r n p1 r1; do
    read -r _ p2 r2 < <(grep "^$n " <<<"$many") || continue
    read -r _ p3 _ < <(grep "^$n " <<<"$full") || continue
    printf '%5d | %15.1f  %7.1f | %15.1f  %7.1f | %36.1f | %21.2f  %4.2f | %28.2f\n' "$n" "$p1" \
        "$(echo "$r1 / 1024" | bc -l)" "$p2" "$(echo "$r2 / 1024" | bc -l)" "$p3" \
        "$(echo "$p2 / $p1" | bc -l)" "$(echo "$r2 / $r1" | bc -l)" "$(echo "$p2 / $p3" | bc -l)"
done <<<"$one"
