#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# lists.sh - paging of the list routes and deskpoolctl following it (issue
# 11 #13): with 20,000 ended sessions and 3,000 audit entries in the store,
# GET /v1/sessions?state=all answers one page (100, with a "next" cursor)
# instead of everything; following "next" visits every entry once, in
# order; limit and cursor are checked; desktops and operations page the
# same way; deskpoolctl session list, audit (--limit, --since), desktop list
# and operation list follow "next" to the end. The rows are written into
# the store with sqlite3 beside the running daemon (WAL), as they would pile
# up over months.
. "$(dirname "$0")/../lib.sh"
t_require_binaries
command -v python3 >/dev/null || fail_now "python3 is missing"

NS=20000      # ended sessions
NA=3000       # old audit entries (two hours old)
t_tmpdir dir
dp_start "$dir" "lists$$" --set console_password=none --set boot_delay=0 \
    || fail_now "deskpoold did not start"
DB=$dir/state/deskpool.db

make_qcow2 "$dir/img.qcow2"
api POST /v1/images "{\"name\":\"img\",\"path\":\"$dir/img.qcow2\"}"
[ "$STATUS" = 201 ] || fail_now "image not added: $STATUS $BODY"
api POST /v1/pools '{"name":"pg","image":"img","template":"test","min":3,"spare":0,"max":3}'
[ "$STATUS" = 201 ] || fail_now "pool not created: $STATUS $BODY"
ready3() { api GET /v1/pools/pg; [ "$(jget "$BODY" "d['counts']['ready']")" = 3 ]; }
wait_for 60 ready3 || fail_now "pool pg not ready: $BODY"

