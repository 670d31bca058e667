#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# races.sh - destructive actions race the broker (issue 11 #1) on a live
# deskpoold on test:///default.
#
# A delete the planner chose while a desktop was ready must not run once an
# acquire has given that desktop to a user; an idle logout must not stand
# when a heartbeat came after the planner looked. The reproduction of the
# defect: one worker (max_concurrent=1) kept busy by a pool whose
# pre-provision hook sleeps, pool r shrunk to 0 while its three desktops
# are ready, then an acquire on r before the queued deletes run.
. "$(dirname "$0")/../lib.sh"
t_require_binaries

t_tmpdir dir
mkdir -p "$dir/hooks"
cat >"$dir/hooks/pre-provision" <<'SH'
#!/bin/sh
# keeps the only worker busy while the deletes of pool r wait in its queue
[ "$DESKPOOL_POOL" = slow ] && sleep 4
exit 0
SH
chmod +x "$dir/hooks/pre-provision"
dp_start "$dir" "race$$" --set console_password=none --set boot_delay=0 \
    --set max_concurrent=1 --set hooks_dir="$dir/hooks" --set reconcile_interval=1 \
    || fail_now "deskpoold did not start"
make_qcow2 "$dir/img.qcow2"
api POST /v1/images "{\"name\":\"img\",\"path\":\"$dir/img.qcow2\"}"
[ "$STATUS" = 201 ] || fail_now "image add: $STATUS $BODY"

jtrue() { [ "$(jget "$1" "$2" 2>&1)" = True ]; }
ready_is() { api GET "/v1/pools/$1"; jtrue "$BODY" "d['counts']['ready'] == $2"; }

api POST /v1/pools '{"name":"r","image":"img","template":"test","min":0,"spare":3,"max":3}'
[ "$STATUS" = 201 ] || fail_now "pool r: $STATUS $BODY"
wait_for 30 ready_is r 3 || fail_now "pool r never had 3 ready desktops"

# the worker is busy for 4 s with 'slow'; r's deletes queue behind it
api POST /v1/pools '{"name":"slow","image":"img","template":"test","min":1,"spare":0,"max":1}'
[ "$STATUS" = 201 ] || fail_now "pool slow: $STATUS $BODY"
sleep 0.5
api PATCH /v1/pools/r '{"min":0,"spare":0,"max":0}'
check "shrink r to 0 accepted ($STATUS)" [ "$STATUS" = 200 ]
sleep 1.5
api POST /v1/pools/r/sessions '{"user":"dr.race","client":"t"}'
check "acquire on r while its deletes are queued: 201 ($STATUS)" [ "$STATUS" = 201 ]
sid=$(jget "$BODY" "d['id']")
desk=$(jget "$BODY" "d['desktop']")

# let the slow build and every queued delete run
quiet_pool_settled() { api GET /v1/pools/r; jtrue "$BODY" "d['counts']['ready'] == 0 and d['counts']['deleting'] == 0"; }
wait_for 20 quiet_pool_settled || not_ok "pool r did not settle: $BODY"
api GET /v1/pools/r
check "the desktop handed out ($desk) still exists, assigned" \
    jtrue "$BODY" "[x['state'] for x in d['desktops'] if x['name'] == '$desk'] == ['assigned']"
check "the two idle ones were deleted" jtrue "$BODY" "d['counts']['total'] == 1"
check "no 'Desktop ... deleted' line for it in the log" bash -c "! grep -q \"Desktop '$desk' deleted\" '$dir/daemon.log'"
api POST "/v1/sessions/$sid/heartbeat"
check "its session still answers heartbeats (200: $STATUS)" [ "$STATUS" = 200 ]
api GET "/v1/sessions/$sid"
check "its session is active" jtrue "$BODY" "d['state'] == 'active'"
api POST /v1/pools/r/sessions '{"user":"dr.race","client":"t"}'
check "a second acquire by the same user returns the same session (200: $STATUS)" \
    bash -c "[ '$STATUS' = 200 ] && [ '$(jget "$BODY" "d['id']")' = '$sid' ]"

# after logout the shrink goes through: wiped, then deleted
api DELETE "/v1/sessions/$sid"
check "release: 200 ($STATUS)" [ "$STATUS" = 200 ]
gone() { api GET /v1/pools/r; jtrue "$BODY" "d['counts']['total'] == 0"; }
check "after logout the desktop goes, as the shrink asked" wait_for 20 gone

# --- a delete taking a desktop from its user ends the session with it ---
api PATCH /v1/pools/r '{"min":1,"spare":0,"max":1}'
wait_for 20 ready_is r 1 || fail_now "pool r did not refill"
api POST /v1/pools/r/sessions '{"user":"dr.force","client":"t"}'
sid=$(jget "$BODY" "d['id']")
api DELETE "/v1/pools/r?force=true"
check "forced pool delete accepted ($STATUS)" bash -c "[ '$STATUS' = 202 ] || [ '$STATUS' = 200 ]"
ended() { api GET "/v1/sessions/$sid"; jtrue "$BODY" "d['state'] == 'ended' and d['end_reason'] == 'pool_deleted'"; }
check "forced delete ends the session on it (pool_deleted)" wait_for 20 ended
nopool() { api GET /v1/pools/r; [ "$STATUS" = 404 ]; }
check "the pool is gone" wait_for 20 nopool
api GET /v1/check
check "store and libvirt agree afterwards (GET /v1/check: $BODY)" jtrue "$BODY" "d['ok']"
