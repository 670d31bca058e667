#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# rebase.sh - end to end standard-desktop updates on real libvirtd + QEMU
# (qemu:///system, TCG) with the tiny guest:
#   1. publishing v2 rebases a floating pool that follows latest by itself:
#      the spares are replaced first (the ready count never drops below the
#      spare count), the desktop in use keeps v1 and its session until the
#      user logs off, then it is replaced and the operation succeeds;
#   2. a broken v3: the canary fails to boot, the operation fails with its
#      boot error, the pool is pinned to v2 and its desktops are untouched;
#   3. a dedicated desktop (template with a data disk) is rebased in place:
#      same desktop for its user, new version, marker on the data disk kept;
#   4. kill -9 of the daemon in the middle of a rebase: after the restart
#      the operation resumes and succeeds, and no domain or volume is left
#      that no desktop owns.
#
# Needs root, libvirtd and the tiny guest (built here, idempotent: v1, v2,
# v4 and the broken one). Without root or libvirtd it SKIPs (a failure
# under DP_REQUIRE_ALL=1); any other missing part FAILS.
. "$(dirname "$0")/../lib.sh"
t_require_qemu
t_require_binaries
export DP_URI=qemu:///system
GUEST=/var/lib/deskpool/tiny-guest
V=(virsh -q -c qemu:///system)

virsh -c qemu:///system version >/dev/null 2>&1 || fail_now "libvirtd is not reachable on qemu:///system"
for v in v1 v2 v4; do
    "$DP_SRCDIR/tests/guest/build-guest.sh" --out "$GUEST" --version "$v" >/dev/null ||
        fail_now "tiny guest build ($v) failed"
done
"$DP_SRCDIR/tests/guest/build-guest.sh" --out "$GUEST" --broken >/dev/null || fail_now "broken guest build failed"

t_instance inst e2er
t_tmpdir dir

# templates: tiny.xml as shipped, and tinydata.xml = tiny.xml + a data disk
mkdir -p "$dir/templates"
cp "$DP_SRCDIR/templates/tiny.xml" "$dir/templates/tiny.xml"
awk '/<controller type=.usb./ {
        print "    <disk type=\x27file\x27 device=\x27disk\x27>"
        print "      <driver name=\x27qemu\x27 type=\x27qcow2\x27/>"
        print "      <source file=\x27/var/lib/deskpool/tiny-guest/PLACEHOLDER-data.qcow2\x27/>"
        print "      <target dev=\x27vdb\x27 bus=\x27virtio\x27/>"
        print "      <alias name=\x27ua-data\x27/>"
        print "    </disk>"
     }
     { print }' "$DP_SRCDIR/templates/tiny.xml" >"$dir/templates/tinydata.xml"
grep -q "ua-data" "$dir/templates/tinydata.xml" || fail_now "could not write the data-disk template"
export DP_TEMPLATES=$dir/templates
DP_ARGS=(--set virt_type=qemu --set reconcile_interval=1 --set boot_timeout=40)

# ---------------------------------------------------------------- helpers
ga() { "${V[@]}" qemu-agent-command "$1" "$2"; }

# gexec DOM PROG [ARG...]: runs PROG in the guest, prints its stdout and
# returns its exit code (125: the agent failed, 124: it never finished).
gexec() {
    local dom=$1 cmd pid st
    shift
    cmd=$(python3 -c 'import json,sys; print(json.dumps({"execute": "guest-exec", "arguments": {"path": sys.argv[1], "arg": sys.argv[2:], "capture-output": True}}))' "$@")
    pid=$(ga "$dom" "$cmd" 2>/dev/null | jget "$(cat)" "d['return']['pid']" 2>/dev/null) || return 125
    for _ in $(seq 1 100); do
        st=$(ga "$dom" "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}") || return 125
        if [ "$(jget "$st" "d['return']['exited']")" = True ]; then
            jget "$st" "__import__('base64').b64decode(d['return'].get('out-data', '')).decode(errors='replace').rstrip('\n')"
            return "$(jget "$st" "d['return'].get('exitcode', 125)")"
        fi
        sleep 0.1
    done
    return 124
}
running() { "${V[@]}" list --name | grep -c "^$inst\\." || true; }
# gver DOM: the version the guest's system disk says (/etc/desk-version)
gver() { gexec "$1" cat /mnt/etc/desk-version 2>/dev/null; }

