# SPDX-License-Identifier: LGPL-2.1-or-later
"""console.py - the checks of tests/browser/console.sh (which starts
deskpoold, the gateway and the pools and says what they are)."""
import base64
import glob
import io
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import Browser, Tap, WaitTimeout  # noqa: E402
import dpapi  # noqa: E402

from PIL import Image, ImageChops  # noqa: E402

DP = os.environ["DP_URL"]
GW = os.environ["DP_GW"]
BROKER = os.environ["DP_BROKER"]
READER = os.environ["DP_READER"]
GWTOKEN = os.environ["DP_GATEWAY_TOKEN"]
ART = os.environ["DP_ARTIFACTS"]
tap = Tap()
secrets = []  # tickets and passwords that must appear in no log


def call(method, path, token, body=None):
    return dpapi.call(DP, method, path, token, body)


def acquire(pool, user):
    t0 = time.monotonic()
    st, s = call("POST", "/v1/pools/%s/sessions" % pool, BROKER, {"user": user})
    if st not in (200, 201):
        tap.fail_now("acquire %s/%s: %s %s" % (pool, user, st, s))
    c = s["connection"]
    secrets.append(c["browser_url"].split("ticket=")[1])
    if c.get("password"):
        secrets.append(c["password"])
    return s, time.monotonic() - t0


def domain_of(desktop, pool):
    st, p = call("GET", "/v1/pools/" + pool, READER)
    for d in p["desktops"]:
        if d["name"] == desktop:
            return d["domain"]
    tap.fail_now("desktop %s not in pool %s" % (desktop, pool))


def gw_log():
    with open(os.environ["DP_GW_LOG"], errors="replace") as f:
        return f.read()


def vnc_connects():
    """How many VNC connections the gateway has opened (authenticated or not)."""
    return len(re.findall(r"Stream \d+ open: session", gw_log()))


def canvas_png(b):
    url = b.js("const c = document.querySelector('#screen canvas');"
               "return c ? c.toDataURL('image/png') : null;")
    if not url:
        return None
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def libvirt_screenshot(domain):
    path = os.path.join(ART, "libvirt-%s.png" % domain)
    subprocess.run(["virsh", "-q", "-c", "qemu:///system", "screenshot", domain, path],
                   check=True, stdout=subprocess.DEVNULL)
    return Image.open(path).convert("RGB")


def compare(a, b):
    """(mean absolute difference per channel, fraction of pixels off by > 48)."""
    if a.size != b.size:
        return None, None
    diff = ImageChops.difference(a, b)
    hist = diff.convert("L").histogram()
    n = a.size[0] * a.size[1]
    mean = sum(sum(diff.getdata(band=i)) for i in range(3)) / (3.0 * n)
    off = sum(hist[49:]) / float(n)
    return mean, off


def wait_connected(b, what):
    return b.try_wait(tap, what, lambda: b.js(
        "return window.deskpool && window.deskpool.firstFrameAt !== null"
        " && window.deskpool.state === 'connected'"), "the first frame", timeout=40)


def wait_ended(b, name, reason, text):
    ok = b.try_wait(tap, name, lambda: "/ended" in b.driver.current_url and
                    b.one("#message") is not None, "the ended page", timeout=20)
    if ok:
        got = b.attr("html", "data-reason") or b.attr("body", "data-reason")
        tap.check_eq(name + ": reason", got, reason)
        msg = b.text("#message") or ""
        tap.check(name + ": says '%s'" % text, text.lower() in msg.lower(), msg)


def reload_ttl(ttl):
    with open(os.environ["DP_CONF"], "a") as f:
        f.write("console_ticket_ttl = %d\n" % ttl)
    os.kill(int(os.environ["DP_PID"]), signal.SIGHUP)
    want = "Reloaded 'console_ticket_ttl' = '%d'" % ttl
    end = time.monotonic() + 10
    while time.monotonic() < end:
        with open(os.environ["DP_LOG"], errors="replace") as f:
            if f.read().count(want) >= 1:
                return
        time.sleep(0.1)
    tap.fail_now("console_ticket_ttl was not reloaded to %d" % ttl)


