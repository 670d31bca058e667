#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# provision.sh MODE N [ROUNDS] - time to bring a pool from 0 to N ready
# desktops: a shell loop (the baseline), deskpool booting each desktop
# (--clone boot) and deskpool's instant clones (--clone instant), in one
# invocation.
#
#   MODE qemu: real libvirtd + QEMU (TCG here) with the tiny guest. Ready =
#              the guest agent answers, plus the clean memory snapshot a
#              booted floating desktop takes (baseline, boot); for an instant
#              clone, the restore of its parent's memory state, the agent and
#              its identity (NICs, clock, host name). Default ROUNDS 3.
#   MODE test: libvirt's in-memory test:///default driver (no guest; ready
#              = the domain runs, and its snapshot exists). Default ROUNDS 1.
#              Baseline and boot only: instant clones need a guest agent
#              channel, which the test template has not, and the local QEMU
#              driver (libvirtd restores them from a FIFO on this host), so
#              pool_clone_check() refuses them there and a pool boots; the
#              script checks that --clone instant gets a 400 and prints its
#              reason instead of a figure.
#
# The baseline is the shell loop an administrator would write, doing the
# same work as a booted pool: `qemu-img create -b` (qemu) or `vol-create-as
# --backing-vol` (test) + `virsh define` + `virsh start` for each desktop,
# then wait for each guest and snapshot it.
#
# deskpool boot: `pool create --clone boot --min N --spare 0 --max N` until
# /metrics counts N ready (polled every 0.1 s), then the pool is deleted.
#
# deskpool instant (qemu), two figures per round from one pool:
#   0->N: `pool create --clone instant --min N` while the image has no
#         parent: the parent's boot until its agent answers and its save,
#         then the N clones (the parent's boot and save times are printed);
#   +N:   the same pool shrunk to min 0 (untimed; the parent stays, the pool
#         still wants it), then resized to min N: N clones made once the
#         parent is ready.
#   Then the pool is deleted and, untimed, its parent too before the next
#   round. The script checks that the pool made instant clones throughout
#   (clone_effective instant, every desktop names the one parent), so a
#   fallback to booting cannot pass for a figure.
#
# Disk (qemu): allocated bytes (stat %b * 512) per desktop, the mean over
# the N overlays read as soon as the N are ready: a booted desktop's overlay,
# which holds its clean internal memory snapshot, against an instant clone's
# (what its guest wrote since the restore: it grows as the guest runs), of the
# 0->N pool; and, paid once per image version and template, the parent's
# saved memory image (STATE_DIR/parents/P.save) and its overlay.
#
# Baseline, boot and instant run in that order, ROUNDS times each, in the
# same invocation; the figures are medians. Ratios: baseline / deskpool boot,
# baseline / instant and boot / instant (> 1: the latter is ahead), and
# bytes boot / instant per desktop.
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
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
# bytes FILE: allocated on disk
bytes() { echo $(($(stat -c %b "$1") * 512)); }

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
# api METHOD PATH [BODY]: prints the body; fails unless 2xx
api() {
    local args=(-sf --max-time 120 --unix-socket "$work/sock" -X "$1")
    [ $# -gt 2 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    curl "${args[@]}" "http://localhost$2"
}
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
tmpl="test"
[ "$mode" = qemu ] && tmpl="tiny"
start_daemon() {
    # the test driver cannot change a running domain's devices: no console
    # passwords there (console_password=none, docs/config.md)
    local uri=test:///default extra=(--set boot_delay=0 --set console_password=none
                                     --set memory_overcommit=100000)
    [ "$mode" = qemu ] && uri=qemu:///system && extra=()
    "$B/deskpoold" --foreground --uri "$uri" --state-dir "$work/state" --socket "$work/sock" \
        --instance "$inst" --templates-dir "$top/templates" --set storage_pool="$inst" \
        --set storage_dir="$work/overlays" --log-level warning "${extra[@]}" 2>>"$work/daemon.log" &
    pid=$!
    for _ in $(seq 1 300); do ctl health >/dev/null 2>&1 && break; sleep 0.1; done
    ctl health >/dev/null || { cat "$work/daemon.log" >&2; exit 1; }
    # the domain type probe (KVM or TCG) is not what is measured
    for _ in $(seq 1 600); do
        vt=$(api GET /healthz | jget "d['virt_type']" || true)
        [ -n "$vt" ] && [ "$vt" != probing ] && break
        sleep 0.1
    done
    ctl image add bench "$img" >/dev/null
}
ready_count() {
    curl -s --unix-socket "$work/sock" http://localhost/metrics |
        awk -v k="deskpool_desktops{pool=\"$1\",state=\"ready\"}" '$1 == k {print $2}'
}
# wait_ready POOL COUNT T0: poll every 0.1 s (pool wait polls every 0.5 s:
# too coarse to time with) until COUNT desktops of POOL are ready; prints
# the seconds since T0
wait_ready() {
    until [ "$(ready_count "$1")" = "$2" ]; do
        sleep 0.1
        [ "$(echo "$(now) - $3 > 1200" | bc)" = 1 ] && { echo "deskpool $1: timeout" >&2; exit 1; }
    done
    echo "$(now) - $3" | bc
}
# until_json PATH COND: poll (untimed) until the python condition COND on
# GET PATH holds
until_json() {
    local i
    for i in $(seq 1 3000); do
        [ "$(api GET "$1" | jget "$2")" = True ] && return 0
        sleep 0.2
    done
    echo "timeout: $1: $2" >&2
    exit 1
}
# mean allocated bytes of the overlays of POOL's desktops
desk_bytes() {
    local v s=0 k=0
    for v in $(api GET "/v1/pools/$1" | jget "'\\n'.join(x['volume'] for x in d['desktops'])"); do
        s=$((s + $(bytes "$v")))
        k=$((k + 1))
    done
    echo $((s / k))
}

