"""Signing in with a server (OAuth) in a real browser, under the production Content Security Policy.

The connect forms POST to us and we send the browser on to the server's sign-in page; a redirect there
would be dropped by the browser (`form-action 'self'`), so these journeys are the proof that it works.
"""

import pytest
from django.urls import reverse

from channels.models import Channel
from posts.models import Delivery
from tests.browser.conftest import log_in
from tests.posts.engine import compose, dispatch_and_work

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf000000030101005bbc3b5c0000000049454e44ae426082"
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site_url(settings, live_server):
    # The servers send the browser back to SITE_URL's callback: the live server here.
    settings.SITE_URL = live_server.url
    return live_server.url


def test_it_connects_mastodon_by_signing_in_on_the_server(page, cast, fake_mastodon, site_url):
    log_in(page, "alice", "password-alice-1")
    page.goto(reverse("channels:connect-mastodon", kwargs={"slug": "acme"}))
    sign_in = page.locator("#sign-in")
    sign_in.get_by_label("Your server").fill(fake_mastodon.url)
    sign_in.get_by_role("button", name="Sign in with your server").click()

    page.wait_for_url(lambda url: url.endswith("/w/acme/channels/"))
    assert len(fake_mastodon.authorizations) == 1
    channel = Channel.objects.get(network="mastodon")
    assert channel.handle == f"@alice@{fake_mastodon.domain}"
    assert page.get_by_text(f"Connected {channel.handle}").is_visible()


def test_it_connects_threads_through_its_sign_in(page, cast, fake_threads, site_url):
    # The account's picture comes from Meta's CDN, which this machine cannot reach.
    page.route("https://cdn.example.net/**", lambda route: route.fulfill(body=PNG, content_type="image/png"))
    log_in(page, "alice", "password-alice-1")
    page.goto(reverse("channels:connect-threads", kwargs={"slug": "acme"}))
    page.get_by_role("button", name="Continue to Threads").click()

    # Meta appends "#_" to its redirect, and browsers keep a fragment across redirects.
    page.wait_for_url(lambda url: url.split("#")[0].endswith("/w/acme/channels/"))
    channel = Channel.objects.get(network="threads")
    assert page.get_by_text(f"Threads account {channel.handle} is connected.").is_visible()


def test_a_reconnect_from_the_overview_releases_the_held_posts(
    page, cast, mastodon_channel, fake_mastodon, site_url, redis_conn
):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Held while the token was revoked"])
    fake_mastodon.revoke(fake_mastodon.token)
    dispatch_and_work()
    delivery = post.deliveries.get()
    assert delivery.status == Delivery.Status.HELD
    before = len(fake_mastodon.tokens_issued)

    log_in(page, "alice", "password-alice-1")
    page.goto(reverse("workspaces:overview", kwargs={"slug": "acme"}))
    page.get_by_role("link", name=f"Reconnect {mastodon_channel}").click()
    sign_in = page.locator("#sign-in")
    assert sign_in.get_by_label("Your server").input_value() == fake_mastodon.url
    sign_in.get_by_role("button", name="Sign in with your server").click()
    page.wait_for_url(lambda url: url.endswith("/w/acme/channels/"))

    assert len(fake_mastodon.tokens_issued) == before + 1
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SCHEDULED
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHED
    assert fake_mastodon.statuses[-1]["json"]["content"].startswith("<p>Held while the token was revoked")
    page.goto(reverse("workspaces:overview", kwargs={"slug": "acme"}))
    assert page.get_by_text("needs reconnecting").count() == 0
