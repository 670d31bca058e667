#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# kill-loop.sh - kill -9 of deskpoold at random moments under a random
# workload, DP_KILL_ITERATIONS times (default 50), on test:///default.
#
# Each iteration: a workload runs against the daemon (pools created,
# resized and deleted, sessions acquired, heartbeated and released, and
# every time a pool shrunk to zero while its desktops are being acquired:
# the delete racing an acquire of issue 11 #1); deskpoold is killed with
# SIGKILL after a random 0.2-2.5 s; it is started again on the same state
# directory and, once it settles, the invariants must hold:
#   - GET /v1/check: every desktop row has its domain and volume and every
#     domain and volume its row, sessions only on desktops in use;
#   - each pool's counts match its desktops;
#   - no session is active on a desktop that is not assigned or in use;
#   - the daemon serves.
# test:///default keeps libvirt's state inside the daemon, so after each
# kill libvirt is empty: every restart is also a "host lost all domains"
# recovery.
. "$(dirname "$0")/../lib.sh"
t_require_binaries
command -v python3 >/dev/null || fail_now "python3 is missing"

iterations=${DP_KILL_ITERATIONS:-50}
t_tmpdir dir
inst=kl$$
start() {
    dp_start "$dir" "$inst" --set console_password=none --set boot_delay=0 \
        --set reconcile_interval=1 --set acquire_timeout=2 --set max_concurrent=4
}
start || fail_now "deskpoold did not start"
make_qcow2 "$dir/img.qcow2"
api POST /v1/images "{\"name\":\"img\",\"path\":\"$dir/img.qcow2\"}"
[ "$STATUS" = 201 ] || fail_now "image: $STATUS $BODY"

cat >"$dir/work.py" <<'PY'
# A random workload on the unix socket until killed; every request may fail
# (the daemon dies under it): only the daemon's invariants matter.
import http.client, json, random, socket, sys, threading, time
sock, seed = sys.argv[1], int(sys.argv[2])
rnd = random.Random(seed)
class C(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("localhost", timeout=5)
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(sock)
def req(method, path, body=None):
    try:
        c = C()
        c.request(method, path, json.dumps(body) if body is not None else None,
                  {"Content-Type": "application/json"} if body is not None else {})
        r = c.getresponse()
        d = r.read()
        c.close()
        return r.status, (json.loads(d) if d else {})
    except Exception:
        return 0, {}
pools = ["a", "b", "c"]
sessions = []
def worker(k):
    while True:
        p = rnd.choice(pools)
        op = rnd.random()
        if op < 0.15:
            req("POST", "/v1/pools", {"name": p, "image": "img", "template": "test",
                                      "min": rnd.randint(0, 3), "spare": rnd.randint(0, 2),
                                      "max": 5})
        elif op < 0.30:
            mx = rnd.randint(0, 5)
            req("PATCH", "/v1/pools/" + p, {"min": rnd.randint(0, mx), "spare": 0, "max": mx})
        elif op < 0.36:
            req("DELETE", "/v1/pools/" + p + ("?force=true" if rnd.random() < 0.5 else ""))
        elif op < 0.70:
            s, d = req("POST", "/v1/pools/%s/sessions" % p,
                       {"user": "u%d" % rnd.randint(0, 9), "client": "kill-loop"})
            if s in (200, 201) and "id" in d:
                sessions.append(d["id"])
        elif op < 0.80 and sessions:
            req("POST", "/v1/sessions/%s/heartbeat" % rnd.choice(sessions))
        elif sessions:
            req("DELETE", "/v1/sessions/" + sessions.pop(rnd.randrange(len(sessions))))
        if k == 0 and rnd.random() < 0.1:
            # the delete racing an acquire: shrink to 0 and acquire at once
            req("PATCH", "/v1/pools/" + p, {"min": 0, "spare": 0, "max": 0})
            req("POST", "/v1/pools/%s/sessions" % p, {"user": "racer", "client": "k"})
ts = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(3)]
for t in ts: t.start()
time.sleep(3600)
PY

