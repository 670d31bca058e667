# SPDX-License-Identifier: LGPL-2.1-or-later
"""console.py - the measurements of bench/console.sh (which starts deskpoold,
the gateway, websockify and the pool, and passes them in the environment).

first-frame: acquire -> the first desktop frame drawn in a real browser
    (headless Chromium, tests/browser/browser.py), split into its steps;
    baseline: the same acquire -> the first frame of a native VNC client
    (gvnccapture) straight to the console with the acquire's password.
streams: N concurrent console streams through deskpool-gateway, each an
    RFB client that finished its handshake and keeps asking for updates;
    the gateway's memory per stream. Baseline: the same streams through
    Debian's websockify 0.10 (its TokenFile plugin), all of its processes.
"""
import os
import re
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "browser"))
from browser import Browser, Tap, WaitTimeout  # noqa: E402
import dpapi  # noqa: E402

import websocket  # noqa: E402  (Debian python3-websocket)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402

DP = os.environ["DP_URL"]
GW = os.environ["DP_GW"]
BROKER = os.environ["DP_BROKER"]
READER = os.environ["DP_READER"]
GWTOKEN = os.environ["DP_GATEWAY_TOKEN"]
WSFY = os.environ["DP_WEBSOCKIFY"]          # ws://127.0.0.1:PORT
WSFY_TOKENS = os.environ["DP_WEBSOCKIFY_TOKENS"]
GW_PID = int(os.environ["DP_GW_PID"])
WSFY_PID = int(os.environ["DP_WEBSOCKIFY_PID"])
RUNS = int(os.environ.get("DP_RUNS", "10"))
LEVELS = [int(x) for x in os.environ.get("DP_STREAMS", "25 50 100 200").split()]


def call(method, path, token, body=None):
    return dpapi.call(DP, method, path, token, body)


def acquire(user):
    t0 = time.monotonic()
    st, s = call("POST", "/v1/pools/bench/sessions", BROKER, {"user": user})
    if st not in (200, 201):
        sys.exit("acquire %s: %s %s" % (user, st, s))
    return s, (time.monotonic() - t0) * 1000


def release(sid):
    call("DELETE", "/v1/sessions/" + sid, BROKER)


def wait_ready(n):
    end = time.monotonic() + 120
    while time.monotonic() < end:
        st, p = call("GET", "/v1/pools/bench", READER)
        if p["counts"]["ready"] >= n:
            return
        time.sleep(0.2)
    sys.exit("pool bench did not get %d ready desktops" % n)


