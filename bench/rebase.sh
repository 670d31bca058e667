#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# rebase.sh [MODE...] - time to rebase a pool of N ready desktops from image
# v1 to v2, by pool size and batch, and the disk space the overlays take.
#
#   MODE qemu: real libvirtd + QEMU (TCG here) with the tiny guest
#              (golden-v1 -> golden-v2); N from QEMU_NS (default 4), batch
#              from QEMU_BATCHES (default "1 4"). Also: du of the storage
#              dir (the N overlays on v2) against N full copies of the
#              golden image.
#   MODE test: libvirt's in-memory test:///default driver, images are plain
#              qcow2 files from qemu-img, daemon with console_password=none
#              and boot_delay=0; N from TEST_NS (default "50 200"), batch
#              from TEST_BATCHES (default "1 4 16").
# Default: both modes. ROUNDS (default 1) rounds per case; the figure is
# the median. Each round: a fresh pool pinned to v1 (min=max=N, spare 0)
# is filled, then POST /v1/pools/bench/rebase {"to":2,"batch":B} and the
# clock runs until the operation succeeded ("op") and until the pool holds
# N ready desktops and nothing else ("settled"); then the pool is deleted.
set -euo pipefail
modes=${*:-qemu test}
rounds=${ROUNDS:-1}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${DP_BUILDDIR:-$top/build}
GUEST=/var/lib/deskpool/tiny-guest
work=$(mktemp -d /var/tmp/deskpool-bench.XXXXXX)
chmod 755 "$work"
inst=rbench$$
V=(virsh -q -c qemu:///system)
pid=
mode=
stop_daemon() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    pid=
}
cleanup() {
    stop_daemon
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
api() {
    curl -s --max-time 60 --unix-socket "$work/$mode/sock" -X "$1" \
        ${3:+-H 'Content-Type: application/json' --data-binary "$3"} "http://localhost$2"
}
jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
ready_count() {
    curl -s --unix-socket "$work/$mode/sock" http://localhost/metrics |
        awk '$1 == "deskpool_desktops{pool=\"bench\",state=\"ready\"}" {print $2}'
}
total_count() {
    curl -s --unix-socket "$work/$mode/sock" http://localhost/metrics |
        awk '$1 ~ /^deskpool_desktops\{pool="bench",/ {s += $2} END {print s + 0}'
}
# deadline T0 SECS WHAT: exits when more than SECS passed since T0
deadline() {
    if [ "$(echo "$(now) - $1 > $2" | bc)" = 1 ]; then
        echo "rebase bench: timeout waiting for $3" >&2
        tail -n 20 "$work/$mode/daemon.log" >&2
        exit 1
    fi
}

start_daemon() {
    local uri=test:///default extra=(--set console_password=none --set boot_delay=0
                                     --set memory_overcommit=100000)
    if [ "$mode" = qemu ]; then
        uri=qemu:///system
        extra=(--set virt_type=qemu)
    fi
    mkdir -p "$work/$mode"
    "$B/deskpoold" --foreground --uri "$uri" --state-dir "$work/$mode/state" \
        --socket "$work/$mode/sock" --instance "$inst" --templates-dir "$top/templates" \
        --set storage_pool="$inst" --set storage_dir="$work/$mode/overlays" \
        --log-level warning "${extra[@]}" ${BENCH_DAEMON_ARGS:-} 2>>"$work/$mode/daemon.log" &
    pid=$!
    for _ in $(seq 1 300); do
        curl -s --max-time 2 --unix-socket "$work/$mode/sock" http://localhost/healthz \
            >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$work/$mode/daemon.log" >&2
    exit 1
}

# one_round N BATCH: prints "OP_SECONDS SETTLED_SECONDS"
one_round() {
    local n=$1 batch=$2 t0 tmpl=test body id st t_op t_set
    [ "$mode" = qemu ] && tmpl=tiny
    api POST /v1/pools "{\"name\":\"bench\",\"image\":\"bench\",\"image_version\":1,\"template\":\"$tmpl\",\"clone\":\"boot\",\"min\":$n,\"spare\":0,\"max\":$n}" >/dev/null
    t0=$(now)
    until [ "$(ready_count)" = "$n" ]; do sleep 0.2; deadline "$t0" 1200 "$n ready on v1"; done
    t0=$(now)
    body=$(api POST /v1/pools/bench/rebase "{\"to\":2,\"batch\":$batch}")
    id=$(jget "$body" "d['id']") || { echo "rebase refused: $body" >&2; exit 1; }
    while :; do
        st=$(api GET "/v1/operations/$id")
        case $st in
            *'"state": "succeeded"'*|*'"state":"succeeded"'*) break ;;
            *'"state": "failed"'*|*'"state":"failed"'*) echo "rebase failed: $st" >&2; exit 1 ;;
        esac
        sleep 0.1
        deadline "$t0" 3600 "the rebase of $n (batch $batch)"
    done
    t_op=$(echo "$(now) - $t0" | bc)
    until [ "$(ready_count)" = "$n" ] && [ "$(total_count)" = "$n" ]; do
        sleep 0.1
        deadline "$t0" 3600 "the pool to settle"
    done
    t_set=$(echo "$(now) - $t0" | bc)
    if [ "$mode" = qemu ]; then disk_usage "$n"; fi
    api DELETE "/v1/pools/bench?force=true" >/dev/null
    t0=$(now)
    until [ "$(api GET /v1/pools/bench | jget "$(cat)" "'error' in d")" = True ]; do
        sleep 0.2
        deadline "$t0" 600 "the pool delete"
    done
    echo "$t_op $t_set"
}

