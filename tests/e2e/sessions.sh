#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# sessions.sh - end to end broker sessions on real libvirtd + QEMU
# (qemu:///system, TCG) with the tiny guest:
#   1. floating pool: entitled acquire with a working one-time VNC password,
#      403 for a user without the group, a file written in the guest, release
#      revokes the password at once, the wipe reverts to the clean snapshot
#      (file gone, same boot id: no reboot, clock resynced) in a few seconds;
#   2. dedicated pool: the same desktop and its data come back to its user,
#      also across a daemon restart;
#   3. automatic logout after idle_timeout, and a guest shut down from
#      inside: both end the session and the desktop comes back wiped;
#   4. the audit log names user and desktop for each of them.
#
# Needs root, libvirtd, the tiny guest (built here, idempotent) and
# gvnccapture (vnc-check.sh installs it). Without root or libvirtd it SKIPs
# (a failure under DP_REQUIRE_ALL=1); any other missing part FAILS.
. "$(dirname "$0")/../lib.sh"
t_require_qemu
t_require_binaries
export DP_URI=qemu:///system
export DP_TEMPLATES=$DP_SRCDIR/templates
GUEST=/var/lib/deskpool/tiny-guest
VNC_CHECK=$DP_SRCDIR/tests/e2e/vnc-check.sh
V=(virsh -q -c qemu:///system)

virsh -c qemu:///system version >/dev/null 2>&1 || fail_now "libvirtd is not reachable on qemu:///system"
"$DP_SRCDIR/tests/guest/build-guest.sh" --out "$GUEST" >/dev/null || fail_now "tiny guest build failed"

t_instance inst e2es
dir=
t_tmpdir dir
# virt_type forced: the KVM/TCG probe has its own test (run.sh)
DP_ARGS=(--set virt_type=qemu --set reconcile_interval=1 --set boot_timeout=90)

# ---------------------------------------------------------------- helpers
now() { date +%s.%N; }
elapsed() { printf '%.2f' "$(echo "$(now) - $1" | bc)"; }

# ga DOM JSON: one guest agent command; prints its answer.
ga() { "${V[@]}" qemu-agent-command "$1" "$2"; }

# gexec DOM PROG [ARG...]: runs PROG in the guest, prints its stdout and
# returns its exit code (125: the agent failed, 124: it never finished).
gexec() {
    local dom=$1 cmd pid st
    shift
    cmd=$(python3 -c 'import json, sys; print(json.dumps({"execute": "guest-exec",
        "arguments": {"path": sys.argv[1], "arg": sys.argv[2:], "capture-output": True}}))' "$@")
    pid=$(ga "$dom" "$cmd" | jget "$(cat)" "d['return']['pid']" 2>/dev/null) || return 125
    for _ in $(seq 1 100); do
        st=$(ga "$dom" "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}") || return 125
        if [ "$(jget "$st" "d['return']['exited']")" = True ]; then
            jget "$st" "__import__('base64').b64decode(d['return'].get('out-data', '')).decode().rstrip('\n')"
            return "$(jget "$st" "d['return'].get('exitcode', 125)")"
        fi
        sleep 0.1
    done
    return 124
}

# gwrite DOM PATH TEXT: writes TEXT to PATH in the guest (file open, write,
# close through the agent), then syncs the guest's disks.
gwrite() {
    local h b64
    h=$(ga "$1" "{\"execute\":\"guest-file-open\",\"arguments\":{\"path\":\"$2\",\"mode\":\"w\"}}" |
        jget "$(cat)" "d['return']" 2>/dev/null) || return 1
    b64=$(printf %s "$3" | base64 -w0)
    ga "$1" "{\"execute\":\"guest-file-write\",\"arguments\":{\"handle\":$h,\"buf-b64\":\"$b64\"}}" >/dev/null || return 1
    ga "$1" "{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":$h}}" >/dev/null || return 1
    gexec "$1" sync >/dev/null
}

