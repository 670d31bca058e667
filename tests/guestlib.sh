#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# guestlib.sh - talking to the tiny guest through its agent, for the suites
# that run real QEMU (tests/e2e, tests/faults): run a command, write and
# read files, tell whether it answers. Needs V=(virsh -q -c URI) set by the
# caller and tests/lib.sh sourced.

now() { date +%s.%N; }
elapsed() { printf '%.2f' "$(echo "$(now) - $1" | bc)"; }

# ga DOM JSON: one guest agent command; prints its answer.
ga() { "${V[@]}" qemu-agent-command "$1" "$2"; }

# gexec DOM PROG [ARG...]: runs PROG in the guest, prints its stdout and
# returns its exit code (125: the agent failed, 124: it never finished).
gexec() {
    local dom=$1 cmd pid st
    shift
    cmd=$(python3 -c 'import json, sys; print(json.dumps({"execute": "guest-exec",
        "arguments": {"path": sys.argv[1], "arg": sys.argv[2:], "capture-output": True}}))' "$@")
    pid=$(ga "$dom" "$cmd" | jget "$(cat)" "d['return']['pid']" 2>/dev/null) || return 125
    for _ in $(seq 1 100); do
        st=$(ga "$dom" "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}") || return 125
        if [ "$(jget "$st" "d['return']['exited']")" = True ]; then
            jget "$st" "__import__('base64').b64decode(d['return'].get('out-data', '')).decode().rstrip('\n')"
            return "$(jget "$st" "d['return'].get('exitcode', 125)")"
        fi
        sleep 0.1
    done
    return 124
}

# gwrite DOM PATH TEXT: writes TEXT to PATH in the guest (file open, write,
# close through the agent), then syncs the guest's disks.
gwrite() {
    local h b64
    h=$(ga "$1" "{\"execute\":\"guest-file-open\",\"arguments\":{\"path\":\"$2\",\"mode\":\"w\"}}" |
        jget "$(cat)" "d['return']" 2>/dev/null) || return 1
    b64=$(printf %s "$3" | base64 -w0)
    ga "$1" "{\"execute\":\"guest-file-write\",\"arguments\":{\"handle\":$h,\"buf-b64\":\"$b64\"}}" >/dev/null || return 1
    ga "$1" "{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":$h}}" >/dev/null || return 1
    gexec "$1" sync >/dev/null
}

# gread_is DOM PATH TEXT: PATH in the guest holds exactly TEXT.
gread_is() { [ "$(gexec "$1" cat "$2")" = "$3" ]; }
# gfile_gone DOM PATH: the guest answers and PATH does not exist there.
gfile_gone() {
    local rc
    gexec "$1" cat "$2" >/dev/null 2>&1
    rc=$?
    [ "$rc" -ne 0 ] && [ "$rc" -lt 124 ]
}
# kernel_base DOM: where KASLR put the guest kernel: random at each boot,
# kept by a revert to a memory snapshot. (boot_id cannot tell: the kernel
# makes it at its first read, which a revert undoes.)
kernel_base() { gexec "$1" sh -c "grep ' _text\$' /proc/kallsyms | cut -d' ' -f1"; }
agent_answers() { quiet ga "$1" '{"execute":"guest-ping"}'; }

