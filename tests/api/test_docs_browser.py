"""The interactive API docs in a real browser, under the site's Content Security Policy."""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = pytest.mark.browser


@pytest.fixture
def chromium():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM}")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


def test_it_shows_the_interactive_docs_without_csp_violations(chromium, live_server):
    page = chromium.new_page()
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    response = page.goto(f"{live_server.url}/api/v1/docs")
    assert "script-src" in response.headers["content-security-policy"]
    page.get_by_text("Open Scheduler API").first.wait_for()
    page.get_by_text("/api/v1/posts").first.wait_for()
    page.screenshot(path="/tmp/api-docs.png", full_page=False)
    assert page.locator(".opblock").count() >= 10
    assert not problems, problems


@pytest.mark.django_db(transaction=True)
def test_it_tries_an_endpoint_from_the_docs_page_with_a_token(chromium, live_server, cast, redis_conn):
    from api.models import APIToken

    _, secret = APIToken.issue(workspace=cast.workspace, user=cast.alice, name="docs")
    page = chromium.new_page()
    page.set_default_timeout(10_000)
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{live_server.url}/api/v1/docs")
    page.get_by_role("button", name="Authorize").first.click()
    page.locator(".modal-ux input").first.fill(secret)
    page.locator(".modal-ux button.authorize").click()
    page.locator(".modal-ux button.btn-done").click()
    page.locator("#operations-workspace-me button.opblock-summary-control").click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    body = page.locator("#operations-workspace-me .responses-wrapper .live-responses-table .microlight").first
    body.wait_for()
    assert '"username": "alice"' in body.inner_text()
    assert not problems, problems
