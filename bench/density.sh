#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# density.sh [MAX] [STEP] - how many concurrent desktops one server holds
# (issue 9, "Capacity"), on real libvirtd + QEMU (TCG here) with the tiny
# guest (128 MiB, 1 vCPU). One deskpoold of its own grows a floating pool
# STEP desktops at a time (default 8; `pool resize --min N --max N`, spare 0,
# until all N are ready), first with --clone instant (desktops restored from
# one saved parent; the parent is built before the first step, untimed, its
# boot and save seconds printed), then, that pool deleted, with --clone boot
# (each desktop booted, then its clean memory snapshot taken): the baseline.
#
# A pool stops growing at the first of:
#   max:    MAX desktops (default 64: the whole run takes about 8 minutes
#           on 2 cores, where a step of 8 took 5-7 s instant, 23-28 s boot);
#   memory: the next step would leave the host's MemAvailable below the
#           reserve (DENSITY_RESERVE_MIB, default 2048 MiB), counting the
#           MemAvailable each desktop took so far;
#   cpu:    a step took more than 5x the pool's first step (the CPUs are
#           saturated: every TCG vCPU, idle or not, costs host CPU).
#
# After each step, with all N ready (the desktops are idle, nobody logged in):
#   MemAvailable   /proc/meminfo, and how much it fell per desktop since the
#                  pool was created (everything a desktop costs the host:
#                  QEMU, page tables, libvirt's per-domain processes, cache);
#   RSS, PSS       sum and mean over the N qemu-system processes whose
#                  command line names a desktop's domain (guest=DOMAIN), read
#                  from /proc/PID/smaps_rollup: PSS splits pages shared
#                  between processes (QEMU's binary and libraries, KSM pages)
#                  among them, so the sum of PSS is what the desktops take;
#   step seconds   from the resize until the pool counts N ready;
#   qemu CPU       the N QEMUs' CPU time over DENSITY_CPU_WINDOW seconds
#                  (default 5) right after the step, in % of one core, sum
#                  and mean per desktop: what idle desktops cost the CPUs;
#   load           /proc/loadavg (1 minute) at the end of that window.
#
# KSM (where /sys/kernel/mm/ksm exists), with the instant pool at its final
# size: PSS is read again (KSM off, the baseline), then KSM is turned on
# (run=1, pages_to_scan 5000, sleep_millisecs 20) until pages_sharing is
# stable (two full scans and under 1% change in 5 s, at most
# DENSITY_KSM_WAIT seconds, default 120); pages_shared, pages_sharing and
# the mean PSS per desktop are printed (KSM merges the pages of every
# process on the host, other guests' too: MemAvailable gains more than the
# desktops' PSS loses, so only the PSS is credited to them). Once the
# instant pool is deleted the settings found are put back (and KSM pages
# unmerged if there were none at the start), before the boot pool; the exit
# trap does the same.
#
# Summary: per clone method, the desktops reached and why it stopped,
# desktops per GiB of guest memory (N / sum of PSS) and per core (N / nproc),
# and, extrapolated from the per-desktop figures (not measured), the
# desktops that would fill the host's memory down to the reserve and those
# whose idle CPU would fill the cores. Ratios against the baseline run in the
# same invocation: mean PSS per desktop instant/boot and seconds to N
# boot/instant, at the largest N both pools reached; mean PSS per desktop
# KSM on/off, and MemAvailable per desktop KSM on (off less the PSS KSM
# saved) / off, with the desktops that would fill the memory with KSM on.
#
# Needs root, libvirtd (qemu:///system) and the tiny guest
# (tests/guest/build-guest.sh, run here). Everything it makes is named
# dens<PID>.* (domains), dens<PID> (storage pool) or lives under its work
# dir, and is removed at exit. No timed assertions: it fails only when
# something breaks (a desktop failed, a step timed out).
set -euo pipefail
max=${1:-64}
step=${2:-8}
reserve_mib=${DENSITY_RESERVE_MIB:-2048}
cpu_window=${DENSITY_CPU_WINDOW:-5}
ksm_wait=${DENSITY_KSM_WAIT:-120}
slow=5
step_timeout=900
top=$(cd "$(dirname "$0")/.." && pwd)
B=${DP_BUILDDIR:-$top/build}
GUEST=/var/lib/deskpool/tiny-guest
KSM=/sys/kernel/mm/ksm
work=$(mktemp -d /var/tmp/deskpool-bench.XXXXXX)
chmod 755 "$work"
inst=dens$$
V=(virsh -q -c qemu:///system)
pid=
ksm_saved=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    for d in $("${V[@]}" list --all --name | grep "^$inst\\." || true); do
        "${V[@]}" destroy "$d" >/dev/null 2>&1 || true
        "${V[@]}" undefine --snapshots-metadata "$d" >/dev/null 2>&1 || true
    done
    "${V[@]}" pool-destroy "$inst" >/dev/null 2>&1 || true
    "${V[@]}" pool-undefine "$inst" >/dev/null 2>&1 || true
    ksm_restore
    rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
memavail() { awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo; }
load1() { cut -d' ' -f1 /proc/loadavg; }
# settle: until MemAvailable moves less than 16 MiB in a second (memory of
# destroyed QEMUs is freed after libvirt says they are gone), at most 30 s
settle() {
    local a b
    b=$(memavail)
    for _ in $(seq 1 30); do
        sleep 1
        a=$b
        b=$(memavail)
        [ $((a - b)) -lt 16384 ] && [ $((b - a)) -lt 16384 ] && return 0
    done
}

# ksm_restore: put back the KSM settings found at the start; where KSM had
# no merged pages then, unmerge ours (run=2) before stopping it again
ksm_restore() {
    [ -n "$ksm_saved" ] || return 0
    local run pts slp shared
    read -r run pts slp shared <<<"$ksm_saved"
    if [ "$shared" = 0 ] && [ "$run" = 0 ]; then echo 2 >"$KSM/run" || true; fi
    echo "$run" >"$KSM/run" || true
    echo "$pts" >"$KSM/pages_to_scan" || true
    echo "$slp" >"$KSM/sleep_millisecs" || true
    ksm_saved=
}

"$top/tests/guest/build-guest.sh" --out "$GUEST" >/dev/null

# qstat DOMAIN...: "count rss_kib pss_kib cpu_ticks" summed over the
# qemu-system processes whose -name is guest=DOMAIN; fails unless every
# DOMAIN has one
qstat() {
    python3 - "$@" <<'EOF'
import os, sys
want = set(sys.argv[1:])
seen = {}
for p in os.listdir('/proc'):
    if not p.isdigit():
        continue
    try:
        with open('/proc/%s/cmdline' % p, 'rb') as f:
            argv = f.read().split(b'\0')
    except OSError:
        continue
    if not argv or b'qemu-system' not in os.path.basename(argv[0]):
        continue
    for i, a in enumerate(argv[:-1]):
        if a == b'-name':
            for part in argv[i + 1].decode(errors='replace').split(','):
                if part.startswith('guest=') and part[6:] in want:
                    seen[part[6:]] = p
rss = pss = ticks = 0
for name, p in seen.items():
    with open('/proc/%s/smaps_rollup' % p) as f:
        for line in f:
            k = line.split()
            if k[0] == 'Rss:':
                rss += int(k[1])
            elif k[0] == 'Pss:':
                pss += int(k[1])
    with open('/proc/%s/stat' % p) as f:
        st = f.read().rsplit(')', 1)[1].split()
    ticks += int(st[11]) + int(st[12])
missing = want - set(seen)
if missing:
    sys.exit('no qemu-system process for: ' + ' '.join(sorted(missing)))
print(len(seen), rss, pss, ticks)
EOF
}

# ------------------------------------------------------------- daemon
ctl() { "$B/deskpoolctl" --socket "$work/sock" "$@"; }
# api METHOD PATH [BODY]: prints the body; fails unless 2xx
api() {
    local args=(-sf --max-time 120 --unix-socket "$work/sock" -X "$1")
    [ $# -gt 2 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    curl "${args[@]}" "http://localhost$2"
}
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
fail() {
    echo "density.sh: $*" >&2
    tail -n 20 "$work/daemon.log" | sed 's/^/# daemon: /' >&2
    exit 1
}
# the KVM/TCG probe is not what is measured here
"$B/deskpoold" --foreground --uri qemu:///system --state-dir "$work/state" --socket "$work/sock" \
    --instance "$inst" --templates-dir "$top/templates" --set storage_pool="$inst" \
    --set storage_dir="$work/overlays" --set virt_type=qemu --log-level warning \
    2>>"$work/daemon.log" &
pid=$!
for _ in $(seq 1 300); do ctl health >/dev/null 2>&1 && break; sleep 0.1; done
ctl health >/dev/null || fail "deskpoold did not start"
ctl image add bench "$GUEST/golden-v1.qcow2" >/dev/null

# counts POOL: "ready failed" from /metrics
counts() {
    curl -s --max-time 30 --unix-socket "$work/sock" http://localhost/metrics |
        awk -v r="deskpool_desktops{pool=\"$1\",state=\"ready\"}" \
            -v f="deskpool_desktops{pool=\"$1\",state=\"failed\"}" \
            '$1 == r { nr = $2 } $1 == f { nf = $2 } END { print nr + 0, nf + 0 }'
}
# wait_ready POOL N T0: poll every 0.2 s until N desktops of POOL are
# ready; fails when one failed or after step_timeout s
wait_ready() {
    local r f
    while :; do
        read -r r f <<<"$(counts "$1")"
        [ "$f" = 0 ] || fail "$1: $f desktop(s) failed: $(api GET "/v1/pools/$1" |
            jget "'; '.join('%s: %s' % (x['name'], x['last_error']) for x in d['desktops'] if x['state'] == 'failed')")"
        [ "$r" = "$2" ] && break
        [ "$(echo "$(now) - $3 > $step_timeout" | bc)" = 1 ] && fail "$1: $r of $2 ready after $step_timeout s"
        sleep 0.2
    done
}
domains() { api GET "/v1/pools/$1" | jget "' '.join(x['domain'] for x in d['desktops'])"; }

# grow POOL CLONE: the steps; one line per step, the last values in
# globals; the per-step data in $work/POOL.steps
grow() {
    local p=$1 clone=$2 n=0 t0 t first='' m0 m c rss pss k0 k1 doms cpu why=max pj
    settle
    m0=$(memavail)
    ctl pool create "$p" --image bench --template tiny --clone "$clone" --min 0 --spare 0 --max 0 >/dev/null
    if [ "$clone" = instant ]; then
        # the parent first (a pool wants it at min 0), untimed
        t0=$(now)
        until [ "$(api GET "/v1/pools/$p" | jget "[x['state'] for x in d['parents']] == ['ready']")" = True ]; do
            [ "$(api GET "/v1/pools/$p" | jget "d['clone_effective']")" = instant ] ||
                fail "$p fell back to booting: $(api GET "/v1/pools/$p" | jget "d['clone_fallback']")"
            [ "$(echo "$(now) - $t0 > $step_timeout" | bc)" = 1 ] && fail "$p: no ready parent after $step_timeout s"
            sleep 0.2
        done
        pj=$(api GET "/v1/pools/$p")
        echo "# $clone: parent $(echo "$pj" | jget "d['parents'][0]['name']") ready: boot $(echo "$pj" |
            jget "d['parents'][0]['boot_seconds']") s, save $(echo "$pj" | jget "d['parents'][0]['save_seconds']") s," \
            "saved state $(echo "$pj" | jget "d['parents'][0]['saved_bytes'] // 1048576") MiB (untimed), MemAvailable $((m0 / 1024)) -> $(($(memavail) / 1024)) MiB"
        settle
        m0=$(memavail)
    fi
    printf '%-8s %5s %13s %9s %10s %10s %10s %10s %7s %9s %9s %6s\n' clone N MemAvail_MiB drop/desk \
        RSS_MiB RSS/desk PSS_MiB PSS/desk step_s qemuCPU% CPU%/desk load1
    : >"$work/$p.steps"
    while [ "$n" -lt "$max" ]; do
        n=$((n + step))
        [ "$n" -gt "$max" ] && n=$max
        t0=$(now)
        ctl pool resize "$p" --min "$n" --max "$n" >/dev/null
        wait_ready "$p" "$n" "$t0"
        t=$(echo "$(now) - $t0" | bc)
        [ -n "$first" ] || first=$t
        doms=$(domains "$p")
        # shellcheck disable=SC2086
        read -r c _ _ k0 <<<"$(qstat $doms)" || fail "$p: a desktop has no QEMU"
        sleep "$cpu_window"
        # shellcheck disable=SC2086
        read -r c rss pss k1 <<<"$(qstat $doms)" || fail "$p: a desktop has no QEMU"
        [ "$c" = "$n" ] || fail "$p: $c QEMU processes for $n desktops"
        cpu=$(awk -v a="$k0" -v b="$k1" -v hz="$(getconf CLK_TCK)" -v w="$cpu_window" 'BEGIN { printf "%.1f", (b - a) / hz / w * 100 }')
        m=$(memavail)
        printf '%-8s %5d %13d %9.1f %10.1f %10.1f %10.1f %10.1f %7.1f %9.1f %9.2f %6s\n' "$clone" "$n" \
            $((m / 1024)) "$(echo "($m0 - $m) / 1024 / $n" | bc -l)" "$(echo "$rss / 1024" | bc -l)" \
            "$(echo "$rss / 1024 / $n" | bc -l)" "$(echo "$pss / 1024" | bc -l)" "$(echo "$pss / 1024 / $n" | bc -l)" \
            "$t" "$cpu" "$(echo "$cpu / $n" | bc -l)" "$(load1)"
        echo "$n $t $pss $m0 $m $cpu" >>"$work/$p.steps"
        if [ "$(echo "$t > $slow * $first" | bc)" = 1 ]; then why="cpu: step took $(ratio "$t" "$first")x the first"; break; fi
        if [ $((m - (m0 - m) * step / n)) -lt $((reserve_mib * 1024)) ] && [ "$n" -lt "$max" ]; then
            why="memory: the next $step would leave MemAvailable under $reserve_mib MiB"
            break
        fi
    done
    [ "$(api GET "/v1/pools/$p" | jget "d['clone_effective']")" = "$clone" ] ||
        fail "$p: clone_effective is not $clone"
    echo "# $clone: stopped at $n desktops ($why)"
    echo "$why" >"$work/$p.why"
}

