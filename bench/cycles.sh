#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# cycles.sh [CYCLES] [DESKTOPS] [CLIENTS] - acquire/release cycles: does
# deskpoold's memory or descriptor count grow with use?
#
# deskpoold on libvirt's in-memory test:///default driver, a floating pool
# of DESKTOPS (default 40) ready desktops, CLIENTS (default 8) broker
# threads doing acquire, heartbeat, release CYCLES times in all (default
# 20000) over the unix socket. Every release is a real wipe (revert to the
# clean snapshot) by the reconciler. Printed: RSS (VmRSS) and open
# descriptors of deskpoold at the start, after the first tenth of the
# cycles (the baseline: caches and the statement cache are warm by then)
# and at the end, with the end/baseline ratio, and the cycle rate.
# Sessions and audit rows grow with use by design (they are history); the
# store's file size is printed too.
set -euo pipefail
cycles=${1:-20000}
desks=${2:-40}
clients=${3:-8}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${DP_BUILDDIR:-$top/build}
work=$(mktemp -d /var/tmp/deskpool-bench.XXXXXX)
chmod 755 "$work"
inst=bcyc$$
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

ctl() { "$B/deskpoolctl" --socket "$work/sock" "$@"; }
"$B/deskpoold" --foreground --uri test:///default --set memory_overcommit=100000 --state-dir "$work/state" --socket "$work/sock" \
    --instance "$inst" --templates-dir "$top/templates" --set storage_pool="$inst" \
    --set storage_dir="$work/overlays" --set console_password=none --set boot_delay=0 \
    --set max_concurrent=8 --log-level warning 2>>"$work/daemon.log" &
pid=$!
for _ in $(seq 1 300); do ctl health >/dev/null 2>&1 && break; sleep 0.1; done
ctl health >/dev/null || { cat "$work/daemon.log" >&2; exit 1; }
qemu-img create -q -f qcow2 "$work/golden.qcow2" 16M
ctl image add bench "$work/golden.qcow2" >/dev/null
ctl pool create bench --image bench --template test --min "$desks" --spare 0 --max "$desks" \
    --wait >/dev/null

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
fds() { find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l; }
threads() { awk '/^Threads:/ {print $2}' "/proc/$pid/status"; }
start_fds=$(fds)
echo "start:    rss $(rss) kB, fds $start_fds, threads $(threads)"

cat >"$work/cycles.py" <<'PY'
import http.client, json, socket, sys, threading, time
sock, total, clients, mark = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
class C(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("localhost", timeout=120)
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sock)
lock = threading.Lock()
done = [0]
errors = {}
marked = [False]
def call(c, method, path, body=None):
    c.request(method, path, json.dumps(body) if body is not None else None,
              {"Content-Type": "application/json"} if body is not None else {})
    r = c.getresponse()
    return r.status, r.read()
def run(k):
    c = C()
    while True:
        with lock:
            if done[0] >= total:
                return
            done[0] += 1
            n = done[0]
            if n == total // 10 and not marked[0]:
                marked[0] = True
                open(mark, "w").write("x")
        s, b = call(c, "POST", "/v1/pools/bench/sessions",
                    {"user": "u%d" % k, "client": "bench"})
        if s not in (200, 201):
            with lock:
                errors[s] = errors.get(s, 0) + 1
            continue
        sid = json.loads(b)["id"]
        call(c, "POST", "/v1/sessions/%s/heartbeat" % sid)
        s, _ = call(c, "DELETE", "/v1/sessions/" + sid)
        if s != 200:
            with lock:
                errors[s] = errors.get(s, 0) + 1
t0 = time.time()
ts = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
for t in ts: t.start()
for t in ts: t.join()
print("cycles: %d in %.1f s (%.0f/s), non-2xx answers: %s" %
      (total, time.time() - t0, total / (time.time() - t0), errors or "none"))
PY
python3 "$work/cycles.py" "$work/sock" "$cycles" "$clients" "$work/mark" &
drv=$!
while [ ! -f "$work/mark" ] && kill -0 $drv 2>/dev/null; do sleep 0.2; done
base_rss=$(rss)
base_fds=$(fds)
echo "baseline: rss $base_rss kB, fds $base_fds, threads $(threads) (after $((cycles / 10)) cycles)"
wait $drv
sleep 2
end_rss=$(rss)
end_fds=$(fds)
echo "end:      rss $end_rss kB, fds $end_fds, threads $(threads)"
# descriptors are compared idle to idle (the clients' connections are open
# at the baseline), memory warm to warm
awk -v a="$end_rss" -v b="$base_rss" -v c="$end_fds" -v d="$start_fds" \
    'BEGIN { printf "ratio: rss end/baseline %.3f, fds end/start (both idle) %.3f\n", a / b, c / d }'
echo "store:    $(du -k "$work/state/deskpool.db" | cut -f1) kB deskpool.db (sessions and audit are history)"
