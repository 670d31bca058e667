#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# provision.sh MODE N [ROUNDS] - time to bring a pool from 0 to N ready desktops.
#
#   MODE qemu: real libvirtd + QEMU (TCG here) with the tiny guest; ready =
#              the guest agent answers, plus the clean memory snapshot a
#              floating pool takes. Default ROUNDS 3.
#   MODE test: libvirt's in-memory test:///default driver (no guest; ready
#              = the domain runs, and its snapshot exists). Default ROUNDS 1.
#
# The baseline is the shell loop an administrator would write, doing the
# same work: `qemu-img create -b` (qemu) or `vol-create-as --backing-vol`
# (test) + `virsh define` + `virsh start` for each desktop, then wait for
# each guest and snapshot it. Baseline and deskpool alternate, ROUNDS times
# each, in the same invocation; the figures are medians and the ratio is
# baseline / deskpool (> 1: deskpool is ahead).
set -euo pipefail
mode=${1:-test}
n=${2:-500}
if [ "$mode" = qemu ]; then rounds=${3:-3}; else rounds=${3:-1}; fi
top=$(cd "$(dirname "$0")/.." && pwd)
B=${DP_BUILDDIR:-$top/build}
GUEST=/var/lib/deskpool/tiny-guest
work=$(mktemp -d /var/tmp/deskpool-bench.XXXXXX)
chmod 755 "$work"
inst=bench$$
V=(virsh -q -c qemu:///system)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    if [ "$mode" = qemu ]; then
        for d in $("${V[@]}" list --all --name | grep -E "^($inst\\.|base$inst-)"); do
            "${V[@]}" destroy "$d" >/dev/null 2>&1 || true
            "${V[@]}" undefine --snapshots-metadata "$d" >/dev/null 2>&1 || true
        done
        "${V[@]}" pool-destroy "$inst" >/dev/null 2>&1 || true
        "${V[@]}" pool-undefine "$inst" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

if [ "$mode" = qemu ]; then
    "$top/tests/guest/build-guest.sh" --out "$GUEST" >/dev/null
    cp "$GUEST/golden-v1.qcow2" "$work/golden.qcow2"
    img=$GUEST/golden-v1.qcow2
else
    qemu-img create -q -f qcow2 "$work/golden.qcow2" 64M
    img=$work/golden.qcow2
fi

# ------------------------------------------------------------- baseline
baseline_qemu() {
    local t0 i
    t0=$(now)
    for i in $(seq 1 "$n"); do
        qemu-img create -q -f qcow2 -F qcow2 -b "$work/golden.qcow2" "$work/base-$i.qcow2"
        sed -e "s|<name>tiny</name>|<name>base$inst-$i</name>|" -e "s|<uuid>.*</uuid>||" \
            -e "s|/var/lib/deskpool/tiny-guest/PLACEHOLDER-overlay.qcow2|$work/base-$i.qcow2|" \
            "$top/templates/tiny.xml" >"$work/base-$i.xml"
        "${V[@]}" define "$work/base-$i.xml" >/dev/null
        "${V[@]}" start "base$inst-$i" >/dev/null
    done
    for i in $(seq 1 "$n"); do
        until "${V[@]}" qemu-agent-command "base$inst-$i" '{"execute":"guest-ping"}' >/dev/null 2>&1; do
            sleep 0.25
        done
        "${V[@]}" snapshot-create-as "base$inst-$i" deskpool-clean >/dev/null
    done
    echo "$(now) - $t0" | bc
    for i in $(seq 1 "$n"); do
        "${V[@]}" destroy "base$inst-$i" >/dev/null
        "${V[@]}" undefine --snapshots-metadata "base$inst-$i" >/dev/null
        rm -f "$work/base-$i.qcow2"
    done
}

baseline_test() {
    local t0 i
    {
        echo "vol-create-as default-pool golden.qcow2 64M --format qcow2"
        for i in $(seq 1 "$n"); do
            echo "vol-create-as default-pool base-$i.qcow2 64M --format qcow2 --backing-vol golden.qcow2 --backing-vol-format qcow2"
            echo "define $work/base-$i.xml"
            echo "start base-$i"
            echo "snapshot-create-as base-$i deskpool-clean"
        done
        echo "list --name"
    } >"$work/cmds"
    for i in $(seq 1 "$n"); do
        printf "<domain type='test'><name>base-%s</name><memory unit='MiB'>128</memory><os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/default-pool/base-%s.qcow2'/><target dev='vda' bus='virtio'/></disk></devices></domain>\n" "$i" "$i" >"$work/base-$i.xml"
    done
    t0=$(now)
    virsh -q -c test:///default <"$work/cmds" >"$work/base.out" 2>"$work/base.err"
    echo "$(now) - $t0" | bc
    if [ -s "$work/base.err" ] || [ "$(grep -c '^base-[0-9]*$' "$work/base.out")" != "$n" ]; then
        echo "baseline failed:" >&2
        head -n 5 "$work/base.err" >&2
        exit 1
    fi
}

# ------------------------------------------------------------- deskpool
ctl() { "$B/deskpoolctl" --socket "$work/sock" "$@"; }
start_daemon() {
    local uri=test:///default extra=(--set boot_delay=0)
    [ "$mode" = qemu ] && uri=qemu:///system && extra=()
    "$B/deskpoold" --foreground --uri "$uri" --state-dir "$work/state" --socket "$work/sock" \
        --instance "$inst" --templates-dir "$top/templates" --set storage_pool="$inst" \
        --set storage_dir="$work/overlays" --log-level warning "${extra[@]}" 2>>"$work/daemon.log" &
    pid=$!
    for _ in $(seq 1 300); do ctl health >/dev/null 2>&1 && break; sleep 0.1; done
    ctl health >/dev/null || { cat "$work/daemon.log" >&2; exit 1; }
    ctl image add bench "$img" >/dev/null
}
ready_count() {
    curl -s --unix-socket "$work/sock" http://localhost/metrics |
        awk '$1 == "deskpool_desktops{pool=\"bench\",state=\"ready\"}" {print $2}'
}
deskpool_round() {
    local t0 tmpl=test
    [ "$mode" = qemu ] && tmpl=tiny
    t0=$(now)
    ctl pool create bench --image bench --template "$tmpl" --clone boot --min "$n" --spare 0 --max "$n" >/dev/null
    # poll every 0.1 s (pool wait polls every 0.5 s: too coarse to time with)
    until [ "$(ready_count)" = "$n" ]; do
        sleep 0.1
        [ "$(echo "$(now) - $t0 > 1200" | bc)" = 1 ] && { echo "deskpool: timeout" >&2; exit 1; }
    done
    echo "$(now) - $t0" | bc
    RSS=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    ctl pool delete bench --force --wait >/dev/null
}

start_daemon
: >"$work/tb"
: >"$work/td"
for _ in $(seq 1 "$rounds"); do
    "baseline_$mode" >>"$work/tb"
    deskpool_round >>"$work/td"
done
tb=$(median <"$work/tb")
td=$(median <"$work/td")
printf 'provision %s N=%d, %d rounds: baseline shell loop %.2f s [%s], deskpool %.2f s [%s] (daemon RSS %d KiB), ratio baseline/deskpool %.2f\n' \
    "$mode" "$n" "$rounds" "$tb" "$(paste -sd' ' "$work/tb")" "$td" "$(paste -sd' ' "$work/td")" \
    "$RSS" "$(echo "$tb / $td" | bc -l)"
