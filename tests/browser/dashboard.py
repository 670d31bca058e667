# SPDX-License-Identifier: LGPL-2.1-or-later
"""dashboard.py - the operator dashboard (/ui/) in a real browser

Run by tests/browser/dashboard.sh against a live deskpoold on
test:///default (TCP listener, tokens file, pool 'p' pinned to image 'img'
v1, a second image file to publish). Reads the API in the same run and
compares what the page shows with it: counts in the pool bar, desktops,
sessions, operation progress, history charts. Prints "ok N - ..." per
check and "N passed, N failed".

Environment: DP_URL (http://127.0.0.1:PORT), DP_READER, DP_OPERATOR,
DP_BROKER (tokens), DP_IMG2 (a qcow2 file to publish as v2), DP_ARTIFACTS
(a directory for a screenshot when something failed), DP_SCREENSHOT (a
PNG file: the whole dashboard once the charts are drawn).
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import Browser, Tap, WaitTimeout  # noqa: E402

URL = os.environ["DP_URL"]
READER = os.environ["DP_READER"]
OPERATOR = os.environ["DP_OPERATOR"]
BROKER = os.environ["DP_BROKER"]
IMG2 = os.environ["DP_IMG2"]
ARTIFACTS = os.environ.get("DP_ARTIFACTS", "")
POOL = "p"
STATES = ["ready", "assigned", "in_use", "releasing", "provisioning", "booting",
          "rebasing", "failed", "deleting"]

tap = Tap()


def http(method, path, token=None, body=None):
    """(status, headers, parsed JSON or text) of one request to deskpoold."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw, status, headers = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        raw, status, headers = e.read(), e.code, e.headers
    try:
        return status, headers, json.loads(raw)
    except ValueError:
        return status, headers, raw.decode(errors="replace")


def api(method, path, token=OPERATOR, body=None, want=None):
    status, _, doc = http(method, path, token, body)
    if want is not None and status not in want:
        tap.fail_now("%s %s answered %s, expected %s: %s" % (method, path, status, want, doc))
    return doc


def pool_counts():
    doc = api("GET", "/v1/pools/" + POOL, READER, want=(200,))
    return doc


def shown_counts(b):
    """{state: count} from the pool's legend, as the page shows it."""
    return b.js("""
        const out = {};
        for (const e of document.querySelectorAll('.count[data-pool="%s"]'))
            out[e.dataset.state] = Number(e.dataset.count);
        return out;""" % POOL)


def counts_match(b):
    """The page's counts equal the API's (read right after): (bool, why)."""
    shown = shown_counts(b)
    doc = pool_counts()
    want = {s: doc["counts"][s] for s in STATES}
    return shown == want, "page %s, API %s" % (shown, want)


def wait_counts_match(b, name, extra=None, timeout=20):
    """One check: within TIMEOUT the page shows what the API says (and
    EXTRA(doc) holds)."""
    why = [""]

    def cond():
        ok, why[0] = counts_match(b)
        return ok and (extra is None or extra(pool_counts()))
    try:
        b.wait(cond, "the page's counts of pool '%s' to equal the API's" % POOL, timeout)
        tap.ok(name)
        return True
    except WaitTimeout as e:
        tap.not_ok(name, "%s\nlast: %s\n%s" % (e, why[0], b.describe()))
        return False


def login(b, token):
    b.wait_css("#token-input", visible=True)
    b.type("#token-input", token)
    b.click("#token-submit")


def logout(b):
    b.click("#forget")
    b.wait_css("#token-form", visible=True)