def gw_stamps():
    """Per stream: (redeem started, stream open, VNC auth done) from the gateway's log."""
    out = {}
    with open(os.environ["DP_GW_LOG"], errors="replace") as f:
        for line in f:
            m = re.match(r"(\S+)Z deskpool-gateway\[\d+\]: \w+: Stream (\d+)(.*)", line)
            if not m:
                continue
            t = time.mktime(time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S")) + \
                float("0" + m.group(1)[19:])
            k = out.setdefault(int(m.group(2)), {})
            rest = m.group(3)
            if "redeeming its ticket" in rest:
                k["redeem"] = t
            elif rest.startswith(" open:"):
                k["open"] = t
            elif "VNC authentication" in rest and "succeeded" in rest:
                k["auth"] = t
    return out


def med(xs):
    return statistics.median(xs) if xs else float("nan")


# ---------------------------------------------------------------- first frame
def first_frame():
    tap = Tap(out=sys.stderr)
    rows, native = [], []
    with Browser(tap, timeout=40) as b:
        b.get(GW + "/ended")  # the browser is up and has the certificate: untimed
        for i in range(RUNS):
            wait_ready(2)
            s, acq = acquire("ff%d" % i)
            b.get(s["connection"]["browser_url"])
            try:
                b.wait(lambda: b.js("return window.deskpool && window.deskpool.firstFrameAt"),
                       "the first frame", timeout=40)
            except WaitTimeout:
                with open(os.environ["DP_GW_LOG"], errors="replace") as f:
                    sys.exit("run %d: no first frame\n%s\ngateway log:\n%s"
                             % (i, b.describe(), "".join(f.readlines()[-15:])))
            d = b.js("return window.deskpool")  # performance.now(): from navigation
            stamps = gw_stamps()
            last = stamps[max(stamps)]
            rows.append({
                "acquire": acq,
                "page": d["startAt"],
                "websocket": d["wsOpenAt"] - d["startAt"],
                "ticket": (last["open"] - last["redeem"]) * 1000,
                "vnc_auth": (last["auth"] - last["open"]) * 1000,
                "rfb": d["connectAt"] - d["wsOpenAt"] - (last["auth"] - last["redeem"]) * 1000,
                "frame": d["firstFrameAt"] - d["connectAt"],
                "total": acq + d["firstFrameAt"],
            })
            release(s["id"])
            # baseline: a native client straight to the console (TCP, VNC
            # auth with the acquire's password), acquire -> first frame read
            wait_ready(2)
            t0 = time.monotonic()
            s, acq = acquire("nat%d" % i)
            c = s["connection"]
            direct_first_frame(c["host"], c["port"], c["password"])
            native.append((time.monotonic() - t0) * 1000)
            release(s["id"])
    print("first frame, %d runs (medians, ms; the first run, with noVNC not in the "
          "browser's cache yet: %.1f):" % (RUNS, rows[0]["total"]))
    print("  acquire (broker's POST)            %7.1f" % med([r["acquire"] for r in rows]))
    print("  page load (navigation -> script)   %7.1f" % med([r["page"] for r in rows]))
    print("  websocket connect (TLS + upgrade)  %7.1f" % med([r["websocket"] for r in rows]))
    print("  ticket check (gateway -> redeem)   %7.1f" % med([r["ticket"] for r in rows]))
    print("  VNC connect + auth (gateway)       %7.1f" % med([r["vnc_auth"] for r in rows]))
    print("  RFB handshake to the browser       %7.1f" % med([r["rfb"] for r in rows]))
    print("  first frame drawn after ServerInit %7.1f" % med([r["frame"] for r in rows]))
    tot = med([r["total"] for r in rows])
    nat = med(native)
    print("  acquire -> first frame, browser    %7.1f  (max %.1f)"
          % (tot, max(r["total"] for r in rows)))
    print("  baseline: acquire -> first frame, an RFB client straight to the console "
          "(TCP, raw) %7.1f" % nat)
    print("  ratio browser / native: %.2f" % (tot / nat))


def direct_first_frame(host, port, password):
    """An RFB 3.8 client over plain TCP: VNC auth, shared, raw encoding, one
    full FramebufferUpdate read to its last byte."""
    with socket.create_connection((host, port), timeout=20) as so:
        f = so.makefile("rwb", buffering=0)

        def rd(n):
            out = b""
            while len(out) < n:
                chunk = f.read(n - len(out))
                if not chunk:
                    raise EOFError("the console closed")
                out += chunk
            return out
        rd(12)
        f.write(b"RFB 003.008\n")
        types = rd(rd(1)[0])
        if password:
            assert 2 in types, types
            f.write(bytes([2]))
            f.write(des_answer(password, rd(16)))
        else:
            f.write(bytes([1]))
        if rd(4) != b"\0\0\0\0":
            raise RuntimeError("VNC authentication failed")
        f.write(b"\1")
        hdr = rd(24)
        rd(int.from_bytes(hdr[20:24], "big"))
        w, h = int.from_bytes(hdr[0:2], "big"), int.from_bytes(hdr[2:4], "big")
        bpp = hdr[4] // 8
        f.write(bytes([2, 0, 0, 1]) + (0).to_bytes(4, "big"))
        f.write(bytes([3, 0, 0, 0, 0, 0]) + w.to_bytes(2, "big") + h.to_bytes(2, "big"))
        while True:
            t = rd(1)[0]
            if t != 0:  # not a FramebufferUpdate: bell, colour map... none expected
                raise RuntimeError("unexpected server message %d" % t)
            rd(1)
            for _ in range(int.from_bytes(rd(2), "big")):
                r = rd(12)
                rw, rh = int.from_bytes(r[4:6], "big"), int.from_bytes(r[6:8], "big")
                enc = int.from_bytes(r[8:12], "big", signed=True)
                if enc == 0:
                    rd(rw * rh * bpp)
                elif enc == -223:  # DesktopSize pseudo-rectangle: no data
                    pass
                else:
                    raise RuntimeError("unexpected encoding %d" % enc)
            return


# ---------------------------------------------------------------- streams
def des_answer(password, challenge):
    key = bytes(int("{:08b}".format(c)[::-1], 2) for c in
                (password.encode() + b"\0" * 8)[:8])
    enc = Cipher(algorithms.TripleDES(key * 3), modes.ECB()).encryptor()
    return enc.update(challenge) + enc.finalize()


class Stream(threading.Thread):
    """One RFB client over a websocket: handshake, then an incremental update
    request every second, reading whatever comes."""

    def __init__(self, url, password=None, tls=False):
        super().__init__(daemon=True)
        self.url, self.password, self.tls = url, password, tls
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.error = None
        self.bytes = 0
        self.buf = b""

    def recv(self, n):
        while len(self.buf) < n:
            data = self.ws.recv()
            if not data:
                raise EOFError("closed")
            self.buf += data if isinstance(data, bytes) else data.encode()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def run(self):
        try:
            opt = {"cert_reqs": ssl.CERT_NONE} if self.tls else None
            self.ws = websocket.create_connection(self.url, sslopt=opt, timeout=30,
                                                  subprotocols=["binary"])
            ver = self.recv(12)
            self.ws.send_binary(b"RFB 003.008\n")
            n = self.recv(1)[0]
            types = self.recv(n)
            if self.password is not None:
                assert 2 in types, types
                self.ws.send_binary(bytes([2]))
                self.ws.send_binary(des_answer(self.password, self.recv(16)))
            else:
                assert 1 in types, types
                self.ws.send_binary(bytes([1]))
            if self.recv(4) != b"\0\0\0\0":
                raise RuntimeError("security failed")
            self.ws.send_binary(b"\1")  # ClientInit: shared
            hdr = self.recv(24)
            self.recv(int.from_bytes(hdr[20:24], "big"))
            w, h = int.from_bytes(hdr[0:2], "big"), int.from_bytes(hdr[2:4], "big")
            # SetEncodings: tight, zrle, raw; then the whole screen once
            encs = [7, 16, 0]
            self.ws.send_binary(bytes([2, 0]) + len(encs).to_bytes(2, "big") +
                                b"".join(e.to_bytes(4, "big", signed=True) for e in encs))
            req = lambda inc: bytes([3, inc, 0, 0, 0, 0]) + w.to_bytes(2, "big") + \
                h.to_bytes(2, "big")  # noqa: E731
            self.ws.send_binary(req(0))
            del ver
            self.ready.set()
            self.ws.settimeout(1.0)
            while not self.stop.is_set():
                try:
                    data = self.ws.recv()
                    self.bytes += len(data)
                except websocket.WebSocketTimeoutException:
                    pass
                self.ws.send_binary(req(1))
        except Exception as e:  # noqa: BLE001 - reported by the caller
            self.error = repr(e)
            self.ready.set()
        finally:
            try:
                self.ws.close()
            except Exception:  # noqa: BLE001
                pass


def tree_pss_kib(pid):
    """Proportional set size of PID and its children (KiB)."""
    pids = [pid]
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        pids += [int(x) for x in out.split()]
    except OSError:
        pass
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total, len(pids)


def redeemed_consoles(n):
    """N tickets' worth of consoles: for the gateway, N browser tickets
    (repeated acquires of the desktops' users give new ones); for
    websockify, each desktop's console with a fresh password."""
    tickets, consoles = [], {}
    for i in range(n):
        user = "st%d" % (i % DESKS)
        s, _ = acquire(user)
        tickets.append(s["connection"]["websocket_url"])
        consoles[user] = s
    return tickets, consoles


def hold(streams, label):
    for s in streams:
        s.start()
        s.ready.wait(40)
    bad = [s.error for s in streams if s.error or not s.ready.is_set()]
    time.sleep(3)
    return bad


def streams():
    print("console streams held (Pss of the whole proxy: process and children):")
    base_gw, _ = tree_pss_kib(GW_PID)
    base_wf, _ = tree_pss_kib(WSFY_PID)
    print("  idle: gateway %.1f MiB, websockify %.1f MiB" % (base_gw / 1024, base_wf / 1024))
    for n in LEVELS:
        urls, _ = redeemed_consoles(n)
        gws = [Stream(u, tls=True) for u in urls]
        bad = hold(gws, "gateway")
        pss_gw, _ = tree_pss_kib(GW_PID)
        got = sum(1 for s in gws if s.ready.is_set() and not s.error)
        moved = sum(s.bytes for s in gws)
        for s in gws:
            s.stop.set()
        for s in gws:
            s.join(5)
        # websockify: the same number of streams to the same consoles, with
        # their VNC passwords (set fresh by a redeem per desktop, valid 30 s)
        per_desk = {}
        with open(WSFY_TOKENS, "w") as f:
            for i in range(DESKS):
                s, _ = acquire("st%d" % i)
                tk = s["connection"]["websocket_url"].split("ticket=")[1]
                st, red = call("POST", "/v1/console/redeem", GWTOKEN, {"ticket": tk})
                c = red["connection"]
                f.write("d%d: %s:%d\n" % (i, c["host"], c["port"]))
                per_desk[i] = c["password"]
        wfs = [Stream("%s/websockify?token=d%d" % (WSFY, i % DESKS), password=per_desk[i % DESKS])
               for i in range(n)]
        bad_wf = hold(wfs, "websockify")
        pss_wf, procs = tree_pss_kib(WSFY_PID)
        got_wf = sum(1 for s in wfs if s.ready.is_set() and not s.error)
        for s in wfs:
            s.stop.set()
        for s in wfs:
            s.join(5)
        per_gw = (pss_gw - base_gw) / max(got, 1)
        per_wf = (pss_wf - base_wf) / max(got_wf, 1)
        print("  %4d streams: gateway %d up, %.1f MiB, %.1f KiB/stream (%d KiB moved) | "
              "websockify %d up, %.1f MiB in %d processes, %.1f KiB/stream | ratio %.3f"
              % (n, got, pss_gw / 1024, per_gw, moved // 1024, got_wf, pss_wf / 1024, procs,
                 per_wf, per_gw / per_wf if per_wf else float("nan")))
        for e in (bad + bad_wf)[:3]:
            print("    failed stream: %s" % e)
        time.sleep(2)


DESKS = int(os.environ.get("DP_DESKS", "8"))
if os.environ.get("DP_PART", "all") in ("all", "first-frame"):
    first_frame()
if os.environ.get("DP_PART", "all") in ("all", "streams"):
    streams()
