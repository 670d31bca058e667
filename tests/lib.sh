#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# lib.sh - shared by the script tests (api/, daemon/, e2e/): start a real
# deskpoold on a private state dir and socket, talk HTTP to it, count
# results and print "N passed, N failed".
#
# A missing binary or a daemon that does not come up is a FAILURE. A suite
# that needs what this host cannot give (root, libvirtd on qemu:///system)
# says why and SKIPs (exit 77, automake's code) - unless DP_REQUIRE_ALL=1
# (scripts/test.sh, CI), where a skip is a failure.
#
# Whatever happens - success, failure, SIGTERM/SIGINT/SIGHUP (a timeout, a
# Ctrl-C) - the suite leaves nothing behind: its daemons are stopped, every
# libvirt object of its instances (t_instance) is removed, its directories
# (t_tmpdir) are deleted. Only SIGKILL can defeat this; scripts/test.sh
# checks the host after the run for that case.
#
# Environment: DESKPOOLD, DESKPOOLCTL, DP_SRCDIR, DP_BUILDDIR (set by make
# check); DP_URI (default test:///default); DP_TEST_TAG (names this run's
# objects, set by scripts/test.sh; random otherwise); DP_KEEP=1 keeps the
# directories; DP_REQUIRE_ALL=1; DP_SKIP_E2E=1 (make distcheck).

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DP_SRCDIR=${DP_SRCDIR:-$(cd "$TESTS_DIR/.." && pwd)}
DP_BUILDDIR=${DP_BUILDDIR:-$DP_SRCDIR/build}
DESKPOOLD=${DESKPOOLD:-$DP_BUILDDIR/deskpoold}
DESKPOOLCTL=${DESKPOOLCTL:-$DP_BUILDDIR/deskpoolctl}
# Wrap the daemon in a tool (e.g. "valgrind --error-exitcode=99") when set.
DP_DAEMON_WRAPPER=${DP_DAEMON_WRAPPER:-}
# Every instance and directory of this run carries the tag, so that a check
# after the run can tell its leftovers from anything else on the host.
DP_TEST_TAG=${DP_TEST_TAG:-t$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')}

T_PASSED=0
T_FAILED=0
T_DAEMON_PIDS=()
T_TMPDIRS=()
T_CLEANUPS=()
T_INSTANCES=() # "URI NAME": libvirt objects named NAME.* / NAME-* are removed at exit

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

# t_stop_daemons: TERM every daemon of this suite - the ones it started and
# any deskpoold (e.g. a forked one) whose command line names one of its
# directories - and KILL what is still there after 10 s.
t_stop_daemons() {
    local pid d pids=("${T_DAEMON_PIDS[@]}")
    for d in "${T_TMPDIRS[@]}"; do
        # shellcheck disable=SC2207
        pids+=($(pgrep -f -- "deskpoold .*$d/" 2>/dev/null))
    done
    [ ${#pids[@]} -gt 0 ] || return 0
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
}

# t_cleanup: daemons first (so that none recreates what is being removed),
# then the suite's own cleanups, libvirt objects, directories. Idempotent.
t_cleanup() {
    local c d entry uri name
    t_stop_daemons
    for c in "${T_CLEANUPS[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
    T_CLEANUPS=()
    for entry in "${T_INSTANCES[@]}"; do
        uri=${entry%% *}
        name=${entry#* }
        case "$uri" in test:*) continue ;; esac
        "$TESTS_DIR/libvirt-clean.sh" --uri "$uri" "$name" ||
            not_ok "cleanup: libvirt objects of instance $name remain on $uri"
    done
    T_INSTANCES=()
    [ -n "${DP_KEEP:-}" ] || for d in "${T_TMPDIRS[@]}"; do rm -rf "$d"; done
}

# Sanitizer or valgrind reports in any daemon's log (every *.log of the
# suite's directories: deskpoold's daemon.log, the gateway's) are failures.
t_check_daemon_logs() {
    local d f
    for d in "${T_TMPDIRS[@]}"; do
        for f in "$d"/*.log; do
            [ -f "$f" ] || continue
            if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|definitely lost: [1-9]' "$f"; then
                not_ok "sanitizer/valgrind report in $f"
                grep -E -A 12 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f" | head -n 30
            fi
        done
    done
}

t_finish() {
    local pid
    # no second signal (timeout(1) signals the whole process group) may cut
    # the cleanup short
    trap '' TERM INT HUP
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

# t_on_signal SIG: the suite was interrupted (a timeout, Ctrl-C): that is a
# failure, and everything is cleaned up as on any other exit.
t_on_signal() {
    not_ok "interrupted by SIG$1 (cleaning up)"
    t_finish
}
trap t_finish EXIT
trap 't_on_signal TERM' TERM
trap 't_on_signal INT' INT
trap 't_on_signal HUP' HUP

# t_skip REASON: this host cannot run the suite. Prints "SKIP: REASON" and
# exits 77 (automake's SKIP); with DP_REQUIRE_ALL=1 it is a failure instead.
t_skip() {
    if [ "${DP_REQUIRE_ALL:-}" = 1 ]; then
        fail_now "cannot run here: $* (DP_REQUIRE_ALL=1: a skip is a failure)"
    fi
    echo "SKIP: $*"
    trap '' TERM INT HUP
    t_cleanup
    trap - EXIT
    exit 77
}

# t_require_qemu: what the end-to-end suites need - root and libvirtd on
# qemu:///system (they build the tiny guest under /var/lib/deskpool and
# run real QEMU). Skips with the reason otherwise; DP_SKIP_E2E=1 skips too.
t_require_qemu() {
    [ "${DP_SKIP_E2E:-}" = 1 ] && t_skip "DP_SKIP_E2E=1 (make distcheck): end-to-end suites not run"
    [ "$(id -u)" = 0 ] || t_skip "needs root: real QEMU through libvirtd on qemu:///system and the tiny guest under /var/lib/deskpool (run scripts/test.sh as root)"
    command -v virsh >/dev/null || t_skip "virsh is missing (apt-get install libvirt-clients; scripts/setup-host.sh)"
    virsh -c qemu:///system version >/dev/null 2>&1 ||
        t_skip "libvirtd is not reachable on qemu:///system (start it: scripts/setup-host.sh)"
}

t_require_binaries() {
    [ -x "$DESKPOOLD" ] || fail_now "deskpoold binary missing at $DESKPOOLD (build first)"
    [ -x "$DESKPOOLCTL" ] || fail_now "deskpoolctl binary missing at $DESKPOOLCTL (build first)"
}

# t_tmpdir VAR: makes a private directory, removed at exit, and stores its
# path in VAR (under /var/tmp: libvirt-qemu must be able to read it; named
# deskpool-test.TAG.* so that scripts/test.sh can find a leftover).
t_tmpdir() {
    local d
    d=$(mktemp -d "/var/tmp/deskpool-test.$DP_TEST_TAG.XXXXXX") || fail_now "mktemp failed"
    chmod 0755 "$d"
    T_TMPDIRS+=("$d")
    printf -v "$1" '%s' "$d"
}

# t_tokens FILE ROLE=VAR...: a random bearer token per ROLE, stored in the
# variable VAR, and FILE written as deskpoold's tokens_file (their hashes).
t_tokens() {
    local file=$1 spec role var t
    shift
    : >"$file"
    for spec in "$@"; do
        role=${spec%%=*}
        var=${spec#*=}
        t=${role:0:1}-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
        printf -v "$var" '%s' "$t"
        echo "$role $(printf %s "$t" | sha256sum | cut -d' ' -f1)" >>"$file"
    done
}

# t_instance VAR BASE: a unique instance name for a daemon of this suite,
# BASE-TAG-PID, stored in VAR. Its libvirt objects on DP_URI (domains
# NAME.* and NAME-*, storage pools NAME and NAME-*) are removed at exit,
# whatever happens.
t_instance() {
    local name="$2-$DP_TEST_TAG-$$"
    T_INSTANCES+=("${DP_URI:-test:///default} $name")
    printf -v "$1" '%s' "$name"
}

# dp_start DIR INSTANCE [deskpoold args...]: starts deskpoold in the foreground
# (background job) with its state in DIR, socket DIR/sock; waits for /healthz.
# Sets DP_PID, DP_SOCK, DP_DIR. Default URI: test:///default. The host's
# configuration file and hooks are not used (args may set --config, hooks_dir).
dp_start() {
    local dir=$1 inst=$2
    shift 2
    DP_DIR=$dir
    DP_SOCK=$dir/sock
    # shellcheck disable=SC2086
    # the host's /etc/deskpool (config file, hooks) must not leak into a test
    touch "$dir/no-host.conf"
    # the test driver's host has a fixed 3 GiB: big test pools overcommit it
    local oc=()
    case "${DP_URI:-test:///default}" in test:*) oc=(--set memory_overcommit=100000) ;; esac
    $DP_DAEMON_WRAPPER "$DESKPOOLD" --foreground --uri "${DP_URI:-test:///default}" "${oc[@]}" \
        --config "$dir/no-host.conf" --set hooks_dir="$dir/no-hooks" \
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