# ksm POOL: KSM off (baseline) vs on with POOL at its size
ksm() {
    local p=$1 doms c pss0 pss1 n t0 last cur fs0 stable=no m1
    doms=$(domains "$p")
    # shellcheck disable=SC2086
    read -r c _ pss0 _ <<<"$(qstat $doms)"
    n=$c
    ksm_saved="$(cat "$KSM/run") $(cat "$KSM/pages_to_scan") $(cat "$KSM/sleep_millisecs") $(cat "$KSM/pages_shared")"
    echo "# KSM found: run $(cat "$KSM/run"), pages_to_scan $(cat "$KSM/pages_to_scan")," \
        "sleep_millisecs $(cat "$KSM/sleep_millisecs"), pages_shared $(cat "$KSM/pages_shared")," \
        "pages_sharing $(cat "$KSM/pages_sharing"); MemAvailable $(($(memavail) / 1024)) MiB, mean PSS" \
        "$(echo "$pss0 / 1024 / $n" | bc -l | xargs printf '%.1f') MiB per desktop ($n)"
    fs0=$(cat "$KSM/full_scans")
    echo 5000 >"$KSM/pages_to_scan"
    echo 20 >"$KSM/sleep_millisecs"
    echo 1 >"$KSM/run"
    t0=$(now)
    last=-1
    while [ "$(echo "$(now) - $t0 < $ksm_wait" | bc)" = 1 ]; do
        sleep 5
        cur=$(cat "$KSM/pages_sharing")
        if [ $(($(cat "$KSM/full_scans") - fs0)) -ge 2 ] && [ "$cur" -gt 0 ] &&
            [ $(((cur - last) * 100 / cur)) -lt 1 ] && [ $(((last - cur) * 100 / cur)) -lt 1 ]; then
            stable=yes
            break
        fi
        last=$cur
    done
    # shellcheck disable=SC2086
    read -r c _ pss1 _ <<<"$(qstat $doms)"
    m1=$(memavail)
    echo "# KSM on for $(echo "$(now) - $t0" | bc | xargs printf '%.0f') s ($(($(cat "$KSM/full_scans") - fs0)) full scans," \
        "stable: $stable): pages_shared $(cat "$KSM/pages_shared"), pages_sharing $(cat "$KSM/pages_sharing")" \
        "($(($(cat "$KSM/pages_sharing") * $(getconf PAGESIZE) / 1048576)) MiB saved), MemAvailable $((m1 / 1024)) MiB," \
        "mean PSS $(echo "$pss1 / 1024 / $n" | bc -l | xargs printf '%.1f') MiB per desktop, load $(load1)"
    echo "$n $pss0 $pss1 $m1" >"$work/ksm"
}