boot_round() {
    local t0 t
    t0=$(now)
    ctl pool create bench --image bench --template "$tmpl" --clone boot --min "$n" --spare 0 --max "$n" >/dev/null
    t=$(wait_ready bench "$n" "$t0")
    RSS_BOOT=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    if [ "$mode" = qemu ]; then echo "$t $(desk_bytes bench)"; else echo "$t"; fi
    ctl pool delete bench --force --wait >/dev/null
}

instant_round() {
    local t0 ta tb pj par pdom ib sb ob pboot psave
    # a fresh start: no parent of the image (the last round's is deleted)
    [ "$(api GET /v1/images/bench | jget "d['parents'] == []")" = True ] ||
        { echo "instant: the image still has a parent" >&2; exit 1; }
    t0=$(now)
    ctl pool create benchi --image bench --template "$tmpl" --clone instant --min "$n" --spare 0 --max "$n" >/dev/null
    ta=$(wait_ready benchi "$n" "$t0")
    ib=$(desk_bytes benchi)
    pj=$(api GET /v1/pools/benchi)
    par=$(echo "$pj" | jget "d['parents'][0]['name'] if len(d['parents']) == 1 else ''")
    [ "$(echo "$pj" | jget "d['clone_effective'] == 'instant' and d['parents'][0]['state'] == 'ready' and all(x['parent'] == '$par' for x in d['desktops'])")" = True ] ||
        { echo "instant 0->N: not instant clones of one parent:" >&2; echo "$pj" >&2; exit 1; }
    pdom=$(echo "$pj" | jget "d['parents'][0]['domain']")
    pboot=$(echo "$pj" | jget "d['parents'][0]['boot_seconds']")
    psave=$(echo "$pj" | jget "d['parents'][0]['save_seconds']")
    sb=$(bytes "$work/state/parents/$par.save")
    ob=$(bytes "$work/overlays/$pdom.qcow2")
    # +N: empty the pool (the parent stays), then N more
    api PATCH /v1/pools/benchi '{"min":0}' >/dev/null
    until_json /v1/pools/benchi "d['counts']['total'] == 0 and [p['state'] for p in d['parents']] == ['ready']"
    t0=$(now)
    api PATCH /v1/pools/benchi "{\"min\":$n}" >/dev/null
    tb=$(wait_ready benchi "$n" "$t0")
    RSS_INSTANT=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    pj=$(api GET /v1/pools/benchi)
    [ "$(echo "$pj" | jget "d['clone_effective'] == 'instant' and [p['name'] for p in d['parents']] == ['$par'] and all(x['parent'] == '$par' for x in d['desktops'])")" = True ] ||
        { echo "instant +N: not clones of the same parent '$par':" >&2; echo "$pj" >&2; exit 1; }
    ctl pool delete benchi --force --wait >/dev/null
    until_json /v1/images/bench "d['parents'] == []"
    echo "$ta $tb $ib $sb $ob $pboot $psave"
}

