"""Connecting, counting and publishing exactly once on every server program that speaks Mastodon's API,
each played by the fake server's personality (personalities.py)."""

import time

import pytest
import requests

from channels.models import Channel
from channels.networks.base import ContentRejected, PartContent, PostOptions, RemoteRef, TransientError
from channels.networks.mastodon.connecting import connect_with_token
from channels.networks.mastodon.network import SPEC
from tests.networks.mastodon.parts import Attempts, adapter_for, image
from tests.networks.mastodon.personalities import NAMES, PERSONALITIES

LABELS = {
    "mastodon": "Mastodon",
    "sharkey": "Sharkey",
    "gotosocial": "GoToSocial",
    "akkoma": "Akkoma",
    "pleroma": "Pleroma",
    "pixelfed": "Pixelfed",
    "friendica": "Friendica",
    "takahe": "Takahē",
}
FAMILY = "👨‍👩‍👧"  # one grapheme, five code points
URL = "https://example.com/" + "p" * 40


@pytest.fixture(params=NAMES)
def server(request, fake_mastodon):
    fake_mastodon.personality = request.param
    return fake_mastodon


def connect(server):
    return adapter_for(connect_with_token(server.url, server.token))


def media_for(server, tmp_path, index=0, name="photo.png"):
    """Pixelfed takes no top-level post without media; elsewhere a text post is enough."""
    return [image(tmp_path, name)] if server.traits.media_required and index == 0 else []


# --- connecting --------------------------------------------------------------------------------


@pytest.mark.parametrize("nodeinfo", ["ok", "fail", "stall"])
def test_it_connects_and_names_the_software(server, cast, settings, nodeinfo):
    settings.NETWORK_TIMEOUT = 0.5
    server.nodeinfo = nodeinfo
    server.nodeinfo_stall_seconds = 1.0

    started = time.monotonic()
    connected = connect_with_token(server.url, server.token)

    assert time.monotonic() - started < 3
    traits = server.traits
    assert connected.limits["software"] == traits.software
    assert connected.limits["max_characters"] == traits.max_characters
    channel = Channel.objects.save_connected(cast.workspace, connected)
    assert channel.network_label == LABELS[traits.name]
    assert SPEC.label_for(channel) == LABELS[traits.name]


def test_it_reads_the_limits_again_in_the_same_shape(server):
    adapter = connect(server)
    server.max_characters += 100

    limits = adapter.read_limits()

    assert set(limits) == set(adapter.account.limits)
    assert limits["max_characters"] == server.traits.max_characters + 100
    assert limits["software"] == server.traits.software


def test_an_unrecognised_server_gets_the_strictest_count_and_mastodons_name(fake_mastodon, cast):
    fake_mastodon.nodeinfo = "fail"
    fake_mastodon.version = "Frobnicator 1.0"
    connected = connect_with_token(fake_mastodon.url, fake_mastodon.token)
    adapter = adapter_for(connected)

    assert connected.limits["software"] == ""
    # Code points of the emoji, the URL at full length: the larger of all the rules.
    assert adapter.count(f"{FAMILY} https://x.org") == max(5 + 1 + 13, 1 + 1 + 23)
    assert Channel.objects.save_connected(cast.workspace, connected).network_label == "Mastodon"


# --- counting at the boundary ------------------------------------------------------------------


@pytest.mark.parametrize("warning", ["", "Spoilers ahead"])
def test_validation_agrees_with_the_server_at_the_boundary(server, tmp_path, warning):
    adapter = connect(server)
    options = PostOptions(content_warning=warning)
    base = f"{URL} {FAMILY * 3} @bob@example.org "
    fill = adapter.limits["max_characters"] - adapter.count(base, warning)
    at_limit, over = base + "a" * fill, base + "a" * (fill + 1)
    media = media_for(server, tmp_path)

    assert adapter.validate([PartContent(at_limit, media)], options).ok
    result = adapter.validate([PartContent(over, media)], options)
    assert not result.ok
    name = LABELS[server.personality]
    assert f"over the limit: {name} at {server.domain} allows" in result.errors[0].message

    adapter.publish_part(Attempts(PartContent(at_limit, media), options, key="at:0").request())
    assert len(server.statuses) == 1
    if server.personality != "friendica":  # its count is not documented: the strictest rule applies
        with pytest.raises(ContentRejected) as caught:
            adapter.publish_part(Attempts(PartContent(over, media), options, key="over:0").request())
        assert caught.value.message.startswith(f"{name} rejected the post")


