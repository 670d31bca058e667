#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test.sh - run every deskpool test on this host, as root (what CI runs).
#
# Sets the host up (packages, /dev/kvm, libvirtd), builds with warnings as
# errors, runs `make check` (unit, integration on test:///default, REST, CLI,
# and end to end on qemu:///system with the tiny guest), clang's analyzer,
# `make syntax-check`, checks the systemd unit and runs `make distcheck`.
# Here nothing may be skipped: DP_REQUIRE_ALL=1 makes a suite that cannot
# run fail, and a SKIP in automake's results counts as a failure.
#
# The run must leave nothing on the host. Its libvirt objects (domains,
# storage pools, their volumes), /var/tmp/deskpool-test.* directories and
# deskpoold processes are recorded before and compared after: whatever is
# new and the run's (its tag DP_TEST_TAG is in every name it makes, the C
# tests use hvdev-*) is listed, counted as a failure and removed. New
# objects of a daemon that was already running (e.g. the demo's, instance
# deskpool) or of another test run (another tag) are not the run's.
#
# With --asan the same runs in a separate AddressSanitizer/UBSan build
# (without distcheck). DP_TESTS="tests/e2e/run.sh ..." runs only these
# suites of make check (the other checks still run). Ends with one line
# "total: N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

variant=plain
[ "${1:-}" = --asan ] && variant=asan
passed=0
failed=0
total() { echo "total: $passed passed, $failed failed"; [ $failed -eq 0 ]; exit; }
if [ "$(id -u)" != 0 ]; then
    echo "test.sh: run it as root (it installs packages and runs QEMU through libvirtd);"
    echo "         as a user, 'make check' runs what needs neither and SKIPs the rest"
    failed=1
    total
fi

"$top/scripts/setup-host.sh" || { failed=1; total; }

if [ $variant = asan ]; then
    export BUILD_DIR=$top/build-asan
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    "$top/scripts/build.sh" --enable-sanitizers || { failed=1; total; }
else
    export BUILD_DIR=$top/build
    "$top/scripts/build.sh" || { failed=1; total; }
fi
cd "$BUILD_DIR" || { failed=1; total; }