start_daemon
# test:///default: instant clones are refused (400), the reason is printed
instant=yes
if [ "$mode" = test ]; then
    instant=no
    r=$(curl -s --unix-socket "$work/sock" -X POST -H 'Content-Type: application/json' -w '\n%{http_code}' \
        --data-binary '{"name":"probe","image":"bench","template":"test","clone":"instant","min":0,"spare":0,"max":1}' \
        http://localhost/v1/pools)
    if [ "$(echo "$r" | tail -n 1)" != 400 ]; then
        echo "test:///default: --clone instant was not refused: $r" >&2
        exit 1
    fi
    why=$(echo "$r" | head -n -1 | jget "d['error']['message']")
fi

echo "# provision.sh: $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
: >"$work/tb"
: >"$work/td"
: >"$work/ti"
for _ in $(seq 1 "$rounds"); do
    "baseline_$mode" >>"$work/tb"
    boot_round >>"$work/td"
    [ "$instant" = no ] || instant_round >>"$work/ti"
done
tb=$(median <"$work/tb")
td=$(cut -d' ' -f1 "$work/td" | median)
col() { cut -d' ' -f"$2" "$work/$1" | paste -sd' '; }
printf 'provision %s N=%d, %d rounds: baseline shell loop %.2f s [%s], deskpool boot %.2f s [%s] (daemon RSS %d KiB), ratio baseline/boot %.2f\n' \
    "$mode" "$n" "$rounds" "$tb" "$(paste -sd' ' "$work/tb")" "$td" "$(col td 1)" \
    "$RSS_BOOT" "$(echo "$tb / $td" | bc -l)"
if [ "$instant" = no ]; then
    echo "deskpool instant: not measured on test:///default: $why"
    echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    exit 0
fi
ta=$(cut -d' ' -f1 "$work/ti" | median)
tn=$(cut -d' ' -f2 "$work/ti" | median)
printf 'deskpool instant: 0->N with the parent %.2f s [%s] (parent boot %.2f s + save %.2f s), ratio baseline/instant %s, boot/instant %s\n' \
    "$ta" "$(col ti 1)" "$(cut -d' ' -f6 "$work/ti" | median)" "$(cut -d' ' -f7 "$work/ti" | median)" \
    "$(ratio "$tb" "$ta")" "$(ratio "$td" "$ta")"
printf 'deskpool instant: +N once the parent is ready %.2f s [%s] (daemon RSS %d KiB), ratio baseline/instant %s, boot/instant %s\n' \
    "$tn" "$(col ti 2)" "$RSS_INSTANT" "$(ratio "$tb" "$tn")" "$(ratio "$td" "$tn")"
bb=$(cut -d' ' -f2 "$work/td" | median)
bi=$(cut -d' ' -f3 "$work/ti" | median)
bs=$(cut -d' ' -f4 "$work/ti" | median)
bo=$(cut -d' ' -f5 "$work/ti" | median)
echo "disk per desktop when ready: boot overlay with its memory snapshot $(mib "$bb"), instant" \
    "clone overlay $(mib "$bi"), ratio bytes boot/instant $(ratio "$bb" "$bi");" \
    "once per parent: saved image $(mib "$bs") + overlay $(mib "$bo")"
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
