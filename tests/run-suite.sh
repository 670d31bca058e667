#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-suite.sh - how `make check` runs every test (LOG_COMPILER and
# SH_LOG_COMPILER in Makefile.am): under a time limit, and with the C tests'
# libvirt objects removed afterwards.
#
#   run-suite.sh TEST [ARGS...]
#
# - The time limit is DP_SUITE_TIMEOUT seconds (default 1800). When it is
#   reached, timeout(1) sends SIGTERM to the suite and its processes; the
#   suite's traps (tests/lib.sh, tests/cli/harness.sh) stop its daemons and
#   remove its libvirt objects and directories, and it fails. Whatever is
#   still running 120 s later gets SIGKILL.
# - The C integration tests create objects on qemu:///system only with
#   DP_TEST_QEMU=1, all named hvdev-* (tests/integration/test-hv.c): they are
#   removed after the test, whether it passed, failed or was killed.
# The exit status is the test's (77 = SKIP), or 1 after a timeout.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
limit=${DP_SUITE_TIMEOUT:-1800}
test=$1
shift

if [ -x "$test" ]; then
    cmd=("$test" "$@")
else
    cmd=(bash "$test" "$@")
fi
start=$SECONDS
timeout --kill-after=120 "$limit" "${cmd[@]}"
rc=$?
if [ $rc -eq 124 ] || { [ $rc -eq 137 ] && [ $((SECONDS - start)) -ge "$limit" ]; }; then
    echo "not ok - $(basename "$test"): timed out after $limit s (DP_SUITE_TIMEOUT)"
    rc=1
elif [ $rc -gt 128 ] && [ $rc -ne 77 ]; then
    echo "not ok - $(basename "$test"): killed by signal $((rc - 128))"
fi

case "$test" in
    */integration/test-hv)
        if [ "${DP_TEST_QEMU:-}" = 1 ] && command -v virsh >/dev/null; then
            "$here/libvirt-clean.sh" --uri qemu:///system hvdev || rc=1
        fi
        ;;
esac
exit $rc
