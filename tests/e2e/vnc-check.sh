#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# vnc-check.sh HOST PORT PASSWORD
#
# Prove with a real VNC client (gvnccapture from Debian's gvncviewer package) that PASSWORD
# opens the VNC console at HOST:PORT: authenticate with VNC (DES) auth and receive one full
# framebuffer, saved as a PNG and checked. DESIGN.md "Console access": the one-time console
# password must work during a session and must fail after release.
#
# Exit status:
#   0  authenticated and got a frame (prints nothing)
#   1  the server refused the password ("Authentication failed": wrong, replaced, expired
#      passwdValidTo, or empty/locked password)
#   2  usage error or missing tool
#   3  no verdict: server unreachable, not a VNC server, no frame, or 10 s timeout
#      (kept apart from 1 so "old password fails" cannot pass because the server is gone)
#
# gvnccapture only reads the password from a terminal (it calls tcgetattr on stdin and
# gives up on a pipe), and it sets -echo with TCSAFLUSH, which discards anything typed
# before the prompt. So it runs under script(1) on a pty, and the password is written only
# once that pty shows -echo. VNC auth uses the first 8 characters of a password only.

set -u

readonly TIMEOUT=10

usage()
{
    echo "usage: vnc-check.sh HOST PORT PASSWORD" >&2
    exit 2
}

[ $# -eq 3 ] || usage
host=$1
port=$2
password=$3

case $port in
    ''|*[!0-9]*) echo "vnc-check: bad port '$port'" >&2; exit 2 ;;
esac
if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
    echo "vnc-check: port $port out of range" >&2
    exit 2
fi
case $host in
    ''|*[!A-Za-z0-9._-]*)
        echo "vnc-check: bad host '$host' (name or IPv4 address; no IPv6 literal)" >&2
        exit 2 ;;
esac
case $password in
    *$'\n'*|*$'\r'*) echo "vnc-check: password contains a newline" >&2; exit 2 ;;
esac

if ! command -v gvnccapture >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gvncviewer >/dev/null 2>&1
    fi
fi
for tool in gvnccapture script stty timeout; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "vnc-check: '$tool' not found (gvnccapture: apt-get install gvncviewer)" >&2
        exit 2
    fi
done

work=$(mktemp -d /tmp/vnc-check.XXXXXX) || exit 2
trap 'exec 3>&- 2>/dev/null; rm -rf "$work"' EXIT
trap '' PIPE
mkfifo "$work/in" || exit 2

# gvnccapture takes HOST:DISPLAY and connects to 5900 + DISPLAY (atoi: negative is fine).
display=$((port - 5900))
inner="tty >'$work/tty'; exec gvnccapture -d '$host:$display' '$work/frame.png'"
(timeout -s KILL "$TIMEOUT" script -qfec "sh -c \"$inner\"" /dev/null \
    <"$work/in" >"$work/log" 2>&1; exit $?) 2>/dev/null &
pid=$!
exec 3>"$work/in"

# Wait (bounded by the same timeout) until gvnccapture has switched echo off.
ready=0
for _ in $(seq $((TIMEOUT * 20))); do
    kill -0 "$pid" 2>/dev/null || break
    if [ -s "$work/tty" ] &&
        stty -F "$(cat "$work/tty")" -a 2>/dev/null | grep -qw -- '-echo'; then
        ready=1
        break
    fi
    sleep 0.05
done
if [ "$ready" -eq 1 ]; then
    printf '%s\n' "$password" >&3
fi
exec 3>&-
wait "$pid" 2>/dev/null
rc=$?

if [ "$rc" -eq 0 ] && [ -s "$work/frame.png" ] &&
    [ "$(head -c 8 "$work/frame.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then
    if ! grep -q "Password:" "$work/log"; then
        echo "vnc-check: $host:$port asked for no password (VNC auth is off)" >&2
        exit 3
    fi
    exit 0
fi
if grep -q 'Authentication failed' "$work/log"; then
    exit 1
fi
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "vnc-check: timed out after ${TIMEOUT}s talking to $host:$port" >&2
else
    echo "vnc-check: no verdict from $host:$port (gvnccapture exit $rc):" >&2
    sed 's/\x1b\[[0-9;]*m//g' "$work/log" | grep -E 'vncconnection.c .*(Error|error|refused)' |
        sed 's/^.*vncconnection.c /  /' | head -n 5 >&2
fi
exit 3
