#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# setup-host.sh - make a Debian 12 host ready to build, test and run deskpool.
#
# Installs the Debian packages deskpool needs (only those missing), makes
# /dev/kvm usable by QEMU (below), starts virtlogd and libvirtd when they are
# not running (no systemd needed) and waits until libvirt answers. Quiet and
# idempotent: safe to run every time; it prints one line per thing it changed.
#
# /dev/kvm: on some hosts of this kind it is root:root 0600, so QEMU (run by
# libvirt as libvirt-qemu) cannot open it. libvirt 9.0 then finds "KVM was
# enabled when probing, but it is not available now" on every lookup and
# re-probes QEMU's capabilities each time (~4 s; a define took 30-60 s).
# The fix is Debian's default, root:kvm 0660 with libvirt-qemu in group kvm.
# libvirt notices the change by itself (it keys its KVM check on /dev/kvm's
# ctime); only when libvirt is still slow after the fix is libvirtd restarted
# with its capability cache removed. Running guests survive the restart.
#
#   --restart-libvirtd   restart libvirtd (and drop its capability cache) anyway
set -euo pipefail

PACKAGES=(
    build-essential autoconf automake libtool pkg-config
    libvirt-daemon-system libvirt-clients libvirt-dev
    qemu-system-x86 qemu-utils
    libxml2-dev libcurl4-openssl-dev libjson-c-dev uuid-dev
    libmicrohttpd-dev libsqlite3-dev libssl-dev
    cpio e2fsprogs busybox-static qemu-guest-agent
    curl python3 valgrind
    openssh-server openssh-client
    libwebsockets-dev novnc openssl
    chromium chromium-driver python3-selenium python3-pil
    clang clang-tools libclang-rt-14-dev
)
URI=qemu:///system
CAPS_CACHE=/var/cache/libvirt/qemu/capabilities

force_restart=0
case "${1:-}" in
    --restart-libvirtd) force_restart=1 ;;
    "") ;;
    *) echo "usage: setup-host.sh [--restart-libvirtd]" >&2; exit 2 ;;
esac

say() { echo "setup-host: $*"; }

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The user QEMU runs as: qemu.conf's user = "..." or libvirt's default.
qemu_user() {
    local u
    u=$(sed -n 's/^[[:space:]]*user[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' \
        /etc/libvirt/qemu.conf 2>/dev/null | tail -n 1)
    echo "${u:-libvirt-qemu}"
}

# kvm_usable USER: USER (with its groups) may read and write /dev/kvm.
kvm_usable() {
    setpriv --reuid="$1" --regid="$(id -g "$1")" --init-groups \
        test -r /dev/kvm -a -w /dev/kvm 2>/dev/null
}

# fix_kvm: make /dev/kvm usable by QEMU the Debian way. Sets kvm_changed=1
# when it changed anything.
kvm_changed=0
fix_kvm() {
    local user before
    [ -c /dev/kvm ] || return 0            # no KVM at all: TCG, nothing to fix
    user=$(qemu_user)
    case "$user" in +*|root) return 0 ;; esac  # a numeric or root QEMU user
    id "$user" >/dev/null 2>&1 || return 0 # libvirt not installed (yet)
    kvm_usable "$user" && return 0
    if ! getent group kvm >/dev/null; then
        groupadd --system kvm
        say "created group kvm (QEMU opens /dev/kvm through it)"
        kvm_changed=1
    fi
    if ! id -nG "$user" | tr ' ' '\n' | grep -qx kvm; then
        usermod -a -G kvm "$user"
        say "added $user to group kvm (QEMU runs as $user and opens /dev/kvm through it)"
        kvm_changed=1
    fi
    if ! kvm_usable "$user"; then
        before=$(stat -c '%U:%G 0%a' /dev/kvm)
        chgrp kvm /dev/kvm
        chmod 0660 /dev/kvm
        say "/dev/kvm was $before, which $user (QEMU) cannot open, so libvirt re-probed QEMU on every call (~4 s each): made it root:kvm 0660, Debian's default"
        kvm_changed=1
    fi
}

libvirt_answers() { virsh -c "$URI" version >/dev/null 2>&1; }

wait_libvirt() {
    for _ in $(seq 1 150); do
        libvirt_answers && return 0
        sleep 0.2
    done
    say "libvirtd does not answer on $URI" >&2
    return 1
}

# libvirt_slow: a capabilities lookup takes more than 2 s (it takes ~0.02 s
# when the capability cache is valid, ~4 s when libvirt re-probes QEMU).
libvirt_slow() {
    local t0 ms
    t0=$(date +%s%N)
    virsh -c "$URI" domcapabilities >/dev/null 2>&1 || return 1
    ms=$((($(date +%s%N) - t0) / 1000000))
    [ "$ms" -gt 2000 ]
}

# restart_libvirtd WHY: stop libvirtd (systemd's or the one started by hand,
# by its pid: QEMU processes of running guests are not touched and libvirtd
# reattaches to them), drop the cached QEMU capabilities, start it again.
restart_libvirtd() {
    local pids pid
    if [ -d /run/systemd/system ]; then
        systemctl stop libvirtd.service
        rm -f "$CAPS_CACHE"/*.xml
        systemctl start libvirtd.service
    else
        pids=$(pgrep -x libvirtd || true)
        for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
        for pid in $pids; do
            for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            if kill -0 "$pid" 2>/dev/null; then
                say "libvirtd ($pid) did not stop within 30 s; not restarting it" >&2
                return 1
            fi
        done
        rm -f "$CAPS_CACHE"/*.xml
        libvirtd -d
    fi
    wait_libvirt
    say "restarted libvirtd and removed its cached QEMU capabilities ($1)"
}

fix_kvm

# libvirt without systemd: start the daemons by hand when they are not up.
if ! libvirt_answers; then
    pgrep -x virtlogd >/dev/null || virtlogd -d
    pgrep -x libvirtd >/dev/null || libvirtd -d
    wait_libvirt
fi

if [ $force_restart = 1 ]; then
    restart_libvirtd "asked for with --restart-libvirtd"
elif [ $kvm_changed = 1 ] && libvirt_slow; then
    restart_libvirtd "a capabilities lookup still took over 2 s after the /dev/kvm fix"
fi