# ---------------------------------------------------------------- the host before
TAG=t$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
V=(virsh -q -c qemu:///system)

# host_objects: one line per libvirt object, test directory and deskpoold
# process on this host ("domain NAME", "pool NAME", "volume POOL/NAME",
# "dir PATH", "process PID ARGS"), sorted.
host_objects() {
    local p
    {
        "${V[@]}" list --all --name | sed '/^$/d; s/^/domain /'
        for p in $("${V[@]}" pool-list --all --name); do
            echo "pool $p"
            "${V[@]}" vol-list "$p" 2>/dev/null | awk -v p="$p" 'NF { print "volume " p "/" $1 }'
        done
        for p in /var/tmp/deskpool-test.* /var/lib/deskpool/hvdev-*; do
            [ -e "$p" ] && echo "dir $p"
        done
        pgrep -a -x deskpoold | sed 's/^/process /'
    } | sort
}

# Names owned by deskpoold processes already running: their instances
# (--instance, --set instance=, default "deskpool") and storage pools.
foreign=()
while read -r _ args; do
    inst=deskpool
    spool=deskpool
    set -- $args
    while [ $# -gt 0 ]; do
        case "$1" in
            --instance) inst=${2:-}; shift ;;
            --instance=*) inst=${1#*=} ;;
            --set) case "${2:-}" in instance=*) inst=${2#*=} ;; storage_pool=*) spool=${2#*=} ;; esac; shift ;;
        esac
        shift
    done
    foreign+=("$inst" "$spool")
done < <(pgrep -a -x deskpoold)

# is_ours LINE: the object was made by this run. is_foreign LINE: by a
# daemon that ran before it, or by another run (another tag).
is_ours() {
    case "$1" in
        *"-$TAG-"*|*"deskpool-test.$TAG."*) return 0 ;;
        "domain hvdev-"*|"pool hvdev-"*|"volume hvdev-"*|"dir /var/lib/deskpool/hvdev-"*) return 0 ;;
    esac
    return 1
}
is_foreign() {
    local f name=${1#* }
    grep -Eq -- '-t[0-9a-f]{6}-|deskpool-test\.t[0-9a-f]{6}\.' <<<"$1" && return 0
    case "$1" in process\ *) return 1 ;; esac
    for f in "${foreign[@]}"; do
        case "$name" in "$f"|"$f".*|"$f"-*|"$f"/*) return 0 ;; esac
    done
    return 1
}

before=$BUILD_DIR/host-before.txt
after=$BUILD_DIR/host-after.txt
host_objects >"$before"

# ---------------------------------------------------------------- make check
export DP_TEST_TAG=$TAG DP_REQUIRE_ALL=1 DP_TEST_QEMU=1
t0=$SECONDS
# only this run's results are counted below
find "$BUILD_DIR/tests" \( -name '*.log' -o -name '*.trs' \) -delete 2>/dev/null
if [ -n "${DP_TESTS:-}" ]; then
    make -j1 check TESTS="$DP_TESTS" >/dev/null 2>&1
else
    make -j1 check >/dev/null 2>&1
fi
rc=$?
# every suite's own result line; details of the failing ones
while IFS= read -r log; do
    name=${log#"$BUILD_DIR"/}
    name=${name%.log}
    if grep -q '^:test-result: SKIP' "${log%.log}.trs" 2>/dev/null; then
        echo "FAIL: $name: SKIPPED, which counts as a failure here: $(grep -m1 '^SKIP:' "$log")"
        failed=$((failed + 1))
        continue
    fi
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL: $name: no result line"
        tail -n 20 "$log"
        failed=$((failed + 1))
        continue
    fi
    p=${line%% passed*}
    f=${line#*passed, }
    f=${f%% failed*}
    passed=$((passed + p))
    failed=$((failed + f))
    echo "$name: $line"
    if [ "$f" != 0 ]; then grep -E '^(not ok|FAIL)' "$log" | head -n 20; grep -E '^[^ ]+\.c:[0-9]+:' "$log" | head -n 10; fi
done < <(find "$BUILD_DIR/tests" -name '*.log' ! -name 'test-suite.log' | sort)
[ $rc -eq 0 ] || [ $failed -gt 0 ] || { echo "make check failed without a failing suite"; failed=$((failed + 1)); }
echo "# make check took $((SECONDS - t0)) s"

# check NAME LOG CMD...: one more counted check; its output goes to LOG
check() {
    local name=$1 log=$2
    shift 2
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "$name: ok"
    else
        failed=$((failed + 1))
        echo "$name: FAILED (log: $log)"
        tail -n 30 "$log"
    fi
}

# clang's static analyzer over the product code: zero reports or it fails
if "$top/scripts/analyze.sh" >"$BUILD_DIR/analyze.log" 2>&1; then
    passed=$((passed + 1))
    echo "analyze: $(tail -n 1 "$BUILD_DIR/analyze.log")"
else
    failed=$((failed + 1))
    echo "analyze: FAILED"
    grep -E 'warning:|error' "$BUILD_DIR/analyze.log" | head -n 20
fi

check syntax-check "$BUILD_DIR/syntax-check.log" make -s syntax-check

# the systemd unit, as systemd would read it (ExecStart pointed at this build)
unit_verify() {
    local name u out
    command -v systemd-analyze >/dev/null || { echo "systemd-analyze is missing (apt-get install systemd)"; return 1; }
    for name in deskpoold deskpool-gateway; do
        u=$BUILD_DIR/unit-check/$name.service
        mkdir -p "${u%/*}"
        sed "s|^ExecStart=[^ ]*|ExecStart=$BUILD_DIR/$name|" "$BUILD_DIR/data/$name.service" >"$u"
        out=$(systemd-analyze verify "$u" 2>&1)
        [ -z "$out" ] || { echo "$name.service: $out"; return 1; }
    done
}
check "systemd units (systemd-analyze verify)" "$BUILD_DIR/unit-verify.log" unit_verify

# make distcheck: the tarball builds out of tree, installs and uninstalls
# every file, and its `make check` passes without QEMU (e2e suites skipped)
if [ $variant = plain ]; then
    distcheck() {
        env -u DP_REQUIRE_ALL -u DP_TEST_QEMU make -j"$(nproc)" distcheck &&
            grep -q 'archives ready for distribution' "$BUILD_DIR/distcheck.log"
    }
    t1=$SECONDS
    check distcheck "$BUILD_DIR/distcheck.log" distcheck
    echo "# distcheck took $((SECONDS - t1)) s"
fi

# ---------------------------------------------------------------- the host after
host_objects >"$after"
left=()
others=()
while IFS= read -r obj; do
    if is_ours "$obj"; then
        left+=("$obj")
    elif ! is_foreign "$obj"; then
        others+=("$obj")
    fi
done < <(comm -13 "$before" "$after")
for obj in "${others[@]}"; do
    echo "not counted: new on the host during the run but not named by it (another user's?): $obj"
done
if [ ${#left[@]} -gt 0 ]; then
    echo "leftovers: the run left ${#left[@]} objects on the host (removing them):"
    printf '  %s\n' "${left[@]}"
    failed=$((failed + ${#left[@]}))
    # daemons first (none may recreate what is removed), then libvirt
    # objects (while their directories still exist), then directories
    pids=()
    prefixes=()
    for obj in "${left[@]}"; do
        case "$obj" in
            process\ *) pids+=("$(awk '{print $2}' <<<"$obj")") ;;
            dir\ *) ;;
            "domain hvdev-"*|"pool hvdev-"*|"volume hvdev-"*) prefixes+=(hvdev) ;;
            *) prefixes+=("$(grep -oE "[a-z0-9_-]*-$TAG-[0-9]+" <<<"$obj" | head -n 1)") ;;
        esac
    done
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    # shellcheck disable=SC2046
    [ ${#prefixes[@]} -eq 0 ] ||
        "$top/tests/libvirt-clean.sh" $(printf '%s\n' "${prefixes[@]}" | sort -u)
    for obj in "${left[@]}"; do
        case "$obj" in dir\ *) rm -rf -- "${obj#dir }" ;; esac
    done
    still=$(host_objects | while IFS= read -r obj; do is_ours "$obj" && echo "$obj"; done)
    if [ -n "$still" ]; then
        echo "leftovers: could not remove:"
        printf '  %s\n' "$still"
    else
        echo "leftovers: removed, the host holds nothing of this run now"
    fi
else
    passed=$((passed + 1))
    echo "leftovers: none (domains, storage pools, volumes, test directories, daemons)"
fi
total
