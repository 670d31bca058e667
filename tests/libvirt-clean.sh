#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# libvirt-clean.sh - remove what a test left on a libvirt host, by name.
#
#   libvirt-clean.sh [--uri URI] [--quiet] PREFIX...
#
# For each PREFIX (a test's instance name, or hvdev for the C tests):
#   - every domain named PREFIX.* or PREFIX-* is destroyed and undefined,
#     with its snapshot metadata and managed-save image;
#   - every storage pool named PREFIX or PREFIX-* has its volumes deleted,
#     is destroyed, its directory removed when it is empty, and undefined.
# Prints one line per object removed (none with --quiet). Exits 0 when
# nothing with these names is left, 1 otherwise (the survivors are listed).
# Refuses the prefix 'deskpool': that is the default instance, a real
# daemon's, never a test's. URI defaults to qemu:///system.
set -u

uri=qemu:///system
quiet=0
while [ $# -gt 0 ]; do
    case "$1" in
        --uri) uri=$2; shift 2 ;;
        --quiet) quiet=1; shift ;;
        --) shift; break ;;
        -*) echo "libvirt-clean: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || { echo "usage: libvirt-clean.sh [--uri URI] [--quiet] PREFIX..." >&2; exit 2; }

v() { virsh -q -c "$uri" "$@"; }
say() { [ $quiet = 1 ] || echo "libvirt-clean: $*"; }

# matching KIND PREFIX: the names of domains or pools this prefix owns.
matching() {
    local kind=$1 prefix=$2
    if [ "$kind" = domain ]; then
        v list --all --name 2>/dev/null
    else
        v pool-list --all --name 2>/dev/null
    fi | awk -v p="$prefix" -v k="$kind" 'NF &&
        (index($1, p ".") == 1 || index($1, p "-") == 1 || (k == "pool" && $1 == p)) { print $1 }'
}

clean_domain() {
    local d=$1
    v destroy "$d" >/dev/null 2>&1
    v undefine --snapshots-metadata --managed-save "$d" >/dev/null 2>&1 ||
        v undefine "$d" >/dev/null 2>&1
    v dominfo "$d" >/dev/null 2>&1 || say "removed domain $d"
}

clean_pool() {
    local p=$1 vol n=0
    # an inactive pool lists no volumes: start it (fails when its directory is gone)
    v pool-start "$p" >/dev/null 2>&1
    v pool-refresh "$p" >/dev/null 2>&1
    while read -r vol _; do
        [ -n "$vol" ] || continue
        v vol-delete --pool "$p" "$vol" >/dev/null 2>&1 && n=$((n + 1))
    done < <(v vol-list "$p" 2>/dev/null)
    v pool-destroy "$p" >/dev/null 2>&1
    v pool-delete "$p" >/dev/null 2>&1 # rmdir: only when empty
    v pool-undefine "$p" >/dev/null 2>&1
    v pool-info "$p" >/dev/null 2>&1 || say "removed storage pool $p ($n volumes)"
}

rc=0
for prefix in "$@"; do
    case "$prefix" in
        deskpool|"") echo "libvirt-clean: refusing prefix '$prefix'" >&2; rc=1; continue ;;
    esac
    # domains first: a running domain keeps its volumes busy
    for d in $(matching domain "$prefix"); do clean_domain "$d"; done
    for p in $(matching pool "$prefix"); do clean_pool "$p"; done
    left=$( { matching domain "$prefix"; matching pool "$prefix"; } | tr '\n' ' ')
    if [ -n "$left" ]; then
        echo "libvirt-clean: could not remove: $left" >&2
        rc=1
    fi
done
exit $rc
