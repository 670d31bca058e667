#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# qemu.sh - faults on real libvirtd + QEMU with the tiny guest (issue 7
# section 2), each case followed by the invariants (GET /v1/check, counts,
# the daemon serves):
#   1. libvirtd stopped and started again during provisioning: health says
#      disconnected (503 + Retry-After), acquires answer 503 with
#      Retry-After, deskpoold reconnects by itself and the pool fills;
#   2. ... during a wipe: the desktop comes back wiped (a file its user
#      wrote is gone), never handed out unwiped;
#   3. ... during a rebase: the operation finishes, every desktop runs v2;
#   4. the QEMU process of an in-use desktop killed with -9: its session
#      ends with reason desktop_lost and the desktop is ready again; seen
#      through libvirt's lifecycle event, not a full listing (both daemons
#      run with libvirt_resync_interval=3600, so every case here also checks
#      that the watched listings stay true: GET /v1/check lists in full);
#   5. the overlay directory full (a 1 MB tmpfs): provisioning fails with
#      "No space left on device" as last_error, the desktop is quarantined
#      (no tight loop), and it recovers by itself once there is room;
#   6. the storage pool removed, then its directory removed, while deskpoold
#      runs: recreated and logged, and desktops are provisioned again;
#   7. a second daemon on the host with --instance alone: its own state
#      directory, socket and storage pool.
# Restarting libvirtd keeps running guests (it reconnects to their QEMU).
# Needs root, libvirtd and the tiny guest; any missing part FAILS.
. "$(dirname "$0")/../lib.sh"
t_require_qemu
t_require_binaries
export DP_URI=qemu:///system
export DP_TEMPLATES=$DP_SRCDIR/templates
GUEST=/var/lib/deskpool/tiny-guest
V=(virsh -q -c qemu:///system)
. "$DP_SRCDIR/tests/guestlib.sh"

virsh -c qemu:///system version >/dev/null 2>&1 || fail_now "libvirtd is not reachable on qemu:///system"
for v in v1 v2; do
    "$DP_SRCDIR/tests/guest/build-guest.sh" --out "$GUEST" --version "$v" >/dev/null ||
        fail_now "tiny guest $v build failed"
done

t_instance inst fq
t_instance inst2 fo
t_tmpdir dir
T_CLEANUPS+=("umount -l '$dir/full' 2>/dev/null")
# whatever happens, libvirtd runs again at the end
T_CLEANUPS+=("pgrep -x libvirtd >/dev/null || libvirtd -d")

jtrue() { [ "$(jget "$1" "$2" 2>&1)" = True ]; }
pool_json() { api GET "/v1/pools/$1" >/dev/null && [ "$STATUS" = 200 ] && printf '%s' "$BODY"; }
count() { jget "$(pool_json "$1")" "d['counts']['$2']"; }
ready_is() { [ "$(count "$1" ready)" = "$2" ]; }
desk_field() { jget "$(pool_json "$1")" "[x['$3'] for x in d['desktops'] if x['name'] == '$2'][0]"; }
consistent() { api GET /v1/check && jtrue "$BODY" "d['ok'] and d['busy'] == 0"; }
invariants() {
    if wait_for 60 consistent; then ok "$1: store and libvirt agree"; else not_ok "$1: GET /v1/check: $BODY"; fi
    check "$1: the daemon serves" api GET /v1/pools
}
libvirtd_stop() {
    local pid
    pid=$(pgrep -x libvirtd) || return 0
    kill -TERM $pid
    for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || return 0; sleep 0.1; done
    return 1
}
libvirtd_start() {
    pgrep -x libvirtd >/dev/null || libvirtd -d
    wait_for 30 quiet virsh -c qemu:///system version
}
health() { curl -s -D "$dir/headers" --max-time 10 --unix-socket "$DP_SOCK" -w '\n%{http_code}' http://localhost/healthz; }
disconnected() { out=$(health); [ "${out##*$'\n'}" = 503 ] && grep -q '"libvirt":"disconnected"' <<<"$out"; }
connected() { out=$(health); [ "${out##*$'\n'}" = 200 ] && grep -q '"libvirt":"connected"' <<<"$out"; }

dp_start "$dir" "$inst" --set boot_timeout=90 --set reconcile_interval=2 \
    --set libvirt_resync_interval=3600 || fail_now "deskpoold did not start on qemu:///system"
ctl image add tiny "$GUEST/golden-v1.qcow2" >/dev/null || fail_now "image add failed"
ctl pool create f --image tiny --template tiny --mode floating --clone boot --min 2 --spare 0 --max 3 >/dev/null \
    || fail_now "pool create failed"
wait_for 180 ready_is f 2 || fail_now "pool f never had 2 ready desktops: $(pool_json f | head -c 400)"

# --- 1. libvirtd away during provisioning ---
ctl pool resize f --min 3 >/dev/null
booting() { [ "$(count f booting)" -ge 1 ] || [ "$(count f provisioning)" -ge 1 ]; }
wait_for 60 booting || not_ok "no desktop started provisioning"
check "libvirtd stopped" libvirtd_stop
check "health says libvirt disconnected, 503" wait_for 30 disconnected
check "... with Retry-After" grep -qi '^retry-after:' "$dir/headers"
api POST /v1/pools/f/sessions '{"user":"dr.a","client":"t"}'
check "an acquire while libvirt is away: 503, not 500 ($STATUS)" [ "$STATUS" = 503 ]
check "libvirtd started again" libvirtd_start
check "deskpoold reconnects by itself" wait_for 60 connected
api GET /healthz
check "the reconnection is counted ($(jget "$BODY" "d['reconnects']"))" [ "$(jget "$BODY" "d['reconnects']")" -ge 1 ]
check "the log says it lost and found libvirt" grep -q 'Reconnected to libvirt' "$dir/daemon.log"
if wait_for 180 ready_is f 3; then ok "the pool fills to 3 after the outage"; else not_ok "pool: $(pool_json f | head -c 500)"; fi
invariants "after libvirtd restarted during provisioning"

# --- 2. libvirtd away during a wipe ---
api POST /v1/pools/f/sessions '{"user":"dr.w","client":"t"}'
[ "$STATUS" = 201 ] || fail_now "acquire for the wipe case: $STATUS $BODY"
sid=$(jget "$BODY" "d['id']")
wdesk=$(jget "$BODY" "d['desktop']")
wdom=$(desk_field f "$wdesk" domain)
api POST "/v1/sessions/$sid/heartbeat"
check "the user leaves a file on $wdesk" gwrite "$wdom" /mnt/data/secret.txt "patient 4711"
api DELETE "/v1/sessions/$sid"
check "logout accepted ($STATUS)" [ "$STATUS" = 200 ]
libvirtd_stop
sleep 2
libvirtd_start || not_ok "libvirtd did not start again"
wait_for 60 connected || not_ok "no reconnection after the wipe outage"
wiped() { [ "$(desk_field f "$wdesk" state 2>/dev/null)" = ready ]; }
if wait_for 180 wiped; then ok "$wdesk is ready again after the outage"; else not_ok "$wdesk: $(pool_json f | head -c 500)"; fi
check "$wdesk was wiped: the user's file is gone" gfile_gone "$(desk_field f "$wdesk" domain)" /mnt/data/secret.txt
invariants "after libvirtd restarted during a wipe"

# --- 3. libvirtd away during a rebase ---
ctl image publish tiny "$GUEST/golden-v2.qcow2" --note "fault suite" >/dev/null || not_ok "publish v2"
rebasing() { ops=$(ctl --json operation list --pool f) && jtrue "$ops" "len(d['operations']) > 0"; }
wait_for 30 rebasing || not_ok "no rebase started for v2"
sleep 3
libvirtd_stop
sleep 2
libvirtd_start || not_ok "libvirtd did not start again"
on_v2() { pj=$(pool_json f) && jtrue "$pj" "d['counts']['ready'] == 3 and all(x['image_version'] == 2 for x in d['desktops'])"; }
if wait_for 300 on_v2; then ok "the rebase finished after the outage: 3 ready, all on v2"; else not_ok "rebase: $(pool_json f | head -c 600)"; fi
op_done() { ops=$(ctl --json operation list --pool f --all) && jtrue "$ops" "d['operations'][0]['state'] == 'succeeded'"; }
check "the rebase operation succeeded" wait_for 60 op_done
invariants "after libvirtd restarted during a rebase"

# --- 4. QEMU of an in-use desktop killed ---
api POST /v1/pools/f/sessions '{"user":"dr.k","client":"t"}'
[ "$STATUS" = 201 ] || fail_now "acquire for the kill case: $STATUS $BODY"
sid=$(jget "$BODY" "d['id']")
kdesk=$(jget "$BODY" "d['desktop']")
kdom=$(desk_field f "$kdesk" domain)
api POST "/v1/sessions/$sid/heartbeat"
qpid=$(pgrep -f "guest=$kdom," | head -n 1)
[ -n "$qpid" ] || fail_now "no QEMU process for $kdom"
metric() { curl -s --max-time 10 --unix-socket "$DP_SOCK" http://localhost/metrics | awk -v k="$1" '$1 == k {print $2}'; }
full0=$(metric 'deskpool_libvirt_listings_total{host="local",kind="full"}')
events0=$(metric 'deskpool_libvirt_events_total{host="local"}')
kill -9 "$qpid"
lost() { api GET "/v1/sessions/$sid" && jtrue "$BODY" "d['state'] == 'ended' and d['end_reason'] == 'desktop_lost'"; }
check "the session ends with reason desktop_lost" wait_for 30 lost
full1=$(metric 'deskpool_libvirt_listings_total{host="local",kind="full"}')
events1=$(metric 'deskpool_libvirt_events_total{host="local"}')
via_event() { [ -n "$full0" ] && [ "$full0" = "$full1" ] && [ "$events1" -gt "$events0" ]; }
check "... seen through a lifecycle event ($events0 -> $events1 events), no full listing ($full0 -> $full1)" \
    via_event
back() { [ "$(desk_field f "$kdesk" state 2>/dev/null)" = ready ]; }
check "$kdesk is ready again (wiped)" wait_for 120 back
api POST "/v1/sessions/$sid/heartbeat"
check "the broker's heartbeat learns the session ended (409: $STATUS)" [ "$STATUS" = 409 ]
invariants "after a QEMU was killed"
dp_stop TERM

# --- 5. the overlay directory full ---
mkdir -p "$dir/full"
mount -t tmpfs -o size=1m tmpfs "$dir/full" || fail_now "cannot mount a tmpfs"
chmod 0755 "$dir/full"
odir=$dir/o
mkdir -p "$odir"
dp_start "$odir" "$inst2" --set storage_dir="$dir/full" --set storage_pool="$inst2" \
    --set boot_timeout=90 --set max_boot_failures=2 --set host_failure_retry=5 \
    --set reconcile_interval=1 --set libvirt_resync_interval=3600 \
    || fail_now "second deskpoold did not start"
probed() { api GET /healthz && [ "$(jget "$BODY" "d['virt_type']")" = qemu ]; }
wait_for 120 probed || not_ok "the second daemon's probe did not finish: $BODY"
ctl image add tiny "$GUEST/golden-v1.qcow2" >/dev/null || fail_now "image add (second daemon)"
dd if=/dev/zero of="$dir/full/filler" bs=64k >/dev/null 2>&1
ctl pool create g --image tiny --template tiny --mode floating --clone boot --min 1 --spare 0 --max 1 >/dev/null
failed() { [ "$(count g failed)" = 1 ]; }
check "with the overlay directory full the desktop is quarantined" wait_for 60 failed
err=$(jget "$(pool_json g)" "d['desktops'][0]['last_error']")
check "its last_error says why: $err" grep -q 'No space left on device' <<<"$err"
n1=$(grep -c "Action build on desktop 'g-" "$odir/daemon.log")
sleep 12
n2=$(grep -c "Action build on desktop 'g-" "$odir/daemon.log")
check "no tight loop: $((n2 - n1)) failed builds in 12 s while full (retried every 5 s)" [ $((n2 - n1)) -le 8 ]
rm -f "$dir/full/filler"
mount -o remount,size=512m "$dir/full"
if wait_for 120 ready_is g 1; then ok "room again: the pool recovers by itself"; else not_ok "no recovery: $(pool_json g | head -c 500)"; fi
invariants "after the overlay directory was full"
ctl pool delete g --force --wait >/dev/null

# --- 6. the storage pool, then its directory, gone under a running daemon ---
virsh -c qemu:///system pool-destroy "$inst2" >/dev/null
virsh -c qemu:///system pool-undefine "$inst2" >/dev/null
ctl pool create h --image tiny --template tiny --mode floating --clone boot --min 1 --spare 0 --max 1 >/dev/null
if wait_for 120 ready_is h 1; then ok "storage pool removed: recreated, a desktop provisioned"; else not_ok "pool h: $(pool_json h | head -c 400)"; fi
check "the recreation is logged" grep -q "Storage pool '$inst2' was gone or unusable; recreated" "$odir/daemon.log"
ctl pool delete h --force --wait >/dev/null
umount -l "$dir/full"
rm -rf "$dir/full"
ctl pool create h --image tiny --template tiny --mode floating --clone boot --min 1 --spare 0 --max 1 >/dev/null
if wait_for 120 ready_is h 1; then ok "storage directory removed: made again, a desktop provisioned"; else not_ok "pool h: $(pool_json h | head -c 400)"; fi
check "the directory exists again" test -d "$dir/full"
invariants "after the storage pool went away"
ctl pool delete h --force --wait >/dev/null
dp_stop TERM

# --- 7. --instance alone runs a second daemon ---
t_instance second dp2
T_CLEANUPS+=("virsh -c qemu:///system pool-destroy $second; virsh -c qemu:///system pool-undefine $second; rm -rf /var/lib/deskpool-$second /run/deskpool-$second")
touch "$dir/no-host.conf"
"$DESKPOOLD" --instance "$second" --config "$dir/no-host.conf" --templates-dir "$DP_SRCDIR/templates" \
    --set tokens_file="$dir/tokens" || not_ok "deskpoold --instance $second did not start"
s2=/run/deskpool-$second/deskpoold.sock
check "its socket is /run/deskpool-$second/deskpoold.sock" \
    quiet curl -s --max-time 5 --unix-socket "$s2" http://localhost/healthz
check "deskpoolctl --instance $second talks to it" quiet "$DESKPOOLCTL" --instance "$second" health
check "its state directory is /var/lib/deskpool-$second" test -f "/var/lib/deskpool-$second/deskpool.db"
check "its storage pool is '$second'" quiet virsh -c qemu:///system pool-info "$second"
pkill -TERM -f -- "--instance $second" || true
for _ in $(seq 1 50); do pgrep -f -- "--instance $second" >/dev/null || break; sleep 0.1; done
