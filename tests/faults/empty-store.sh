#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# empty-store.sh - a new or empty deskpool.db next to libvirt objects of its
# instance must never destroy anything (issue 11 #2).
#
# The host is a libvirt test driver file (test:///PATH.xml): a domain of
# instance 'orph' with deskpool metadata, its overlay and a dedicated
# user's data volume. Every deskpoold run loads the same host afresh, as a
# restored backup or a deleted deskpool.db would meet the real one.
. "$(dirname "$0")/../lib.sh"
t_require_binaries

t_tmpdir dir
inst=orph
cat >"$dir/host.xml" <<XML
<node>
  <domain type='test'>
    <name>$inst.p-1</name>
    <memory>65536</memory>
    <os><type>hvm</type></os>
    <metadata>
      <dp:desktop xmlns:dp='https://deskpool.org/xmlns/desktop/1'><dp:instance>$inst</dp:instance><dp:pool>p</dp:pool><dp:desktop-name>p-1</dp:desktop-name><dp:image>img</dp:image><dp:image-version>1</dp:image-version></dp:desktop>
    </metadata>
  </domain>
  <domain type='test'>
    <name>$inst.someone-elses</name>
    <memory>65536</memory>
    <os><type>hvm</type></os>
  </domain>
  <pool type='dir'>
    <name>$inst</name>
    <target><path>$dir/overlays</path></target>
    <volume type='file'><name>$inst.p-1.qcow2</name><capacity>1048576</capacity><target><format type='qcow2'/></target></volume>
    <volume type='file'><name>$inst.p-1.data.qcow2</name><capacity>1048576</capacity><target><format type='qcow2'/></target></volume>
  </pool>
</node>
XML
export DP_URI="test://$dir/host.xml"
metric() { curl -s --unix-socket "$DP_SOCK" http://localhost/metrics | awk -v m="$1" '$1 == m {print $2}'; }

# --- a new store refuses to start, touching nothing ---
out=$(timeout 20 "$DESKPOOLD" --config /dev/null --foreground --uri "$DP_URI" --state-dir "$dir/state" --socket "$dir/sock" \
    --instance "$inst" --set storage_pool="$inst" --set storage_dir="$dir/overlays" \
    --templates-dir "$DP_SRCDIR/templates" 2>&1); rc=$?
check "new store next to this instance's objects: exit 1 ($rc)" [ $rc = 1 ]
check "the refusal names the cause and both ways out" \
    bash -c "grep -q 'is new or empty, but libvirt' <<<\"\$1\" && grep -q -- '--adopt' <<<\"\$1\" && grep -q -- '--purge-orphans' <<<\"\$1\"" _ "$out"
check "the refusal counts 1 domain and 2 volumes (not someone else's domain)" \
    grep -q 'holds 1 domains and 2 volumes' <<<"$out"
check "nothing was removed" bash -c "! grep -q 'Removed orphan' <<<\"\$1\"" _ "$out"
# a second try on the now-existing, still empty store: the same
out=$(timeout 20 "$DESKPOOLD" --config /dev/null --foreground --uri "$DP_URI" --state-dir "$dir/state" --socket "$dir/sock" \
    --instance "$inst" --set storage_pool="$inst" --set storage_dir="$dir/overlays" \
    --templates-dir "$DP_SRCDIR/templates" 2>&1); rc=$?
check "the empty store it left refuses again ($rc)" [ $rc = 1 ]

# --- --adopt: starts, reports the orphans, leaves them alone ---
dp_start "$dir" "$inst" --adopt --set reconcile_interval=1 || fail_now "deskpoold --adopt did not start"
orph() { [ "$(metric deskpool_orphans)" = 3 ]; }
check "adopted: 3 orphans reported (domain, overlay, data volume)" wait_for 10 orph
sleep 3
check "after several passes they are still there (3), none removed ($(metric deskpool_orphans_removed_total))" \
    bash -c "[ '$(metric deskpool_orphans)' = 3 ] && [ '$(metric deskpool_orphans_removed_total)' = 0 ]"
check "each orphan logged once as left alone" \
    bash -c "[ \$(grep -c 'so it is left alone' '$dir/daemon.log') = 3 ]"
check "the data volume is named in the log" grep -q "Orphan volume '$inst.p-1.data.qcow2'" "$dir/daemon.log"
api GET /healthz
check "health shows the orphans" [ "$(jget "$BODY" "d['orphans']")" = 3 ]
dp_stop TERM
# once adopted, the store starts without the flag (the operator was told)
dp_start "$dir" "$inst" || fail_now "deskpoold did not restart after --adopt"
check "restart after --adopt: serves, orphans still reported" wait_for 10 orph
dp_stop TERM

# --- --purge-orphans: the operator's word removes them, data volume included ---
rm -rf "$dir/state"
dp_start "$dir" "$inst" --purge-orphans || fail_now "deskpoold --purge-orphans did not start"
purged() { [ "$(metric deskpool_orphans_removed_total)" = 3 ]; }
check "--purge-orphans removed the 3 orphans" wait_for 10 purged
check "each removal logged" bash -c "[ \$(grep -c 'Removed orphan' '$dir/daemon.log') -ge 3 ]"
check "someone else's domain (no deskpool metadata) untouched" \
    bash -c "! grep -q 'someone-elses' '$dir/daemon.log'"