# gread_is DOM PATH TEXT: PATH in the guest holds exactly TEXT.
gread_is() { [ "$(gexec "$1" cat "$2")" = "$3" ]; }
# gfile_gone DOM PATH: the guest answers and PATH does not exist there.
gfile_gone() {
    local rc
    gexec "$1" cat "$2" >/dev/null 2>&1
    rc=$?
    [ "$rc" -ne 0 ] && [ "$rc" -lt 124 ]
}
# kernel_base DOM: where KASLR put the guest kernel: random at each boot,
# kept by a revert to a memory snapshot. (boot_id cannot tell: the kernel
# makes it at its first read, which a revert undoes.)
kernel_base() { gexec "$1" sh -c "grep ' _text\$' /proc/kallsyms | cut -d' ' -f1"; }
agent_answers() { quiet ga "$1" '{"execute":"guest-ping"}'; }

pool_json() { api GET "/v1/pools/$1" >/dev/null && [ "$STATUS" = 200 ] && printf '%s' "$BODY"; }
count() { jget "$(pool_json "$1")" "d['counts']['$2']"; }
ready_is() { [ "$(count "$1" ready)" = "$2" ]; }
# desk_field POOL DESK FIELD
desk_field() {
    jget "$(pool_json "$1")" "[x['$3'] for x in d['desktops'] if x['name'] == '$2'][0]"
}
desk_ready() { [ "$(desk_field "$1" "$2" state 2>/dev/null)" = ready ]; }
# session_ended ID REASON
session_ended() {
    api GET "/v1/sessions/$1" >/dev/null
    [ "$STATUS" = 200 ] && [ "$(jget "$BODY" "d['state'] + '/' + str(d['end_reason'])")" = "ended/$2" ]
}

# acquire POOL USER GROUPS_JSON: sets STATUS, BODY and, on success, SID,
# SDESK, SHOST, SPORT, SPW, SDOM.
acquire() {
    api POST "/v1/pools/$1/sessions" "{\"user\":\"$2\",\"groups\":$3,\"client\":\"site-1\"}"
    SID='' SDESK='' SHOST='' SPORT='' SPW='' SDOM=''
    case $STATUS in 200|201) ;; *) return 0 ;; esac
    SID=$(jget "$BODY" "d['id']")
    SDESK=$(jget "$BODY" "d['desktop']")
    SHOST=$(jget "$BODY" "d['connection']['host']")
    SPORT=$(jget "$BODY" "d['connection']['port']")
    SPW=$(jget "$BODY" "d['connection']['password']")
    SDOM=$(desk_field "$1" "$SDESK" domain)
}

# vnc HOST PORT PASSWORD: vnc-check.sh's exit status, echoed.
vnc() {
    local rc
    "$VNC_CHECK" "$@" >/dev/null 2>&1
    rc=$?
    echo "$rc"
}

# ---------------------------------------------------------------- setup
t0=$SECONDS
dp_start "$dir" "$inst" "${DP_ARGS[@]}" || fail_now "deskpoold did not start on qemu:///system"
ctl image add tiny "$GUEST/golden-v1.qcow2" >/dev/null || fail_now "image add failed"
api POST /v1/pools '{"name":"flo","image":"tiny","template":"tiny","mode":"floating","clone":"boot","min":2,"spare":1,"max":3,"groups":["radiology"]}'
[ "$STATUS" = 201 ] || fail_now "floating pool create: $STATUS $BODY"
api POST /v1/pools '{"name":"ded","image":"tiny","template":"tiny","mode":"dedicated","min":1,"spare":1,"max":3}'
[ "$STATUS" = 201 ] || fail_now "dedicated pool create: $STATUS $BODY"
t1=$SECONDS
both_ready() { ready_is flo 2 && ready_is ded 1; }
if wait_for 150 both_ready; then
    ok "floating pool (2) and dedicated pool (1) ready in $((SECONDS - t1)) s"
else
    fail_now "pools did not get ready: $(pool_json flo | head -c 600) $(pool_json ded | head -c 300)"
