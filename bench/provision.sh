#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# provision.sh MODE N - time to bring a pool from 0 to N ready desktops.
#
#   MODE qemu: real libvirtd + QEMU (TCG here) with the tiny guest; ready =
#              the guest agent answers, plus the clean memory snapshot a
#              floating pool takes.
#   MODE test: libvirt's in-memory test:///default driver (no guest; ready
#              = the domain runs).
#
# The baseline is the shell loop an administrator would write, doing the
# same work: `qemu-img create -b` (qemu) or `vol-create-as --backing-vol`
# (test) + `virsh define` + `virsh start` for each desktop, then wait for
# each guest and snapshot it. Both run in the same invocation, baseline
# first; the ratio is baseline time / deskpool time (> 1: deskpool ahead).
set -euo pipefail
mode=${1:-test}
n=${2:-500}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${DP_BUILDDIR:-$top/build}
GUEST=/var/lib/deskpool/tiny-guest
work=$(mktemp -d /var/tmp/deskpool-bench.XXXXXX)
chmod 755 "$work"
inst=bench$$
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    if [ "$mode" = qemu ]; then
        for d in $(virsh -q -c qemu:///system list --all --name | grep -E "^($inst\\.|base$inst-)"); do
            virsh -q -c qemu:///system destroy "$d" >/dev/null 2>&1 || true
            virsh -q -c qemu:///system undefine --snapshots-metadata "$d" >/dev/null 2>&1 || true
        done
        virsh -q -c qemu:///system pool-destroy "$inst" >/dev/null 2>&1 || true
        virsh -q -c qemu:///system pool-undefine "$inst" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }

# ---------------------------------------------------------------- baseline
if [ "$mode" = qemu ]; then
    "$top/tests/guest/build-guest.sh" --out "$GUEST" >/dev/null
    golden=$work/golden.qcow2
    cp "$GUEST/golden-v1.qcow2" "$golden"
    t0=$(now)
    for i in $(seq 1 "$n"); do
        qemu-img create -q -f qcow2 -F qcow2 -b "$golden" "$work/base-$i.qcow2"
        sed -e "s|<name>tiny</name>|<name>base$inst-$i</name>|" \
            -e "s|<uuid>.*</uuid>||" \
            -e "s|/var/lib/deskpool/tiny-guest/PLACEHOLDER-overlay.qcow2|$work/base-$i.qcow2|" \
            "$top/templates/tiny.xml" >"$work/base-$i.xml"
        virsh -q -c qemu:///system define "$work/base-$i.xml" >/dev/null
        virsh -q -c qemu:///system start "base$inst-$i" >/dev/null
    done
    for i in $(seq 1 "$n"); do
        until virsh -q -c qemu:///system qemu-agent-command "base$inst-$i" '{"execute":"guest-ping"}' >/dev/null 2>&1; do
            sleep 0.25
        done
        virsh -q -c qemu:///system snapshot-create-as "base$inst-$i" deskpool-clean >/dev/null
    done
    t_base=$(echo "$(now) - $t0" | bc)
    for i in $(seq 1 "$n"); do
        virsh -q -c qemu:///system destroy "base$inst-$i" >/dev/null
        virsh -q -c qemu:///system undefine --snapshots-metadata "base$inst-$i" >/dev/null
    done
else
    qemu-img create -q -f qcow2 "$work/golden.qcow2" 64M
    {
        echo "vol-create-as default-pool golden.qcow2 64M --format qcow2"
        for i in $(seq 1 "$n"); do
            echo "vol-create-as default-pool base-$i.qcow2 64M --format qcow2 --backing-vol golden.qcow2 --backing-vol-format qcow2"
            echo "define $work/base-$i.xml"
            echo "start base-$i"
        done
        echo "list --name"
    } >"$work/cmds"
    for i in $(seq 1 "$n"); do
        printf "<domain type='test'><name>base-%s</name><memory unit='MiB'>128</memory><os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/default-pool/base-%s.qcow2'/><target dev='vda' bus='virtio'/></disk></devices></domain>\n" "$i" "$i" >"$work/base-$i.xml"
    done
    t0=$(now)
    virsh -q -c test:///default <"$work/cmds" >"$work/base.out" 2>"$work/base.err"
    t_base=$(echo "$(now) - $t0" | bc)
    if [ -s "$work/base.err" ] || [ "$(grep -c '^base-' "$work/base.out")" != "$n" ]; then
        echo "baseline failed:" >&2
        head -n 5 "$work/base.err" >&2
        exit 1
    fi
fi

# ---------------------------------------------------------------- deskpool
uri=test:///default
tmpl=test
extra=(--set boot_delay=0)
if [ "$mode" = qemu ]; then
    uri=qemu:///system
    tmpl=tiny
    extra=()
fi
"$B/deskpoold" --foreground --uri "$uri" --state-dir "$work/state" --socket "$work/sock" \
    --instance "$inst" --templates-dir "$top/templates" --set storage_pool="$inst" \
    --set storage_dir="$work/overlays" --log-level warning "${extra[@]}" 2>"$work/daemon.log" &
pid=$!
ctl() { "$B/deskpoolctl" --socket "$work/sock" "$@"; }
for _ in $(seq 1 300); do ctl health >/dev/null 2>&1 && break; sleep 0.1; done
ctl health >/dev/null || { cat "$work/daemon.log"; exit 1; }
if [ "$mode" = qemu ]; then img=$GUEST/golden-v1.qcow2; else img=$work/golden.qcow2; fi
ctl image add bench "$img" >/dev/null
t0=$(now)
ctl pool create bench --image bench --template "$tmpl" --min "$n" --spare 0 --max "$n" >/dev/null
ctl pool wait bench --timeout 1200 >/dev/null
t_dp=$(echo "$(now) - $t0" | bc)
ready=$(ctl --json pool show bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["ready"])')
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")

printf 'provision %s N=%d: baseline shell loop %.2f s, deskpool %.2f s (%d ready, daemon RSS %d KiB), ratio baseline/deskpool %.2f\n' \
    "$mode" "$n" "$t_base" "$t_dp" "$ready" "$rss" "$(echo "$t_base / $t_dp" | bc -l)"
ctl pool delete bench --force --wait >/dev/null