t_start=$(now)
echo "# density.sh: $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores," \
    "MemTotal $(($(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo) / 1024)) MiB," \
    "MemAvailable $(($(memavail) / 1024)) MiB; MAX $max, STEP $step, reserve $reserve_mib MiB;" \
    "$(qemu-system-x86_64 --version | head -n 1), kernel $(uname -r)"
grow densi instant
if [ -w "$KSM/run" ]; then ksm densi; else echo "# KSM: not on this host ($KSM/run)"; fi
ctl pool delete densi --force --wait >/dev/null
# the KSM settings found, and no pages merged (where none were), before the
# baseline
ksm_restore
grow densb boot
ctl pool delete densb --force --wait >/dev/null

# ------------------------------------------------------------- summary
cores=$(nproc)
# summary CLONE POOL: one line
summary() {
    local n t pss m0 m cpu
    read -r n t pss m0 m cpu <<<"$(tail -n 1 "$work/$2.steps")"
    awk -v c="$1" -v n="$n" -v pss="$pss" -v m0="$m0" -v m="$m" -v cpu="$cpu" -v cores="$cores" \
        -v res="$reserve_mib" -v why="$(cat "$work/$2.why")" -v tot="$(awk '{ s += $2 } END { print s }' "$work/$2.steps")" \
        -v mt="$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)" 'BEGIN {
        mean = pss / 1024 / n; drop = (m0 - m) / 1024 / n; idle = 0
        if (cpu > 0) idle = cores * 100 / (cpu / n)
        printf "%s: %d desktops in %.0f s (%s): %.2f desktops per GiB of guest memory (PSS %.1f MiB each), %.1f per core (%d cores);", c, n, tot, why, 1024 / mean, mean, n / cores, cores
        printf " extrapolated: memory for %d (MemTotal - %d MiB reserve at %.1f MiB of MemAvailable each), idle CPU for %d (%.2f%% of a core each)\n", (mt / 1024 - res) / drop, res, drop, idle, cpu / n
    }'
}
echo "# summary ($(echo "$(now) - $t_start" | bc | xargs printf '%.0f') s, load $(cut -d' ' -f1-3 /proc/loadavg))"
summary instant densi
summary boot densb
# the largest N both pools reached
nc=$(cat "$work/densi.steps" "$work/densb.steps" | awk '{ print $1 }' | sort -n | uniq -d | tail -n 1)
pi=$(awk -v n="$nc" '$1 == n { print $3 / n }' "$work/densi.steps")
pb=$(awk -v n="$nc" '$1 == n { print $3 / n }' "$work/densb.steps")
ti=$(awk -v n="$nc" '$1 <= n { s += $2 } END { print s }' "$work/densi.steps")
tb=$(awk -v n="$nc" '$1 <= n { s += $2 } END { print s }' "$work/densb.steps")
printf 'at N=%d: mean PSS per desktop instant %.1f MiB, boot %.1f MiB, ratio instant/boot %s; seconds to N instant %.1f, boot %.1f, ratio boot/instant %s\n' \
    "$nc" "$(echo "$pi / 1024" | bc -l)" "$(echo "$pb / 1024" | bc -l)" "$(ratio "$pi" "$pb")" "$ti" "$tb" "$(ratio "$tb" "$ti")"