fi

# ================================================ 1. floating pool
echo "# 1. floating pool"
acquire flo dr.a '["cardiology","radiology"]'
check "acquire by an entitled user -> 201 ($STATUS)" [ "$STATUS" = 201 ]
[ -n "$SID" ] || fail_now "no session: $BODY"
conn_ok=$(jget "$BODY" "[d['connection'][k] for k in ('protocol', 'host')] == ['vnc', '$SHOST'] \
    and '$SHOST' != '' and 5900 <= d['connection']['port'] < 65536 and len('$SPW') == 8 \
    and d['connection']['password_expires'] > d['created_at'] \
    and (d['user'], d['state']) == ('dr.a', 'active')")
check "connection: vnc, host, port $SPORT, 8-character password, expiry after creation" [ "$conn_ok" = True ]
check "the desktop is in use and runs (domain $SDOM)" \
    bash -c "[ \"\$(virsh -q -c qemu:///system domstate '$SDOM')\" = running ]"
A_ID=$SID A_DESK=$SDESK A_DOM=$SDOM A_HOST=$SHOST A_PORT=$SPORT A_PW=$SPW

before=$(jget "$(pool_json flo)" "d['counts']")
acquire flo dr.nogroup '["cardiology"]'
check "a user without an entitled group -> 403 ($STATUS)" [ "$STATUS" = 403 ]
check "  ... with error code permission_denied" [ "$(jget "$BODY" "d['error']['code']")" = permission_denied ]
check "  ... and nothing assigned (counts unchanged)" [ "$(jget "$(pool_json flo)" "d['counts']")" = "$before" ]
api GET "/v1/sessions?user=dr.nogroup&state=all"
check "  ... and no session recorded for that user" [ "$(jget "$BODY" "len(d['sessions'])")" = 0 ]

check "VNC: the session's password opens the console and gives a frame" [ "$(vnc "$A_HOST" "$A_PORT" "$A_PW")" = 0 ]
check "VNC: a wrong password is refused" [ "$(vnc "$A_HOST" "$A_PORT" "wrongpw1")" = 1 ]

check "guest agent: write /mnt/data/secret.txt in the desktop" gwrite "$A_DOM" /mnt/data/secret.txt "top secret $$"
check "guest agent: the file reads back" gread_is "$A_DOM" /mnt/data/secret.txt "top secret $$"
A_BOOT=$(kernel_base "$A_DOM")
snap_epoch=$("${V[@]}" snapshot-dumpxml "$A_DOM" deskpool-clean | sed -n 's|.*<creationTime>\([0-9]*\)</creationTime>.*|\1|p')

api POST "/v1/sessions/$A_ID/heartbeat"
check "heartbeat -> 200 ($STATUS)" [ "$STATUS" = 200 ]

t_rel=$(now)
api DELETE "/v1/sessions/$A_ID"
check "release -> 200 ($STATUS), session ended with end_reason logout" \
    [ "$STATUS" = 200 -a "$(jget "$BODY" "d['state'] + '/' + str(d['end_reason'])")" = ended/logout ]
# From right after release on, the old password must be refused. The
# wipe's revert restarts QEMU within a fraction of a second (the console is
# then briefly unreachable: vnc-check 3), so try until there is a verdict.
(
    for i in $(seq 1 60); do
        "$VNC_CHECK" "$A_HOST" "$A_PORT" "$A_PW" >/dev/null 2>>"$dir/vnc-after.err"
        rc=$?
        [ "$rc" != 3 ] && break
        sleep 0.2
    done
    echo "$rc $i" >"$dir/vnc-after"
) &
vpid=$!
api DELETE "/v1/sessions/$A_ID"
check "a second release -> 409 ($STATUS)" [ "$STATUS" = 409 ]
if wait_for 60 desk_ready flo "$A_DESK"; then
    t_wipe=$(elapsed "$t_rel")
    ok "desktop $A_DESK ready again $t_wipe s after release"
