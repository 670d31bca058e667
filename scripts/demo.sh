#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# demo.sh - from a fresh Debian 12 (as root) to a working demo pool.
#
# Installs the packages, builds and installs deskpool, starts virtlogd and
# libvirtd if needed, builds the tiny test guest, starts deskpoold (its
# systemd unit where systemd runs, by hand otherwise), registers
# the guest as image "demo", creates the floating pool "demo" (min 3, spare 2,
# max 5) and shows it filling up until its desktops are ready. Then the
# browser side: deskpoold's REST API on TCP port 8420 with tokens, the
# console gateway on port 6443 (TLS with a self-signed certificate made
# here), a demo session and the URL that opens its desktop in a browser,
# and the operator dashboard's URL with a reader token.
#
# What it writes under /etc/deskpool, only when absent (the files stay the
# administrator's afterwards): deskpoold.conf (listen, console_gateway_url),
# tokens (the hashes), demo-tokens (the demo's plain tokens, 0600: to print
# them again), gateway/ (certificate, key, the gateway's token, 0600).
# Idempotent: run it again and it shows the pool as it is, with a new URL
# (a ticket is used once, within console_ticket_ttl).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
GUEST=/var/lib/deskpool/tiny-guest
SOCK=/run/deskpool/deskpoold.sock
ETC=/etc/deskpool
API_PORT=8420
GW_PORT=6443

"$top/scripts/setup-host.sh"
"$top/scripts/build.sh"
make -C "$top/build" -s install >/dev/null
echo "demo: deskpoold and deskpoolctl installed in /usr/local/bin"
"$top/tests/guest/build-guest.sh" --out "$GUEST"

# ---------------------------------------------------------------- configuration
# the address a browser on another machine reaches this one at
addr=$(hostname -I 2>/dev/null | awk '{print $1}')
addr=${addr:-127.0.0.1}
install -d -m 0755 "$ETC"
install -d -m 0700 "$ETC/gateway"
if [ ! -f "$ETC/demo-tokens" ]; then
    (
        umask 077
        for role in broker reader gateway; do
            echo "$role $(openssl rand -hex 24)"
        done >"$ETC/demo-tokens"
    )
fi
token_of() { awk -v r="$1" '$1 == r {print $2}' "$ETC/demo-tokens"; }
for role in broker reader gateway; do
    h=$(printf %s "$(token_of $role)" | sha256sum | cut -d' ' -f1)
    grep -qs "$h" "$ETC/tokens" || echo "$role $h deskpool demo" >>"$ETC/tokens"
done
chmod 0600 "$ETC/tokens"
if [ ! -f "$ETC/gateway/token" ]; then
    (umask 077; token_of gateway >"$ETC/gateway/token")
fi
if [ ! -f "$ETC/gateway/cert.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$(hostname)" \
        -addext "subjectAltName=DNS:$(hostname),DNS:localhost,IP:$addr,IP:127.0.0.1" \
        -keyout "$ETC/gateway/key.pem" -out "$ETC/gateway/cert.pem" >/dev/null 2>&1
    chmod 0600 "$ETC/gateway/key.pem"
    echo "demo: made a self-signed certificate for the gateway ($ETC/gateway/cert.pem)"
fi
restart=0
if [ ! -f "$ETC/deskpoold.conf" ]; then
    cat >"$ETC/deskpoold.conf" <<EOF
# deskpoold.conf - written by deskpool's scripts/demo.sh (docs/config.md)
listen = 0.0.0.0:$API_PORT
tokens_file = $ETC/tokens
console_gateway_url = https://$addr:$GW_PORT
EOF
    echo "demo: wrote $ETC/deskpoold.conf (REST on port $API_PORT, the gateway's URL)"
    restart=1
fi

if [ "$restart" = 1 ] && deskpoolctl --socket "$SOCK" health >/dev/null 2>&1; then
    # listen cannot be reloaded: a deskpoold started before the file restarts
    echo "demo: restarting deskpoold for its new configuration"
    if [ -d /run/systemd/system ]; then
        systemctl stop deskpoold.service
    else
        pkill -TERM -f "^deskpoold --socket $SOCK\$" || true
        for _ in $(seq 1 100); do
            deskpoolctl --socket "$SOCK" health >/dev/null 2>&1 || break
            sleep 0.1
        done
    fi
fi
if ! deskpoolctl --socket "$SOCK" health >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
        # make install put deskpoold.service into systemd's unit directory
        echo "demo: starting deskpoold.service (log: journalctl -u deskpoold)"
        systemctl daemon-reload
        systemctl enable --now deskpoold.service
        for _ in $(seq 1 100); do
            deskpoolctl --socket "$SOCK" health >/dev/null 2>&1 && break
            sleep 0.2
        done
    else
        echo "demo: starting deskpoold (log: /var/lib/deskpool/deskpoold.log)"
        deskpoold --socket "$SOCK"
    fi
fi
deskpoolctl health
if ! deskpoolctl image show demo >/dev/null 2>&1; then
    deskpoolctl image add demo "$GUEST/golden-v1.qcow2" --note "tiny demo guest"
fi
if ! deskpoolctl pool show demo >/dev/null 2>&1; then
    deskpoolctl pool create demo --image demo --template tiny --mode floating \
        --min 3 --spare 2 --max 5
fi
deskpoolctl pool wait demo
deskpoolctl pool show demo

# ---------------------------------------------------------------- the browser side
if ! curl -skf -o /dev/null --max-time 3 "https://127.0.0.1:$GW_PORT/ended"; then
    echo "demo: starting deskpool-gateway on port $GW_PORT (log: /var/log/deskpool-gateway.log)"
    nohup deskpool-gateway --listen "0.0.0.0:$GW_PORT" \
        --cert "$ETC/gateway/cert.pem" --key "$ETC/gateway/key.pem" \
        --deskpoold "http://127.0.0.1:$API_PORT" --token-file "$ETC/gateway/token" \
        >>/var/log/deskpool-gateway.log 2>&1 </dev/null &
    for _ in $(seq 1 50); do
        curl -skf -o /dev/null --max-time 1 "https://127.0.0.1:$GW_PORT/ended" && break
        sleep 0.2
    done
fi
# a session for a demo physician (the same one again on a re-run, with a new
# ticket): what the hospital's portal does when she logs in
answer=$(curl -sf -H "Authorization: Bearer $(token_of broker)" \
    -H 'Content-Type: application/json' -d '{"user":"demo.physician","client":"demo.sh"}' \
    "http://127.0.0.1:$API_PORT/v1/pools/demo/sessions")
url=$(printf %s "$answer" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["connection"]["browser_url"])')
cat <<EOF

The demo desktop in a browser. The link works once, within a minute; the
certificate is self-signed (accept it); run scripts/demo.sh again for a new link:
    $url
The operator dashboard (reader token $(token_of reader)):
    http://$addr:$API_PORT/ui/
EOF
