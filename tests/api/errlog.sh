#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# errlog.sh - the cause of every 5xx answer reaches the log at the default
# level, rate-limited (issue 11 #9: with a full disk every write answered
# 500 "the log has details" and the log had none below debug).
#
# The store is made to fail the way a broken disk would, from outside:
# triggers added with sqlite3 beside the running daemon make every insert
# into pools and operations fail with an SQLite error (-EIO, 500). Five
# pool creations in a row give one error line at once (route, message,
# cause) and, 10 s later, one line counting the four held back; a refresh
# failing on another route gets its own line.
. "$(dirname "$0")/../lib.sh"
t_require_binaries
command -v python3 >/dev/null || fail_now "python3 is missing"

t_tmpdir dir
dp_start "$dir" "errlog$$" --log-level info --set console_password=none --set boot_delay=0 \
    || fail_now "deskpoold did not start"
DB=$dir/state/deskpool.db
LOG=$dir/daemon.log
make_qcow2 "$dir/img.qcow2"
api POST /v1/images "{\"name\":\"img\",\"path\":\"$dir/img.qcow2\"}"
[ "$STATUS" = 201 ] || fail_now "image not added: $STATUS $BODY"
api POST /v1/pools '{"name":"base","image":"img","template":"test","min":0,"spare":0,"max":1}'
[ "$STATUS" = 201 ] || fail_now "pool not created: $STATUS $BODY"

python3 - "$DB" <<'PY' || fail_now "cannot add the failing triggers"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30)
with c:
    c.execute("CREATE TRIGGER broken_pools BEFORE INSERT ON pools "
              "BEGIN INSERT INTO no_such_table VALUES (1); END")
    c.execute("CREATE TRIGGER broken_ops BEFORE INSERT ON operations "
              "BEGIN INSERT INTO no_such_table VALUES (1); END")
PY

pools_line="POST /v1/pools answered 500 'Cannot store the pool.'"
t0=$SECONDS
codes=""
for i in 1 2 3 4 5; do
    api POST /v1/pools "{\"name\":\"p$i\",\"image\":\"img\",\"template\":\"test\",\"max\":1}"
    codes="$codes$STATUS "
done
check "five pool creations on a failing store answer 500 ($codes)" [ "$codes" = "500 500 500 500 500 " ]
check "the answer is a JSON error 'internal'" [ "$(jget "$BODY" "d['error']['code']")" = internal ]
check "the first failure is logged at error at once, with its cause" \
    grep -q "error: $pools_line (1 time(s) since the last report): Input/output error" "$LOG"
n=$(grep -c "$pools_line" "$LOG")
check "the next four within 10 s are held back (lines: $n)" [ "$n" = 1 ]

api POST /v1/refresh '{"all":true}'
check "a refresh on the failing store answers 500 ($STATUS)" [ "$STATUS" = 500 ]
check "another route's failure gets its own line at once" \
    grep -q "error: POST /v1/refresh answered 500 .*(1 time(s) since the last report)" "$LOG"

held() { grep -q "$pools_line (4 time(s) since the last report): Input/output error" "$LOG"; }
check "about 10 s later the four held back are reported in one line" wait_for 15 held
check "... and not before 10 s ($((SECONDS - t0)) s)" [ $((SECONDS - t0)) -ge 9 ]
n=$(grep -c "$pools_line" "$LOG")
check "two lines for five failures (got $n)" [ "$n" = 2 ]
api GET /healthz
check "reads still work" [ "$STATUS" = 200 ]
t_finish