else
    t_wipe=
    not_ok "desktop $A_DESK not ready again 60 s after release: $(pool_json flo | head -c 800)"
fi
wait "$vpid"
read -r vrc vtries <"$dir/vnc-after"
check "VNC from release on: the old password is refused (vnc-check $vrc at try $vtries; 1 = refused)" [ "$vrc" = 1 ]
[ "$vrc" = 1 ] || sed 's/^/#   /' "$dir/vnc-after.err" | sort -u
cur_port=$("${V[@]}" domdisplay "$A_DOM" | sed -n 's/^vnc:.*:\([0-9]*\)$/\1/p')
cur_port=$((5900 + ${cur_port:-0}))
check "VNC after the wipe: the old password is still refused (port $cur_port)" \
    [ "$(vnc "$A_HOST" "$cur_port" "$A_PW")" = 1 ]
check "wiped desktop: guest agent answers" agent_answers "$A_DOM"
check "wiped desktop: /mnt/data/secret.txt is GONE (guest-exec cat fails)" gfile_gone "$A_DOM" /mnt/data/secret.txt
B_BOOT=$(kernel_base "$A_DOM")
check "wiped desktop: same KASLR kernel base as in the session ($B_BOOT): reverted, not rebooted" \
    [ -n "$A_BOOT" -a "$A_BOOT" = "$B_BOOT" ]
if [ -n "$t_wipe" ]; then
    check "release -> ready took $t_wipe s (< 15 s: no full boot)" [ "$(echo "$t_wipe < 15" | bc)" = 1 ]
fi
gclock=$(gexec "$A_DOM" date +%s)
hclock=$(date +%s)
skew=$((hclock - ${gclock:-0}))
check "guest clock resynced after the revert: guest-host ${skew#-} s (the clean snapshot is $((hclock - ${snap_epoch:-0})) s old)" \
    [ -n "$gclock" -a "${skew#-}" -le 5 ]
echo "# release -> ready (revert + clock sync): $t_wipe s"

acquire flo dr.c '["radiology"]'
check "acquire again as another user -> 201 ($STATUS)" [ "$STATUS" = 201 ]
check "  ... the new password opens the console of $SDESK" [ "$(vnc "$SHOST" "$SPORT" "$SPW")" = 0 ]
check "  ... the desktop handed out holds no secret.txt" gfile_gone "$SDOM" /mnt/data/secret.txt
api DELETE "/v1/sessions/$SID"
check "  ... and its release -> 200" [ "$STATUS" = 200 ]

# ============== 3 (start): automatic logout runs while section 2 goes on
echo "# 3a. idle timeout armed"
api PATCH /v1/pools/flo '{"idle_timeout":30}'
check "PATCH idle_timeout 30 -> 200 ($STATUS)" [ "$STATUS" = 200 -a "$(jget "$BODY" "d['idle_timeout']")" = 30 ]
api PATCH /v1/pools/flo '{"idle_timeout":29}'
check "idle_timeout below 30 -> 400 ($STATUS)" [ "$STATUS" = 400 ]
wait_for 60 ready_is flo 2 || not_ok "floating pool not back to 2 ready: $(pool_json flo | head -c 600)"
acquire flo dr.idle '["radiology"]'
t_idle=$SECONDS
check "acquire as dr.idle -> 201 ($STATUS)" [ "$STATUS" = 201 ]
I_ID=$SID I_DESK=$SDESK I_DOM=$SDOM
check "dr.idle writes /mnt/data/idle.txt" gwrite "$I_DOM" /mnt/data/idle.txt idle

