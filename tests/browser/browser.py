# SPDX-License-Identifier: LGPL-2.1-or-later
"""browser.py - a real browser for deskpool's web tests (shared module)

Starts Debian's headless Chromium through chromedriver and Selenium
(apt: chromium chromium-driver python3-selenium; scripts/setup-host.sh
installs them) and gives tests what they need around it:

    from browser import Browser, Tap

    tap = Tap()
    with Browser() as b:
        b.get("http://127.0.0.1:8420/ui/")
        b.wait_css("#token-form")
        tap.check("the form is there", b.visible("#token-form"))
        tap.check_eq("pool count", b.attr('[data-pool="p"]', "data-total"), "3")
    tap.done()          # prints "N passed, N failed", exits 0 or 1

A missing Chromium, chromedriver or Selenium is a failure with the
package to install, never a skip (Tap.fail_now()). Each check prints
"ok N - NAME" or "not ok N - NAME" (TAP-ish, like the shell suites'
"ok - NAME"); a failed wait prints what it waited for and the page's
URL, visible text and JavaScript console. Nothing here knows about
deskpool: the console tests in a real browser use it too.

Environment: DP_CHROMIUM (default /usr/bin/chromium), DP_CHROMEDRIVER
(default /usr/bin/chromedriver), DP_BROWSER_TIMEOUT (seconds a wait may
take by default, 20), DP_BROWSER_WINDOW (default 1400,1000).
"""
import os
import sys
import time