def run(b):
    # ---- the static files: open, with the browser's security headers ----
    status, headers, body = http("GET", "/ui/")
    tap.check_eq("/ui/ is served without a token", status, 200)
    tap.check("/ui/ is the dashboard's HTML", "<title>deskpool dashboard</title>" in str(body))
    for h, v in (("Cache-Control", "no-store"),
                 ("Content-Security-Policy", "default-src 'self'"),
                 ("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff")):
        tap.check_eq("/ui/ sends %s: %s" % (h, v), headers.get(h), v)
    status, headers, _ = http("GET", "/ui/app.js")
    tap.check("/ui/app.js is JavaScript",
              status == 200 and headers.get("Content-Type", "").startswith("text/javascript"))
    bad = [p for p in ("/ui/..%2FMakefile.am", "/ui/%2e%2e", "/ui/.hidden.js", "/ui/nope.js",
                       "/ui/index.html.orig", "/ui/a/b.js")
           if http("GET", p)[0] != 404]
    tap.check("names that are not dashboard files are 404", not bad, "not 404: %s" % bad)
    status, _, _ = http("GET", "/v1/pools")
    tap.check_eq("the API refuses a missing token with 401", status, 401)

    # ---- no token, a wrong token ----
    b.get(URL + "/ui/")
    b.try_wait(tap, "without a token the page asks for one",
               lambda: b.visible("#token-form") and not b.visible("#dash"), "the token form")
    tap.check("without a token no pool data is shown", not b.find("[data-pool]"))
    login(b, "not-a-token-" + "x" * 20)
    msg = b.try_wait(tap, "a wrong token is refused with a message",
                     lambda: b.visible("#token-error") and b.text("#token-error"),
                     "the token error")
    tap.check("the message says the token was refused (401)",
              msg and "Token refused" in msg and "401" in msg, msg)
    tap.check("after a wrong token no pool data is shown",
              not b.find("[data-pool]") and not b.visible("#dash"))
    tap.check("a refused token is not kept",
              b.js("return sessionStorage.getItem('deskpool.token')") is None)

    # ---- reader: the pool bar shows the API's counts ----
    login(b, READER)
    b.try_wait(tap, "a reader token opens the dashboard",
               lambda: b.visible('.pool[data-pool="%s"]' % POOL), "pool card")
    tap.check_eq("the header names the token's role", b.attr("#role", "data-role"), "reader")
    tap.check("the header names the deskpoold host", URL.split("//")[1] in (b.text("#daemon-host") or ""),
              b.text("#daemon-host"))
    wait_counts_match(b, "the pool's state counts equal GET /v1/pools/%s" % POOL)
    doc = pool_counts()
    card = '.pool[data-pool="%s"]' % POOL
    tap.check("min/spare/max marks are those of the pool",
              [b.attr(card + " .mark-" + k, "data-value") for k in ("min", "spare", "max")]
              == [str(doc["min"]), str(doc["spare"]), str(doc["max"])])
    seg_sum = b.js("""return [...document.querySelectorAll('.seg[data-pool="%s"]')]
                      .reduce((a, e) => a + Number(e.dataset.count), 0);""" % POOL)
    tap.check_eq("the bar's segments add up to the desktops", seg_sum,
                 int(b.attr(card, "data-total")))
    ready_title = b.attr('.seg[data-pool="%s"][data-state="ready"]' % POOL, "title")
    tap.check("the ready segment's tooltip gives its count",
              ready_title is not None and ready_title.startswith("ready: "), ready_title)

    # ---- clicking the pool lists its desktops ----
    b.click(card)
    b.try_wait(tap, "clicking the pool lists its desktops",
               lambda: b.find('#pool-detail[data-pool="%s"] tr[data-desktop]' % POOL),
               "desktop rows")
    doc = pool_counts()
    rows = b.js("""return [...document.querySelectorAll('#pool-detail tr[data-desktop]')]
                   .map(r => [r.dataset.desktop, r.cells[2].textContent]);""")
    tap.check("the desktop list names the API's desktops and their hosts",
              sorted(rows) == sorted([d["name"], d["host"] or ""] for d in doc["desktops"]),
              "page %s, API %s" % (rows, [(d["name"], d["host"]) for d in doc["desktops"]]))
    tap.check("the desktop list has a last error column",
              "Last error" in (b.text("#pool-detail thead") or ""))

    # ---- a resize changes the bar ----
    before = int(b.attr(card, "data-total"))
    api("PATCH", "/v1/pools/" + POOL, body={"min": before + 2, "max": 8}, want=(200,))
    b.try_wait(tap, "a resize moves the min mark",
               lambda: b.attr(card + " .mark-min", "data-value") == str(before + 2), "min mark")
    wait_counts_match(b, "after the resize the bar grows to the new size and equals the API",
                      extra=lambda d: d["counts"]["ready"] >= before + 2, timeout=30)
    tap.check("the bar shows the new total",
              int(b.attr(card, "data-total") or 0) >= before + 2, b.attr(card, "data-total"))

    # ---- sessions: a reader sees them, cannot end them ----
    s = api("POST", "/v1/pools/%s/sessions" % POOL, BROKER,
            {"user": "dr.who", "client": "site-3"}, want=(201,))
    sid = s["id"]
    row = 'tr[data-session="%s"]' % sid
    b.try_wait(tap, "an acquired session shows in the sessions list", lambda: b.find(row),
               "session row")
    text = b.text(row) or ""
    tap.check("the row gives user, client and desktop",
              "dr.who" in text and "site-3" in text and s["desktop"] in text, text)
    tap.check("a reader gets no force-logoff button", not b.find(".force-logoff"))
    b.js("window.deskpoolDashboard.forceLogoff(arguments[0]);", sid)
    msg = b.try_wait(tap, "a force logoff with a reader token shows the 403 clearly",
                     lambda: (b.text("#sessions-message") or "") if "403" in (
                         b.text("#sessions-message") or "") else None, "the 403 message")
    tap.check("the 403 message says it was refused", msg and "refused" in msg, msg)
    tap.check_eq("the session is still active after the reader's try",
                 api("GET", "/v1/sessions/" + sid, READER)["state"], "active")

    # ---- an operator ends it ----
    logout(b)
    tap.check("forgetting the token clears the page", not b.find("[data-pool]"))
    login(b, OPERATOR)
    btn = '.force-logoff[data-session="%s"]' % sid
    b.try_wait(tap, "an operator gets a force-logoff button", lambda: b.visible(btn), btn)
    b.click(btn)
    b.try_wait(tap, "the first click asks for confirmation",
               lambda: "Confirm" in (b.text(btn) or ""), "Confirm")
    b.click(btn)
    b.try_wait(tap, "force logoff ends the session in the list", lambda: not b.find(row),
               "the row to go")
    x = api("GET", "/v1/sessions/" + sid, READER)
    tap.check("the API says the session ended, forced",
              x["state"] == "ended" and x["end_reason"] == "forced", x)
    tap.check("the page says so", "ended" in (b.text("#sessions-message") or ""),
              b.text("#sessions-message"))

    # ---- a few acquires for the history ----
    for i in range(4):
        s = api("POST", "/v1/pools/%s/sessions" % POOL, BROKER, {"user": "u%d" % i},
                want=(200, 201))
        api("DELETE", "/v1/sessions/" + s["id"], BROKER, want=(200,))

    # ---- a rebase's progress reaches 100% ----
    api("POST", "/v1/images", body={"name": "img", "path": IMG2}, want=(201,))
    op = api("POST", "/v1/pools/%s/rebase" % POOL, body={"to": 2, "batch": 2}, want=(202,))
    sel = '.op[data-op="%s"]' % op["id"]
    b.try_wait(tap, "the rebase shows a progress bar", lambda: b.find(sel + " .progress"),
               "operation")
    seen = set()

    def finished():
        p = b.attr(sel, "data-percent")
        if p is not None:
            seen.add(int(p))
        return p == "100" and b.attr(sel, "data-state") == "succeeded"
    b.try_wait(tap, "the rebase's progress bar reaches 100%", finished, "100%", timeout=60)
    tap.diag("percentages seen: %s" % sorted(seen))
    o = api("GET", "/v1/operations/" + op["id"], READER)
    tap.check_eq("the API says the rebase succeeded", o["state"], "succeeded")
    width = b.js("return document.querySelector(arguments[0]).style.width;",
                 sel + " .progress .fill")
    tap.check_eq("the bar is full", width, "100%")

    # ---- history ----
    h = api("GET", "/v1/history", READER, want=(200,))
    tap.check("GET /v1/history has samples, a minute apart",
              h["interval"] == 60 and len(h["samples"]) >= 1, h)
    acq = sum(x["acquires"] for x in h["samples"])
    tap.check("the history counted the acquires", acq >= 5, "acquires %d" % acq)
    last = [x for x in h["samples"] if x["latency_ms"]]
    tap.check("the history has acquire latencies",
              last and 0 <= last[-1]["latency_ms"]["p50"] <= last[-1]["latency_ms"]["max"], last)
    tap.check("the history has the pool's counts",
              any(POOL in x["pools"] for x in h["samples"]), h["samples"][-1])
    status, _, _ = http("GET", "/v1/history", BROKER)
    tap.check_eq("a broker token may not read the history", status, 403)
    b.driver.refresh()  # the token stays in the tab: history at once
    for chart, series in (("chart-acquires", "acquires"), ("chart-ready", POOL),
                          ("chart-latency", "p50")):
        css = '#%s path.line[data-series="%s"]' % (chart, series)
        b.try_wait(tap, "the %s chart draws its %s line" % (chart, series),
                   lambda css=css: (b.attr(css, "d") or "").startswith("M"), css)
    tap.check_eq("the role is still known after a reload", b.attr("#role", "data-role"),
                 "operator")
    if os.environ.get("DP_SCREENSHOT"):
        b.click('.pool[data-pool="%s"]' % POOL)
        b.wait_css("#pool-detail tr[data-desktop]")
        b.screenshot(os.environ["DP_SCREENSHOT"])

    # ---- the API away: a banner ----
    b.js("window.fetch = () => Promise.reject(new TypeError('Failed to fetch'));")
    b.try_wait(tap, "an unreachable API shows the error banner",
               lambda: b.visible("#error-banner") and "unreachable" in b.text("#error-banner"),
               "banner")
    tap.check_eq("the refresh indicator says so", b.attr("#refresh", "data-state"), "error")
    tap.check("the figures stay on the page", bool(b.find('.pool[data-pool="%s"]' % POOL)))
    console_errors = [c for c in b.console() if c.startswith("SEVERE") and "Failed to fetch"
                      not in c and "401" not in c and "403" not in c]
    tap.check("no other errors in the browser console (CSP, scripts)", not console_errors,
              "\n".join(console_errors))


def main():
    with Browser(tap) as b:
        try:
            run(b)
        except Exception as e:  # noqa: BLE001 - any surprise is a failure, with the page
            tap.not_ok("the test ran to its end", "%s: %s\n%s" % (type(e).__name__, e,
                                                                 b.describe()))
        if tap.failed and ARTIFACTS:
            b.screenshot(os.path.join(ARTIFACTS, "dashboard.png"))
    tap.done()


if __name__ == "__main__":
    main()