# ================================================ 2. dedicated pool
echo "# 2. dedicated pool"
acquire ded dr.b '[]'
check "dedicated: acquire as dr.b -> 201 ($STATUS)" [ "$STATUS" = 201 ]
D_ID=$SID D_DESK=$SDESK D_DOM=$SDOM
check "dedicated: the desktop belongs to dr.b" [ "$(desk_field ded "$D_DESK" owner)" = dr.b ]
check "dedicated: write /mnt/data/mine.txt" gwrite "$D_DOM" /mnt/data/mine.txt "mine $$"
D_HOST=$SHOST D_PORT=$SPORT D_PW=$SPW
api DELETE "/v1/sessions/$D_ID"
check "dedicated: release -> 200 ($STATUS)" [ "$STATUS" = 200 ]
# release locks a dedicated desktop without stopping it: the console stays
# up, so the verdict must come at once and be "refused"
check "dedicated: right after release the old password is refused (vnc-check 1)" \
    [ "$(vnc "$D_HOST" "$D_PORT" "$D_PW")" = 1 ]
check "dedicated: the desktop is locked and ready again" wait_for 30 desk_ready ded "$D_DESK"
acquire ded dr.b '[]'
check "dedicated: acquire again -> 201 with the SAME desktop ($SDESK)" [ "$STATUS" = 201 -a "$SDESK" = "$D_DESK" ]
D_ID=$SID
check "dedicated: the new password opens its console" [ "$(vnc "$SHOST" "$SPORT" "$SPW")" = 0 ]
check "dedicated: mine.txt is still there" gread_is "$D_DOM" /mnt/data/mine.txt "mine $$"
acquire ded dr.other '[]'
check "dedicated: another user gets another desktop ($SDESK)" \
    [ "$STATUS" = 201 -a -n "$SDESK" -a "$SDESK" != "$D_DESK" ]
O_ID=$SID
api DELETE "/v1/sessions/$O_ID"

dp_stop TERM || not_ok "deskpoold did not stop on SIGTERM"
check "dedicated: the domain outlives the daemon" \
    bash -c "[ \"\$(virsh -q -c qemu:///system domstate '$D_DOM')\" = running ]"
dp_start "$dir" "$inst" "${DP_ARGS[@]}" || fail_now "deskpoold did not restart"
acquire ded dr.b '[]'
check "after restart: acquire as dr.b -> 200 with the same active session and desktop" \
    [ "$STATUS" = 200 -a "$SID" = "$D_ID" -a "$SDESK" = "$D_DESK" ]
check "after restart: the fresh password opens the console" [ "$(vnc "$SHOST" "$SPORT" "$SPW")" = 0 ]
check "after restart: mine.txt is still there" gread_is "$D_DOM" /mnt/data/mine.txt "mine $$"
api DELETE "/v1/sessions/$D_ID"
check "after restart: release -> 200" [ "$STATUS" = 200 ]
wait_for 30 desk_ready ded "$D_DESK"
acquire ded dr.b '[]'
check "after restart: acquire after release -> 201, same desktop, file kept" \
    [ "$STATUS" = 201 -a "$SDESK" = "$D_DESK" ]
check "  ... mine.txt still there" gread_is "$D_DOM" /mnt/data/mine.txt "mine $$"
api DELETE "/v1/sessions/$SID"

# ================================================ 3. guest shutdown
echo "# 3b. guest shutdown"
# min = max for this case: a spare that turns surplus meanwhile (another
# session ended) must not be deleted while the test looks inside it
api PATCH /v1/pools/flo '{"min":3,"spare":1,"max":3}'
wait_for 60 ready_is flo 1 || true
acquire flo dr.shut '["radiology"]'
check "acquire as dr.shut -> 201 ($STATUS)" [ "$STATUS" = 201 ]
S_ID=$SID S_DESK=$SDESK S_DOM=$SDOM
check "dr.shut writes /mnt/data/shut.txt" gwrite "$S_DOM" /mnt/data/shut.txt shut
check "the guest shuts itself down (virsh shutdown --mode agent)" quiet "${V[@]}" shutdown "$S_DOM" --mode agent
check "session ended with end_reason guest_shutdown" wait_for 30 session_ended "$S_ID" guest_shutdown
check "the desktop came back ready (wiped by revert)" wait_for 60 desk_ready flo "$S_DESK"
check "  ... its guest agent answers" wait_for 10 agent_answers "$S_DOM"
check "  ... and shut.txt is GONE" gfile_gone "$S_DOM" /mnt/data/shut.txt
api PATCH /v1/pools/flo '{"min":2,"spare":1,"max":3}'