def test_pixelfed_needs_media_on_the_first_part_only(fake_mastodon):
    fake_mastodon.personality = "pixelfed"
    adapter = connect(fake_mastodon)

    result = adapter.validate([PartContent("Just words"), PartContent("A reply")], PostOptions())

    [error] = result.errors
    assert error.part == 0
    assert (
        error.message
        == f"Pixelfed at {fake_mastodon.domain} only takes posts with an image or video: add one."
    )
    with pytest.raises(ContentRejected) as caught:
        adapter.publish_part(Attempts(PartContent("Just words")).request())
    assert caught.value.message == "Pixelfed rejected the post: Empty statuses are not allowed."


def test_friendica_keeps_the_content_warning_a_content_warning(fake_mastodon):
    fake_mastodon.personality = "friendica"
    adapter = connect(fake_mastodon)
    options = PostOptions(content_warning="Spoilers")

    adapter.publish_part(Attempts(PartContent("The end"), options).request())

    [status] = fake_mastodon.statuses
    assert status["spoiler_text"] == "Spoilers" and status["title"] == ""


# --- publishing --------------------------------------------------------------------------------


def test_it_publishes_a_thread_with_images(server, tmp_path):
    adapter = connect(server)
    refs: list[RemoteRef] = []
    for index, text in enumerate(["1/3 First", "2/3 Second", "3/3 Third"]):
        media = [image(tmp_path, f"p{index}.png")] if index == 0 else []
        attempts = Attempts(
            PartContent(text, media), key=f"thread-1:{index}", reply_to=refs[-1] if refs else None
        )
        refs.append(attempts.publish(adapter, index))

    assert [s["text"] for s in server.statuses] == ["1/3 First", "2/3 Second", "3/3 Third"]
    assert [s["in_reply_to_id"] for s in server.statuses] == [None, refs[0].id, refs[1].id]
    assert [len(s["media"]) for s in server.statuses] == [1, 0, 0]


def test_a_lost_answer_to_the_create_call_leaves_exactly_one_copy(server, tmp_path):
    adapter = connect(server)
    text = "Read https://example.com/a/very/long/path/to/shorten?x=1&y=2 by @bob@example.org #news\n\nEnd"
    attempts = Attempts(PartContent(text, media_for(server, tmp_path)), PostOptions(content_warning="Long"))
    server.lose_next_response("/api/v1/statuses")

    with pytest.raises(TransientError):
        adapter.publish_part(attempts.request())
    ref = attempts.publish(adapter)
    again = attempts.publish(adapter)

    assert len(server.statuses) == 1
    assert ref.id == again.id == server.statuses[0]["id"]


def test_pixelfeds_duplicate_key_answer_means_check_then_post_once(fake_mastodon, tmp_path):
    fake_mastodon.personality = "pixelfed"
    adapter = connect(fake_mastodon)
    attempts = Attempts(PartContent("Recorded, not posted", [image(tmp_path)]))
    key = adapter.idempotency_key(attempts.request())
    fake_mastodon._idempotency[(fake_mastodon.account["id"], key)] = ""  # the key recorded, the post failed

    with pytest.raises(TransientError) as caught:
        adapter.publish_part(attempts.request())
    assert "did not say whether it published" in caught.value.message
    attempts.publish(adapter)

    assert len(fake_mastodon.statuses) == 1


@pytest.mark.parametrize("name", ["akkoma", "pleroma"])
def test_a_server_error_the_key_would_replay_means_check_then_post_once_with_a_new_key(fake_mastodon, name):
    fake_mastodon.personality = name
    adapter = connect(fake_mastodon)
    attempts = Attempts(PartContent("Once, despite the cache"))
    fake_mastodon.fail_next(500, path="/api/v1/statuses")

    with pytest.raises(TransientError) as caught:
        adapter.publish_part(attempts.request())  # the 500 is cached for the key
    assert "did not say whether it published" in caught.value.message
    attempts.publish(adapter)
    attempts.publish(adapter)

    assert len(fake_mastodon.statuses) == 1
    keys = [r.headers["Idempotency-Key"] for r in fake_mastodon.requests_to("POST", "/api/v1/statuses")]
    assert keys[0] != keys[1]