pool_json() { api GET "/v1/pools/$1" >/dev/null && [ "$STATUS" = 200 ] && printf '%s' "$BODY"; }
count() { jget "$(pool_json "$1")" "d['counts']['$2']"; }
ready_is() { [ "$(count "$1" ready)" = "$2" ]; }
# desk_field POOL DESK FIELD
desk_field() { jget "$(pool_json "$1")" "[x['$3'] for x in d['desktops'] if x['name'] == '$2'][0]"; }
desk_ready() { [ "$(desk_field "$1" "$2" state 2>/dev/null)" = ready ]; }
# names POOL: the pool's desktop names, sorted, one line
names() { jget "$(pool_json "$1")" "' '.join(sorted(x['name'] for x in d['desktops']))"; }
# op_field ID EXPR
op_field() { api GET "/v1/operations/$1" >/dev/null && jget "$BODY" "$2"; }
op_is() { [ "$(op_field "$1" "d['state']")" = "$2" ]; }
# running_op POOL: prints the id of the pool's running operation
running_op() {
    api GET "/v1/operations?pool=$1&state=running" >/dev/null && [ "$STATUS" = 200 ] &&
        jget "$BODY" "d['operations'][0]['id'] if d['operations'] else ''"
}
# n_ops POOL: how many operations the pool ever had
n_ops() { api GET "/v1/operations?pool=$1&state=all" >/dev/null && jget "$BODY" "len(d['operations'])"; }
has_running_op() { [ -n "$(running_op "$1")" ]; }

# acquire POOL USER: sets STATUS, BODY and, on success, SID, SDESK, SDOM.
acquire() {
    api POST "/v1/pools/$1/sessions" "{\"user\":\"$2\",\"client\":\"site-r\"}"
    SID='' SDESK='' SDOM=''
    case $STATUS in 200|201) ;; *) return 0 ;; esac
    SID=$(jget "$BODY" "d['id']")
    SDESK=$(jget "$BODY" "d['desktop']")
    SDOM=$(desk_field "$1" "$SDESK" domain)
}
publish() { api POST /v1/images "{\"name\":\"tiny\",\"path\":\"$1\",\"note\":\"$2\"}"; }

# versions_are POOL VER: every desktop of POOL is ready, on image version
# VER in the store, and its guest says vVER; prints the mismatches.
versions_are() {
    local pj bad=0 dom ver
    pj=$(pool_json "$1") || return 1
    [ "$(jget "$pj" "all(x['state'] == 'ready' and x['image_version'] == $2 for x in d['desktops'])")" = True ] || bad=1
    for dom in $(jget "$pj" "' '.join(x['domain'] for x in d['desktops'])"); do
        ver=$(gver "$dom")
        [ "$ver" = "v$2" ] || { echo "# $dom says '$ver', wanted v$2"; bad=1; }
    done
    return $bad
}

# no_orphans: the instance's libvirt domains and the storage dir's volume
# files are exactly the ones the desktops of every pool name (overlays and
# data disks). Prints the difference.
no_orphans() {
    local want_d got_d want_v got_v
    api GET /v1/desktops >/dev/null && [ "$STATUS" = 200 ] || return 1
    want_d=$(jget "$BODY" "' '.join(sorted(x['domain'] for x in d['desktops']))")
    want_v=$(jget "$BODY" "' '.join(sorted([x['volume'].rsplit('/', 1)[-1] for x in d['desktops']] + [x['data_volume'].rsplit('/', 1)[-1] for x in d['desktops'] if x.get('data_volume')]))")
    got_d=$("${V[@]}" list --all --name | grep "^$inst\\." | sort | paste -sd' ')
    got_v=$(find "$dir/overlays" -maxdepth 1 -name '*.qcow2' -printf '%f\n' | sort | paste -sd' ')
    if [ "$want_d" = "$got_d" ] && [ "$want_v" = "$got_v" ]; then
        ORPHANS="$(echo "$got_d" | wc -w) domains, $(echo "$got_v" | wc -w) volumes"
        return 0
    fi
    ORPHANS="domains want [$want_d] got [$got_d]; volumes want [$want_v] got [$got_v]"
    return 1
}
# settled POOL: nothing is provisioning, booting or being deleted
settled() {
    [ "$(jget "$(pool_json "$1")" "all(x['state'] in ('ready', 'in_use', 'assigned') for x in d['desktops'])")" = True ]
}

