#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hosts.sh - many hosts end to end (issue 9), on two real libvirt daemons
# running real QEMU guests (the tiny guest, TCG):
#   - "local": the system daemon, qemu:///system (deskpoold's own --uri);
#   - "r1": the unprivileged user dpremote's qemu:///session daemon,
#     reached through libvirt's ssh transport (qemu+ssh://deskpool-remote/
#     session, tests/remote-host.sh): a remote host as deskpoold sees one.
# Checks:
#   - r1 is added over REST, connects, its domain type is probed there and
#     its facts (libvirt version, memory, CPUs) are shown;
#   - a pool spreads over both hosts; r1's desktops run on r1's daemon and
#     their guest agents answer there;
#   - the golden image reaches r1 through libvirt's storage API (uploaded
#     once, its SHA-256 read back from r1 equal to the image's);
#   - drain: r1's spares are made on local first (the ready count never
#     drops), then r1 holds nothing;
#   - host loss: r1's daemon is killed (its QEMUs keep running, as libvirt
#     intends); its desktops are unknown, their sessions go on; after
#     host_lost_grace the sessions end (host_lost), the desktops are made
#     again on local; the time from the kill to the pool's ready count
#     restored is printed (bench figure);
#   - fencing: r1's daemon comes back with the old guests still running;
#     deskpoold destroys every replaced domain there before anything else
#     (audit host.fenced), so no desktop ever has two live copies.
# Needs root, libvirtd, sshd (installed and started by remote-host.sh) and
# the tiny guest (built here, idempotently).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../guestlib.sh"
. "$(dirname "$0")/../remote-host.sh"
t_require_qemu
t_require_binaries
export DP_URI=qemu:///system
GUEST=/var/lib/deskpool/tiny-guest
"$DP_SRCDIR/tests/guest/build-guest.sh" --out "$GUEST" >/dev/null || fail_now "tiny guest build failed"
remote_host_setup || fail_now "the second libvirt host (dpremote's session daemon over ssh) cannot be set up"

t_instance inst eh
t_tmpdir dir
T_CLEANUPS+=("remote_host_cleanup '$inst'")
R=(virsh -q -c "$DP_REMOTE_URI")
t0=$SECONDS
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print('%.1f' % ($(now) - $1))"; }

dp_start "$dir" "$inst" --set virt_probe_timeout=20 --set boot_timeout=90 \
    --set reconcile_interval=1 --set host_lost_grace=10 --set max_concurrent=4 \
    || fail_now "deskpoold did not start"
probed() { api GET /healthz && [ "$(jget "$BODY" "d['virt_type']")" != probing ]; }
wait_for 120 probed || fail_now "the domain type probe did not finish: $BODY"
ctl image add tiny "$GUEST/golden-v1.qcow2" >/dev/null || fail_now "image add failed"
img_sha=$(ctl --json image show tiny | jget "$(cat)" "d['versions'][-1]['sha256']")

host_json() { ctl --json host show "$1"; }
host_is() { [ "$(host_json "$1" | jget "$(cat)" "d['state']")" = "$2" ]; }
pool_json() { ctl --json pool show "$1"; }
ready_is() { [ "$(jget "$(pool_json "$1")" "d['counts']['ready']")" = "$2" ]; }
# on HOST POOL: the desktops of POOL on HOST
on() { jget "$(pool_json "$2")" "sum(1 for x in d['desktops'] if x['host'] == '$1')"; }
# r1 domains of this instance (all, running)
r1_domains() { "${R[@]}" list --all --name 2>/dev/null | grep -c "^$inst\\." || true; }
r1_running() { "${R[@]}" list --name 2>/dev/null | grep -c "^$inst\\." || true; }

# --- r1: added over REST, connected, probed ---
ctl host add r1 "$DP_REMOTE_URI" --storage-dir "$DP_REMOTE_HOME/$inst" \
    --console-address 127.0.0.1 >/dev/null || fail_now "host add r1 failed"
if wait_for 120 host_is r1 up; then ok "r1 ($DP_REMOTE_URI) is up"
else fail_now "r1 did not come up: $(host_json r1)"; fi
jtrue_() { [ "$(jget "$1" "($2)" 2>&1)" = True ]; }
hj=$(host_json r1)
check "r1's facts: domain type $(jget "$hj" "d['virt_type']"), libvirt $(jget "$hj" "d['libvirt_version']"), $(jget "$hj" "d['cpus']") CPUs, $(jget "$hj" "d['memory'] >> 20") MiB" \
    jtrue_ "$hj" "d['virt_type'] in ('kvm', 'qemu') and bool(d['libvirt_version']) and d['memory'] > 0 and d['cpus'] > 0 and d['connection'] == 'up'"

