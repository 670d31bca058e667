#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# images.sh - POST /v1/images against a live deskpoold on test:///default,
# the ways issue 11 broke it:
#   #4  the path is a symlink that flips between a clean qcow2 and one whose
#       backing file is a secret (and then /dev/zero) while imports run: no
#       stored version may have a backing file, no request may hang;
#   #6  a FIFO (and a device) as the path answers 400 within a second;
#   #5  kill -9 leaves a temporary and a partial NAME-vN.qcow2: after a
#       restart the temporary is gone and the next import of NAME works;
#       a read-only file in the way is left alone (409 naming it);
#   and two imports of one name at once still meet: one version each or 409.
. "$(dirname "$0")/../lib.sh"
t_require_binaries

# post PATH [NAME] [MAX_TIME]: POST /v1/images; sets STATUS, BODY and SECS.
post() {
    local out t0=$EPOCHREALTIME
    out=$(curl -s --max-time "${3:-10}" --unix-socket "$DP_SOCK" -X POST \
        -H 'Content-Type: application/json' -w '\n%{http_code}' \
        --data-binary "{\"name\":\"${2:-img}\",\"path\":\"$1\"}" http://localhost/v1/images)
    STATUS=${out##*$'\n'}
    BODY=${out%$'\n'*}
    SECS=$(python3 -c "print(round($EPOCHREALTIME - $t0, 3))")
}
backing_of() { qemu-img info -U --output=json "$1" | jget "$(cat)" "d.get('backing-filename')"; }

t_tmpdir dir
dp_start "$dir" "imgs$$" || fail_now "deskpoold did not start"
images=$dir/state/images
make_qcow2 "$dir/good.qcow2"
printf 'root:$6$secret:19000:0:99999:7:::\n' >"$dir/secret"
qemu-img create -q -f qcow2 -F raw -b "$dir/secret" "$dir/bad.qcow2" 64M \
    || fail_now "qemu-img cannot make the bad image"
mkfifo "$dir/fifo"

# --- #6: a FIFO or a device is refused at once, and the daemon goes on ---
post "$dir/fifo" fifo 5
check "FIFO path: 400 in ${SECS} s" [ "$STATUS" = 400 ]
check "FIFO path: answered within a second" python3 -c "import sys; sys.exit($SECS >= 1)"
check "FIFO path: says why" grep -q "is not a regular file" <<<"$BODY"
post /dev/zero zero 5
check "/dev/zero: 400 within a second ($SECS s)" \
    bash -c "[ '$STATUS' = 400 ] && python3 -c 'import sys; sys.exit($SECS >= 1)'"
check "daemon healthy after FIFO and device" api GET /healthz

# --- #4: a symlink flipping while imports run ---
# flip.py LINK A B: LINK and LINK.other point at A and B; swap them with
# renameat2(RENAME_EXCHANGE) as fast as possible until killed.
cat >"$dir/flip.py" <<'PY'
import ctypes, os, sys
link, a, b = sys.argv[1:4]
other = link + ".other"
for p in (link, other):
    if os.path.lexists(p):
        os.unlink(p)
os.symlink(a, link)
os.symlink(b, other)
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
lb, ob = link.encode(), other.encode()
open(link + ".ready", "w").close()
while True:
    if libc.renameat2(AT_FDCWD, ob, AT_FDCWD, lb, RENAME_EXCHANGE) != 0:
        sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
PY
# flip_imports TARGET_B N NAME: N imports of the flipping link; counts in OK, REFUSED,
# BAD (stored with a backing file or not qcow2) and HUNG (no answer in 10 s).
flip_imports() {
    local b=$1 n=$2 name=$3 i fpid path
    OK=0 REFUSED=0 BAD=0 HUNG=0
    rm -f "$dir/link.ready"
    python3 "$dir/flip.py" "$dir/link" "$dir/good.qcow2" "$b" &
    fpid=$!
    wait_for 10 test -e "$dir/link.ready" || { kill "$fpid"; return 1; }
    for i in $(seq 1 "$n"); do
        post "$dir/link" "$name" 10
        case "$STATUS" in
        201)
            path=$(jget "$BODY" "d['path']")
            if [ "$(backing_of "$path")" = None ]; then OK=$((OK + 1)); else
                BAD=$((BAD + 1)); echo "  stored with backing file: $path"; fi ;;
        400) REFUSED=$((REFUSED + 1)) ;;
        000) HUNG=$((HUNG + 1)) ;;
        *) echo "  import $i: $STATUS $BODY"; BAD=$((BAD + 1)) ;;
        esac
    done
    kill "$fpid"
    wait "$fpid" 2>/dev/null
    return 0
}
flip_imports "$dir/bad.qcow2" 40 flip || fail_now "the flipper did not start"
echo "  40 imports, link flipping good/bad: $OK stored, $REFUSED refused, $BAD bad, $HUNG hung"
check "flip good/bad: no stored version has a backing file" [ "$BAD:$HUNG" = 0:0 ]
check "flip good/bad: both files were seen" [ "$OK" -gt 0 ] && [ "$REFUSED" -gt 0 ]
api GET /v1/images/flip
check "flip good/bad: every recorded version is clean" python3 - "$BODY" <<'PY'
import json, subprocess, sys
for v in json.loads(sys.argv[1])["versions"]:
    info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", v["path"]],
                                     capture_output=True, check=True).stdout)
    if "backing-filename" in info or "data-file" in info.get("format-specific", {}).get("data", {}):
        sys.exit(v["path"] + " is not standalone")