# ---------------------------------------------------------------- setup
t0=$SECONDS
dp_start "$dir" "$inst" "${DP_ARGS[@]}" || fail_now "deskpoold did not start on qemu:///system"
publish "$GUEST/golden-v1.qcow2" v1
[ "$STATUS" = 201 ] && [ "$(jget "$BODY" "d['version']")" = 1 ] || fail_now "image tiny v1: $STATUS $BODY"
api POST /v1/pools '{"name":"flo","image":"tiny","template":"tiny","mode":"floating","clone":"boot","min":3,"spare":2,"max":5}'
[ "$STATUS" = 201 ] || fail_now "floating pool create: $STATUS $BODY"
api POST /v1/pools '{"name":"ded","image":"tiny","image_version":1,"template":"tinydata","mode":"dedicated","min":1,"spare":1,"max":3}'
[ "$STATUS" = 201 ] || fail_now "dedicated pool create: $STATUS $BODY"
t1=$SECONDS
both_ready() { ready_is flo 3 && ready_is ded 1; }
if wait_for 180 both_ready; then
    ok "floating pool (3) and dedicated pool (1, data disk) ready on v1 in $((SECONDS - t1)) s"
else
    fail_now "pools did not get ready: $(pool_json flo | head -c 800) $(pool_json ded | head -c 400)"
fi

# ================================================ 1. publish v2
echo "# 1. publishing v2 rebases the floating pool by itself"
acquire flo dr.a
[ "$STATUS" = 201 ] || fail_now "acquire dr.a: $STATUS $BODY"
A_ID=$SID D_IN=$SDESK D_IN_DOM=$SDOM
check "dr.a's desktop $D_IN runs v1 (guest says $(gver "$D_IN_DOM"))" [ "$(gver "$D_IN_DOM")" = v1 ]
wait_for 30 ready_is flo 2 || not_ok "flo: not 2 ready after acquire: $(pool_json flo | head -c 600)"

publish "$GUEST/golden-v2.qcow2" v2
check "publish golden-v2 -> 201, version 2 ($STATUS)" [ "$STATUS" = 201 -a "$(jget "$BODY" "d['version']")" = 2 ]
t_pub=$SECONDS
if wait_for 20 has_running_op flo; then
    OP1=$(running_op flo)
    ok "a rebase operation started by itself $((SECONDS - t_pub)) s after publishing ($OP1)"
else
    fail_now "no operation started for flo after publishing v2: $(pool_json flo | head -c 400)"
fi
op_field "$OP1" 1 >/dev/null
check "  ... kind rebase, v1 -> v2, wait-for-logoff, batch 1 ($(jget "$BODY" "'%s v%s->v%s %s batch %s' % (d['kind'], d['from_version'], d['to_version'], d['policy'], d['batch'])"))" \
    [ "$(jget "$BODY" "d['kind'] == 'rebase' and d['from_version'] == 1 and d['to_version'] == 2 and d['policy'] == 'wait-for-logoff' and d['batch'] == 1")" = True ]
check "  ... the dedicated pool pinned to v1 got no operation" [ "$(n_ops ded)" = 0 ]

