"""Every main page renders in a real browser without script or Content-Security-Policy errors,
with a screenshot for a person to look at (test-artifacts/screenshots/)."""

import pytest
from django.urls import reverse

from posts.models import Post
from tests.browser.conftest import log_in
from tests.posts.engine import compose, dispatch_and_work

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_every_main_page_renders(page, screenshot, cast, mastodon_channel, fake_mastodon, redis_conn):
    published = compose(cast.alice, cast.workspace, [mastodon_channel], ["Out already", "With a reply"])
    fake_mastodon.fail_next(422, count=1, path="/api/v1/statuses", error="Validation failed: Text is spam")
    failed = compose(cast.alice, cast.workspace, [mastodon_channel], ["Refused by the server"])
    dispatch_and_work()
    # (which of the two met the refusal depends on order: both pages show something either way)
    compose(cast.carol, cast.workspace, [mastodon_channel], ["Waiting for approval"], mode=Post.Mode.NOW)
    log_in(page, "alice", "password-alice-1")
    pages = {
        "overview": reverse("workspaces:overview", kwargs={"slug": "acme"}),
        "compose": reverse("posts:compose", kwargs={"slug": "acme"}),
        "queue": reverse("posts:queue", kwargs={"slug": "acme"}),
        "calendar-week": reverse("posts:calendar", kwargs={"slug": "acme"}) + "?view=week",
        "calendar-month": reverse("posts:calendar", kwargs={"slug": "acme"}) + "?view=month",
        "calendar-day": reverse("posts:calendar", kwargs={"slug": "acme"}) + "?view=day",
        "approvals": reverse("posts:approvals", kwargs={"slug": "acme"}),
        "published": reverse("posts:published", kwargs={"slug": "acme"}),
        "failed": reverse("posts:failed", kwargs={"slug": "acme"}),
        "notifications": reverse("posts:notifications", kwargs={"slug": "acme"}),
        "post-detail": reverse("posts:detail", kwargs={"slug": "acme", "code": published.code}),
        "post-detail-failed": reverse("posts:detail", kwargs={"slug": "acme", "code": failed.code}),
        "channels": reverse("channels:list", kwargs={"slug": "acme"}),
        "schedule": reverse("posts:channel-schedule", kwargs={"slug": "acme", "code": mastodon_channel.code}),
        "team": reverse("workspaces:members", kwargs={"slug": "acme"}),
        "api-tokens": reverse("api:tokens", kwargs={"slug": "acme"}),
        "calendar-feeds": reverse("api:calendar-feeds", kwargs={"slug": "acme"}),
        "settings": reverse("workspaces:settings", kwargs={"slug": "acme"}),
        "connect-mastodon": reverse("channels:connect-mastodon", kwargs={"slug": "acme"}),
        "connect-bluesky": reverse("channels:connect-bluesky", kwargs={"slug": "acme"}),
        "connect-threads": reverse("channels:connect-threads", kwargs={"slug": "acme"}),
    }
    for name, url in pages.items():
        response = page.goto(url)
        assert response.status == 200, (name, response.status)
        assert page.locator("h1").first.is_visible(), name
        screenshot(f"page-{name}")
    assert "Text is spam" in page.goto(pages["failed"]).text()


BAD_PAGE = """<!doctype html><html lang="en"><head><title>Bad</title></head><body><main><h1>Bad</h1>
<p style="color: #bbb">Too pale to read</p><img src="/static/favicon.svg">
<script>document.title = "inline script ran";</script></main></body></html>"""


def test_axe_names_the_rule_the_page_and_the_elements_and_the_csp_still_holds(browser, live_server):
    from tests.browser.conftest import AxeChecker

    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    console = []
    page.on("console", lambda msg: console.append(msg.text))
    checker = AxeChecker(page)
    csp = "script-src 'self' 'nonce-abc'; style-src 'self' 'unsafe-inline'"
    page.route(
        "**/bad-page/",
        lambda route: route.fulfill(
            body=BAD_PAGE, content_type="text/html", headers={"Content-Security-Policy": csp}
        ),
    )
    page.goto("/bad-page/")
    page.goto("/accounts/login/")  # leaving the page: its check is in
    checker.check_final_state()
    context.close()

    url = f"{live_server.url}/bad-page/"
    assert any(
        v.startswith("color-contrast (serious") and url in v and v.endswith(": p") for v in checker.violations
    )
    assert any(
        v.startswith("image-alt (critical") and url in v and v.endswith(": img") for v in checker.violations
    )
    assert not any("/accounts/login/" in v for v in checker.violations)
    # axe ran although the page's policy refused its inline script: the policy was not bypassed.
    assert any("Content Security Policy" in text for text in console), console
