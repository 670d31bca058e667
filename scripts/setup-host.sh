#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# setup-host.sh - make a Debian 12 host ready to build, test and run deskpool.
#
# Installs the Debian packages deskpool needs (only those missing), starts
# virtlogd and libvirtd when they are not running (no systemd needed) and
# waits until libvirt answers. Quiet and idempotent: safe to run every time.
set -euo pipefail

PACKAGES=(
    build-essential autoconf automake libtool pkg-config
    libvirt-daemon-system libvirt-clients libvirt-dev
    qemu-system-x86 qemu-utils
    libxml2-dev libcurl4-openssl-dev libjson-c-dev uuid-dev
    libmicrohttpd-dev libsqlite3-dev libssl-dev
    cpio e2fsprogs busybox-static qemu-guest-agent
    curl python3 valgrind
    clang clang-tools libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup-host: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libvirt without systemd: start the daemons by hand when they are not up.
if ! virsh -c qemu:///system version >/dev/null 2>&1; then
    pgrep -x virtlogd >/dev/null || virtlogd -d
    pgrep -x libvirtd >/dev/null || libvirtd -d
    for _ in $(seq 1 50); do
        virsh -c qemu:///system version >/dev/null 2>&1 && break
        sleep 0.2
    done
    virsh -c qemu:///system version >/dev/null 2>&1 || {
        echo "setup-host: libvirtd does not answer on qemu:///system" >&2
        exit 1
    }
fi