python3 - "$DB" "$NS" "$NA" <<'PY' || fail_now "cannot fill the store"
import sqlite3, sys, time, uuid
db, ns, na = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(db, timeout=30)
now = int(time.time())
with c:
    # 20 sessions a second, spread over the last 1000 s: ties on created_at
    c.executemany(
        "INSERT INTO sessions (id, pool, desktop, user, client, state, created_at, "
        "last_heartbeat, ended_at, end_reason) VALUES (?, 'gone', 'gone-1', ?, 'site', "
        "'ended', ?, ?, ?, 'logout')",
        [(str(uuid.uuid4()), "u%d" % i, now - 1000 + i // 20, now, now) for i in range(ns)])
    c.executemany(
        "INSERT INTO audit (at, actor, action, pool, detail) VALUES (?, 'broker', "
        "'session.logout', 'gone', ?)", [(now - 7200, str(i)) for i in range(na)])
    for i in range(5):
        c.execute("INSERT INTO operations (id, kind, pool, from_version, to_version, policy, "
                  "state, created_at, updated_at, finished_at) VALUES (?, 'refresh', 'pg', 1, "
                  "1, 'wait-for-logoff', 'succeeded', ?, ?, ?)",
                  (str(uuid.uuid4()), now - 100 + (i // 2), now, now))
PY

# jtrue JSON EXPR: the expression is true on the parsed document.
jtrue() { [ "$(jget "$1" "$2" 2>&1)" = True ]; }

# pages URL KEY LIMIT: follows "next" through a list route; prints
# "PAGES ENTRIES DISTINCT ORDERED" (ORDERED: KEY's order as the server's).
pages() {
    python3 - "$DP_SOCK" "$1" "$2" "$3" <<'PY'
import http.client, json, socket, sys, urllib.parse
sock, url, key, limit = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(sock)
c = C("localhost", timeout=60)
after, n_pages, items = None, 0, []
while True:
    u = url + ("&" if "?" in url else "?") + "limit=" + limit
    if after:
        u += "&after=" + urllib.parse.quote(after)
    c.request("GET", u)
    r = c.getresponse()
    d = json.loads(r.read())
    if r.status != 200:
        print("status", r.status, d); sys.exit(1)
    n_pages += 1
    items += d[key]
    after = d["next"]
    if not after:
        break
if key == "sessions":
    ids = [x["id"] for x in items]
    ordered = [(x["created_at"], x["id"]) for x in items]
    ordered = ordered == sorted(ordered)
elif key == "entries":
    ids = [x["id"] for x in items]
    ordered = ids == sorted(ids, reverse=True)
elif key == "operations":
    ids = [x["id"] for x in items]
    want = sorted(sorted(items, key=lambda x: x["id"]), key=lambda x: x["created_at"],
                  reverse=True)
    ordered = ids == [x["id"] for x in want]
else:
    ids = [x["name"] for x in items]
    ordered = True
print(n_pages, len(items), len(set(ids)), ordered)
PY
}

# ---------------------------------------------------------------- sessions
api GET "/v1/sessions?state=all"
check "GET /v1/sessions?state=all: one page of 100, not $NS (got $(jget "$BODY" "len(d['sessions'])"))" \
    jtrue "$BODY" "len(d['sessions']) == 100"
check "GET /v1/sessions?state=all: the answer carries a next cursor" \
    jtrue "$BODY" "bool(d['next'])"
check "GET /v1/sessions?state=all: ${#BODY} bytes" [ "${#BODY}" -lt 100000 ]
read -r np ne nd ord < <(pages "/v1/sessions?state=all" sessions 1000)
check "sessions, pages of 1000: $np pages, $ne entries, $nd distinct, in order: $ord" \
    [ "$np $ne $nd $ord" = "20 $NS $NS True" ]
read -r np ne nd ord < <(pages "/v1/sessions?state=ended&user=u7" sessions 1)
check "sessions filtered (user u7), pages of 1: $np page(s), $ne entry" [ "$np $ne" = "1 1" ]
api GET "/v1/sessions?state=all&limit=1001"
check "sessions: limit=1001 is refused with 400" [ "$STATUS" = 400 ]
api GET "/v1/sessions?state=all&limit=0"
check "sessions: limit=0 is refused with 400" [ "$STATUS" = 400 ]
api GET "/v1/sessions?state=all&after=garbage"
check "sessions: a cursor it did not give is refused with 400" [ "$STATUS" = 400 ]
api GET "/v1/sessions?state=all&after=12"
check "sessions: an audit cursor is refused with 400" [ "$STATUS" = 400 ]
api GET "/v1/sessions"
check "sessions: the default (active) list is one page with next null" \
    jtrue "$BODY" "d['sessions'] == [] and d['next'] is None"

# ---------------------------------------------------------------- audit
api GET /v1/audit
check "GET /v1/audit: 100 entries, newest first, with next" \
    jtrue "$BODY" "len(d['entries']) == 100 and bool(d['next']) and d['entries'][0]['id'] > d['entries'][-1]['id']"
total_audit=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM audit').fetchone()[0])" "$DB")
read -r np ne nd ord < <(pages /v1/audit entries 700)
check "audit, pages of 700: $np pages, $ne entries of $total_audit, distinct $nd, newest first: $ord" \
    [ "$ne $nd $ord" = "$total_audit $total_audit True" ]
since=$(python3 -c "import time; print(time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() - 3600)))")
recent=$((total_audit - NA))
read -r np ne nd ord < <(pages "/v1/audit?since=$since" entries 1000)
check "audit since $since: the $recent recent entries only (got $ne)" [ "$ne" = "$recent" ]
api GET "/v1/audit?since=yesterday"
check "audit: a bad since is refused with 400" [ "$STATUS" = 400 ]
api GET "/v1/audit?after=0"
check "audit: cursor 0 is refused with 400" [ "$STATUS" = 400 ]

# ------------------------------------------------- desktops and operations
read -r np ne nd ord < <(pages /v1/desktops desktops 2)
check "desktops, pages of 2: $np pages, $ne desktops, $nd distinct" [ "$np $ne $nd" = "2 3 3" ]
api GET "/v1/desktops?after=1.bad%2Fname"
check "desktops: a bad cursor is refused with 400" [ "$STATUS" = 400 ]
read -r np ne nd ord < <(pages "/v1/operations?state=all" operations 2)
check "operations, pages of 2: $np pages, $ne operations, $nd distinct, newest first: $ord" \
    [ "$np $ne $nd $ord" = "3 5 5 True" ]

# ---------------------------------------------------------------- deskpoolctl
check "deskpoolctl session list --all: every one of the $NS sessions (+ header)" \
    bash -c "[ \"\$('$DESKPOOLCTL' --socket '$DP_SOCK' session list --all | wc -l)\" = $((NS + 1)) ]"
ctl --json session list --all >"$dir/all.json"
check "deskpoolctl --json session list --all: one document with $NS sessions and no next" \
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if len(d['sessions']) == $NS and 'next' not in d else 1)" "$dir/all.json"
check "deskpoolctl audit: 100 entries (+ header)" \
    bash -c "[ \"\$('$DESKPOOLCTL' --socket '$DP_SOCK' audit | wc -l)\" = 101 ]"
check "deskpoolctl audit --limit 1500: two pages, 1500 entries" \
    bash -c "[ \"\$('$DESKPOOLCTL' --socket '$DP_SOCK' audit --limit 1500 | wc -l)\" = 1501 ]"
check "deskpoolctl audit --since 1h: the $recent recent entries" \
    bash -c "[ \"\$('$DESKPOOLCTL' --socket '$DP_SOCK' audit --since 1h | wc -l)\" = $((recent + 1)) ]"
check "deskpoolctl audit --since 3h: all $total_audit entries (more than a page)" \
    bash -c "[ \"\$('$DESKPOOLCTL' --socket '$DP_SOCK' audit --since 3h | wc -l)\" = $((total_audit + 1)) ]"
check "deskpoolctl audit --since $since (a time): the $recent recent entries" \
    bash -c "[ \"\$('$DESKPOOLCTL' --socket '$DP_SOCK' audit --since '$since' | wc -l)\" = $((recent + 1)) ]"
check "deskpoolctl --json audit --since 3h --limit 5: 5 entries" \
    bash -c "'$DESKPOOLCTL' --socket '$DP_SOCK' --json audit --since 3h --limit 5 | python3 -c 'import json,sys; sys.exit(0 if len(json.load(sys.stdin)[\"entries\"]) == 5 else 1)'"
ctl audit --since soon >/dev/null 2>"$dir/err"
rc=$?
check_both "deskpoolctl audit --since soon: exit 2 ($rc) with a sentence" [ "$rc" = 2 ] -- \
    grep -q 'is neither a duration' "$dir/err"
check "deskpoolctl desktop list: the 3 desktops" \
    bash -c "[ \"\$('$DESKPOOLCTL' --socket '$DP_SOCK' desktop list | wc -l)\" = 4 ]"
check "deskpoolctl operation list --all: the 5 operations" \
    bash -c "[ \"\$('$DESKPOOLCTL' --socket '$DP_SOCK' operation list --all | wc -l)\" = 6 ]"
check "daemon still healthy" api GET /healthz

# ------------------------------------------------------ retention (housekeeping)
# the daemon's first pass after a start removes what is past its retention;
# history as it piles up: the oldest rows first (5,000 sessions ended an hour
# ago, the first 1,000 audit entries two days old)
count_rows() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$DB" "$1"; }
dp_stop TERM || not_ok "daemon did not stop"
python3 - "$DB" <<'PY' || fail_now "cannot age the history"
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], timeout=30)
now = int(time.time())
with c:
    c.execute("UPDATE sessions SET ended_at = ? WHERE rowid IN "
              "(SELECT rowid FROM sessions WHERE state = 'ended' ORDER BY rowid LIMIT 5000)",
              (now - 3600,))
    c.execute("UPDATE audit SET at = ? WHERE id IN (SELECT id FROM audit ORDER BY id LIMIT 1000)",
              (now - 2 * 86400,))
PY
old_s=$(count_rows "SELECT count(*) FROM sessions WHERE state = 'ended' AND ended_at < strftime('%s','now') - 300")
new_s=$(count_rows "SELECT count(*) FROM sessions WHERE NOT (state = 'ended' AND ended_at < strftime('%s','now') - 300)")
old_a=$(count_rows "SELECT count(*) FROM audit WHERE at < strftime('%s','now') - 86400")
all_a=$(count_rows "SELECT count(*) FROM audit")
dp_start "$dir" "lists$$" --set console_password=none --set boot_delay=0 \
    --set session_retention=5m --set audit_retention=1d || fail_now "deskpoold did not restart"
pruned() { grep -q 'Removed [0-9]* ended sessions and [0-9]* audit entries' "$dir/daemon.log"; }
check "housekeeping ran at the first pass and said so" wait_for 20 pruned
check "ended sessions older than session_retention (5m) are gone ($old_s of them)" \
    [ "$(count_rows "SELECT count(*) FROM sessions WHERE state = 'ended' AND ended_at < strftime('%s','now') - 300")" = 0 ]
check "the others stay ($new_s)" \
    [ "$(count_rows "SELECT count(*) FROM sessions")" = "$new_s" ]
check "audit entries older than audit_retention (1d) are gone ($old_a of them)" \
    [ "$(count_rows "SELECT count(*) FROM audit WHERE at < strftime('%s','now') - 86400")" = 0 ]
check "the younger audit entries stay" \
    [ "$(count_rows "SELECT count(*) FROM audit")" -ge $((all_a - old_a)) ]
t_finish
