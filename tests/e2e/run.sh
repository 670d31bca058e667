#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run.sh - end to end on real libvirtd + QEMU (qemu:///system) with the tiny
# guest: a floating pool of 3 fills up and every guest agent answers; the
# overlays are backed by the imported image (no copies); a resize to 1 leaves
# no orphan; kill -9 in the middle of provisioning recovers to exactly the
# sizes asked for; a guest that never becomes ready is quarantined.
#
# Needs root, libvirtd and the tiny guest; builds the guest itself
# (tests/guest/build-guest.sh is idempotent). Without root or libvirtd it
# SKIPs (a failure under DP_REQUIRE_ALL=1); any other missing part FAILS.
. "$(dirname "$0")/../lib.sh"
t_require_qemu
t_require_binaries
export DP_URI=qemu:///system
export DP_TEMPLATES=$DP_SRCDIR/templates
GUEST=/var/lib/deskpool/tiny-guest
V=(virsh -q -c qemu:///system)

virsh -c qemu:///system version >/dev/null 2>&1 || fail_now "libvirtd is not reachable on qemu:///system"
"$DP_SRCDIR/tests/guest/build-guest.sh" --out "$GUEST" >/dev/null || fail_now "tiny guest build failed"
"$DP_SRCDIR/tests/guest/build-guest.sh" --out "$GUEST" --broken >/dev/null || fail_now "broken guest build failed"

t_instance inst e2e
t_tmpdir dir

domains() { "${V[@]}" list --all --name | grep -c "^$inst\\." || true; }
running() { "${V[@]}" list --name | grep -c "^$inst\\." || true; }
volumes() { "${V[@]}" vol-list "$inst" 2>/dev/null | awk '{print $1}' | grep -c "^$inst\\..*\\.qcow2$" || true; }
pool_json() { ctl --json pool show "$1"; }
count() { jget "$(pool_json "$1")" "d['counts']['$2']"; }
ready_is() { [ "$(count "$1" ready)" = "$2" ]; }

t0=$SECONDS
ts=$(date +%s.%N)
dp_start "$dir" "$inst" --set virt_probe_timeout=10 --set boot_timeout=60 || fail_now "deskpoold did not start on qemu:///system"
serve=$(printf '%.1f' "$(echo "$(date +%s.%N) - $ts" | bc)")
check "a new state directory serves within 5 s, the probe runs in the background ($serve s)" \
    [ "$(echo "$serve < 5" | bc)" = 1 ]
probed() { api GET /healthz && [ "$(jget "$BODY" "d['virt_type']")" != probing ]; }
wait_for 120 probed || not_ok "the domain type probe did not finish: $BODY"
vt=$(jget "$BODY" "d['virt_type']")
check "domain type was probed from the host (KVM does not run here, so qemu/TCG): $vt" [ "$vt" = qemu ]
ctl image add tiny "$GUEST/golden-v1.qcow2" >/dev/null || fail_now "image add failed"
img=$(jget "$(ctl --json image show tiny)" "d['versions'][0]['path']")
check "imported image is read-only, for its owner only" [ "$(stat -c %a "$img")" = 400 ]

# --- a pool of 3 fills up ---
ctl pool create demo --image tiny --template tiny --mode floating --clone boot --min 3 --spare 2 --max 5 >/dev/null \
    || fail_now "pool create failed"
t1=$SECONDS
if wait_for 180 ready_is demo 3; then ok "pool of 3 ready in $((SECONDS - t1)) s"; else not_ok "pool did not reach 3 ready: $(pool_json demo)"; fi
check "exactly 3 domains and 3 overlay volumes" [ "$(domains):$(volumes)" = 3:3 ]

pj=$(pool_json demo)
for i in 0 1 2; do
    dom=$(jget "$pj" "d['desktops'][$i]['domain']")
    vol=$(jget "$pj" "d['desktops'][$i]['volume']")
    check "$dom: guest agent answers guest-ping" quiet "${V[@]}" qemu-agent-command "$dom" '{"execute":"guest-ping"}'
    back=$(qemu-img info -U --output=json "$vol" | jget "$(cat)" "d.get('backing-filename')")
    check "$dom: overlay is backed by the image ($back)" [ "$back" = "$img" ]
    fmt=$(qemu-img info -U --output=json "$vol" | jget "$(cat)" "d['format'] + '/' + d.get('backing-filename-format', '')")
    check "$dom: overlay is a qcow2 linked clone, not a copy ($fmt)" [ "$fmt" = qcow2/qcow2 ]
    check "$dom: clean snapshot taken (floating pool)" quiet "${V[@]}" snapshot-info "$dom" deskpool-clean
    check "$dom: deskpool metadata names the desktop" bash -c "virsh -c qemu:///system metadata $dom https://deskpool.org/xmlns/desktop/1 | grep -q '$inst'"
    ver=$("${V[@]}" qemu-agent-command "$dom" '{"execute":"guest-exec","arguments":{"path":"cat","arg":["/mnt/etc/desk-version"],"capture-output":true}}' | jget "$(cat)" "d['return']['pid']")
    sleep 0.5
    out=$("${V[@]}" qemu-agent-command "$dom" "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$ver}}" | jget "$(cat)" "__import__('base64').b64decode(d['return']['out-data']).decode().strip()")
    check "$dom: guest sees its image version ($out)" [ "$out" = v1 ]
done

# --- resize down to 1 ---
ctl pool resize demo --min 1 --spare 0 >/dev/null || not_ok "resize failed"
gone() { [ "$(count demo total)" = 1 ] && [ "$(domains)" = 1 ] && [ "$(volumes)" = 1 ]; }
check "resize to 1 leaves 1 desktop, 1 domain, 1 volume (no orphans)" wait_for 60 gone

# --- kill -9 in the middle of provisioning ---
ctl pool resize demo --min 4 --spare 0 >/dev/null
booting() { [ "$(count demo booting)" -ge 1 ]; }
wait_for 60 booting || not_ok "no desktop started booting"
dp_stop KILL
ok "deskpoold killed with -9 while $("${V[@]}" list --name | grep -c "^$inst\\.") domains ran"
# a volume of this instance that no row names (what a restored backup of the
# store would leave): reported and left alone, never deleted on its own
"${V[@]}" vol-create-as "$inst" "$inst.demo-999.data.qcow2" 1M --format qcow2 >/dev/null
dp_start "$dir" "$inst" --set boot_timeout=60 || fail_now "deskpoold did not restart"
settled() { ready_is demo 4 && [ "$(count demo total)" = 4 ] && [ "$(domains)" = 4 ] && [ "$(volumes)" = 5 ]; }
if wait_for 180 settled; then ok "after kill -9: exactly 4 ready desktops, 4 domains, 4 overlays + the orphan"; else not_ok "no recovery: $(pool_json demo | head -c 600) doms=$(domains) vols=$(volumes)"; fi
check "the orphan volume is reported, not deleted" grep -q "Orphan volume '$inst.demo-999.data.qcow2'" "$dir/daemon.log"
dp_stop TERM
dp_start "$dir" "$inst" --set boot_timeout=60 --purge-orphans || fail_now "deskpoold did not restart"
purged() { [ "$(volumes)" = 4 ]; }
check "--purge-orphans removes it" wait_for 30 purged
names=$(jget "$(pool_json demo)" "len(set(x['name'] for x in d['desktops'])) == len(d['desktops'])")
check "no duplicate desktops after restart" [ "$names" = True ]

# --- a guest that never becomes ready is quarantined ---
ctl image add broken "$GUEST/golden-broken.qcow2" >/dev/null || not_ok "broken image add"
kill -HUP "$DP_PID"
ctl pool create bad --image broken --template tiny --clone boot --min 1 --spare 0 --max 1 >/dev/null || not_ok "bad pool create"
# boot_timeout is 60 s here; make it short for this pool's sake through a restart
dp_stop TERM
dp_start "$dir" "$inst" --set boot_timeout=12 --set max_boot_failures=2 || fail_now "deskpoold did not restart"
failed() { [ "$(count bad failed)" = 1 ]; }
if wait_for 120 failed; then ok "a desktop that never answers is quarantined after 2 boots"; else not_ok "not quarantined: $(pool_json bad | head -c 600)"; fi
bj=$(pool_json bad)
check "quarantined desktop is not counted ready and keeps its last error" \
    [ "$(jget "$bj" "d['counts']['ready'] == 0 and 'did not answer' in (d['desktops'][0]['last_error'] or '')")" = True ]
check "quarantined desktop's domain is kept for inspection" \
    quiet "${V[@]}" dominfo "$(jget "$bj" "d['desktops'][0]['domain']")"

# --- pool delete leaves nothing ---
ctl pool delete bad --wait >/dev/null || not_ok "delete bad"
ctl pool delete demo --wait >/dev/null || not_ok "delete demo"
check "pool delete removed every domain and volume" [ "$(domains):$(volumes)" = 0:0 ]
echo "# e2e took $((SECONDS - t0)) s"
