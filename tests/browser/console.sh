#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# console.sh - desktops in a real browser through the console gateway:
# headless Chromium (tests/browser/browser.py) opens an acquire's browser_url
# on a real deskpool-gateway (TLS, self-signed certificate made here) in
# front of a real deskpoold on qemu:///system with the tiny guest (its VGA
# banner). console.py does the checks:
#   - the noVNC canvas shows the desktop's screen: it matches libvirt's own
#     screenshot of that domain (virDomainScreenshot);
#   - a ticket is refused when used twice, expired, forged or malformed,
#     and the page says so; the gateway never opened a VNC connection for
#     any of them;
#   - releasing a session closes its open console at once (a dedicated
#     desktop, which keeps running: only the gateway's watch can close it)
#     and the page shows "session ended";
#   - the gateway drops a hand-made client's clipboard messages (logged
#     once), the desktop still answers, and an unknown message type closes
#     the stream with 1008;
#   - no ticket or VNC password in the logs of deskpoold, the gateway,
#     libvirtd or QEMU.
# Needs root, libvirtd, chromium, chromium-driver, python3-selenium,
# python3-pil and novnc (scripts/setup-host.sh installs them). ~2 min.
. "$(dirname "$0")/../lib.sh"
t_require_qemu
t_require_binaries
export DP_URI=qemu:///system
export DP_TEMPLATES=$DP_SRCDIR/templates
GUEST=/var/lib/deskpool/tiny-guest
GATEWAY=${DESKPOOL_GATEWAY:-$DP_BUILDDIR/deskpool-gateway}
DP_PYTHON=${DP_PYTHON:-/usr/bin/python3}
[ -x "$GATEWAY" ] || fail_now "deskpool-gateway binary missing at $GATEWAY (build first)"
[ -x "$DP_PYTHON" ] || fail_now "$DP_PYTHON is missing (apt-get install python3)"
[ -f /usr/share/novnc/core/rfb.js ] || fail_now "noVNC is missing (apt-get install novnc)"
"$DP_PYTHON" -c 'import PIL' 2>/dev/null || fail_now "python3-pil is missing (apt-get install python3-pil)"
command -v openssl >/dev/null || fail_now "openssl is missing (apt-get install openssl)"
"$DP_SRCDIR/tests/guest/build-guest.sh" --out "$GUEST" >/dev/null || fail_now "tiny guest build failed"

t_instance inst brc
t_tmpdir dir
port=$((20000 + ($$ + 1237) % 20000))
gwport=$((port + 1))
t_tokens "$dir/tokens" broker=broker reader=reader gateway=gwtok
printf '%s\n' "$gwtok" >"$dir/gateway.token"
chmod 0600 "$dir/gateway.token"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$dir/gw.key" -out "$dir/gw.crt" \
    >/dev/null 2>&1 || fail_now "openssl could not make a certificate"
printf 'console_gateway_url = https://127.0.0.1:%s\nconsole_ticket_ttl = 60\n' "$gwport" \
    >"$dir/dp.conf"
dp_start "$dir" "$inst" --config "$dir/dp.conf" --listen "127.0.0.1:$port" \
    --set virt_type=qemu --set reconcile_interval=1 --set boot_timeout=90 \
    || fail_now "deskpoold did not start"
dp_pid=$DP_PID

"$GATEWAY" --listen "127.0.0.1:$gwport" --cert "$dir/gw.crt" --key "$dir/gw.key" \
    --deskpoold "http://127.0.0.1:$port" --token-file "$dir/gateway.token" \
    --web-dir "$DP_SRCDIR/data/gateway" --novnc-dir /usr/share/novnc \
    >>"$dir/gateway.log" 2>&1 &
gw_pid=$!
T_DAEMON_PIDS+=("$gw_pid")
gw_up() { curl -sk -o /dev/null --max-time 2 "https://127.0.0.1:$gwport/ended"; }
wait_for 10 gw_up || { tail -20 "$dir/gateway.log"; fail_now "the gateway did not start"; }

api POST /v1/images "{\"name\":\"tiny\",\"path\":\"$GUEST/golden-v1.qcow2\"}"
[ "$STATUS" = 201 ] || fail_now "image not added: $STATUS $BODY"
api POST /v1/pools '{"name":"web","image":"tiny","template":"tiny","mode":"floating","min":2,"spare":0,"max":2}'
[ "$STATUS" = 201 ] || fail_now "pool web not created: $STATUS $BODY"
api POST /v1/pools '{"name":"ded","image":"tiny","template":"tiny","mode":"dedicated","min":1,"spare":0,"max":1}'
[ "$STATUS" = 201 ] || fail_now "pool ded not created: $STATUS $BODY"
ready_is() { api GET "/v1/pools/$1"; [ "$(jget "$BODY" "d['counts']['ready']")" -ge "$2" ]; }
wait_for 240 ready_is web 2 || fail_now "pool web not ready: $BODY"
wait_for 240 ready_is ded 1 || fail_now "pool ded not ready: $BODY"

PYTHONDONTWRITEBYTECODE=1 DP_URL=http://127.0.0.1:$port DP_GW=https://127.0.0.1:$gwport \
    DP_BROKER=$broker DP_READER=$reader DP_GATEWAY_TOKEN=$gwtok DP_CONF=$dir/dp.conf \
    DP_PID=$dp_pid DP_LOG=$dir/daemon.log DP_GW_LOG=$dir/gateway.log DP_ARTIFACTS=$dir \
    "$DP_PYTHON" -u "$(dirname "$0")/console.py" 2>&1 | tee "$dir/console.out" |
    grep -Ev '^[0-9]+ passed, [0-9]+ failed$'
rc=${PIPESTATUS[0]}
T_PASSED=$((T_PASSED + $(grep -c '^ok ' "$dir/console.out")))
T_FAILED=$((T_FAILED + $(grep -c '^not ok ' "$dir/console.out")))
if [ "$rc" -ne 0 ] && ! grep -q '^not ok ' "$dir/console.out"; then
    not_ok "console.py exited with $rc"
fi
if [ "$T_FAILED" -gt 0 ]; then
    echo "# gateway log:"; tail -n 30 "$dir/gateway.log" | sed 's/^/#   /'
    for f in "$dir"/console-*.png; do
        [ -f "$f" ] && cp "$f" "${DP_BUILDDIR:-.}/" 2>/dev/null && echo "# kept $(basename "$f")"
    done
fi
t_finish