PY
flip_imports /dev/zero 20 flipz || fail_now "the flipper did not start"
echo "  20 imports, link flipping good//dev/zero: $OK stored, $REFUSED refused, $HUNG hung"
check "flip good//dev/zero: every request answered within 10 s" [ "$HUNG:$BAD" = 0:0 ]
check "no temporaries left by refused imports" \
    bash -c "[ -z \"\$(find '$images' -name '.*' -type f)\" ]"

# --- #5: what kill -9 in the middle of an import leaves behind ---
make_qcow2 "$dir/img.qcow2"
post "$dir/img.qcow2" img
check "img v1 added" [ "$STATUS" = 201 ]
dp_stop KILL || fail_now "kill -9 failed"
tmp=$images/.img-v2.qcow2.Qx7Tz2
printf 'QFI\373 half a copy' >"$tmp"
printf 'QFI\373 half a copy' >"$images/img-v2.qcow2"   # the old code copied in place
chmod 0600 "$tmp" "$images/img-v2.qcow2"
dp_start "$dir" "imgs$$" || fail_now "restart after kill -9 failed"
check "restart: the temporary is removed" [ ! -e "$tmp" ]
check "restart: that is logged" grep -q "Removed 1 temporary file(s) of interrupted imports" "$dir/daemon.log"
post "$dir/img.qcow2" img
check "import after kill -9: 201 (was 409 for good)" [ "$STATUS" = 201 ]
check "import after kill -9: it is v2, in img-v2.qcow2" \
    [ "$(jget "$BODY" "d['version'] == 2 and d['path'].endswith('/img-v2.qcow2')")" = True ]
check "the partial file was replaced by the real copy" cmp -s "$dir/img.qcow2" "$images/img-v2.qcow2"
check "the stored file is read-only (0400)" [ "$(stat -c %a "$images/img-v2.qcow2")" = 400 ]
check "the replacement is logged" grep -q "Replaced '$images/img-v2.qcow2', left behind" "$dir/daemon.log"

# a read-only file in the way (a store restored from a backup?) stays
printf 'precious' >"$images/img-v3.qcow2"
chmod 0444 "$images/img-v3.qcow2"
post "$dir/img.qcow2" img
check "read-only file in the way: 409" [ "$STATUS" = 409 ]
check "read-only file in the way: named in the answer" grep -q "img-v3.qcow2' is in the way" <<<"$BODY"
check "read-only file in the way: untouched" [ "$(cat "$images/img-v3.qcow2")" = precious ]
rm -f "$images/img-v3.qcow2"
post "$dir/img.qcow2" img
check "once moved away, v3 is added" [ "$STATUS:$(jget "$BODY" "d['version']")" = 201:3 ]

# --- two imports of one name at once still meet ---
qemu-img create -q -f qcow2 -o preallocation=full "$dir/big.qcow2" 128M \
    || fail_now "qemu-img cannot make a preallocated image"
pids=()
for i in 1 2 3; do
    ( post "$dir/big.qcow2" twin 60; echo "$STATUS $(jget "$BODY" "d.get('version', 0)")" \
        >"$dir/twin.$i" ) &
    pids+=($!)
done
wait "${pids[@]}"   # not the daemon
cat "$dir"/twin.* | sed 's/^/  concurrent: /'
check "concurrent imports: each answer is 201 or 409" \
    bash -c "! grep -qv -e '^201 ' -e '^409 ' '$dir'/twin.*"
check "concurrent imports: no version given twice" \
    bash -c "[ -z \"\$(grep '^201 ' '$dir'/twin.* | cut -d' ' -f2 | sort | uniq -d)\" ]"
api GET /v1/images/twin
check "concurrent imports: the store and the files agree" python3 - "$BODY" <<'PY'
import json, os, sys
vs = json.loads(sys.argv[1])["versions"]
sys.exit(not vs or any(not os.path.exists(v["path"]) for v in vs))
PY
check "no temporaries left" bash -c "[ -z \"\$(find '$images' -name '.*' -type f)\" ]"
t_finish