# --- a pool spread over both hosts ---
t1=$(now)
ctl pool create eh --image tiny --template tiny --clone boot --min 4 --spare 0 --max 8 >/dev/null \
    || fail_now "pool create failed"
if wait_for 300 ready_is eh 4; then ok "4 desktops ready in $(elapsed "$t1") s"
else not_ok "pool did not reach 4 ready: $(pool_json eh | head -c 1500)"; fi
check "spread: 2 on local, 2 on r1 ($(on local eh) + $(on r1 eh))" \
    [ "$(on local eh):$(on r1 eh)" = 2:2 ]
check "r1's daemon runs its 2 desktops ($(r1_running))" [ "$(r1_running)" = 2 ]
r1_doms=$(jget "$(pool_json eh)" "' '.join(x['domain'] for x in d['desktops'] if x['host'] == 'r1')")
ga_r1() { "${R[@]}" qemu-agent-command "$1" '{"execute":"guest-ping"}' >/dev/null 2>&1; }
for dom in $r1_doms; do check "guest agent of $dom answers on r1" ga_r1 "$dom"; done

# --- the image reached r1 through libvirt, checked ---
img_vol=$("${R[@]}" vol-list "$inst" 2>/dev/null | awk -v p="$inst-image-" 'index($1, p) == 1 {print $2}')
check "the golden image is a volume of r1's pool ($img_vol)" [ -n "$img_vol" ] && [ -f "$img_vol" ]
check "its SHA-256 on r1 is the image's" [ "$(sha256sum <"$img_vol" | cut -d' ' -f1)" = "$img_sha" ]
check "deskpoold uploaded it once and checked its SHA-256 read back from r1" \
    [ "$(grep -c "copied to host 'r1'.*SHA-256 checked on the host" "$dir/daemon.log")" = 1 ]
back=$(qemu-img info -U --output=json "$(jget "$(pool_json eh)" "[x['volume'] for x in d['desktops'] if x['host'] == 'r1'][0]")" |
    jget "$(cat)" "d.get('backing-filename')")
check "r1's overlays are backed by r1's copy ($back)" [ "$back" = "$img_vol" ]

# --- drain r1: its spares are made on local first ---
t1=$(now)
ctl host drain r1 >/dev/null || not_ok "host drain failed"
low=4
drained() {
    local r
    r=$(jget "$(pool_json eh)" "d['counts']['ready']")
    [ "$r" -lt "$low" ] && low=$r
    [ "$(on r1 eh)" = 0 ] && [ "$r" = 4 ]
}
if wait_for 300 drained; then ok "drain: r1 empty, 4 ready on local, in $(elapsed "$t1") s"
else not_ok "drain did not finish: $(pool_json eh | head -c 1500)"; fi
check "the ready count never dropped below 4 during the drain (lowest $low)" [ "$low" = 4 ]
r1_empty() { [ "$(r1_domains)" = 0 ]; }
check "r1's daemon holds no domain of this instance" wait_for 30 r1_empty
ctl host undrain r1 >/dev/null || not_ok "host undrain failed"

# --- in use on both hosts ---
ctl pool resize eh --min 6 >/dev/null || not_ok "pool resize --min 6 failed"
six() { ready_is eh 6 && [ "$(on r1 eh)" = 2 ]; }
check "6 ready, 2 of them on r1 again" wait_for 300 six
for u in 1 2 3 4 5 6; do
    api POST /v1/pools/eh/sessions "{\"user\":\"u$u\"}"
    [ "$STATUS" = 201 ] || not_ok "acquire u$u: $STATUS $BODY"
