#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test.sh - run every deskpool test on this host, as root.
#
# Sets the host up (packages, libvirtd), builds with warnings as errors, runs
# `make check` (unit, integration on test:///default, REST, CLI, and end to
# end on qemu:///system with the tiny guest), then `make syntax-check`.
# With --asan the same runs in a separate AddressSanitizer/UBSan build.
# Ends with one line "total: N passed, N failed" summed over every suite.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

variant=plain
[ "${1:-}" = --asan ] && variant=asan

"$top/scripts/setup-host.sh" || { echo "total: 0 passed, 1 failed"; exit 1; }

if [ $variant = asan ]; then
    export BUILD_DIR=$top/build-asan
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    "$top/scripts/build.sh" --enable-sanitizers || { echo "total: 0 passed, 1 failed"; exit 1; }
else
    export BUILD_DIR=$top/build
    "$top/scripts/build.sh" || { echo "total: 0 passed, 1 failed"; exit 1; }
fi

cd "$BUILD_DIR"
export DP_TEST_QEMU=1
make -j1 check >/dev/null 2>&1
rc=$?
# show every suite's own lines for the failing ones, and a summary of all
passed=0
failed=0
while IFS= read -r log; do
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    name=${log#"$BUILD_DIR"/}
    if [ -z "$line" ]; then
        echo "FAIL: ${name%.log}: no result line"
        tail -n 20 "$log"
        failed=$((failed + 1))
        continue
    fi
    p=${line%% passed*}
    f=${line#*passed, }
    f=${f%% failed*}
    passed=$((passed + p))
    failed=$((failed + f))
    echo "${name%.log}: $line"
    if [ "$f" != 0 ]; then grep -E '^(not ok|FAIL)' "$log" | head -n 20; grep -E '^[^ ]+\.c:[0-9]+:' "$log" | head -n 10; fi
done < <(find "$BUILD_DIR/tests" -name '*.log' ! -name 'test-suite.log' | sort)
[ $rc -eq 0 ] || [ $failed -gt 0 ] || { echo "make check failed without a failing suite"; failed=$((failed + 1)); }

# clang's static analyzer over the product code: zero reports or it fails
if "$top/scripts/analyze.sh" >"$BUILD_DIR/analyze.log" 2>&1; then
    passed=$((passed + 1))
    echo "analyze: $(tail -n 1 "$BUILD_DIR/analyze.log")"
else
    failed=$((failed + 1))
    echo "analyze: FAILED"
    grep -E 'warning:|error' "$BUILD_DIR/analyze.log" | head -n 20
fi

if make -s syntax-check >/dev/null 2>"$BUILD_DIR/syntax-check.log"; then
    passed=$((passed + 1))
    echo "syntax-check: ok"
else
    failed=$((failed + 1))
    echo "syntax-check: FAILED"
    head -n 30 "$BUILD_DIR/syntax-check.log"
fi
echo "total: $passed passed, $failed failed"
[ $failed -eq 0 ]
