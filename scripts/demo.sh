#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# demo.sh - from a fresh Debian 12 (as root) to a working demo pool.
#
# Installs the packages, builds and installs deskpool, starts virtlogd and
# libvirtd if needed, builds the tiny test guest, starts deskpoold (its
# systemd unit where systemd runs, by hand otherwise), registers
# the guest as image "demo", creates the floating pool "demo" (min 3, spare 2,
# max 5) and shows it filling up until its desktops are ready. Idempotent:
# run it again and it shows the pool as it is.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
GUEST=/var/lib/deskpool/tiny-guest
SOCK=/run/deskpool/deskpoold.sock

"$top/scripts/setup-host.sh"
"$top/scripts/build.sh"
make -C "$top/build" -s install >/dev/null
echo "demo: deskpoold and deskpoolctl installed in /usr/local/bin"
"$top/tests/guest/build-guest.sh" --out "$GUEST"

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
