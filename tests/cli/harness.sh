#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# harness.sh - what the deskpoolctl suites (run.sh, update.sh) share: counters
# and "N passed, N failed", a private directory, a real deskpoold on libvirt's
# test:///default driver, and checks of exit status, stderr and JSON output.
# A missing binary or tool is a failure, never a skip. Whatever happens
# (success, failure, SIGTERM/SIGINT/SIGHUP), the daemon is stopped and the
# private directory removed; the daemon runs on test:///default, so no
# libvirt object outlives it.
#
# Environment (set by `make check`; defaults relative to this directory):
#   DESKPOOLD, DESKPOOLCTL  the binaries
#   DP_SRCDIR               the source tree (for templates/)
#   DP_TEST_TAG             names this run's directories (scripts/test.sh)

set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DP_SRCDIR=${DP_SRCDIR:-$here/../..}
DESKPOOLD=${DESKPOOLD:-$DP_SRCDIR/build/deskpoold}
DESKPOOLCTL=${DESKPOOLCTL:-$DP_SRCDIR/build/deskpoolctl}
DP_TEST_TAG=${DP_TEST_TAG:-t$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')}

passed=0
failed=0
daemon_pid=
T=

ok() {
    echo "ok - $1"
    passed=$((passed + 1))
}

not_ok() {
    echo "not ok - $1"
    shift
    for line in "$@"; do
        echo "#   $line"
    done
    failed=$((failed + 1))
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

cleanup() {
    trap '' INT TERM HUP
    if [ -n "$daemon_pid" ]; then
        kill "$daemon_pid" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$daemon_pid" 2>/dev/null
        wait "$daemon_pid" 2>/dev/null
    fi
    [ -n "$T" ] && rm -rf "$T"
}
trap cleanup EXIT
# interrupted (a timeout, Ctrl-C): a failure; cleanup runs on the way out
on_signal() {
    trap '' INT TERM HUP
    not_ok "interrupted by SIG$1 (cleaning up)"
    echo "$passed passed, $failed failed"
    exit 1
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal HUP' HUP

# harness_require TOOL...: the binaries and these tools, or fail now.
harness_require() {
    local bin tool
    for bin in "$DESKPOOLD" "$DESKPOOLCTL"; do
        if [ ! -x "$bin" ]; then
            not_ok "binary $bin exists" "build it first (make deskpoold deskpoolctl)"
            finish
        fi
    done
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null; then
            not_ok "$tool is installed"
            finish
        fi
    done
}

# harness_start INSTANCE [deskpoold args...]: a private directory $T and a
# daemon on test:///default serving $sock (the test driver cannot change a
# running domain's devices: no console passwords).
harness_start() {
    local inst=$1
    shift
    T=$(mktemp -d "/var/tmp/deskpool-test.$DP_TEST_TAG.XXXXXX")
    sock=$T/sock
    # the host's /etc/deskpool (config file, hooks) must not leak into a test
    touch "$T/no-host.conf"
    "$DESKPOOLD" --foreground --uri test:///default --set memory_overcommit=100000 --state-dir "$T/state" --socket "$sock" \
        --config "$T/no-host.conf" --set hooks_dir="$T/no-hooks" --set tokens_file="$T/no-tokens" \
        --instance "$inst-$$" --templates-dir "$DP_SRCDIR/templates" \
        --set console_password=none "$@" >"$T/deskpoold.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 100); do
        [ -S "$sock" ] && break
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ ! -S "$sock" ]; then
        not_ok "deskpoold starts and creates $sock" "log:" "$(tail -n 20 "$T/deskpoold.log")"
        finish
    fi
    ok "deskpoold starts"
}

ctl() {
    "$DESKPOOLCTL" --socket "$sock" "$@"
}

# check NAME WANT_EXIT STDERR_ERE CMD... : run CMD, compare its exit status
# and (when STDERR_ERE is not empty) its stderr; stdout lands in $T/out.
check() {
    local name=$1 want=$2 pattern=$3 rc
    shift 3
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        not_ok "$name" "exit status $rc, wanted $want: $*" "stderr: $(head -c 600 "$T/err")" \
            "stdout: $(head -c 600 "$T/out")"
        return 1
    fi
    if [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$T/err"; then
        not_ok "$name" "stderr does not match /$pattern/: $*" "stderr: $(head -c 600 "$T/err")"
        return 1
    fi
    ok "$name"
}

# expect_json NAME PYTHON_EXPR [FILE]: evaluate EXPR with d = the JSON
# document in FILE (default $T/out).
expect_json() {
    local name=$1 expr=$2 file=${3:-$T/out} msg
    if msg=$(python3 - "$file" "$expr" 2>&1 <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    d = json.load(f)
if not eval(sys.argv[2]):
    sys.exit("false: " + sys.argv[2] + " on " + json.dumps(d)[:800])
PY
    ); then
        ok "$name"
    else
        not_ok "$name" "$msg"
    fi
}