def test_a_replayed_server_error_from_any_server_means_check_then_post_once(fake_mastodon):
    fake_mastodon.personality = "akkoma"
    adapter = connect(fake_mastodon)
    adapter.account.limits["software"] = ""  # not recognised: only the replay header tells
    attempts = Attempts(PartContent("Replayed"))
    fake_mastodon.fail_next(502, path="/api/v1/statuses")

    with pytest.raises(TransientError) as first:
        adapter.publish_part(attempts.request())
    assert "HTTP 502" in first.value.message
    with pytest.raises(TransientError) as second:
        attempts.publish(adapter)
    assert "did not say whether it published" in second.value.message
    attempts.publish(adapter)

    assert len(fake_mastodon.statuses) == 1


def test_the_read_back_does_not_trust_text_to_be_plain(fake_mastodon):
    fake_mastodon.personality = "takahe"
    adapter = connect(fake_mastodon)
    attempts = Attempts(PartContent("Fish & chips <3 at https://example.com/menu"))
    fake_mastodon.lose_next_response("/api/v1/statuses")

    with pytest.raises(TransientError):
        adapter.publish_part(attempts.request())
    assert fake_mastodon.statuses[0]["json"]["text"].startswith("<p>")
    assert adapter.find_published(attempts.request()).id == fake_mastodon.statuses[0]["id"]


# --- rate limits -------------------------------------------------------------------------------


def test_a_rate_limit_is_honoured_with_a_margin_in_every_header_format(server):
    adapter = connect(server)
    server.rate_limit_next(path="/api/v1/statuses", reset_in=30)

    with pytest.raises(TransientError) as caught:
        adapter.publish_part(Attempts(PartContent("Too fast")).request())

    if PERSONALITIES[server.personality].rate_limit == "none":
        assert caught.value.retry_after is None  # the engine's own back-off
    else:
        assert 30 < caught.value.retry_after <= 34
    assert "is limiting how many requests" in caught.value.message


@pytest.mark.parametrize("style", ["mastodon", "iso", "epoch", "seconds"])
def test_every_reset_format_gets_a_margin(fake_mastodon, adapter, style):
    fake_mastodon.rate_limit_next(path="/api/v1/statuses", reset_in=20, style=style)

    with pytest.raises(TransientError) as caught:
        adapter.publish_part(Attempts(PartContent("Too fast")).request())

    assert 20 < caught.value.retry_after <= 24


@pytest.mark.parametrize(
    "extra",
    [{"Date": "Thu, 01 Jan 2026 00:00:00 GMT"}, {"X-RateLimit-Reset": "soon"}],
    ids=["two Date headers", "unreadable reset"],
)
def test_unreadable_rate_limit_headers_are_reported_honestly(fake_mastodon, adapter, extra):
    fake_mastodon.rate_limit_next(path="/api/v1/statuses", extra_headers=extra)

    with pytest.raises(TransientError) as caught:
        adapter.publish_part(Attempts(PartContent("Hm")).request())

    assert "sent rate-limit information that could not be read" in caught.value.message


def test_takahe_limits_are_read_without_the_trailing_slash_it_refuses(fake_mastodon):
    fake_mastodon.personality = "takahe"
    fake_mastodon.max_characters = 300

    connected = connect_with_token(fake_mastodon.url, fake_mastodon.token)

    assert requests.get(f"{fake_mastodon.url}/api/v1/instance/", timeout=5).status_code == 404
    assert connected.limits["max_characters"] == 300
    assert not adapter_for(connected).validate([PartContent("x" * 400)], PostOptions()).ok


def test_the_channel_list_and_the_published_link_name_the_software(fake_mastodon, cast, client):
    fake_mastodon.personality = "gotosocial"
    channel = Channel.objects.save_connected(
        cast.workspace, connect_with_token(fake_mastodon.url, fake_mastodon.token)
    )
    client.force_login(cast.alice)
    listed = client.get(f"/w/{cast.workspace.slug}/channels/").text
    assert f"on {channel.server_url} (GoToSocial)" in listed
    assert str(channel) == f"GoToSocial {channel.handle}"

    fake_mastodon.personality = "mastodon"  # the server was replaced: reconnecting reads it again
    again = Channel.objects.save_connected(
        cast.workspace, connect_with_token(fake_mastodon.url, fake_mastodon.token)
    )
    assert again.pk == channel.pk and again.network_label == "Mastodon"
    listed = client.get(f"/w/{cast.workspace.slug}/channels/").text
    assert "(GoToSocial)" not in listed and "(Mastodon)" not in listed
