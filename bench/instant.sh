#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# instant.sh [ROUNDS] - instant clones (orchestrator/hv/hv-clone.c) against
# the shell baseline, on qemu:///system with the tiny guest, in one run.
#
#   parent:    boot + save of the parent (clone-tool setup).
#   N ready:   N = 4 and 8 more ready desktops once the parent exists:
#              instant = N clones at once (overlay on the parent's overlay,
#              restore through the FIFO, agent, NIC + clock + host name);
#              baseline = the shell loop `qemu-img create -b golden` +
#              `virsh define` + `virsh start` for all N, then ready when
#              every agent answers guest-ping. Alternated, ROUNDS times
#              each (default 1); medians; ratio = baseline / instant.
#   bytes:     allocated bytes (du) of a clone's overlay right after the
#              restore and after 10 s of running, against a booted desktop's
#              overlay with its clean internal memory snapshot.
#   cpu:       CPU seconds of each QEMU process from its start until its
#              desktop is ready (mean), a figure the other load on the host
#              does not bend as much as wall time.
#   logout:    logout to ready: instant = destroy, fresh overlay, restore,
#              agent, identity (sequential), or the same with the new clone
#              restored under a second name while the old one is destroyed
#              (overlapped), or resuming a successor restored paused ahead of
#              need (its NIC attached) while the old one is destroyed, then
#              clock and host name (successor); baseline = `virsh snapshot-revert` to the
#              clean memory snapshot, agent, `virsh domtime --now`
#              (today's wipe). 3 rounds each, medians.
#   parallel:  N = 8 clones made 2, 4 or 8 at a time (a worker pool's
#              max_concurrent), all ready.
#   feed:      splice() vs read/write into the FIFO, 1 and 4 clones.
#   zero-free: a second parent whose free guest memory was filled with
#              zeros before the save (a pre-freeze step): image size and
#              4 clones at once, against the plain parent.
#   save:      `virsh save` with and without --bypass-cache, and the
#              restore right after each (page cache warm or not).
#
# Needs root, libvirtd and the tiny guest (tests/guest/build-guest.sh).
# Everything is named ic-bench<PID>* / ic-bb<PID>-* and removed at exit.
set -euo pipefail
rounds=${1:-1}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${DP_BUILDDIR:-$top/build}
GUEST=/var/lib/deskpool/tiny-guest
P=ic-bench$$
BB=ic-bb$$
work=/var/lib/deskpool/$BB
V=(virsh -q -c qemu:///system)
TOOL=$B/tests/integration/clone-tool
export DP_SRCDIR=$top

[ "$(id -u)" -eq 0 ] || { echo "instant.sh: run as root" >&2; exit 1; }
make -s -C "$B" tests/integration/clone-tool >/dev/null
"$top/tests/guest/build-guest.sh" --out "$GUEST" >/dev/null
mkdir -p "$work"
chmod 755 "$work"

cleanup() {
    local d
    for d in $("${V[@]}" list --all --name | grep "^$BB-" || true); do
        "${V[@]}" destroy "$d" >/dev/null 2>&1 || true
        "${V[@]}" undefine --snapshots-metadata "$d" >/dev/null 2>&1 || true
    done
    "$TOOL" teardown "$P" >/dev/null 2>&1 || true
    "$TOOL" teardown "${P}z" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
median() { sort -n | awk '{a[NR]=$1} END {printf "%.3f", (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
key() { awk -v k="$1" '$1 == k { print $2 }'; }
agent_up() { "${V[@]}" qemu-agent-command "$1" '{"execute":"guest-ping"}' >/dev/null 2>&1; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
# qemu_cpu DOMAIN: CPU seconds its QEMU used so far
qemu_cpu() {
    awk -v t="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / t }' \
        "/proc/$(cat "/run/libvirt/qemu/$1.pid")/stat"
}

# domain XML NAME DISK from templates/tiny.xml (what deskpool's template fill does)
dom_xml() {
    sed -e "s|<name>tiny</name>|<name>$1</name>|" \
        -e "s|<uuid>[^<]*</uuid>|<uuid>$(cat /proc/sys/kernel/random/uuid)</uuid>|" \
        -e "s|/var/lib/deskpool/tiny-guest/PLACEHOLDER-overlay.qcow2|$2|" \
        "$top/templates/tiny.xml"
}

# baseline N: the shell loop, then wait until every agent answers; prints seconds
baseline() {
    local n=$1 i t0 left d
    t0=$(now)
    for i in $(seq 1 "$n"); do
        d=$BB-b$i
        qemu-img create -q -f qcow2 -F qcow2 -b "$GUEST/golden-v1.qcow2" "$work/$d.qcow2"
        dom_xml "$d" "$work/$d.qcow2" >"$work/$d.xml"
        "${V[@]}" define "$work/$d.xml" >/dev/null
        "${V[@]}" start "$d" >/dev/null
    done
    left=$n
    while [ "$left" -gt 0 ]; do
        left=0
        for i in $(seq 1 "$n"); do
            agent_up "$BB-b$i" || left=$((left + 1))
        done
        [ "$left" -eq 0 ] || sleep 0.05
        if awk -v s="$(since "$t0")" 'BEGIN { exit !(s > 600) }'; then
            echo "instant.sh: baseline guests not ready after 600 s" >&2
            exit 1
        fi
    done
    since "$t0"
    for i in $(seq 1 "$n"); do qemu_cpu "$BB-b$i"; done |
        awk '{ s += $1 } END { printf " %.3f\n", s / NR }' >>"$work/cpu_b$n"
    for i in $(seq 1 "$n"); do
        "${V[@]}" destroy "$BB-b$i" >/dev/null
        "${V[@]}" undefine "$BB-b$i" >/dev/null
        rm -f "$work/$BB-b$i.qcow2" "$work/$BB-b$i.xml"
    done
}

echo "# instant.sh: $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

# ---------------------------------------------------------------- parent
out=$("$TOOL" setup "$P")
p_boot=$(echo "$out" | key parent_boot_s)
p_save=$(echo "$out" | key parent_save_s)
p_bytes=$(echo "$out" | key image_bytes)

# ---------------------------------------------------------------- N ready
declare -A inst base split cpu_i cpu_b
for n in 4 8; do
    : >"$work/i$n"
    : >"$work/b$n"
    for r in $(seq 1 "$rounds"); do
        baseline "$n" >>"$work/b$n"
        echo >>"$work/b$n"
        settle=0
        [ "$n" -eq 4 ] && [ "$r" -eq 1 ] && settle=10
        out=$("$TOOL" clones "$P" "$n" --settle "$settle")
        echo "$out" | key ready_all_s >>"$work/i$n"
        echo "$out" | key qemu_cpu_s >>"$work/cpu_i$n"
        if [ "$r" -eq 1 ]; then
            split[$n]=$(echo "$out" | awk '$1 ~ /^mean_/ { printf "%s %s  ", $1, $2 }')
            echo "$out" | grep '^#' >"$work/detail$n"
        fi
        if [ "$settle" -gt 0 ]; then
            bytes_restore=$(echo "$out" | key overlay_bytes_after_restore)
            bytes_settle=$(echo "$out" | key overlay_bytes_after_settle)
        fi
    done
    inst[$n]=$(grep -v '^$' "$work/i$n" | median)
    base[$n]=$(grep -v '^$' "$work/b$n" | median)
    cpu_i[$n]=$(median <"$work/cpu_i$n")
    cpu_b[$n]=$(median <"$work/cpu_b$n")
done

# ---------------------------------------------------------------- parallel
par_line=""
for p in 2 4 8; do
    par_line="$par_line P=$p: $("$TOOL" clones "$P" 8 --settle 0 --parallel "$p" | key ready_all_s) s;"
done

# ---------------------------------------------------------------- feed
feed_line=""
for n in 1 4; do
    s=$("$TOOL" clones "$P" "$n" --settle 0 | key mean_restore_s)
    c=$("$TOOL" clones "$P" "$n" --settle 0 --copy | key mean_restore_s)
    feed_line="$feed_line N=$n: splice $s s, read/write $c s;"
done

# ---------------------------------------------------------------- zero-free
PZ=${P}z
out=$("$TOOL" setup "$PZ" --zero-free)
z_bytes=$(echo "$out" | key image_bytes)
zo=$("$TOOL" clones "$PZ" 4 --settle 0)
po=$("$TOOL" clones "$P" 4 --settle 0)
"$TOOL" teardown "$PZ" >/dev/null
zero_line="image $(mib "$z_bytes") (plain $(mib "$p_bytes")); N=4 ready\
 $(echo "$zo" | key ready_all_s) s, restore $(echo "$zo" | key mean_restore_s) s, QEMU CPU\
 $(echo "$zo" | key qemu_cpu_s) s; plain parent $(echo "$po" | key ready_all_s) s,\
 $(echo "$po" | key mean_restore_s) s, $(echo "$po" | key qemu_cpu_s) s"

# ---------------------------------------------------------------- logout
out=$("$TOOL" relogout "$P" 3)
i_logout=$(echo "$out" | key logout_ready_s | median)
i_logout_detail=$(echo "$out" | grep '^# round' | tail -n 1)
out=$("$TOOL" relogout "$P" 3 --overlap)
o_logout=$(echo "$out" | key logout_ready_s | median)
out=$("$TOOL" relogout "$P" 3 --successor)
s_logout=$(echo "$out" | key logout_ready_s | median)

d=$BB-snap
qemu-img create -q -f qcow2 -F qcow2 -b "$GUEST/golden-v1.qcow2" "$work/$d.qcow2"
dom_xml "$d" "$work/$d.qcow2" >"$work/$d.xml"
"${V[@]}" define "$work/$d.xml" >/dev/null
"${V[@]}" start "$d" >/dev/null
until agent_up "$d"; do sleep 0.1; done
"${V[@]}" snapshot-create-as "$d" clean >/dev/null
snap_bytes=$(( $(stat -c %b "$work/$d.qcow2") * 512 ))
: >"$work/revert"
for r in 1 2 3; do
    sleep 1
    t0=$(now)
    "${V[@]}" snapshot-revert "$d" clean
    until agent_up "$d"; do sleep 0.02; done
    "${V[@]}" domtime "$d" --now
    since "$t0" >>"$work/revert"
    echo >>"$work/revert"
done
b_logout=$(grep -v '^$' "$work/revert" | median)

# ---------------------------------------------------------------- save
t0=$(now); "${V[@]}" save "$d" "$work/s1" --running >/dev/null; save_plain=$(since "$t0")
t0=$(now); "${V[@]}" restore "$work/s1" >/dev/null; restore_plain=$(since "$t0")
t0=$(now); "${V[@]}" save "$d" "$work/s2" --running --bypass-cache >/dev/null
save_bypass=$(since "$t0")
t0=$(now); "${V[@]}" restore "$work/s2" >/dev/null; restore_bypass=$(since "$t0")
rm -f "$work/s1" "$work/s2"

# ---------------------------------------------------------------- report
echo "parent: boot until the agent answers $p_boot s + save $p_save s; image $(mib "$p_bytes")"
for n in 4 8; do
    echo "N=$n ready: instant ${inst[$n]} s, baseline ${base[$n]} s," \
        "ratio $(ratio "${base[$n]}" "${inst[$n]}")x; 0 to N with the parent:" \
        "$(awk -v a="${inst[$n]}" -v b="$p_boot" -v c="$p_save" 'BEGIN { printf "%.3f", a + b + c }') s," \
        "ratio $(ratio "${base[$n]}" "$(awk -v a="${inst[$n]}" -v b="$p_boot" -v c="$p_save" \
            'BEGIN { print a + b + c }')")x"
    echo "  per clone (means, s): ${split[$n]}"
    echo "  QEMU CPU per desktop until ready: instant ${cpu_i[$n]} s, baseline ${cpu_b[$n]} s," \
        "ratio $(ratio "${cpu_b[$n]}" "${cpu_i[$n]}")x"
    sed 's/^/  /' "$work/detail$n"
done
echo "bytes per desktop: instant clone $(mib "$bytes_restore") after restore," \
    "$(mib "$bytes_settle") after 10 s; booted desktop with its memory snapshot" \
    "$(mib "$snap_bytes"); ratio $(ratio "$snap_bytes" "$bytes_settle")x"
echo "logout to ready: snapshot-revert + agent + domtime $b_logout s; instant sequential" \
    "$i_logout s (ratio $(ratio "$b_logout" "$i_logout")x), overlapped $o_logout s" \
    "(ratio $(ratio "$b_logout" "$o_logout")x), paused successor $s_logout s" \
    "(ratio $(ratio "$b_logout" "$s_logout")x)"
echo "  last sequential round (s):${i_logout_detail#\# round 2:}"
echo "N=8 by parallelism (all ready):$par_line"
echo "feed:$feed_line"
echo "zero-free parent: $zero_line"
echo "save: $save_plain s (restore after it $restore_plain s), --bypass-cache $save_bypass s" \
    "(restore after it $restore_bypass s)"
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