# ================================================ 3. idle timeout
echo "# 3c. idle timeout (waiting for it: $((SECONDS - t_idle)) s elapsed)"
if wait_for 60 session_ended "$I_ID" idle_timeout; then
    ok "dr.idle's session ended with end_reason idle_timeout (seen $((SECONDS - t_idle)) s after acquire)"
else
    not_ok "no idle_timeout after $((SECONDS - t_idle)) s: $BODY"
fi
idle_for=$(python3 - "$BODY" 2>/dev/null <<'EOF'
import calendar, json, sys, time
d = json.loads(sys.argv[1])
t = lambda k: calendar.timegm(time.strptime(d[k], '%Y-%m-%dT%H:%M:%SZ'))
print(t('ended_at') - t('last_heartbeat'))
EOF
)
check "  ... ended ${idle_for:-?} s after its last heartbeat (30 <= t <= 40)" \
    [ "${idle_for:-0}" -ge 30 -a "${idle_for:-0}" -le 40 ]
api POST "/v1/sessions/$I_ID/heartbeat"
check "  ... a late heartbeat -> 409 ($STATUS)" [ "$STATUS" = 409 ]
check "  ... the desktop is ready again" wait_for 60 desk_ready flo "$I_DESK"
check "  ... and idle.txt is GONE" gfile_gone "$I_DOM" /mnt/data/idle.txt
snap_epoch=$("${V[@]}" snapshot-dumpxml "$I_DOM" deskpool-clean | sed -n 's|.*<creationTime>\([0-9]*\)</creationTime>.*|\1|p')
gclock=$(gexec "$I_DOM" date +%s)
hclock=$(date +%s)
skew=$((hclock - ${gclock:-0}))
check "  ... its clock was resynced: guest-host ${skew#-} s (the clean snapshot is $((hclock - ${snap_epoch:-0})) s old)" \
    [ -n "$gclock" -a "${skew#-}" -le 5 ]

# ================================================ 4. audit
echo "# 4. audit"
api GET "/v1/audit?limit=1000"
AUDIT=$BODY
# has ACTION USER DESK
audit_has() {
    [ "$(jget "$AUDIT" "any(e['action'] == '$1' and e['user'] == '$2' and e['desktop'] == '$3' for e in d['entries'])")" = True ]
}
check "audit: session.acquire by dr.a on $A_DESK" audit_has session.acquire dr.a "$A_DESK"
check "audit: session.logout of dr.a on $A_DESK" audit_has session.logout dr.a "$A_DESK"
check "audit: session.idle_timeout of dr.idle on $I_DESK" audit_has session.idle_timeout dr.idle "$I_DESK"
check "audit: session.guest_shutdown of dr.shut on $S_DESK" audit_has session.guest_shutdown dr.shut "$S_DESK"
check "audit: session.logout of dr.b on $D_DESK" audit_has session.logout dr.b "$D_DESK"
check "audit: the refused acquire of dr.nogroup is recorded (session.denied)" \
    [ "$(jget "$AUDIT" "any(e['action'] == 'session.denied' and e['user'] == 'dr.nogroup' for e in d['entries'])")" = True ]

# ================================================ the end
ctl pool delete flo --force --wait >/dev/null || not_ok "delete flo"
ctl pool delete ded --force --wait >/dev/null || not_ok "delete ded"
left=$("${V[@]}" list --all --name | grep -c "^$inst\\." || true)
check "pool delete removed every domain ($left left)" [ "$left" = 0 ]
echo "# sessions e2e took $((SECONDS - t0)) s"
grep -E ': (error|warning): ' "$dir/daemon.log" | head -n 20 | sed 's/^/# daemon: /'