if [ -s "$work/ksm" ]; then
    read -r n p0 p1 m1 <<<"$(cat "$work/ksm")"
    m0=$(awk -v n="$n" '$1 == n { print $4 }' "$work/densi.steps")
    m=$(awk -v n="$n" '$1 == n { print $5 }' "$work/densi.steps")
    mt=$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)
    printf 'KSM (instant, N=%d): mean PSS per desktop off %.1f MiB, on %.1f MiB, ratio on/off %s; desktops per GiB on %.2f;' \
        "$n" "$(echo "$p0 / 1024 / $n" | bc -l)" "$(echo "$p1 / 1024 / $n" | bc -l)" "$(ratio "$p1" "$p0")" \
        "$(echo "1048576 * $n / $p1" | bc -l)"
    # KSM merges every process's pages, other guests' too: MemAvailable
    # gains more than the desktops' PSS lost; only the latter is counted
    k=$((m0 - m - p0 + p1))
    printf ' MemAvailable per desktop off %.1f MiB, on %.1f MiB (off less the PSS KSM saved), ratio on/off %s; extrapolated: memory for %d with KSM on (the host gained %d MiB of MemAvailable)\n' \
        "$(echo "($m0 - $m) / 1024 / $n" | bc -l)" "$(echo "$k / 1024 / $n" | bc -l)" \
        "$(ratio "$k" "$((m0 - m))")" "$(((mt / 1024 - reserve_mib) * n * 1024 / k))" "$(((m1 - m) / 1024))"
fi
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
