"""The composer's live checks: counts and previews per channel, each network's options, link cards."""

import re

import pytest

from posts.models import Post
from tests.posts.compose_form import element, form, url

pytestmark = pytest.mark.usefixtures("media_root")


def test_it_counts_each_channel_as_you_type_without_saving(client, cast, two):
    mastodon, bluesky = two
    client.force_login(cast.alice)
    response = client.post(url("compose-validate"), form(two, "a" * 301), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200
    bluesky_panel = element(page, f"panel-{bluesky.code}")
    assert "301 / 300" in bluesky_panel
    assert "Bluesky allows 300 characters; this part has 301." in bluesky_panel
    mastodon_panel = element(page, f"panel-{mastodon.code}")
    assert "301 / 500" in mastodon_panel and "problem" not in mastodon_panel
    # The counters under the text box are swapped in too, the over-long one marked.
    counters = element(page, "counters-0")
    assert 'hx-swap-oob="true"' in counters and "counter net-bluesky over" in counters
    assert not Post.objects.exists()
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_it_counts_urls_and_the_content_warning_as_mastodon_does(client, cast, mastodon_channel):
    client.force_login(cast.alice)
    text = "See https://example.org/a/very/long/path/that/mastodon/counts/as/twenty-three"
    response = client.post(
        url("compose-validate"),
        form([mastodon_channel], text, content_warning="spoiler"),
        HTTP_HX_REQUEST="true",
    )
    assert f"{4 + 23 + 7} / 500" in response.content.decode()


def test_it_previews_each_network(client, cast, mastodon_channel, bluesky_channel, threads_channel):
    client.force_login(cast.alice)
    data = form(
        [mastodon_channel, bluesky_channel, threads_channel],
        "Hello @bob.test #launch https://example.org/page more",
        content_warning="Spoilers",
        visibility="unlisted",
        topic_tag="Launches",
    )
    page = client.post(url("compose-validate"), data, HTTP_HX_REQUEST="true").content.decode()
    mastodon = element(page, f"panel-{mastodon_channel.code}")
    assert '<details class="pv-cw"><summary><span class="pv-cw-text">Spoilers</span>' in mastodon
    assert "Quiet public (unlisted)" in mastodon
    assert '<span class="pv-link">example.org/page</span>' in mastodon
    bluesky = element(page, f"panel-{bluesky_channel.code}")
    assert '<span class="pv-mention">@bob.test</span>' in bluesky
    assert '<span class="pv-tag">#launch</span>' in bluesky
    assert "link-card/?url=https%3A%2F%2Fexample.org%2Fpage" in bluesky
    threads = element(page, f"panel-{threads_channel.code}")
    assert "› Launches" in threads and " / 500" in threads


def options_hidden(page: str, network: str) -> bool:
    """Whether the options of this network are on the page but hidden."""
    tag = re.search(rf'<div class="option-group net-{network}"[^>]*>', page)
    assert tag, f"no options for {network} on the page"
    return " hidden" in tag.group()


def test_it_shows_only_the_options_of_the_chosen_channels_networks(client, cast, make_channel):
    mastodon, bluesky, threads = (make_channel(n) for n in ("mastodon", "bluesky", "threads"))
    client.force_login(cast.alice)
    page = client.get(url("compose")).content.decode()
    assert all(options_hidden(page, n) for n in ("mastodon", "bluesky", "threads"))

    # The composer without JavaScript: the whole form comes back with the options of Mastodon only,
    # and the options of the others, hidden, still hold what was typed in them.
    data = form([mastodon], "Hello", content_warning="Spoilers", topic_tag="Launches", action="refresh")
    page = client.post(url("compose"), data).content.decode()
    assert not options_hidden(page, "mastodon")
    assert options_hidden(page, "bluesky") and options_hidden(page, "threads")
    assert 'name="content_warning" id="content_warning" value="Spoilers"' in page
    assert 'name="topic_tag" id="topic_tag" value="Launches"' in page

    page = client.post(url("compose"), {**data, "channels": [str(threads.code)]}).content.decode()
    assert not options_hidden(page, "threads")
    assert options_hidden(page, "mastodon") and options_hidden(page, "bluesky")
    assert 'name="content_warning" id="content_warning" value="Spoilers"' in page

    # A refused option stays in sight, with its message, even for a network no longer chosen.
    page = client.post(
        url("compose"), {**data, "link_attachment": "not a link", "action": ""}
    ).content.decode()
    assert not options_hidden(page, "threads")
    assert "Enter a full web address starting with https://." in element(page, "link_attachment-errors")
    assert not Post.objects.exists()


def test_it_shows_a_link_card_or_quietly_none(client, cast, fake_bluesky, settings):
    client.force_login(cast.alice)
    page = client.get(url("link-card-preview"), {"url": f"{fake_bluesky.url}/pages/article"}).content.decode()
    assert "Spring launch &amp; news" in page and "Everything about the spring launch." in page
    settings.SSRF_ALLOW_PRIVATE = False  # the fake server is on a loopback address
    page = client.get(url("link-card-preview"), {"url": f"{fake_bluesky.url}/pages/plain?x"}).content.decode()
    assert "No preview" in page
