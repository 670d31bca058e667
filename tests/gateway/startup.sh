#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# startup.sh - deskpool-gateway on its own (no deskpoold, no VNC): start-up
# errors are one line on stderr and exit status 1 (missing certificate,
# world-readable token file, bad --deskpoold URL, port in use...); with
# --no-tls on loopback it serves its pages with the security headers, 404s
# the rest, never logs a query string (tickets) and stops on SIGTERM.
. "$(dirname "$0")/../lib.sh"
GATEWAY=${DESKPOOL_GATEWAY:-$DP_BUILDDIR/deskpool-gateway}
[ -x "$GATEWAY" ] || fail_now "deskpool-gateway binary missing at $GATEWAY (build first)"
command -v curl >/dev/null || fail_now "curl is missing"

t_tmpdir D
WEB=$DP_SRCDIR/data/gateway
# a stand-in for noVNC's directory: only its layout matters here
mkdir -p "$D/novnc/core" "$D/novnc/vendor"
echo 'export default class RFB {}' >"$D/novnc/core/rfb.js"
printf 'gw-test-token\n' >"$D/token"
chmod 0600 "$D/token"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/key.pem" -out "$D/cert.pem" -days 1 \
    -subj /CN=localhost >/dev/null 2>&1 || fail_now "openssl cannot make a test certificate"
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
BASE=(--deskpoold http://127.0.0.1:1 --novnc-dir "$D/novnc" --web-dir "$WEB")

# expect_fail NAME PATTERN ARGS...: exit status 1 and PATTERN in a one-line stderr
expect_fail() {
    local name=$1 pattern=$2 rc
    shift 2
    timeout 10 "$GATEWAY" "$@" >"$D/out" 2>"$D/err"
    rc=$?
    if [ $rc -eq 1 ] && grep -q -- "$pattern" "$D/err" && [ "$(wc -l <"$D/err")" -eq 1 ]; then
        ok "$name"
    else
        not_ok "$name (exit $rc; stderr: $(head -c 300 "$D/err"))"
    fi
}

expect_fail "no --deskpoold" "--deskpoold URL is required" --token-file "$D/token" --no-tls
expect_fail "bad --deskpoold URL" "is not an http:// or https:// URL" \
    --deskpoold "ftp://example.org" --token-file "$D/token" --no-tls
expect_fail "--deskpoold not a URL" "is not an http:// or https:// URL" \
    --deskpoold "deskpoold:8080 x" --token-file "$D/token" --no-tls
expect_fail "no --token-file" "--token-file FILE is required" --deskpoold http://127.0.0.1:1 --no-tls
expect_fail "missing token file" "cannot read the token file" \
    "${BASE[@]}" --token-file "$D/nonexistent" --no-tls
cp "$D/token" "$D/token644"
chmod 0644 "$D/token644"
expect_fail "world-readable token file (0644) refused" "readable by everyone (mode 0644)" \
    "${BASE[@]}" --token-file "$D/token644" --no-tls
: >"$D/token-empty"
chmod 0600 "$D/token-empty"
expect_fail "empty token file" "is empty" "${BASE[@]}" --token-file "$D/token-empty" --no-tls
expect_fail "TLS without --cert/--key" "TLS needs --cert FILE and --key FILE" \
    "${BASE[@]}" --token-file "$D/token" --listen "127.0.0.1:$PORT"
expect_fail "missing certificate file" "cannot read the certificate" \
    "${BASE[@]}" --token-file "$D/token" --listen "127.0.0.1:$PORT" \
    --cert "$D/nonexistent.pem" --key "$D/key.pem"
expect_fail "bad --listen" "is not ADDR:PORT" "${BASE[@]}" --token-file "$D/token" \
    --no-tls --listen "localhost"
expect_fail "bad --max-streams" "--max-streams expects a number" "${BASE[@]}" \
    --token-file "$D/token" --no-tls --max-streams 0
expect_fail "bad --log-level" "unknown log level" "${BASE[@]}" --token-file "$D/token" \
    --no-tls --log-level loud
expect_fail "missing --web-dir" "cannot read the page directory" --deskpoold http://127.0.0.1:1 \
    --novnc-dir "$D/novnc" --web-dir "$D/nonexistent" --token-file "$D/token" --no-tls

# a plain-HTTP gateway on loopback
"$GATEWAY" "${BASE[@]}" --token-file "$D/token" --no-tls --listen "127.0.0.1:$PORT" \
    --log-level debug >"$D/gw.log" 2>&1 &
GW_PID=$!
T_DAEMON_PIDS+=("$GW_PID")
URL=http://127.0.0.1:$PORT
wait_for 10 curl -s -o /dev/null "$URL/ended" || fail_now "the gateway did not come up: $(tail -n 5 "$D/gw.log")"
check "--no-tls logs a warning" grep -q "warning: --no-tls" "$D/gw.log"

expect_fail "port in use" "cannot listen on 127.0.0.1:$PORT: Address already in use" \
    "${BASE[@]}" --token-file "$D/token" --no-tls --listen "127.0.0.1:$PORT"

TICKET=tEsTtIcKeT0123456789abcdefghijklmnopqrstuvw
curl -s -D "$D/h" -o "$D/body" "$URL/desktop?ticket=$TICKET"
check "GET /desktop is 200" grep -q "^HTTP/1.1 200" "$D/h"
check "/desktop loads desktop.js" grep -q 'src="/desktop.js"' "$D/body"
for h in "cache-control: no-store" "referrer-policy: no-referrer" "x-frame-options: DENY" \
    "content-security-policy: default-src 'self'" "x-content-type-options: nosniff"; do
    check "/desktop has '$h'" grep -qi "^$h" "$D/h"
done
check "/desktop.js is JavaScript" \
    test "$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "$URL/desktop.js")" = \
    "200 text/javascript; charset=utf-8"
check "noVNC is served under /novnc/core/" \
    test "$(curl -s -o /dev/null -w '%{http_code}' "$URL/novnc/core/rfb.js")" = 200
check "nothing else of the noVNC directory" \
    test "$(curl -s -o /dev/null -w '%{http_code}' "$URL/novnc/vnc.html")" = 404

ended() { curl -s "$URL/ended$1"; }
check "/ended: session ended" grep -q 'data-reason="ended"' <(ended "")
check "/ended: its message" grep -q '<p id="message">Your desktop session has ended.</p>' <(ended "")
check "/ended?reason=ticket" grep -q 'data-reason="ticket"' <(ended "?reason=ticket")
check "/ended?reason=ticket: its message" grep -q 'no longer valid: it was already used' \
    <(ended "?reason=ticket")
check "/ended?reason=lost" grep -q 'The connection to your desktop was lost.' <(ended "?reason=lost")
check "/ended?reason=other is the default" grep -q 'data-reason="ended"' <(ended "?reason=x")
curl -s -D "$D/h404" -o /dev/null "$URL/etc/passwd"
check "unknown path is 404" grep -q "^HTTP/1.1 404" "$D/h404"
check "a 404 has the headers too" grep -qi "^x-frame-options: DENY" "$D/h404"
check "a websocket elsewhere than /console is refused" \
    test "$(curl -s -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
        -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
        "$URL/other?ticket=$TICKET")" != 101

check "the ticket is never logged" bash -c "! grep -q '$TICKET' '$D/gw.log'"
check "no query string is logged" bash -c "! grep -q 'ticket=' '$D/gw.log'"
check "the token is never logged" bash -c "! grep -q gw-test-token '$D/gw.log'"

kill -TERM "$GW_PID"
rc=0
wait "$GW_PID" || rc=$?
check "SIGTERM: exit status 0" test "$rc" = 0
check "SIGTERM: logs its stop" grep -q "deskpool-gateway stopped" "$D/gw.log"
t_finish
