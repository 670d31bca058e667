#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# console.sh [RUNS] - desktops in the browser: what the console gateway costs.
#
# Real libvirtd + QEMU (TCG here) with the tiny guest; one deskpoold with a
# floating pool "bench" of DESKS instant clones (default 8), TCP with broker,
# reader and gateway tokens, console_gateway_url on a real deskpool-gateway
# (TLS, a self-signed certificate made here), and Debian's websockify 0.10
# with its TokenFile plugin. bench/console.py measures:
#
#   first frame (RUNS times, default 10; medians): the broker's acquire, then
#     headless Chromium opens browser_url until noVNC drew the first frame,
#     split into: page load, websocket connect (TLS and upgrade), ticket check
#     (the gateway's redeem with deskpoold), VNC connect and authentication
#     (the gateway to QEMU), the RFB handshake to the browser, the first
#     frame after ServerInit. Baseline in the same run: the same acquire,
#     then an RFB client straight to the console over TCP with the acquire's
#     password until its first full frame (no browser, no gateway).
#   streams (DP_STREAMS, default "25 50 100 200"): that many RFB clients at
#     once through the gateway, each one's ticket redeemed, its handshake
#     done, asking for updates every second; the gateway's memory (Pss) per
#     stream. Baseline in the same run: the same streams through websockify
#     (the clients do VNC auth themselves there), all of its processes.
#
# Needs root and libvirtd; installs python3-websocket, websockify and
# python3-cryptography when missing. Prints its figures and ratios.
set -euo pipefail
runs=${1:-10}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${DP_BUILDDIR:-$top/build}
GUEST=/var/lib/deskpool/tiny-guest
PY=${DP_PYTHON:-/usr/bin/python3}
DESKS=${DP_DESKS:-8}
work=$(mktemp -d /var/tmp/deskpool-bench.XXXXXX)
chmod 755 "$work"
inst=bcon$$
port=$((20000 + ($$ + 3319) % 20000))
gwport=$((port + 1))
wsport=$((port + 2))
V=(virsh -q -c qemu:///system)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    for d in $("${V[@]}" list --all --name | grep "^$inst\\." || true); do
        "${V[@]}" destroy "$d" >/dev/null 2>&1 || true
        "${V[@]}" undefine --snapshots-metadata "$d" >/dev/null 2>&1 || true
    done
    "${V[@]}" pool-destroy "$inst" >/dev/null 2>&1 || true
    "${V[@]}" pool-undefine "$inst" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

missing=()
"$PY" -c 'import websocket' 2>/dev/null || missing+=(python3-websocket)
"$PY" -c 'import cryptography' 2>/dev/null || missing+=(python3-cryptography)
command -v websockify >/dev/null || missing+=(websockify)
if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
        { echo "console: cannot install ${missing[*]}" >&2; exit 1; }
fi
"$top/tests/guest/build-guest.sh" --out "$GUEST" >/dev/null

tok() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
hash() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
broker=b-$(tok)
reader=r-$(tok)
gwtok=g-$(tok)
{
    echo "broker $(hash "$broker")"
    echo "reader $(hash "$reader")"
    echo "gateway $(hash "$gwtok")"
} >"$work/tokens"
(umask 077; echo "$gwtok" >"$work/gateway.token")
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$work/gw.key" -out "$work/gw.crt" \
    >/dev/null 2>&1
touch "$work/none.conf"
"$B/deskpoold" --foreground --config "$work/none.conf" --uri qemu:///system \
    --state-dir "$work/state" --socket "$work/sock" --instance "$inst" \
    --templates-dir "$top/templates" --listen "127.0.0.1:$port" \
    --set tokens_file="$work/tokens" --set storage_pool="$inst" \
    --set storage_dir="$work/overlays" --set hooks_dir="$work/no-hooks" \
    --set virt_type=qemu --set reconcile_interval=1 --set max_concurrent=4 \
    --set console_gateway_url="https://127.0.0.1:$gwport" --log-level notice \
    >"$work/daemon.log" 2>&1 &
pids+=($!)
"$B/deskpool-gateway" --listen "127.0.0.1:$gwport" --cert "$work/gw.crt" --key "$work/gw.key" \
    --deskpoold "http://127.0.0.1:$port" --token-file "$work/gateway.token" \
    --web-dir "$top/data/gateway" --novnc-dir /usr/share/novnc --log-level info \
    >"$work/gateway.log" 2>&1 &
gw_pid=$!
pids+=($gw_pid)
: >"$work/wsfy.tokens"
websockify --token-plugin TokenFile --token-source "$work/wsfy.tokens" \
    "127.0.0.1:$wsport" >"$work/websockify.log" 2>&1 &
ws_pid=$!
pids+=($ws_pid)

api() {
    local args=(-sf --max-time 60 --unix-socket "$work/sock" -X "$1")
    [ $# -gt 2 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    curl "${args[@]}" "http://localhost$2"
}
for _ in $(seq 1 100); do api GET /healthz >/dev/null 2>&1 && break; sleep 0.1; done
api POST /v1/images "{\"name\":\"tiny\",\"path\":\"$GUEST/golden-v1.qcow2\"}" >/dev/null
api POST /v1/pools "{\"name\":\"bench\",\"image\":\"tiny\",\"template\":\"tiny\",\"min\":$DESKS,\"spare\":2,\"max\":$((DESKS + 4))}" >/dev/null
echo "console: waiting for $DESKS instant clones (untimed)"
"$B/deskpoolctl" --socket "$work/sock" pool wait bench --timeout 600 >/dev/null

DP_URL=http://127.0.0.1:$port DP_GW=https://127.0.0.1:$gwport DP_BROKER=$broker \
    DP_READER=$reader DP_GATEWAY_TOKEN=$gwtok DP_GW_LOG=$work/gateway.log DP_GW_PID=$gw_pid \
    DP_WEBSOCKIFY=ws://127.0.0.1:$wsport DP_WEBSOCKIFY_TOKENS=$work/wsfy.tokens \
    DP_WEBSOCKIFY_PID=$ws_pid DP_RUNS=$runs DP_DESKS=$DESKS DP_WORK=$work \
    PYTHONDONTWRITEBYTECODE=1 "$PY" -u "$top/bench/console.py"