# poll until every desktop but dr.a's is a ready v2 one; sample the ready count
min_ready=99 spares_done=0 samples=0 saw_canary_step=0
end=$((SECONDS + 180))
while [ $SECONDS -lt $end ]; do
    pj=$(pool_json flo) || { sleep 0.3; continue; }
    r=$(jget "$pj" "d['counts']['ready']")
    samples=$((samples + 1))
    [ "$r" -lt "$min_ready" ] && min_ready=$r
    op_field "$OP1" "d['step']" 2>/dev/null | grep -q canary && saw_canary_step=1
    if [ "$(jget "$pj" "all(x['image_version'] == 2 and x['state'] == 'ready' for x in d['desktops'] if x['name'] != '$D_IN') and any(x['name'] == '$D_IN' and x['state'] in ('in_use', 'assigned') for x in d['desktops'])")" = True ]; then
        spares_done=1
        break
    fi
    sleep 0.3
done
if [ $spares_done = 1 ]; then
    ok "the spares were replaced by v2 desktops in $((SECONDS - t_pub)) s"
else
    not_ok "spares not replaced within 180 s: $(pool_json flo | head -c 1000)"
fi
check "  ... the operation went through its canary step" [ $saw_canary_step = 1 ]
check "  ... the ready count never dropped below 2 (min $min_ready over $samples samples)" [ "$min_ready" -ge 2 ]
op_field "$OP1" 1 >/dev/null
check "  ... the operation still runs, waiting for dr.a's logoff (step: $(jget "$BODY" "d['step']"))" \
    [ "$(jget "$BODY" "d['state'] == 'running' and 'in use' in d['step']")" = True ]
pj=$(pool_json flo)
for dom in $(jget "$pj" "' '.join(x['domain'] for x in d['desktops'] if x['name'] != '$D_IN')"); do
    check "  ... spare $dom: guest says v2" [ "$(gver "$dom")" = v2 ]
done
check "  ... dr.a's $D_IN still runs v1 (store)" [ "$(desk_field flo "$D_IN" image_version)" = 1 ]
check "  ... dr.a's $D_IN still runs v1 (guest says $(gver "$D_IN_DOM"))" [ "$(gver "$D_IN_DOM")" = v1 ]
api GET "/v1/sessions/$A_ID"
check "  ... dr.a's session is still active" [ "$STATUS" = 200 -a "$(jget "$BODY" "d['state']")" = active ]

t_rel=$SECONDS
api DELETE "/v1/sessions/$A_ID"
check "release dr.a -> 200 ($STATUS)" [ "$STATUS" = 200 ]
if wait_for 120 op_is "$OP1" succeeded; then
    ok "the operation succeeded $((SECONDS - t_rel)) s after the logoff"
else
    not_ok "operation $OP1 did not succeed: $BODY"
fi
wait_for 60 settled flo || true
check "all flo desktops ready on v2 (store and guest)" versions_are flo 2
check "dr.a's desktop $D_IN is gone from the pool" [ "$(jget "$(pool_json flo)" "'$D_IN' in [x['name'] for x in d['desktops']]")" = False ]
check "  ... and its domain $D_IN_DOM is gone" wait_for 20 bash -c "! virsh -q -c qemu:///system dominfo '$D_IN_DOM' >/dev/null 2>&1"
pj=$(pool_json flo)
check "pool: current_version 2, image_version latest ($(jget "$pj" "'%s/%s' % (d['current_version'], d['image_version'])"))" \
    [ "$(jget "$pj" "d['current_version'] == 2 and d['image_version'] == 'latest'")" = True ]
op_field "$OP1" 1 >/dev/null
check "operation: done == total, finished_at set ($(jget "$BODY" "'%s/%s' % (d['done'], d['total'])"))" \
    [ "$(jget "$BODY" "d['done'] == d['total'] and d['finished_at'] is not None and d['error'] is None")" = True ]

# ================================================ 2. broken v3
echo "# 2. a broken v3: the canary fails"
BEFORE=$(names flo)
publish "$GUEST/golden-broken.qcow2" "v3 broken"
check "publish golden-broken -> 201, version 3 ($STATUS)" [ "$STATUS" = 201 -a "$(jget "$BODY" "d['version']")" = 3 ]
t_pub=$SECONDS
OP2=
wait_for 20 has_running_op flo && OP2=$(running_op flo)
check "a rebase to v3 started by itself ($OP2)" [ -n "$OP2" -a "$OP2" != "$OP1" ]
saw_v3=0
end=$((SECONDS + 150))
while [ -n "$OP2" ] && [ $SECONDS -lt $end ]; do
    [ "$(jget "$(pool_json flo)" "any(x['image_version'] == 3 for x in d['desktops'])")" = True ] && saw_v3=1
    op_is "$OP2" running || break
    sleep 0.5
