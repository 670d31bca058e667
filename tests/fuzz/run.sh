#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run.sh - builds tests/fuzz/fuzz-request.c with clang + libFuzzer + ASan +
# UBSan and fuzzes the acquire-body parser for a bounded time, starting from
# the seeds in corpus/ (copied to a temporary directory: new inputs never land
# in the source tree). Prints "1 passed, 0 failed" when libFuzzer finishes
# without a crash. Without clang or its fuzzer runtime (and not root, to
# install it) the suite SKIPs with the reason (exit 77) - a failure under
# DP_REQUIRE_ALL=1 (scripts/test.sh, CI). Anything else missing FAILS.
#
#   FUZZ_TIME=SECONDS (default 20)   DP_BUILDDIR=DIR (holds config.h)
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(cd "${DP_BUILDDIR:-$here/../../build}" 2>/dev/null && pwd) || build=${DP_BUILDDIR:-$here/../../build}
fuzz_time=${FUZZ_TIME:-20}

fail() {
    echo "not ok - $*"
    echo "0 passed, 1 failed"
    exit 1
}

# skip REASON: this host cannot build the fuzzer (exit 77, automake's SKIP).
skip() {
    [ "${DP_REQUIRE_ALL:-}" = 1 ] && fail "cannot run here: $* (DP_REQUIRE_ALL=1: a skip is a failure)"
    echo "SKIP: $*"
    exit 77
}

command -v clang >/dev/null 2>&1 || skip "clang is missing (apt-get install clang libclang-rt-14-dev)"
[ -f "$build/config.h" ] || fail "no config.h in $build (configure first, or set DP_BUILDDIR)"
cflags=$(pkg-config --cflags --libs json-c 2>/dev/null) || fail "pkg-config json-c failed"

work=$(mktemp -d /tmp/deskpool-fuzz.XXXXXX) || fail "mktemp"
trap 'rm -rf "$work"' EXIT
trap 'echo "not ok - interrupted"; echo "0 passed, 1 failed"; exit 1' INT TERM HUP

# A trivial program tells whether the fuzzer runtime is there; install it
# quietly once when it is not.
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void) d; (void) n; return 0; }\n' \
    >"$work/probe.c"
probe() { clang -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" >/dev/null 2>&1; }
if ! probe; then
    [ "$(id -u)" = 0 ] || skip "clang cannot link -fsanitize=fuzzer (apt-get install libclang-rt-14-dev, as root)"
    echo "# libFuzzer runtime missing: installing libclang-rt-14-dev"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-rt-14-dev >/dev/null 2>&1
    probe || fail "clang cannot link -fsanitize=fuzzer (libclang-rt-14-dev missing?)"
fi

# shellcheck disable=SC2086
if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I "$build" -I "$src/orchestrator/base" -I "$src/orchestrator/model" \
    -I "$src/orchestrator/api" -include "$build/config.h" \
    "$here/fuzz-request.c" "$src/orchestrator/api/api-request.c" \
    "$src/orchestrator/base/json-util.c" "$src/orchestrator/model/pool.c" \
    "$src/orchestrator/base/util.c" "$src/orchestrator/base/name.c" \
    "$src/orchestrator/base/strv.c" "$src/orchestrator/base/array.c" \
    $cflags -o "$work/fuzz-request" >"$work/build.log" 2>&1; then
    cat "$work/build.log"
    fail "building the fuzzer"
fi

mkdir "$work/corpus" "$work/artifacts"
cp "$here"/corpus/* "$work/corpus/" || fail "no seeds in $here/corpus"
cd "$work" || fail "cd $work"
if ./fuzz-request -max_total_time="$fuzz_time" -rss_limit_mb=1024 -max_len=4096 \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    corpus >"$work/fuzz.log" 2>&1; then
    grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$work/fuzz.log" |
        sed 's/^/# /'
    echo "ok - fuzz-request: no crash in ${fuzz_time} s"
    echo "1 passed, 0 failed"
    exit 0
fi
echo "not ok - fuzz-request crashed"
grep -E -B 2 -A 30 'ERROR: |runtime error:|deadly signal|Test unit written' "$work/fuzz.log" | head -n 80
for a in "$work"/artifacts/*; do
    [ -f "$a" ] || continue
    echo "# crashing input $(basename "$a") (base64): $(base64 -w0 "$a" | head -c 2000)"
done
echo "0 passed, 1 failed"
exit 1