done
r1_desks=$(jget "$(pool_json eh)" "' '.join(x['name'] for x in d['desktops'] if x['host'] == 'r1')")
api GET "/v1/sessions?pool=eh"
sessions_on_r1=$(python3 -c 'import json, sys
d = json.loads(sys.argv[1]); ds = set(sys.argv[2:])
print(" ".join(s["id"] for s in d["sessions"] if s["desktop"] in ds))' "$BODY" $r1_desks)
r1_doms=$(jget "$(pool_json eh)" "' '.join(x['domain'] for x in d['desktops'] if x['host'] == 'r1')")
check "2 sessions run on r1's desktops ($r1_desks)" [ "$(wc -w <<<"$sessions_on_r1")" = 2 ]
ctl pool resize eh --spare 2 --max 10 >/dev/null || not_ok "pool resize --spare 2 failed"
check "2 spares besides the 6 in use" wait_for 300 ready_is eh 2

# --- host loss ---
# what r1 holds now: the 2 in use, and the spares placement put there
r1_doms=$(jget "$(pool_json eh)" "' '.join(x['domain'] for x in d['desktops'] if x['host'] == 'r1')")
r1_n=$(wc -w <<<"$r1_doms")
check "r1 holds 2 or more desktops ($r1_n)" [ "$r1_n" -ge 2 ]
remote_host_stop || fail_now "cannot stop r1's daemon"
tl=$(now)
check "r1's QEMUs still run without their daemon" \
    [ "$(pgrep -u "$DP_REMOTE_USER" -c qemu-system 2>/dev/null || echo 0)" = "$r1_n" ]
check "r1 becomes unknown (not lost) first" wait_for 8 host_is r1 unknown
session_state() { api GET "/v1/sessions/$1"; jget "$BODY" "d['state'] + ':' + str(d['end_reason'])"; }
for s in $sessions_on_r1; do
    check "its session $s goes on while r1 is unknown" [ "$(session_state "$s")" = active:None ]
done
check "after host_lost_grace r1 is lost" wait_for 30 host_is r1 lost
for s in $sessions_on_r1; do
    ended_lost() { [ "$(session_state "$1")" = ended:host_lost ]; }
    check "session $s ended: host_lost" wait_for 15 ended_lost "$s"
done
restored() { ready_is eh 2 && [ "$(on r1 eh)" = 0 ] && [ "$(jget "$(pool_json eh)" "d['counts']['total']")" = 6 ]; }
# the 4 sessions on local go on; r1's ended: 4 in use + 2 spares on local
if wait_for 300 restored; then
    ok "r1's desktops made again on local: 4 in use + 2 spare"
    echo "# host loss: from r1's daemon killed to the spares restored: $(elapsed "$tl") s (host_lost_grace 10 s)"
else
    not_ok "the pool was not restored after the loss: $(pool_json eh | head -c 1500)"
fi
api GET "/v1/audit?limit=200"
check "audit: host.lost for each of r1's $r1_n desktops" \
    [ "$(jget "$BODY" "sum(1 for e in d['entries'] if e['action'] == 'host.lost')")" = "$r1_n" ]

# --- r1 comes back: the replaced domains are fenced first ---
tf=$(now)
remote_host_start || fail_now "cannot start r1's daemon again"
check "r1's daemon re-attached the $r1_n old guests ($(r1_running) running)" [ "$(r1_running)" = "$r1_n" ]
check "r1 is up again" wait_for 60 host_is r1 up
fenced() { [ "$(r1_domains)" = 0 ]; }
if wait_for 60 fenced; then ok "every replaced domain on r1 destroyed and undefined, $(elapsed "$tf") s after it came back"
else not_ok "stale domains remain on r1: $("${R[@]}" list --all --name)"; fi
api GET "/v1/audit?limit=200"
check "audit: host.fenced for each ($(jget "$BODY" "sorted(e['detail'] for e in d['entries'] if e['action'] == 'host.fenced')"))" \
    [ "$(jget "$BODY" "sorted(e['detail'] for e in d['entries'] if e['action'] == 'host.fenced')")" = "$(python3 -c "import sys; print(sorted(sys.argv[1:]))" $r1_doms)" ]
no_qemu() { ! pgrep -u "$DP_REMOTE_USER" -f "guest=$inst\\." >/dev/null; }
check "no QEMU of dpremote left for those guests" wait_for 20 no_qemu
one_copy() {
    [ -z "$(comm -12 <(virsh -q -c qemu:///system list --name | sort) <("${R[@]}" list --name | sort))" ]
}
check "no desktop has two live copies: each name runs on one host only" one_copy

echo "# deskpoold's RSS with $(jget "$(pool_json eh)" "d['counts']['total']") desktops on 2 real hosts: $(($(awk '/VmRSS/ {print $2}' "/proc/$DP_PID/status") / 1024)) MiB"

# --- the end: pools go, r1 goes ---
ctl pool delete eh --force >/dev/null || not_ok "pool delete failed"
gone() { ! ctl pool show eh >/dev/null 2>&1; }
check "pool deleted" wait_for 120 gone
ctl host remove r1 >/dev/null
r1_gone() { ! ctl host show r1 >/dev/null 2>&1; }
check "r1 removed once empty" r1_gone
echo "# hosts.sh: $((SECONDS - t0)) s"
t_finish