done
check "  ... a canary desktop on v3 was built" [ $saw_v3 = 1 ]
op_field "$OP2" 1 >/dev/null
OP2_BODY=$BODY
echo "# operation after $((SECONDS - t_pub)) s: $(jget "$OP2_BODY" "'%s: %s' % (d['state'], d['error'])")"
check "  ... the operation failed" [ "$(jget "$OP2_BODY" "d['state']")" = failed ]
check "  ... with the canary's boot error" [ "$(jget "$OP2_BODY" "bool(d['error']) and d['finished_at'] is not None")" = True ]
pj=$(pool_json flo)
check "  ... the pool is pinned to v2 and runs v2 ($(jget "$pj" "'image_version %s, current_version %s' % (d['image_version'], d['current_version'])"))" \
    [ "$(jget "$pj" "d['image_version'] == 2 and d['current_version'] == 2")" = True ]
nov3() { [ "$(jget "$(pool_json flo)" "any(x['image_version'] == 3 for x in d['desktops'])")" = False ]; }
check "  ... the canary was deleted" wait_for 30 nov3
check "  ... the same desktops as before ($BEFORE)" [ "$(names flo)" = "$BEFORE" ]
check "  ... all of them ready and still v2 (store and guest)" versions_are flo 2
sleep 3
check "  ... and no new operation starts for the pinned pool" [ -z "$(running_op flo)" ]
check "no orphan domain or volume after the failed canary" no_orphans
[ -n "${ORPHANS:-}" ] && echo "# $ORPHANS"

# ================================================ 3. dedicated pool, data disk
echo "# 3. dedicated desktop rebased in place, data disk kept"
acquire ded dr.b
check "acquire ded as dr.b -> 201 ($STATUS)" [ "$STATUS" = 201 ]
B_ID=$SID B_DESK=$SDESK B_DOM=$SDOM
B_DATA=$(desk_field ded "$B_DESK" data_volume)
check "  ... $B_DESK has a data volume ($B_DATA)" [ -n "$B_DATA" -a "$B_DATA" != None ]
check "  ... guest says v1" [ "$(gver "$B_DOM")" = v1 ]
MARK="DPMARK$$"
gexec "$B_DOM" sh -c "printf %s $MARK | dd of=/dev/vdb bs=512 conv=fsync 2>/dev/null; sync" >/dev/null
check "  ... marker $MARK written to /dev/vdb reads back" [ "$(gexec "$B_DOM" head -c ${#MARK} /dev/vdb)" = "$MARK" ]
api DELETE "/v1/sessions/$B_ID"
check "  ... release -> 200 ($STATUS)" [ "$STATUS" = 200 ]
wait_for 30 desk_ready ded "$B_DESK" || not_ok "$B_DESK not ready after release"

publish "$GUEST/golden-v4.qcow2" v4
check "publish golden-v4 -> 201, version 4 ($STATUS)" [ "$STATUS" = 201 -a "$(jget "$BODY" "d['version']")" = 4 ]
sleep 3
check "  ... pinned pools do not follow it (no operation on flo or ded)" [ -z "$(running_op flo)" -a -z "$(running_op ded)" ]
api POST /v1/pools/ded/rebase '{"to":4}'
check "POST /v1/pools/ded/rebase {to:4} -> 202 ($STATUS)" [ "$STATUS" = 202 ]
OP3=$(jget "$BODY" "d.get('id', '')")
t_reb=$SECONDS
if wait_for 180 op_is "$OP3" succeeded; then
    ok "dedicated rebase succeeded in $((SECONDS - t_reb)) s"