cat >"$dir/inv.py" <<'PY'
# The invariants the API shows: prints problems, exits 1 when any.
import json, subprocess, sys
sock = sys.argv[1]
def get(path):
    out = subprocess.run(["curl", "-s", "--max-time", "10", "--unix-socket", sock,
                          "-w", "\n%{http_code}", "http://localhost" + path],
                         capture_output=True, text=True).stdout
    body, _, status = out.rpartition("\n")
    return int(status or 0), (json.loads(body) if body.strip() else {})
bad = []
s, chk = get("/v1/check")
if s != 200 or not chk.get("ok"):
    bad.append("check: %s %s" % (s, chk.get("problems")))
s, pools = get("/v1/pools")
for p in pools.get("pools", []):
    s, pj = get("/v1/pools/" + p["name"])
    by = {}
    for d in pj.get("desktops", []):
        by[d["state"]] = by.get(d["state"], 0) + 1
    for st, n in pj.get("counts", {}).items():
        if st in ("total", "busy", "pending") or not isinstance(n, int):
            continue
        if by.get(st, 0) != n:
            bad.append("pool %s: counts[%s]=%d but %d desktops" % (p["name"], st, n, by.get(st, 0)))
    if pj.get("counts", {}).get("total") != len(pj.get("desktops", [])):
        bad.append("pool %s: total %s != %d desktops" % (p["name"], pj.get("counts", {}).get("total"), len(pj.get("desktops", []))))
s, ss = get("/v1/sessions")
states = {}
s, ds = get("/v1/desktops")
for d in ds.get("desktops", []):
    states[d["name"]] = d["state"]
for x in ss.get("sessions", []):
    if states.get(x["desktop"]) not in ("assigned", "in_use"):
        bad.append("session %s on desktop %s which is %s" % (x["id"], x["desktop"], states.get(x["desktop"])))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY

# settled: nothing pending or held by an action, twice in a row
settled() {
    local a b
    a=$(curl -s --max-time 5 --unix-socket "$DP_SOCK" http://localhost/v1/check) || return 1
    jtrue_s() { [ "$(jget "$1" "$2" 2>&1)" = True ]; }
    jtrue_s "$a" "d['busy'] == 0" || return 1
    b=$(curl -s --max-time 5 --unix-socket "$DP_SOCK" http://localhost/v1/desktops) || return 1
    jtrue_s "$b" "not [x for x in d['desktops'] if x['state'] in ('provisioning','booting','deleting','releasing','rebasing')]"
}

t0=$SECONDS
failures=0
for i in $(seq 1 "$iterations"); do
    python3 "$dir/work.py" "$DP_SOCK" "$i" >/dev/null 2>&1 &
    wpid=$!
    sleep "$(python3 -c "import random; random.seed($i); print(round(random.uniform(0.2, 2.5), 2))")"
    dp_stop KILL
    kill "$wpid" 2>/dev/null
    wait "$wpid" 2>/dev/null
    if ! start; then
        not_ok "iteration $i: deskpoold did not restart after kill -9"
        failures=$((failures + 1))
        break
    fi
    if ! wait_for 30 settled; then
        not_ok "iteration $i: did not settle within 30 s"
        failures=$((failures + 1))
        continue
    fi
    if out=$(python3 "$dir/inv.py" "$DP_SOCK"); then
        ok "iteration $i: killed after a random workload; check, counts and sessions hold"
    else
        not_ok "iteration $i: invariants broken: $out"
        failures=$((failures + 1))
    fi
done
check "$iterations kill -9 iterations under a random workload: invariants held after every restart ($failures broken, $((SECONDS - t0)) s)" \
    [ "$failures" = 0 ]
n=$(grep -c 'Desktop .* deleted' "$dir/daemon.log" || true)
echo "# $n desktops deleted, $(grep -c 'started:' "$dir/daemon.log") daemon starts in $((SECONDS - t0)) s"
check "the daemon still serves" api GET /healthz