# disk_usage N: the storage dir's usage with N desktops on v2 against N
# copies of the golden image (written to $work/du, last round wins)
disk_usage() {
    local n=$1 dir=$work/$mode/overlays used files gold gold_app vmstate
    used=$(du -s -B1 "$dir" | cut -f1)
    files=$(find "$dir" -name '*.qcow2' | wc -l)
    gold=$(du -B1 "$GUEST/golden-v2.qcow2" | cut -f1)
    gold_app=$(stat -c %s "$GUEST/golden-v2.qcow2")
    vmstate=0
    for f in "$dir"/*.qcow2; do
        vmstate=$((vmstate + $(qemu-img info -U --output=json "$f" |
            jget "$(cat)" "sum(s.get('vm-state-size', 0) for s in d.get('snapshots', []))")))
    done
    echo "$n $files $used $vmstate $gold $gold_app" >"$work/du"
}

declare -A OP SET
for mode in $modes; do
    case $mode in
        qemu)
            for v in v1 v2; do "$top/tests/guest/build-guest.sh" --out "$GUEST" --version "$v" >/dev/null; done
            g1=$GUEST/golden-v1.qcow2 g2=$GUEST/golden-v2.qcow2
            ns=${QEMU_NS:-4} batches=${QEMU_BATCHES:-1 4} ;;
        test)
            g1=$work/g1.qcow2 g2=$work/g2.qcow2
            qemu-img create -q -f qcow2 "$g1" 64M
            qemu-img create -q -f qcow2 "$g2" 64M
            qemu-io -f qcow2 -c 'write -P 0x42 0 64k' "$g2" >/dev/null
            ns=${TEST_NS:-50 200} batches=${TEST_BATCHES:-1 4 16} ;;
        *) echo "usage: $0 [qemu] [test]" >&2; exit 2 ;;
    esac
    start_daemon
    api POST /v1/images "{\"name\":\"bench\",\"path\":\"$g1\"}" >/dev/null
    api POST /v1/images "{\"name\":\"bench\",\"path\":\"$g2\"}" >/dev/null
    for n in $ns; do
        for b in $batches; do
            : >"$work/op" && : >"$work/set"
            for _ in $(seq 1 "$rounds"); do
                read -r t_op t_set < <(one_round "$n" "$b")
                echo "$t_op" >>"$work/op"
                echo "$t_set" >>"$work/set"
            done
            OP[$mode,$n,$b]=$(median <"$work/op")
            SET[$mode,$n,$b]=$(median <"$work/set")
            printf 'rebase %-4s N=%-4d batch=%-3d: operation %7.2f s [%s], settled %7.2f s, %.3f s/desktop\n' \
                "$mode" "$n" "$b" "${OP[$mode,$n,$b]}" "$(awk '{printf "%s%.2f", (NR > 1 ? " " : ""), $1}' "$work/op")" \
                "${SET[$mode,$n,$b]}" "$(echo "${OP[$mode,$n,$b]} / $n" | bc -l)"
        done
    done
    stop_daemon
    # growth: with batch (same N) and with N (same batch)
    set -- $ns
    nmin=$1
    nmax=${!#}
    for n in $ns; do
        bb=${batches%% *}
        for b in $batches; do
            [ "$b" = "$bb" ] && continue
            printf 'rebase %-4s N=%-4d batch %d -> %d: time x%.2f\n' "$mode" "$n" "$bb" "$b" \
                "$(echo "${OP[$mode,$n,$b]} / ${OP[$mode,$n,$bb]}" | bc -l)"
        done
    done
    if [ "$nmin" != "$nmax" ]; then
        for b in $batches; do
            printf 'rebase %-4s batch=%-3d N %d -> %d (x%.1f): time x%.2f\n' "$mode" "$b" "$nmin" "$nmax" \
                "$(echo "$nmax / $nmin" | bc -l)" "$(echo "${OP[$mode,$nmax,$b]} / ${OP[$mode,$nmin,$b]}" | bc -l)"
        done
    fi
    if [ "$mode" = qemu ] && [ -s "$work/du" ]; then
        read -r n files used vmstate gold gold_app <"$work/du"
        printf 'disk qemu N=%d on v2: storage dir %d files, du %.1f MiB (memory snapshots %.1f MiB, disk part %.2f MiB); %d full copies of the golden image: %.2f MiB (%d x %.2f MiB allocated, %.2f MiB apparent)\n' \
            "$n" "$files" "$(echo "$used / 1048576" | bc -l)" "$(echo "$vmstate / 1048576" | bc -l)" \
            "$(echo "($used - $vmstate) / 1048576" | bc -l)" "$n" "$(echo "$n * $gold / 1048576" | bc -l)" \
            "$n" "$(echo "$gold / 1048576" | bc -l)" "$(echo "$gold_app / 1048576" | bc -l)"
        printf 'disk qemu ratio overlays/copies: %.2f with the memory snapshots, %.2f disk part only\n' \
            "$(echo "$used / ($n * $gold)" | bc -l)" "$(echo "($used - $vmstate) / ($n * $gold)" | bc -l)"
    fi
done