else
    not_ok "dedicated rebase did not succeed: $BODY $(pool_json ded | head -c 600)"
fi
wait_for 60 settled ded || true
check "  ... $B_DESK is on v4 in the store and keeps its data volume" \
    [ "$(desk_field ded "$B_DESK" image_version)" = 4 -a "$(desk_field ded "$B_DESK" data_volume)" = "$B_DATA" ]
acquire ded dr.b
check "acquire ded as dr.b again -> 201 with the SAME desktop ($SDESK)" [ "$STATUS" = 201 -a "$SDESK" = "$B_DESK" ]
B_DOM=$SDOM
check "  ... guest says v4 ($(gver "$B_DOM"))" [ "$(gver "$B_DOM")" = v4 ]
got=$(gexec "$B_DOM" head -c ${#MARK} /dev/vdb)
check "  ... the marker is still on its data disk ($got)" [ "$got" = "$MARK" ]
api DELETE "/v1/sessions/$SID"
check "  ... release -> 200 ($STATUS)" [ "$STATUS" = 200 ]
pj=$(pool_json ded)
check "dedicated pool: image_version 4, current_version 4 ($(jget "$pj" "'%s/%s' % (d['image_version'], d['current_version'])"))" \
    [ "$(jget "$pj" "d['image_version'] == 4 and d['current_version'] == 4")" = True ]

# ================================================ 4. kill -9 mid-rebase
echo "# 4. kill -9 in the middle of a rebase"
wait_for 30 settled flo || true
api POST /v1/pools/flo/rebase '{"to":4}'
check "POST /v1/pools/flo/rebase {to:4} -> 202 ($STATUS)" [ "$STATUS" = 202 ]
OP4=$(jget "$BODY" "d.get('id', '')")
canary_ready() { [ "$(op_field "$OP4" "d['state'] != 'running' or d['done'] >= 1")" = True ]; }
wait_for 120 canary_ready || true
op_field "$OP4" 1 >/dev/null
at_kill=$(jget "$BODY" "'%s %s/%s step=%s' % (d['state'], d['done'], d['total'], d['step'])")
if [ "$(jget "$BODY" "d['state'] == 'running' and 1 <= d['done'] < d['total']")" = True ]; then
    dp_stop KILL
    ok "deskpoold killed with -9 after the canary was ready ($at_kill; $(running) domains running)"
else
    dp_stop KILL
    not_ok "missed the window: operation was '$at_kill' at kill time"
fi
dp_start "$dir" "$inst" "${DP_ARGS[@]}" || fail_now "deskpoold did not restart"
t_res=$SECONDS
if wait_for 240 op_is "$OP4" succeeded; then
    ok "after restart the operation resumed and succeeded in $((SECONDS - t_res)) s"
else
    not_ok "operation did not succeed after restart: $BODY $(pool_json flo | head -c 800)"
fi
check "flo settles" wait_for 60 settled flo
check "all flo desktops ready on v4 (store and guest)" versions_are flo 4
check "  ... and 3 of them ($(count flo total))" [ "$(count flo total)" = 3 ]
if wait_for 30 no_orphans; then ok "no orphans: $ORPHANS, one per desktop (overlays and data disks)"; else not_ok "orphans: $ORPHANS"; fi
echo "# daemon log after restart:"
grep -E 'Rebase|rebase|operation|Operation' "$dir/daemon.log" | tail -n 8 | sed 's/^/#   /'

# ================================================ the end
api DELETE "/v1/pools/flo?force=true"
api DELETE "/v1/pools/ded?force=true"
pools_gone() { api GET /v1/pools >/dev/null && [ "$(jget "$BODY" "len(d['pools'])")" = 0 ]; }
wait_for 120 pools_gone || not_ok "pools not deleted: $BODY"
left=$("${V[@]}" list --all --name | grep -c "^$inst\\." || true)
check "pool delete removed every domain ($left left)" [ "$left" = 0 ]
echo "# rebase e2e took $((SECONDS - t0)) s"
grep -E ': (error|warning): ' "$dir/daemon.log" | head -n 20 | sed 's/^/# daemon: /'
