#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# permissions.sh - issue 11 #14: what deskpoold keeps on disk is not for
# other local users. A fresh state directory is 0700, or 0711 when the
# images or the overlays live below it (QEMU must pass through; measured in
# docs/internals/images.md); the store, its -wal and -shm, the lock and the
# log are 0600; golden images are 0400 in a 0711 directory. Modes an older
# deskpool left are tightened at startup, each with a log line.
# Real daemon on libvirt's test:///default driver.
. "$(dirname "$0")/../lib.sh"
t_require_binaries

mode() { stat -c %a "$1"; }
# modes_are MODE FILE...: every FILE exists and has MODE.
modes_are() {
    local want=$1 f
    shift
    for f in "$@"; do
        [ "$(mode "$f" 2>/dev/null)" = "$want" ] || { echo "  $f: $(mode "$f" 2>&1), not $want"; return 1; }
    done
}

# --- a fresh state directory, images below it (the default layout) ---
t_tmpdir dir
st=$dir/state
dp_start "$dir" "perm$$" || fail_now "deskpoold did not start"
check "fresh state dir with images_dir below it: 0711" modes_are 711 "$st"
check "store, -wal, -shm and lock: 0600" \
    modes_are 600 "$st/deskpool.db" "$st/deskpool.db-wal" "$st/deskpool.db-shm" "$st/deskpoold.lock"
make_qcow2 "$dir/g.qcow2"
api POST /v1/images "{\"name\":\"g\",\"path\":\"$dir/g.qcow2\"}"
check "image added" [ "$STATUS" = 201 ]
check "images dir 0711" modes_are 711 "$st/images"
check "golden image 0400 (read-only, owner only)" modes_are 400 "$st/images/g-v1.qcow2"
check "a fresh start changes no mode" bash -c "! grep -q 'had mode' '$dir/daemon.log'"
dp_stop || fail_now "daemon did not stop"

# --- what an older deskpool left is tightened, with a log line each ---
chmod 0755 "$st"
chmod 0644 "$st/deskpool.db" "$st/deskpoold.lock"
[ -e "$st/deskpool.db-wal" ] && chmod 0644 "$st/deskpool.db-wal"
[ -e "$st/deskpool.db-shm" ] && chmod 0644 "$st/deskpool.db-shm"
printf 'old log\n' >"$st/deskpoold.log"
chmod 0644 "$st/deskpoold.log"
chmod 0755 "$st/images"
chmod 0444 "$st/images/g-v1.qcow2"
dp_start "$dir" "perm$$" --set log_file="$st/deskpoold.log" || fail_now "restart failed"
check "state dir 0755 tightened to 0711" modes_are 711 "$st"
check "store, -wal, -shm, lock and log tightened to 0600" modes_are 600 "$st/deskpool.db" \
    "$st/deskpool.db-wal" "$st/deskpool.db-shm" "$st/deskpoold.lock" "$st/deskpoold.log"
check "log line for the state dir" grep -q "State directory '$st' had mode 0755, now 0711" "$st/deskpoold.log"
check "log line for the store" grep -q "'$st/deskpool.db' had mode 0644, now 0600" "$st/deskpoold.log"
check "images dir 0755 tightened to 0711, golden 0444 to 0400" \
    bash -c "[ \"\$(stat -c %a '$st/images'):\$(stat -c %a '$st/images/g-v1.qcow2')\" = 711:400 ]"
check "log line for the images dir" \
    grep -q "Took group and other access off 2 entries of '$st/images'" "$st/deskpoold.log"
check "the image still works after the restart" api GET /v1/images/g
dp_stop || fail_now "daemon did not stop"

# --- images and overlays elsewhere: nobody needs to pass, 0700 ---
t_tmpdir dir2
dp_start "$dir2" "perm2$$" --set images_dir="$dir2/images" || fail_now "daemon 2 did not start"
check "state dir with images and overlays elsewhere: 0700" modes_are 700 "$dir2/state"
check "its store is 0600" modes_are 600 "$dir2/state/deskpool.db"
dp_stop || fail_now "daemon 2 did not stop"

# --- parents the daemon makes get the state directory's mode, whatever the umask ---
t_tmpdir dir3
dp_start "$dir3" "perm3$$" --state-dir "$dir3/a/b/state" || fail_now "daemon 3 did not start"
check "missing parents made 0711 (images below the state dir)" \
    modes_are 711 "$dir3/a" "$dir3/a/b" "$dir3/a/b/state"
t_finish
