#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# lib.sh - shared by the script tests (api/, cli/, e2e/): start a real
# deskpoold on a private state dir and socket, talk HTTP to it, count
# results and print "N passed, N failed".
#
# A missing binary or a daemon that does not come up is a FAILURE, never a skip.

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DP_SRCDIR=${DP_SRCDIR:-$(cd "$TESTS_DIR/.." && pwd)}
DP_BUILDDIR=${DP_BUILDDIR:-$DP_SRCDIR/build}
DESKPOOLD=${DESKPOOLD:-$DP_BUILDDIR/deskpoold}
DESKPOOLCTL=${DESKPOOLCTL:-$DP_BUILDDIR/deskpoolctl}
# Wrap the daemon in a tool (e.g. "valgrind --error-exitcode=99") when set.
DP_DAEMON_WRAPPER=${DP_DAEMON_WRAPPER:-}

T_PASSED=0
T_FAILED=0
T_DAEMON_PIDS=()
T_TMPDIRS=()
T_CLEANUPS=()

ok() { T_PASSED=$((T_PASSED + 1)); echo "ok - $*"; }
not_ok() { T_FAILED=$((T_FAILED + 1)); echo "not ok - $*"; }

# check NAME CMD...: passes when CMD succeeds.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# check_both NAME CMD1 -- CMD2: passes when both commands succeed (so that
# `check NAME a && b` cannot silently leave b outside the check).
check_both() {
    local name=$1 a=() b=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do a+=("$1"); shift; done
    shift
    b=("$@")
    if "${a[@]}" && "${b[@]}"; then ok "$name"; else not_ok "$name"; fi
}

# quiet CMD...: runs CMD with its output thrown away.
quiet() { "$@" >/dev/null 2>&1; }

# fail_now MSG: a broken precondition; the suite cannot go on.
fail_now() {
    not_ok "$*"
    t_finish
}

t_cleanup() {
    local c pid d
    for c in "${T_CLEANUPS[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
    for pid in "${T_DAEMON_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${T_DAEMON_PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    [ -n "${DP_KEEP:-}" ] || for d in "${T_TMPDIRS[@]}"; do rm -rf "$d"; done
}

# Sanitizer or valgrind reports in any daemon log are failures.
t_check_daemon_logs() {
    local d
    for d in "${T_TMPDIRS[@]}"; do
        [ -f "$d/daemon.log" ] || continue
        if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|definitely lost: [1-9]' "$d/daemon.log"; then
            not_ok "sanitizer/valgrind report in $d/daemon.log"
            grep -E -A 12 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$d/daemon.log" | head -n 30
        fi
    done
}

t_finish() {
    local pid
    # stop the daemons first so that leak reports at exit are in the logs
    for pid in "${T_DAEMON_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${T_DAEMON_PIDS[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    t_check_daemon_logs
    t_cleanup
    trap - EXIT
    echo "$T_PASSED passed, $T_FAILED failed"
    [ "$T_FAILED" -eq 0 ] && [ "$T_PASSED" -gt 0 ]
    exit $?
}
trap t_finish EXIT

t_require_binaries() {
    [ -x "$DESKPOOLD" ] || fail_now "deskpoold binary missing at $DESKPOOLD (build first)"
    [ -x "$DESKPOOLCTL" ] || fail_now "deskpoolctl binary missing at $DESKPOOLCTL (build first)"
}

# t_tmpdir VAR: makes a private directory, removed at exit, and stores its
# path in VAR (under /var/tmp: libvirt-qemu must be able to read it).
t_tmpdir() {
    local d
    d=$(mktemp -d /var/tmp/deskpool-test.XXXXXX) || fail_now "mktemp failed"
    chmod 0755 "$d"
    T_TMPDIRS+=("$d")
    printf -v "$1" '%s' "$d"
}

# dp_start DIR INSTANCE [deskpoold args...]: starts deskpoold in the foreground
# (background job) with its state in DIR, socket DIR/sock; waits for /healthz.
# Sets DP_PID, DP_SOCK, DP_DIR. Default URI: test:///default.
dp_start() {
    local dir=$1 inst=$2
    shift 2
    DP_DIR=$dir
    DP_SOCK=$dir/sock
    # shellcheck disable=SC2086
    $DP_DAEMON_WRAPPER "$DESKPOOLD" --foreground --uri "${DP_URI:-test:///default}" \
        --state-dir "$dir/state" --socket "$DP_SOCK" --instance "$inst" \
        --templates-dir "${DP_TEMPLATES:-$DP_SRCDIR/templates}" \
        --set storage_pool="$inst" --set storage_dir="$dir/overlays" \
        --set tokens_file="$dir/tokens" --log-level "${DP_LOG_LEVEL:-info}" \
        "$@" >>"$dir/daemon.log" 2>&1 &
    DP_PID=$!
    T_DAEMON_PIDS+=("$DP_PID")
    for _ in $(seq 1 600); do
        if curl -s --max-time 2 --unix-socket "$DP_SOCK" http://localhost/healthz >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$DP_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "--- daemon log ($dir/daemon.log) ---" >&2
    tail -n 30 "$dir/daemon.log" >&2
    return 1
}

# dp_stop [SIGNAL]: stops the daemon started last; waits for it to exit.
dp_stop() {
    local sig=${1:-TERM}
    kill -"$sig" "$DP_PID" 2>/dev/null || return 1
    for _ in $(seq 1 100); do kill -0 "$DP_PID" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}

# api METHOD PATH [BODY]: sets STATUS and BODY from deskpoold over the socket.
api() {
    local method=$1 path=$2 data=${3:-} out
    local args=(-s --max-time 30 --unix-socket "$DP_SOCK" -X "$method" -w '\n%{http_code}')
    [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
    out=$(curl "${args[@]}" "http://localhost$path") || { STATUS=000; BODY=; return 1; }
    STATUS=${out##*$'\n'}
    BODY=${out%$'\n'*}
}

# jget JSON EXPR: evaluates a python expression on the parsed document `d`.
jget() {
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

# ctl ARGS...: deskpoolctl on the current daemon's socket.
ctl() { "$DESKPOOLCTL" --socket "$DP_SOCK" "$@"; }

# wait_for SECONDS CMD...: polls CMD every 0.2 s until it succeeds.
wait_for() {
    local secs=$1
    shift
    local end=$((SECONDS + secs))
    while [ $SECONDS -lt $end ]; do
        "$@" && return 0
        sleep 0.2
    done
    "$@"
}

# make_qcow2 PATH [SIZE]: a real, empty qcow2 file.
make_qcow2() {
    qemu-img create -q -f qcow2 "$1" "${2:-64M}" || fail_now "qemu-img is missing or failed"
}
