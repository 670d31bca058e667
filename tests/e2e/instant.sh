#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# instant.sh - instant clones end to end on real libvirtd + QEMU
# (qemu:///system) with the tiny guest (issue 8):
#   - a floating pool of 4 instant clones: one parent is booted and saved,
#     the 4 desktops are restored from it; checked from inside each guest:
#     its own MAC (on a NIC hot-plugged after the restore), host name and
#     VM generation ID, a clock within 1 s of the host, a file written in
#     one invisible in the others;
#   - logout: the desktop is re-cloned under its other domain name, the
#     file is gone, the MAC and host name are the same, the genid is new;
#     the parent's files are byte for byte unchanged;
#   - kill -9 of deskpoold mid-clone and mid-parent-build: no orphans, no
#     restore FIFO left, the pool recovers;
#   - a corrupt parent state: the restore fails, the pool falls back to
#     booting with the reason in pool show and the audit log; pool set
#     --clone instant re-arms it with a new parent;
#   - a rebase with one desktop in use: a new parent for v2, a canary, the
#     idle desktops replaced, the one in use kept until logoff, then the
#     old parent deleted;
#   - deleting the pools leaves no domain, volume, parent or saved image.
#
# Needs root, libvirtd and the tiny guest (built here, idempotently).
# Without root or libvirtd it SKIPs (a failure under DP_REQUIRE_ALL=1).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../guestlib.sh"
t_require_qemu
t_require_binaries
export DP_URI=qemu:///system
GUEST=/var/lib/deskpool/tiny-guest
V=(virsh -q -c qemu:///system)

virsh -c qemu:///system version >/dev/null 2>&1 || fail_now "libvirtd is not reachable on qemu:///system"
"$DP_SRCDIR/tests/guest/build-guest.sh" --out "$GUEST" >/dev/null || fail_now "tiny guest build failed"
"$DP_SRCDIR/tests/guest/build-guest.sh" --out "$GUEST" --version v2 >/dev/null || fail_now "tiny guest v2 build failed"

t_instance inst ic
t_tmpdir dir
t0=$SECONDS

# templates: tiny with a user-mode virtio NIC (the parent gets none, each
# clone its own), and a second one for a second parent
export DP_TEMPLATES=$dir/templates
mkdir -p "$DP_TEMPLATES"
sed 's|    <controller type=.usb. model=.none./>|&\n    <interface type="user"><model type="virtio"/></interface>|' \
    "$DP_SRCDIR/templates/tiny.xml" >"$DP_TEMPLATES/nic.xml"
grep -q '<interface type="user">' "$DP_TEMPLATES/nic.xml" || fail_now "cannot make the NIC template"
sed 's|<cmdline>console=ttyS0 quiet</cmdline>|<cmdline>console=ttyS0 quiet loglevel=3</cmdline>|' \
    "$DP_TEMPLATES/nic.xml" >"$DP_TEMPLATES/nic2.xml"
cp "$DP_SRCDIR/templates/tiny.xml" "$DP_TEMPLATES/tiny.xml"

pool_json() { ctl --json pool show "$1"; }
count() { jget "$(pool_json "$1")" "d['counts']['$2']"; }
ready_is() { [ "$(count "$1" ready)" = "$2" ]; }
parents_dir=$dir/state/parents
# pj_desks POOL EXPR: EXPR over each desktop x of POOL, one line each
pj_desks() { jget "$(pool_json "$1")" "'\\n'.join(str($2) for x in d['desktops'])"; }
domains() { "${V[@]}" list --all --name | grep -c "^$inst\\." || true; }
volumes() { "${V[@]}" vol-list "$inst" 2>/dev/null | awk '{print $1}' | grep -c "^$inst\\..*\\.qcow2$" || true; }

# What the guest sees. The tiny guest has no virtio_net driver: the MAC is
# read from the NIC's legacy virtio header (I/O BAR 0, config at 20). The
# VM generation ID from QEMU's vmgenid buffer, whose address the SSDT's
# VGIA holds (hw/acpi/vmgenid.c), read with devmem.
guest_mac() {
    gexec "$1" sh -c 'for d in /sys/bus/pci/devices/*; do
        [ "$(cat $d/vendor) $(cat $d/device)" = "0x1af4 0x1000" ] || continue
        dd if=$d/resource0 bs=1 skip=20 count=6 2>/dev/null | od -An -v -tx1 |
            tr -s " \n" "  " | sed "s/^ //; s/ $//; s/ /:/g"; exit 0
    done; echo none'
}
guest_genid() {
    gexec "$1" sh -c 't=$(grep -l VGIA /sys/firmware/acpi/tables/SSDT* 2>/dev/null | head -n 1)
        [ -n "$t" ] || exit 3
        a=$(od -An -v -tx1 "$t" | tr -s " \n" "  " | awk "{ for (i = 1; i + 8 <= NF; i++)
            if (\$i == \"56\" && \$(i+1) == \"47\" && \$(i+2) == \"49\" && \$(i+3) == \"41\" &&
                \$(i+4) == \"0c\") { print \$(i+8) \$(i+7) \$(i+6) \$(i+5); exit } }")
        [ -n "$a" ] || exit 4
        b=$((0x$a + 40)); s=
        for i in 3 2 1 0 - 5 4 - 7 6 - 8 9 - 10 11 12 13 14 15; do
            if [ "$i" = - ]; then s="$s-"; else s="$s$(printf %02x $(devmem $((b + i)) 8))"; fi
        done; echo "$s"'
}
# clock_ok DOM: guest-get-time within 1 s of the host
clock_ok() {
    local t h
    t=$(ga "$1" '{"execute":"guest-get-time"}' | jget "$(cat)" "d['return']") || return 1
    h=$(date +%s%N)
    python3 -c "import sys; sys.exit(0 if abs($t - $h) < 1e9 else 1)"
}

dp_start "$dir" "$inst" --set virt_probe_timeout=10 --set boot_timeout=60 || fail_now "deskpoold did not start"
probed() { api GET /healthz && [ "$(jget "$BODY" "d['virt_type']")" != probing ]; }
wait_for 120 probed || fail_now "the domain type probe did not finish: $BODY"
ctl image add tiny "$GUEST/golden-v1.qcow2" >/dev/null || fail_now "image add failed"
check "parents directory is root's and 0700" [ "$(stat -c %U:%a "$parents_dir")" = root:700 ]

# --- what instant clones need is checked ---
api POST /v1/pools '{"name":"ded","image":"tiny","template":"nic","mode":"dedicated","clone":"instant","min":0,"spare":0,"max":1}'
check "instant clones for a dedicated pool: 400 with the reason ($STATUS)" \
    [ "$STATUS" = 400 -a "$(jget "$BODY" "'floating' in d['error']['message']")" = True ]
api POST /v1/pools '{"name":"ded","image":"tiny","template":"nic","mode":"dedicated","min":0,"spare":0,"max":1}'
check "a dedicated pool without --clone boots ($(jget "$BODY" "d.get('clone')"))" \
    [ "$STATUS" = 201 -a "$(jget "$BODY" "d['clone']")" = boot ]
api PATCH /v1/pools/ded '{"clone":"instant"}'
check "pool set --clone instant on a dedicated pool: 400" [ "$STATUS" = 400 ]
api PATCH /v1/pools/ded '{"clone":"linked"}'
check "clone 'linked': 400" [ "$STATUS" = 400 ]
ctl pool delete ded >/dev/null

# --- a pool of 4 instant clones ---
t1=$(now)
ctl pool create ic --image tiny --template nic --mode floating --min 4 --spare 0 --max 6 >/dev/null \
    || fail_now "pool create failed"
check "a floating pool on local QEMU makes instant clones by default" \
    [ "$(jget "$(pool_json ic)" "d['clone'] + '/' + d['clone_effective']")" = instant/instant ]
if wait_for 240 ready_is ic 4; then ok "4 instant clones ready in $(elapsed "$t1") s (parent boot and save included)"
else not_ok "pool did not reach 4 ready: $(pool_json ic | head -c 1500)"; fi
pj=$(pool_json ic)
parent=$(jget "$pj" "d['parents'][0]['name']")
pdom=$(jget "$pj" "d['parents'][0]['domain']")
check "one parent, ready, 4 clones ($(jget "$pj" "[(p['name'], p['state'], p['clones']) for p in d['parents']]"))" \
    [ "$(jget "$pj" "len(d['parents']) == 1 and d['parents'][0]['state'] == 'ready' and d['parents'][0]['clones'] == 4")" = True ]
echo "# parent $parent: boot $(jget "$pj" "d['parents'][0]['boot_seconds']") s, save $(jget "$pj" "d['parents'][0]['save_seconds']") s, $(jget "$pj" "d['parents'][0]['disk_bytes'] // 1048576") MiB on disk"
check "the parent's domain is gone after its save (it must never run again)" \
    [ "$("${V[@]}" list --all --name | grep -c "^$pdom\$")" = 0 ]
saved=$parents_dir/$parent.save
pvol=$dir/overlays/$pdom.qcow2
check "saved image 0400, parent overlay 0444" [ "$(stat -c %a "$saved"):$(stat -c %a "$pvol")" = 400:444 ]
sha_saved=$(sha256sum <"$saved")
sha_pvol=$(sha256sum <"$pvol")
check "every desktop names the parent" [ "$(pj_desks ic "x['parent']" | sort -u)" = "$parent" ]
ovl=$(jget "$pj" "d['desktops'][0]['volume']")
back=$(qemu-img info -U --output=json "$ovl" | jget "$(cat)" "d.get('backing-filename')")
check "a clone's overlay is backed by the parent's ($back)" [ "$back" = "$pvol" ]
du_kib=$(du -k "$ovl" | cut -f1)
check "no memory image per desktop: the clone's overlay holds $du_kib KiB (< 16 MiB)" [ "$du_kib" -lt 16384 ]
check "no snapshot per desktop" [ -z "$("${V[@]}" snapshot-list --name "$(jget "$pj" "d['desktops'][0]['domain']")" 2>/dev/null)" ]
parent_genid=$(grep -a -o -m1 '<genid>[^<]*</genid>' "$saved" | head -n 1 | sed 's/<[^>]*>//g')
check "the parent was saved with a genid ($parent_genid)" [ -n "$parent_genid" ]

names=(); doms=(); macs=(); genids=()
for i in 0 1 2 3; do
    names[i]=$(jget "$pj" "d['desktops'][$i]['name']")
    doms[i]=$(jget "$pj" "d['desktops'][$i]['domain']")
    want_mac=$(jget "$pj" "d['desktops'][$i]['mac']")
    macs[i]=$(guest_mac "${doms[i]}")
    check "${names[i]}: the guest's NIC has the desktop's own MAC (${macs[i]})" [ "${macs[i]}" = "$want_mac" ]
    host=$(gexec "${doms[i]}" hostname)
    check "${names[i]}: host name $host" [ "$host" = "${names[i]}" ]
    genids[i]=$(guest_genid "${doms[i]}")
    check "${names[i]}: genid in guest memory ${genids[i]} is libvirt's and not the parent's" \
        [ -n "${genids[i]}" -a "${genids[i]}" != "$parent_genid" -a \
          "$("${V[@]}" dumpxml "${doms[i]}" | grep -o '<genid>[^<]*' | cut -c8-)" = "${genids[i]}" ]
    check "${names[i]}: clock within 1 s of the host" clock_ok "${doms[i]}"
    check "${names[i]}: sees the parent's disk (v1)" gread_is "${doms[i]}" /mnt/etc/desk-version v1
done
check "4 distinct MACs, host names, genids" \
    [ "$(printf '%s\n' "${macs[@]}" | sort -u | wc -l):$(printf '%s\n' "${genids[@]}" | sort -u | wc -l)" = 4:4 ]
gwrite "${doms[0]}" /mnt/data/only-here "secret of ${names[0]}" || not_ok "cannot write in ${doms[0]}"
check "${names[0]}: its file is there" gread_is "${doms[0]}" /mnt/data/only-here "secret of ${names[0]}"
for i in 1 2 3; do
    check "${names[i]}: the file written in ${names[0]} is not there" gfile_gone "${doms[i]}" /mnt/data/only-here
done

# --- logout: re-cloned under the other name ---
api POST /v1/pools/ic/sessions '{"user":"anna"}'
[ "$STATUS" = 200 ] || [ "$STATUS" = 201 ] || fail_now "acquire: $STATUS $BODY"
sid=$(jget "$BODY" "d['id']")
got=$(jget "$BODY" "d['desktop']")
gdom=$(jget "$(pool_json ic)" "[x['domain'] for x in d['desktops'] if x['name'] == '$got'][0]")
gmac=$(jget "$(pool_json ic)" "[x['mac'] for x in d['desktops'] if x['name'] == '$got'][0]")
gwrite "$gdom" /mnt/data/left-behind "patient list" || not_ok "cannot write in $gdom"
old_genid=$(guest_genid "$gdom")
t2=$(now)
api DELETE "/v1/sessions/$sid"
back_ready() {
    jget "$(pool_json ic)" "[x for x in d['desktops'] if x['name'] == '$got'][0]['state'] == 'ready' and [x for x in d['desktops'] if x['name'] == '$got'][0]['domain'] != '$gdom'" | grep -q True
}
if wait_for 60 back_ready; then ok "logout to ready: re-cloned in $(elapsed "$t2") s"; else not_ok "not ready again: $(pool_json ic | head -c 1500)"; fi
ndom=$(jget "$(pool_json ic)" "[x['domain'] for x in d['desktops'] if x['name'] == '$got'][0]")
check "the next incarnation runs under the other name ($gdom -> $ndom)" \
    [ "$ndom" = "$gdom.b" -o "$gdom" = "$ndom.b" ]
old_gone() { ! quiet "${V[@]}" dominfo "$gdom" && [ ! -e "$dir/overlays/$gdom.qcow2" ]; }
check "the last incarnation is undefined and its overlay deleted" wait_for 30 old_gone
check "after the wipe the user's file is gone" gfile_gone "$ndom" /mnt/data/left-behind
check "after the wipe: same MAC" [ "$(guest_mac "$ndom")" = "$gmac" ]
check "after the wipe: same host name" [ "$(gexec "$ndom" hostname)" = "$got" ]
ng=$(guest_genid "$ndom")
check "after the wipe: a new genid ($old_genid -> $ng)" [ -n "$ng" -a "$ng" != "$old_genid" ]
check "after the wipe: clock within 1 s" clock_ok "$ndom"
check "the parent's saved image is unchanged" [ "$(sha256sum <"$saved")" = "$sha_saved" ]
check "the parent's overlay is unchanged" [ "$(sha256sum <"$pvol")" = "$sha_pvol" ]
check "the golden image is untouched by clones (0400)" \
    [ "$(stat -c %a "$(jget "$(ctl --json image show tiny)" "d['versions'][0]['path']")")" = 400 ]

# --- every desktop hands out a console, whichever name it runs under ---
sids=()
cports_ok=1
for u in u1 u2 u3 u4; do
    api POST /v1/pools/ic/sessions "{\"user\":\"$u\"}"
    if [ "$STATUS" != 201 ]; then cports_ok=0; not_ok "acquire for $u: $STATUS $BODY"; continue; fi
    sids+=("$(jget "$BODY" "d['id']")")
    sd=$(jget "$BODY" "d['desktop']")
    port=$(jget "$BODY" "d['connection']['port']")
    sdom=$(jget "$(pool_json ic)" "[x['domain'] for x in d['desktops'] if x['name'] == '$sd'][0]")
    [ "$("${V[@]}" domdisplay "$sdom" | grep -o '[0-9]*$')" = $((port - 5900)) ] || {
        cports_ok=0; not_ok "$sd ($sdom): console port $port is not its display $("${V[@]}" domdisplay "$sdom")"; }
done
check "4 sessions, each console the port of its desktop's running domain (one is ${ndom##*.})" [ $cports_ok = 1 ]
t3=$(now)
for s in "${sids[@]}"; do api DELETE "/v1/sessions/$s"; done
all_back() { ready_is ic 4 && [ "$(count ic total)" = 4 ]; }
if wait_for 90 all_back; then ok "4 logouts at once: all 4 re-cloned and ready in $(elapsed "$t3") s"; else not_ok "not all ready again: $(pool_json ic | head -c 1500)"; fi

# --- kill -9 mid-clone ---
ctl pool resize ic --min 6 >/dev/null
restoring() { [ "$(count ic booting)" -ge 1 ] || [ "$(count ic provisioning)" -ge 1 ]; }
wait_for 30 restoring || not_ok "no clone was being made"
sleep 0.3
dp_stop KILL
ok "deskpoold killed with -9 while clones were made ($(count ic booting 2>/dev/null || echo ?) booting)"
dp_start "$dir" "$inst" --set boot_timeout=60 || fail_now "deskpoold did not restart"
six() { ready_is ic 6 && [ "$(count ic total)" = 6 ]; }
if wait_for 120 six; then ok "after kill -9 mid-clone: 6 ready"; else not_ok "no recovery: $(pool_json ic | head -c 1500)"; fi
check "no restore FIFO is left" [ -z "$(find "$parents_dir" -name '.clone-*')" ]
check "deskpoolctl check: store and libvirt agree, no orphans" quiet ctl check

# --- kill -9 mid-parent-build ---
ctl pool create ic2 --image tiny --template nic2 --min 1 --spare 0 --max 1 >/dev/null || not_ok "pool ic2"
building() { jget "$(pool_json ic2)" "any(p['state'] == 'building' for p in d['parents'])" | grep -q True &&
             [ "$("${V[@]}" list --name | grep -c "^$inst\\.parent\\.")" -ge 1 ]; }
wait_for 60 building || not_ok "the second parent did not start building"
dp_stop KILL
ok "deskpoold killed with -9 while a parent booted"
dp_start "$dir" "$inst" --set boot_timeout=60 || fail_now "deskpoold did not restart"
one() { ready_is ic2 1; }
if wait_for 180 one; then ok "after kill -9 mid-parent-build: the parent is built again, its clone ready"; else not_ok "no recovery: $(pool_json ic2 | head -c 1500)"; fi
check "ic2 has one ready parent" [ "$(jget "$(pool_json ic2)" "[p['state'] for p in d['parents']]")" = "['ready']" ]
check "deskpoolctl check after both kills: no orphans" quiet ctl check
check "health reports no orphans" [ "$(jget "$(ctl --json health)" "d['orphans']")" = 0 ]

# --- a saved image no parent row names: reported, left alone, purged on request ---
stray=$parents_dir/tiny.v7.nic.99.save
head -c 4096 /dev/urandom >"$stray"
mkfifo "$parents_dir/.clone-not-an-orphan"
one_orphan() { [ "$(jget "$(ctl --json health)" "d['orphans']")" = 1 ]; }
check "a stray saved image is counted as an orphan (and a FIFO is not)" wait_for 30 one_orphan
check "... and logged once, by path" [ "$(grep -c "Orphan saved image '$stray'" "$dir/daemon.log")" = 1 ]
check "... and left alone" [ -f "$stray" ]
rm -f "$parents_dir/.clone-not-an-orphan"
dp_stop TERM
dp_start "$dir" "$inst" --set boot_timeout=60 --purge-orphans || fail_now "deskpoold did not restart"
stray_gone() { [ ! -e "$stray" ] && [ "$(jget "$(ctl --json health)" "d['orphans']")" = 0 ]; }
check "deskpoold --purge-orphans removes it, and only it" wait_for 30 stray_gone
check "the parents' own saved images stay" [ -n "$(find "$parents_dir" -name '*.save')" ]
ctl pool delete ic2 --wait >/dev/null || not_ok "delete ic2"

# --- a corrupt parent state: fallback to boot, with the reason ---
chmod 600 "$saved"
truncate -s 50M "$saved"
chmod 400 "$saved"
ctl pool resize ic --min 7 --max 7 >/dev/null
fell_back() { [ "$(jget "$(pool_json ic)" "d['clone_effective']")" = boot ]; }
check "a restore from the truncated saved image fails and the pool falls back to boot" wait_for 60 fell_back
pj=$(pool_json ic)
reason=$(jget "$pj" "d['clone_fallback']")
check "pool show says why: $reason" [ "$(jget "$pj" "'truncated' in (d['clone_fallback'] or '')")" = True ]
check "deskpoolctl pool show prints it" bash -c "'$DESKPOOLCTL' --socket '$DP_SOCK' pool show ic | grep -q 'falls back from instant'"
check "the fallback is audited" bash -c "'$DESKPOOLCTL' --socket '$DP_SOCK' --json audit | grep -q 'pool.clone-fallback'"
seven() { ready_is ic 7; }
if wait_for 180 seven; then ok "the pool boots its new desktop instead"; else not_ok "no boot after the fallback: $(pool_json ic | head -c 1500)"; fi
check "the new desktop is booted (no parent, a clean snapshot)" \
    [ "$(jget "$(pool_json ic)" "sum(1 for x in d['desktops'] if x['parent'] is None)")" -ge 1 ]
ctl pool set ic --clone instant >/dev/null || not_ok "pool set --clone instant"
rearmed() { jget "$(pool_json ic)" "d['clone_effective'] == 'instant' and any(p['state'] == 'ready' and p['name'] != '$parent' for p in d['parents'])" | grep -q True; }
if wait_for 120 rearmed; then ok "pool set --clone instant re-arms it: a new parent is ready"; else not_ok "not re-armed: $(pool_json ic | head -c 1500)"; fi
ctl pool resize ic --min 4 --spare 0 --max 6 >/dev/null

# --- rebase with one desktop in use ---
api POST /v1/pools/ic/sessions '{"user":"bob"}'
[ "$STATUS" = 201 ] || not_ok "acquire for bob: $STATUS $BODY"
sid=$(jget "$BODY" "d['id']")
busy=$(jget "$BODY" "d['desktop']")
api POST "/v1/sessions/$sid/heartbeat"
ctl image publish tiny "$GUEST/golden-v2.qcow2" >/dev/null || not_ok "publish v2"
rolled() {
    jget "$(pool_json ic)" "all((x['image_version'] == 2) == (x['name'] != '$busy') for x in d['desktops'] if x['state'] == 'ready') and d['counts']['ready'] >= 3 and any(p['image_version'] == 2 and p['state'] == 'ready' for p in d['parents'])" | grep -q True
}
if wait_for 240 rolled; then ok "rebase: a v2 parent, the idle desktops replaced by v2 clones"; else not_ok "rebase did not roll: $(pool_json ic | head -c 2000)"; fi
bdom=$(jget "$(pool_json ic)" "[x['domain'] for x in d['desktops'] if x['name'] == '$busy'][0]")
check "the desktop in use is kept on v1 while its user works" \
    [ "$(jget "$(pool_json ic)" "[x['image_version'] for x in d['desktops'] if x['name'] == '$busy'][0]")" = 1 ]
check "... and still answers" agent_answers "$bdom"
v2dom=$(jget "$(pool_json ic)" "[x['domain'] for x in d['desktops'] if x['image_version'] == 2 and x['state'] == 'ready'][0]")
check "a v2 clone sees v2" gread_is "$v2dom" /mnt/etc/desk-version v2
api DELETE "/v1/sessions/$sid"
done_op() { [ "$(jget "$(ctl --json operation list --pool ic --all)" "d['operations'][0]['state']")" = succeeded ]; }
check "after logoff the rebase succeeds" wait_for 120 done_op
v1_parents_gone() { jget "$(pool_json ic)" "all(p['image_version'] == 2 for p in d['parents'])" | grep -q True; }
check "the v1 parents are deleted once no desktop uses them" wait_for 60 v1_parents_gone
check "their saved images are gone" [ -z "$(find "$parents_dir" -name 'tiny.v1.*')" ]

# --- deleting the pool leaves nothing ---
ctl pool delete ic --wait >/dev/null || not_ok "delete ic"
nothing_left() { [ "$(domains):$(volumes)" = 0:0 ] && [ -z "$(find "$parents_dir" -type f)" ]; }
check "pool delete removed every domain, volume, parent and saved image" wait_for 60 nothing_left
check "no parent is left in the store" [ "$(jget "$(ctl --json image show tiny)" "len(d['parents'])")" = 0 ]
echo "# instant e2e took $((SECONDS - t0)) s"
t_finish
