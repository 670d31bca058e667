#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# dashboard.sh - the operator dashboard (/ui/) in a real browser: headless
# Chromium driven by Selenium (tests/browser/browser.py) against a live
# deskpoold on test:///default with a TCP listener and reader, operator and
# broker tokens. dashboard.py does the checks: refused tokens, the pool bar
# against GET /v1/pools/p, a resize, sessions and force logoff by role, a
# rebase's progress to 100%, the history and its charts.
#
# Needs chromium, chromium-driver and python3-selenium (scripts/setup-host.sh
# installs them; test-only dependencies): a missing one is a FAILURE, not a
# skip. Selenium comes from Debian's python3 (DP_PYTHON, default
# /usr/bin/python3), not from a python3 earlier in PATH. ~30 s.
. "$(dirname "$0")/../lib.sh"
t_require_binaries
DP_PYTHON=${DP_PYTHON:-/usr/bin/python3}
[ -x "$DP_PYTHON" ] || fail_now "$DP_PYTHON is missing (apt-get install python3)"
command -v qemu-img >/dev/null || fail_now "qemu-img is missing (apt-get install qemu-utils)"

t_tmpdir dir
t_instance inst ui
port=$((20000 + ($$ + 4241) % 20000))
t_tokens "$dir/tokens" reader=reader operator=oper broker=broker
dp_start "$dir" "$inst" --listen "127.0.0.1:$port" --set ui_dir="$DP_SRCDIR/data/ui" \
    --set console_password=none --set boot_delay=0 --set reconcile_interval=1 \
    || fail_now "deskpoold did not start"

make_qcow2 "$dir/img1.qcow2"
make_qcow2 "$dir/img2.qcow2" 65M
api POST /v1/images "{\"name\":\"img\",\"path\":\"$dir/img1.qcow2\"}"
[ "$STATUS" = 201 ] || fail_now "image not added: $STATUS $BODY"
# pinned to v1: publishing v2 starts no rebase by itself, the test starts it
api POST /v1/pools '{"name":"p","image":"img","image_version":1,"template":"test","min":2,"spare":1,"max":6}'
[ "$STATUS" = 201 ] || fail_now "pool not created: $STATUS $BODY"
ready_is() { api GET /v1/pools/p; [ "$(jget "$BODY" "d['counts']['ready']")" -ge "$1" ]; }
wait_for 60 ready_is 2 || fail_now "pool p not ready: $BODY"

# dashboard.py prints "ok N - ..." lines and its own total; they count here
PYTHONDONTWRITEBYTECODE=1 DP_URL=http://127.0.0.1:$port DP_READER=$reader DP_OPERATOR=$oper DP_BROKER=$broker \
    DP_IMG2=$dir/img2.qcow2 DP_ARTIFACTS=$dir \
    "$DP_PYTHON" -u "$(dirname "$0")/dashboard.py" 2>&1 | tee "$dir/dashboard.out" |
    grep -Ev '^[0-9]+ passed, [0-9]+ failed$'
rc=${PIPESTATUS[0]}
T_PASSED=$((T_PASSED + $(grep -c '^ok ' "$dir/dashboard.out")))
T_FAILED=$((T_FAILED + $(grep -c '^not ok ' "$dir/dashboard.out")))
if [ "$rc" -ne 0 ] && ! grep -q '^not ok ' "$dir/dashboard.out"; then
    not_ok "dashboard.py exited with $rc"
fi
if [ "$T_FAILED" -gt 0 ] && [ -f "$dir/dashboard.png" ]; then
    cp "$dir/dashboard.png" "${DP_BUILDDIR:-.}/dashboard-failure.png" 2>/dev/null &&
        echo "# screenshot: ${DP_BUILDDIR:-.}/dashboard-failure.png"
fi
