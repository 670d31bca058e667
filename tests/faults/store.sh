#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# store.sh - the state store under damage (issue 11 #8, issue 7 section 2)
# on a live deskpoold on test:///default:
#   - a store damaged under the running daemon: 503 store_corrupt (not 400),
#     /healthz says store: corrupt, the log says it once;
#   - a corrupt or truncated deskpool.db: startup refuses with "is corrupt";
#   - the state directory full (a small tmpfs, root only): writes answer 507,
#     reads go on, and once there is room again the database is intact and
#     writes work.
. "$(dirname "$0")/../lib.sh"
t_require_binaries
command -v python3 >/dev/null || fail_now "python3 is missing"

t_tmpdir dir
jtrue() { [ "$(jget "$1" "$2" 2>&1)" = True ]; }
start() { dp_start "$dir" "st$$" --set console_password=none --set boot_delay=0 --set reconcile_interval=1 "$@"; }
ready_is() { api GET "/v1/pools/$1"; jtrue "$BODY" "d['counts']['ready'] == $2"; }
integrity() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$1"; }

# --- damaged under the running daemon ---
start || fail_now "deskpoold did not start"
make_qcow2 "$dir/img.qcow2"
api POST /v1/images "{\"name\":\"img\",\"path\":\"$dir/img.qcow2\"}"
api POST /v1/pools '{"name":"p","image":"img","template":"test","min":2,"spare":0,"max":4}'
wait_for 20 ready_is p 2 || fail_now "pool p never got ready"
python3 - "$dir/state/deskpool.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
v = db.execute("PRAGMA schema_version").fetchone()[0]
db.execute("PRAGMA writable_schema = ON")
db.execute("UPDATE sqlite_master SET sql = 'CREATE TABLE desktops (' WHERE name = 'desktops'")
db.execute("PRAGMA writable_schema = OFF")
db.execute("PRAGMA schema_version = %d" % (v + 1))
db.commit()
PY
api POST /v1/pools/p/sessions '{"user":"dr.c","client":"t"}'
check "acquire on a corrupt store: 503 store_corrupt, not 400 ($STATUS $(jget "$BODY" "d['error']['code']"))" \
    bash -c "[ '$STATUS' = 503 ] && [ '$(jget "$BODY" "d['error']['code']")' = store_corrupt ]"
api GET /healthz
check "healthz: 503, store corrupt ($STATUS)" \
    bash -c "[ '$STATUS' = 503 ] && [ '$(jget "$BODY" "d['store']")' = corrupt ]"
sleep 3
n=$(grep -c 'Cannot read the state store' "$dir/daemon.log")
check "the reconciler says so once, not every pass ($n)" [ "$n" = 1 ]
dp_stop TERM || not_ok "daemon did not stop"

# --- corrupt or truncated at startup ---
out=$(timeout 20 "$DESKPOOLD" --config /dev/null --foreground --uri test:///default --state-dir "$dir/state" \
    --socket "$dir/sock2" --instance "st$$" 2>&1); rc=$?
check "startup on a corrupt store: exit 1 ($rc)" [ $rc = 1 ]
check "it says the database is corrupt, and what to do" \
    bash -c "grep -q 'is corrupt' <<<\"\$1\" && grep -q 'restore deskpool.db' <<<\"\$1\"" _ "$out"
check "not the old 'Bad message'" bash -c "! grep -q 'Bad message' <<<\"\$1\"" _ "$out"
rm -rf "$dir/state"
start || fail_now "deskpoold did not start on a new store"
api POST /v1/images "{\"name\":\"img\",\"path\":\"$dir/img.qcow2\"}"
dp_stop TERM
python3 -c 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA wal_checkpoint(TRUNCATE)")' "$dir/state/deskpool.db"
truncate -s 4096 "$dir/state/deskpool.db"
out=$(timeout 20 "$DESKPOOLD" --config /dev/null --foreground --uri test:///default --state-dir "$dir/state" \
    --socket "$dir/sock2" --instance "st$$" 2>&1); rc=$?
check_both "startup on a truncated store: exit 1, 'is corrupt' ($rc)" [ $rc = 1 ] -- \
    grep -q 'is corrupt' <<<"$out"

# --- the state directory full ---
if [ "$(id -u)" != 0 ]; then
    echo "# state-directory-full case needs root (a tmpfs mount): not run"
    [ -n "${DP_REQUIRE_ALL:-}" ] && not_ok "state directory full: needs root"
    t_finish
fi
rm -rf "$dir/state" && mkdir -p "$dir/state"
mount -t tmpfs -o size=3m tmpfs "$dir/state" || fail_now "cannot mount a tmpfs"
T_CLEANUPS+=("umount -l '$dir/state'")
start --set log_file="$dir/full.log" || fail_now "deskpoold did not start on the tmpfs"
api POST /v1/images "{\"name\":\"img\",\"path\":\"$dir/img.qcow2\"}"
api POST /v1/pools '{"name":"p","image":"img","template":"test","min":2,"spare":0,"max":4}'
wait_for 20 ready_is p 2 || fail_now "pool p never got ready"
# fill it up
dd if=/dev/zero of="$dir/state/filler" bs=64k >/dev/null 2>&1
api POST /v1/pools '{"name":"q","image":"img","template":"test","min":0,"spare":0,"max":1}'
check "a write with the state directory full: 507 ($STATUS)" [ "$STATUS" = 507 ]
api POST /v1/pools/p/sessions '{"user":"dr.full","client":"t"}'
check "an acquire with the state directory full: 507 ($STATUS)" [ "$STATUS" = 507 ]
api GET /v1/pools/p
check "reads go on: GET pool 200 ($STATUS)" [ "$STATUS" = 200 ]
api GET /healthz
check "healthz says store full" [ "$(jget "$BODY" "d['store']")" = full ]
check "the 5xx cause is in the log at error" grep -q 'error:' "$dir/full.log"
rm -f "$dir/state/filler"
api POST /v1/pools '{"name":"q","image":"img","template":"test","min":0,"spare":0,"max":1}'
check "room again: the write goes through (201: $STATUS)" [ "$STATUS" = 201 ]
dp_stop TERM
check "the database is intact (integrity_check: $(integrity "$dir/state/deskpool.db"))" \
    [ "$(integrity "$dir/state/deskpool.db")" = ok ]