with Browser(tap, timeout=40) as b:
    drv = b.driver
    # ------------------------------------------------------------ the console
    s1, t_acq = acquire("web", "dr.one")
    url1 = s1["connection"]["browser_url"]
    tap.check("browser_url is on the gateway", url1.startswith(GW + "/desktop?ticket="), url1)
    b.get(url1)
    tap.check("the ticket is gone from the address bar at once",
              "ticket" not in drv.current_url, drv.current_url)
    if wait_connected(b, "the desktop's console connects and draws its first frame"):
        dp = b.js("return window.deskpool")
        tap.diag("acquire %.0f ms; page start -> connected %.0f ms -> first frame %.0f ms"
                 % (t_acq * 1000, dp["connectAt"] - dp["startAt"],
                    dp["firstFrameAt"] - dp["connectAt"]))
        tap.check("no password prompt: the page never asked for one",
                  b.one("input[type=password]") is None)
        dom = domain_of(s1["desktop"], "web")
        time.sleep(1.0)  # the banner is static; let any last update land
        best = None
        for _ in range(5):
            shot = libvirt_screenshot(dom)
            canvas = canvas_png(b)
            if canvas is None:
                break
            mean, off = compare(canvas, shot)
            if mean is not None and (best is None or mean < best[0]):
                best = (mean, off, canvas, shot)
            if mean is not None and mean < 2 and off < 0.005:
                break
            time.sleep(0.5)
        tap.check("the canvas has the desktop's size (%s)"
                  % (str(best[2].size) if best else "no canvas"),
                  best is not None and best[2].size == best[3].size)
        if best:
            best[2].save(os.path.join(ART, "console-canvas.png"))
            best[3].save(os.path.join(ART, "console-libvirt.png"))
            tap.check("the canvas matches libvirt's screenshot (mean difference %.2f/255, "
                      "%.3f%% of pixels off)" % (best[0], best[1] * 100),
                      best[0] < 2 and best[1] < 0.005)
            blue = sum(1 for p in best[2].getdata() if p[2] > 120 and p[0] < 60) \
                / float(best[2].size[0] * best[2].size[1])
            tap.check("the canvas shows the guest's banner (%.0f%% blue)" % (blue * 100),
                      blue > 0.5)
    tab1 = drv.current_window_handle

    # ------------------------------------------------------------ refusals
    before = vnc_connects()
    drv.switch_to.new_window("tab")
    b.get(url1)
    wait_ended(b, "the same ticket a second time is refused", "ticket", "no longer valid")
    forged = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    b.get(GW + "/desktop?ticket=" + forged)
    wait_ended(b, "a forged ticket is refused", "ticket", "no longer valid")
    b.get(GW + "/desktop?ticket=abc")
    wait_ended(b, "a malformed ticket is refused", "ticket", "no longer valid")
    b.get(GW + "/desktop")
    wait_ended(b, "no ticket at all is refused", "ticket", "no longer valid")
    reload_ttl(1)
    s2, _ = acquire("web", "dr.two")
    time.sleep(2.2)
    b.get(s2["connection"]["browser_url"])
    wait_ended(b, "an expired ticket is refused", "ticket", "no longer valid")
    reload_ttl(60)
    tap.check("the gateway opened no VNC connection for a refused ticket (%d new)"
              % (vnc_connects() - before), vnc_connects() == before)
    log = gw_log()
    tap.check("the gateway logged each refusal",
              len(re.findall(r"Stream \d+ from \S+ refused", log)) >= 5)

    # ------------------------------------------------------------ session end
    s3, _ = acquire("ded", "dr.three")
    b.get(s3["connection"]["browser_url"])
    if wait_connected(b, "a dedicated desktop's console connects"):
        t0 = time.monotonic()
        st, _ = call("DELETE", "/v1/sessions/" + s3["id"], BROKER)
        tap.check_eq("its session is released", st, 200)
        wait_ended(b, "releasing the session closes its open console", "ended",
                   "session has ended")
        tap.diag("release -> ended page %.2f s" % (time.monotonic() - t0))
        tap.check("... within 3 s (%.2f s)" % (time.monotonic() - t0),
                  time.monotonic() - t0 < 3)
        st, ded = call("GET", "/v1/pools/ded", READER)
        state = subprocess.run(["virsh", "-q", "-c", "qemu:///system", "domstate",
                                ded["desktops"][0]["domain"]], capture_output=True,
                               text=True).stdout.strip()
        tap.check("the dedicated desktop's QEMU kept running (%s): the gateway closed the "
                  "console, not QEMU" % state, state == "running")
        tap.check("the gateway says why it closed the stream",
                  re.search(r"Stream \d+ closed \(deskpoold says the session ended",
                            gw_log()) is not None)
    # the first console, released: also ended
    drv.switch_to.window(tab1)
    st, _ = call("DELETE", "/v1/sessions/" + s1["id"], BROKER)
    wait_ended(b, "releasing the floating session ends its console too", "ended",
               "session has ended")

    # ------------------------------------------------------------ clipboard
    # A hand-made RFB client in the page (not noVNC): after the handshakes
    # it sends ClientCutText, plain and Extended Clipboard, a SetEncodings
    # of the Extended Clipboard pseudo-encoding alone, then asks for a
    # frame (the desktop answering shows the stream stayed in step), then
    # a message type the gateway does not know.
    s2b, _ = acquire("web", "dr.two")   # the same session, a new ticket
    b.get(GW + "/ended")
    res = b.js_async("""
const done = arguments[arguments.length - 1];
const ws = new WebSocket(arguments[0]);
ws.binaryType = "arraybuffer";
let got = new Uint8Array(0), step = 0, framed = false;
const send = a => ws.send(new Uint8Array(a));
const u32 = n => [n >>> 24 & 255, n >>> 16 & 255, n >>> 8 & 255, n & 255];
ws.onmessage = e => {
    const d = new Uint8Array(e.data), m = new Uint8Array(got.length + d.length);
    m.set(got); m.set(d, got.length); got = m;
    if (step === 0 && got.length >= 12) {
        got = got.slice(12); send(Array.from(new TextEncoder().encode("RFB 003.008\\n"))); step = 1;
    }
    if (step === 1 && got.length >= 2) { got = got.slice(2); send([1]); step = 2; }
    if (step === 2 && got.length >= 4) { got = got.slice(4); send([1]); step = 3; }
    if (step === 3 && got.length >= 24) {
        const nameLen = (got[20] << 24 | got[21] << 16 | got[22] << 8 | got[23]) >>> 0;
        if (got.length < 24 + nameLen) return;
        got = got.slice(24 + nameLen); step = 4;
        const text = Array.from(new TextEncoder().encode("patient 4711 clipboard"));
        send([6, 0, 0, 0, ...u32(text.length), ...text]);
        send([6, 0, 0, 0, ...u32(-8 >>> 0), ...u32(0x10000001), 1, 2, 3, 4]);
        send([2, 0, 0, 1, ...u32(0xc0a1e5ce)]);
        send([3, 0, 0, 0, 0, 0, 0, 16, 0, 16]);
        return;
    }
    if (step === 4 && got.length > 0) { framed = true; step = 5; send([7, 0, 0, 0]); }
};
ws.onclose = e => done({code: e.code, step: step, framed: framed});
setTimeout(() => { try { ws.close(); } catch (x) {} }, 20000);
""", s2b["connection"]["websocket_url"])
    tap.check("the desktop answers after the clipboard messages (%s)" % res,
              res and res["framed"])
    tap.check_eq("a message type the gateway does not know closes the stream with 1008",
                 res and res["code"], 1008)
    time.sleep(0.3)
    log = gw_log()
    tap.check("the gateway logged the clipboard drop once",
              len(re.findall(r"Stream \d+: clipboard data from the browser dropped", log)) == 1)
    tap.check("... and counted both clipboard messages",
              re.search(r"Stream \d+ dropped 2 clipboard message\(s\)", log) is not None)
    tap.check("the gateway logged the refused message",
              re.search(r"closed for a policy violation: the browser sent an RFB message of "
                        r"type 7", log) is not None)
    tap.check("no clipboard text in the gateway's log", "patient 4711" not in log)

    # ------------------------------------------------------------ secrets
    s4, _ = acquire("web", "dr.four")
    st, red = call("POST", "/v1/console/redeem", GWTOKEN,
                   {"ticket": s4["connection"]["browser_url"].split("ticket=")[1]})
    tap.check_eq("the gateway token redeems a ticket", st, 200)
    if st == 200 and red["connection"].get("password"):
        secrets.append(red["connection"]["password"])
    time.sleep(0.5)
    logs = [os.environ["DP_LOG"], os.environ["DP_GW_LOG"], "/var/log/libvirt/libvirtd.log"]
    logs += glob.glob("/var/log/libvirt/qemu/*.log")
    found = []
    for path in logs:
        try:
            with open(path, errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        found += ["%s in %s" % (x[:6] + "...", path) for x in secrets if x and x in text]
    tap.check("no ticket or VNC password in any log (%d secrets, %d logs)"
              % (len(secrets), len(logs)), not found and len(secrets) >= 6, ", ".join(found))
    call("DELETE", "/v1/sessions/" + s4["id"], BROKER)
    call("DELETE", "/v1/sessions/" + s2["id"], BROKER)

tap.done()
