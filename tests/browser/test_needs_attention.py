"""The way out of "needs attention": the editor finds the post on the network and links it, or says it
is not there and posts it anyway (warned that a duplicate is possible)."""

import pytest
from django.urls import reverse

from channels.networks.mastodon.adapter import MastodonAdapter
from posts.models import Delivery
from tests.browser.conftest import log_in
from tests.posts.engine import dispatch_and_work
from tests.posts.test_needs_attention import needing_attention, stuck_at

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
S = Delivery.Status


def test_an_editor_links_the_real_post_from_the_post_page(
    page, screenshot, cast, redis_conn, monkeypatch, mastodon_channel, fake_mastodon
):
    stuck_at(monkeypatch, MastodonAdapter, 0, posted=True)
    delivery = needing_attention(cast, mastodon_channel, ["Spring sale starts on Monday"])

    log_in(page, "bob", "password-bob-1")
    page.goto(reverse("posts:detail", kwargs={"slug": "acme", "code": delivery.post.code}))
    found = page.locator(f"#find-{delivery.code}")
    found.locator(".find-post").get_by_text("Spring sale starts on Monday").wait_for()
    assert found.get_by_role("button", name="It is not there: post it").is_visible()
    screenshot("needs-attention-post-page")
    found.get_by_role("button", name="This is it").click()
    page.get_by_text("Linked: the post is published").wait_for()
    delivery.refresh_from_db()
    assert delivery.status == S.PUBLISHED
    assert delivery.remote_parts[0]["id"] == str(fake_mastodon.statuses[0]["id"])
    assert page.get_by_role("link", name="View on Mastodon").is_visible()
    assert len(fake_mastodon.statuses) == 1


def test_an_editor_posts_it_anyway_from_the_failed_page(
    page, screenshot, cast, redis_conn, monkeypatch, mastodon_channel, fake_mastodon
):
    stuck_at(monkeypatch, MastodonAdapter, 0, posted=False)
    delivery = needing_attention(cast, mastodon_channel, ["It never reached the server"])

    log_in(page, "bob", "password-bob-1")
    page.goto(reverse("posts:failed", kwargs={"slug": "acme"}))
    page.get_by_role("link", name="Find it on Mastodon").click()
    page.get_by_role("heading", name="Find it on Mastodon").wait_for()
    assert page.get_by_text("has no posts in that time").is_visible()
    assert page.get_by_text("posting it again makes a duplicate").is_visible()
    screenshot("needs-attention-find")
    page.get_by_role("button", name="It is not there: post it").click()
    page.get_by_text("there will be two").wait_for()
    assert "/failed/" in page.url
    delivery.refresh_from_db()
    assert delivery.status == S.SCHEDULED

    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == S.PUBLISHED
    assert [s["text"] for s in fake_mastodon.statuses] == ["It never reached the server"]
