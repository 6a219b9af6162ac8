"""Real-browser tests: Playwright driving Debian's Chromium against the live Django server.

Skipped when /usr/bin/chromium is missing, unless REQUIRE_BROWSER=1 (CI) makes that a failure.
Screenshots of each main page land in test-artifacts/screenshots/ for a person to look at.
axe-core checks every page a test visits (after it loads, and the final state at the end of the test);
a "serious" or "critical" accessibility violation fails the test.
"""

import os
import shutil
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
AXE_SOURCE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make around it are
# plain synchronous code, so Django's async-safety check would only get in the way.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium); browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-quic",
                "--no-first-run",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.recorded_errors = errors  # a test that expects an error response (a 403 page) removes it here
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    axe = AxeChecker(page)
    yield page
    axe.check_final_state()
    context.close()
    # A Content-Security-Policy violation or a script error is a bug, even if the journey passed.
    assert not errors, errors
    assert not axe.violations, "Accessibility violations (axe-core):\n" + "\n".join(axe.violations)


@pytest.fixture
def screenshot(page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        # caret="initial": Playwright would otherwise leave style="" on inputs, which a later htmx swap
        # copies onto new elements and our Content Security Policy then refuses.
        page.screenshot(path=str(path), full_page=True, caret="initial")
        return path

    return take


def log_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login" not in url)


# One axe run per document, kept in the page: the "load" listener, the check before the test's next
# action and the check before the test navigates away all share it. Marking <html> tells the locator
# handler below that the document has been checked.
_AXE_RUN = """async (fresh) => {
  document.documentElement.setAttribute("data-axe-checked", "");
  if (typeof axe === "undefined" || location.protocol === "about:") { return null; }
  if (fresh && window.__axeRun) { await window.__axeRun; }  // axe refuses to run twice at once
  if (fresh || !window.__axeRun) {
    window.__axeRun = axe.run(document, {resultTypes: ["violations"]}).then((results) => ({
      url: location.href,
      violations: results.violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                      targets: v.nodes.map((n) => n.target.join(" "))})),
    }));
  }
  return await window.__axeRun;
}"""


class AxeChecker:
    """Runs axe-core (vendored in vendor/axe.min.js, MPL-2.0) on every document the page loads.

    axe is added with an init script and run through evaluate(): both go through the DevTools protocol,
    outside the page's Content Security Policy, which stays enforced (no bypass_csp) for the app's own
    scripts. A document is checked once its "load" event fires; so that a quick test cannot leave a
    page before that check ends, the test's next action on the page (a locator handler) and its next
    goto()/reload()/go_back() wait for it too. Changes made by htmx after loading are covered by the
    check of the final state at the end of the test.
    """

    def __init__(self, page):
        self.page = page
        self.violations: list[str] = []
        self._seen: set[tuple] = set()
        page.context.add_init_script(path=str(AXE_SOURCE))
        page.on("load", lambda _: self._check(quiet=True))
        page.add_locator_handler(page.locator("html:not([data-axe-checked])"), lambda: self._check())
        for name in ("goto", "reload", "go_back", "go_forward"):
            setattr(page, name, self._checked_first(getattr(page, name)))

    def _checked_first(self, navigate):
        def wrapper(*args, **kwargs):
            self._check()
            return navigate(*args, **kwargs)

        return wrapper

    def _check(self, fresh=False, quiet=False) -> None:
        from playwright.sync_api import Error

        try:
            result = self.page.evaluate(_AXE_RUN, fresh)
        except Error as exc:
            if quiet or "destroyed" in str(exc) or "closed" in str(exc):
                return  # the page moved on while its check ran: the test left it without acting on it
            raise
        for violation in (result or {}).get("violations", []):
            key = (result["url"], violation["id"], tuple(violation["targets"]))
            if key in self._seen:
                continue
            self._seen.add(key)
            self.violations.append(
                f"{violation['id']} ({violation['impact']}: {violation['help']}) on {result['url']}: "
                + ", ".join(violation["targets"][:10])
            )

    def check_final_state(self) -> None:
        if not self.page.is_closed():
            self._check(fresh=True)