CHROMIUM = os.environ.get("DP_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("DP_CHROMEDRIVER", "/usr/bin/chromedriver")
DEFAULT_TIMEOUT = float(os.environ.get("DP_BROWSER_TIMEOUT", "20"))
WINDOW = os.environ.get("DP_BROWSER_WINDOW", "1400,1000")


class Tap:
    """Numbered ok / not ok lines and the final 'N passed, N failed'."""

    def __init__(self, out=sys.stdout):
        self.out = out
        self.n = 0
        self.passed = 0
        self.failed = 0

    def _line(self, text):
        print(text, file=self.out, flush=True)

    def ok(self, name):
        self.n += 1
        self.passed += 1
        self._line("ok %d - %s" % (self.n, name))

    def not_ok(self, name, why=None):
        self.n += 1
        self.failed += 1
        self._line("not ok %d - %s" % (self.n, name))
        if why:
            for line in str(why).rstrip().splitlines()[:40]:
                self._line("#   " + line)

    def check(self, name, cond, why=None):
        """Passes when COND is true; WHY (text or a callable) says more on failure."""
        if cond:
            self.ok(name)
        else:
            self.not_ok(name, why() if callable(why) else why)
        return bool(cond)

    def check_eq(self, name, got, want):
        return self.check(name, got == want, "got %r, expected %r" % (got, want))

    def diag(self, text):
        for line in str(text).rstrip().splitlines():
            self._line("# " + line)

    def summary(self):
        self._line("%d passed, %d failed" % (self.passed, self.failed))
        return 0 if self.failed == 0 and self.passed > 0 else 1

    def done(self):
        sys.exit(self.summary())

    def fail_now(self, why):
        """A broken precondition: one failure, the summary, exit 1."""
        self.not_ok(why)
        self.done()


class WaitTimeout(Exception):
    pass


def _import_selenium(tap):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
    except ImportError as e:
        tap.fail_now("Selenium is missing for %s (%s): apt-get install python3-selenium "
                     "(scripts/setup-host.sh), and run the tests with Debian's /usr/bin/python3"
                     % (sys.executable, e))
    return webdriver, Service, By


class Browser:
    """One headless Chromium. Use as a context manager: it quits at the end,
    whatever happens. TAP (a Tap) reports a missing browser."""

    def __init__(self, tap=None, timeout=DEFAULT_TIMEOUT, extra_args=()):
        self.tap = tap or Tap()
        self.timeout = timeout
        for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
            if not os.access(path, os.X_OK):
                self.tap.fail_now("%s is missing: apt-get install %s (scripts/setup-host.sh)"
                                  % (path, pkg))
        webdriver, Service, By = _import_selenium(self.tap)
        self.By = By
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--ignore-certificate-errors", "--disable-dev-shm-usage",
                  "--window-size=" + WINDOW, *extra_args):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        try:
            self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER),
                                           options=opts)
        except Exception as e:  # noqa: BLE001 - any failure to start is fatal here
            self.tap.fail_now("Chromium did not start through %s: %s" % (CHROMEDRIVER, e))
        self.driver.set_page_load_timeout(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.quit()
        return False

    def quit(self):
        if getattr(self, "driver", None):
            try:
                self.driver.quit()
            except Exception:  # noqa: BLE001 - already gone
                pass
            self.driver = None

    # --- pages and elements ---

    def get(self, url):
        self.driver.get(url)

    def js(self, script, *args):
        """Runs SCRIPT in the page (a function body: 'return ...'); its value."""
        return self.driver.execute_script(script, *args)

    def js_async(self, script, *args):
        """Runs SCRIPT, which calls arguments[arguments.length - 1] with its result."""
        return self.driver.execute_async_script(script, *args)

    def find(self, css):
        """The elements matching CSS (a list, maybe empty)."""
        return self.driver.find_elements(self.By.CSS_SELECTOR, css)

    def one(self, css):
        found = self.find(css)
        return found[0] if found else None

    def visible(self, css):
        e = self.one(css)
        try:
            return bool(e and e.is_displayed())
        except Exception:  # noqa: BLE001 - went stale
            return False

    def text(self, css):
        e = self.one(css)
        try:
            return e.text if e else None
        except Exception:  # noqa: BLE001
            return None

    def attr(self, css, name):
        e = self.one(css)
        try:
            return e.get_attribute(name) if e else None
        except Exception:  # noqa: BLE001
            return None

    def click(self, css, timeout=None):
        e = self.wait_css(css, timeout=timeout, visible=True)
        e.click()
        return e

    def type(self, css, text, submit=False):
        e = self.wait_css(css, visible=True)
        e.clear()
        e.send_keys(text)
        if submit:
            e.submit()
        return e

    # --- waiting ---

    def wait(self, cond, what, timeout=None, interval=0.1):
        """Polls COND() until it returns something true; returns that. Raises
        WaitTimeout naming WHAT after TIMEOUT seconds (exceptions from COND
        count as not yet)."""
        end = time.monotonic() + (self.timeout if timeout is None else timeout)
        last_exc = None
        while True:
            try:
                v = cond()
                if v:
                    return v
            except Exception as e:  # noqa: BLE001 - a stale element, a page loading
                last_exc = e
            if time.monotonic() >= end:
                raise WaitTimeout("timed out after %.0f s waiting for %s%s"
                                  % (self.timeout if timeout is None else timeout, what,
                                     " (last error: %s)" % last_exc if last_exc else ""))
            time.sleep(interval)

    def wait_css(self, css, timeout=None, visible=False):
        """The first element matching CSS (visible, if asked), once there."""
        def found():
            e = self.one(css)
            if e and (not visible or e.is_displayed()):
                return e
            return None
        return self.wait(found, "element %s%s" % (css, " to be visible" if visible else ""),
                         timeout)

    def wait_gone(self, css, timeout=None):
        return self.wait(lambda: not self.find(css), "element %s to go away" % css, timeout)

    def try_wait(self, tap, name, cond, what, timeout=None):
        """wait() as one check: ok NAME, or not ok NAME with the page's state."""
        try:
            v = self.wait(cond, what, timeout)
            tap.ok(name)
            return v
        except WaitTimeout as e:
            tap.not_ok(name, "%s\n%s" % (e, self.describe()))
            return None

    # --- when something failed ---

    def console(self):
        """The page's console messages since the last call, as text lines."""
        try:
            return ["%s %s" % (m.get("level"), m.get("message"))
                    for m in self.driver.get_log("browser")]
        except Exception:  # noqa: BLE001 - not every driver keeps the log
            return []

    def describe(self, max_text=1500):
        """URL, visible text and console of the page, for a failure message."""
        try:
            body = self.driver.find_element(self.By.TAG_NAME, "body").text
        except Exception:  # noqa: BLE001
            body = "?"
        lines = ["url: %s" % self.driver.current_url,
                 "page text: %s" % body[:max_text].replace("\n", " | ")]
        lines += ["console: " + c for c in self.console()[-10:]]
        return "\n".join(lines)

    def screenshot(self, path):
        try:
            self.driver.save_screenshot(path)
        except Exception:  # noqa: BLE001
            pass
