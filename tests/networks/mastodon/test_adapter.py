"""The Mastodon adapter publishing against the fake Mastodon server, with the real Mastodon.py in between."""

import logging
import socket
from datetime import UTC, datetime

import pytest
from django.test import override_settings

from channels.networks.base import (
    AuthorizationLost,
    ConnectError,
    ContentRejected,
    OutcomeUnknown,
    PartContent,
    PostOptions,
    RemoteRef,
    TransientError,
)
from channels.networks.mastodon.adapter import MastodonAdapter
from channels.networks.mastodon.connecting import connect_with_token
from tests.networks.mastodon.parts import Attempts, image

# --- publishing --------------------------------------------------------------------------------


def test_it_publishes_a_text_post(adapter, fake_mastodon):
    ref = adapter.publish_part(Attempts(PartContent("Hello from the scheduler!")).request())

    [status] = fake_mastodon.statuses
    assert status["text"] == "Hello from the scheduler!"
    assert status["visibility"] == "public"
    assert ref.id == status["id"]
    assert ref.url == f"{fake_mastodon.url}/@alice/{status['id']}"
    assert ref.uri.endswith(f"/statuses/{status['id']}")


def test_it_uploads_images_with_their_alt_text(adapter, fake_mastodon, tmp_path):
    media = [image(tmp_path, "one.png", "A teal square"), image(tmp_path, "two.png", "Another square")]

    adapter.publish_part(Attempts(PartContent("Two pictures", media)).request())

    [status] = fake_mastodon.statuses
    assert [m["description"] for m in status["media"]] == ["A teal square", "Another square"]
    assert [m["mime_type"] for m in status["media"]] == ["image/png", "image/png"]
    assert [m["file_name"] for m in status["media"]] == ["one.png", "two.png"]
    assert len(fake_mastodon.requests_to("POST", "/api/v2/media")) == 2


def test_it_waits_until_the_server_has_processed_the_media(adapter, fake_mastodon, tmp_path, quick_media):
    fake_mastodon.media_processing_polls = 3

    adapter.publish_part(Attempts(PartContent("A video-ish upload", [image(tmp_path)])).request())

    [status] = fake_mastodon.statuses
    assert len(status["media"]) == 1
    assert len([r for r in fake_mastodon.requests if r.path.startswith("/api/v1/media/")]) == 3


def test_it_retries_later_when_processing_never_finishes_and_then_reuses_the_upload(
    adapter, fake_mastodon, tmp_path, quick_media
):
    fake_mastodon.media_never_finishes = True
    attempts = Attempts(PartContent("Slow media", [image(tmp_path)]))

    with pytest.raises(TransientError) as caught:
        adapter.publish_part(attempts.request())
    assert "still processing the image photo.png" in caught.value.message
    assert fake_mastodon.statuses == []

    fake_mastodon.media_never_finishes = False
    fake_mastodon.media_processing_polls = 1
    for media in fake_mastodon.media.values():
        media["polls_left"] = 1
    adapter.publish_part(attempts.request())

    assert len(fake_mastodon.statuses) == 1
    assert len(fake_mastodon.requests_to("POST", "/api/v2/media")) == 1  # the first upload was reused


def test_it_publishes_a_thread_in_order(adapter, fake_mastodon):
    refs: list[RemoteRef] = []
    for index, text in enumerate(["1/3 First", "2/3 Second", "3/3 Third"]):
        attempts = Attempts(PartContent(text), key=f"delivery-1:{index}", reply_to=refs[-1] if refs else None)
        refs.append(adapter.publish_part(attempts.request(index)))

    texts = [s["text"] for s in fake_mastodon.statuses]
    replies = [s["in_reply_to_id"] for s in fake_mastodon.statuses]
    assert texts == ["1/3 First", "2/3 Second", "3/3 Third"]
    assert replies == [None, refs[0].id, refs[1].id]


def test_it_sends_content_warning_visibility_language_and_sensitive(adapter, fake_mastodon, tmp_path):
    options = PostOptions(content_warning="Spoilers", visibility="unlisted", language="DE", sensitive=True)

    adapter.publish_part(Attempts(PartContent("Das Ende", [image(tmp_path)]), options).request())

    [status] = fake_mastodon.statuses
    assert status["spoiler_text"] == "Spoilers"
    assert status["visibility"] == "unlisted"
    assert status["language"] == "de"
    assert status["sensitive"] is True


def test_it_publishes_once_when_the_answer_to_the_post_is_lost(adapter, fake_mastodon):
    fake_mastodon.lose_next_response("/api/v1/statuses")
    attempts = Attempts(PartContent("Exactly once, please"))

    with pytest.raises(TransientError):
        adapter.publish_part(attempts.request())
    assert len(fake_mastodon.statuses) == 1  # the server did create it
    ref = attempts.publish(adapter)

    assert len(fake_mastodon.statuses) == 1
    assert ref.id == fake_mastodon.statuses[0]["id"]


def test_it_publishes_once_on_servers_that_ignore_the_idempotency_key(adapter, fake_mastodon):
    fake_mastodon.honour_idempotency = False
    fake_mastodon.lose_next_response("/api/v1/statuses")
    attempts = Attempts(
        PartContent("Hello https://example.com/a/rather/long/path/to/read @bob@example.org\n\nBye")
    )

    with pytest.raises(TransientError):
        adapter.publish_part(attempts.request())
    ref = attempts.publish(adapter)

    assert len(fake_mastodon.statuses) == 1
    assert ref.id == fake_mastodon.statuses[0]["id"]


def test_it_publishes_once_when_the_server_answers_after_the_timeout(adapter, fake_mastodon, settings):
    settings.NETWORK_TIMEOUT = 0.5
    adapter = MastodonAdapter(adapter.account)  # clients take the timeout when built
    fake_mastodon.lose_next_response("/api/v1/statuses", mode="hang", hang_seconds=1.0)
    attempts = Attempts(PartContent("Slow server"))

    with pytest.raises(TransientError):
        adapter.publish_part(attempts.request())
    attempts.publish(adapter)

    assert len(fake_mastodon.statuses) == 1


def test_it_sends_the_same_idempotency_key_on_every_attempt(adapter, fake_mastodon):
    # Even if our own record of the first attempt were lost, Mastodon returns the first status.
    first = adapter.publish_part(Attempts(PartContent("Keyed")).request())
    second = adapter.publish_part(Attempts(PartContent("Keyed")).request())

    keys = [r.headers["Idempotency-Key"] for r in fake_mastodon.requests_to("POST", "/api/v1/statuses")]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert first.id == second.id
    assert len(fake_mastodon.statuses) == 1


def test_it_uses_different_keys_for_different_parts(adapter, fake_mastodon):
    adapter.publish_part(Attempts(PartContent("Same text"), key="delivery-1:0").request())
    adapter.publish_part(Attempts(PartContent("Same text"), key="delivery-2:0").request())

    assert len(fake_mastodon.statuses) == 2


# --- finding an earlier attempt ----------------------------------------------------------------


def test_it_finds_nothing_when_no_attempt_reached_the_server(adapter, fake_mastodon):
    adapter.publish_part(Attempts(PartContent("Good morning!"), key="yesterday:0").request())

    assert adapter.find_published(Attempts(PartContent("Good morning!"), key="today:0").request()) is None


def test_it_does_not_mistake_an_older_identical_post_for_this_one(adapter, fake_mastodon):
    adapter.publish_part(Attempts(PartContent("Good morning!"), key="yesterday:0").request())
    fake_mastodon.statuses[0]["json"]["created_at"] = "2020-01-01T08:00:00.000Z"
    today = Attempts(PartContent("Good morning!"), key="today:0")
    today.state["posting_since"] = datetime.now(UTC).isoformat()  # sent, but the server never created it
    earlier = Attempts(PartContent("Good morning!"), key="yesterday:0")
    earlier.state["posting_since"] = "2020-01-01T07:59:00+00:00"

    assert adapter.find_published(today.request()) is None
    assert adapter.find_published(earlier.request()).id == fake_mastodon.statuses[0]["id"]


def test_it_finds_the_part_among_recent_posts(adapter, fake_mastodon):
    text = "Read https://example.com/a/very/long/path/to/shorten?x=1&y=2 by @bob@example.org #news\n\nEnd"
    attempts = Attempts(PartContent(text), PostOptions(content_warning="Long read"))
    fake_mastodon.lose_next_response("/api/v1/statuses")
    with pytest.raises(TransientError):
        adapter.publish_part(attempts.request())
    adapter.publish_part(Attempts(PartContent("Something else"), key="other:0").request())

    ref = adapter.find_published(attempts.request())

    assert ref is not None and ref.id == fake_mastodon.statuses[0]["id"]


def test_it_says_the_outcome_is_unknown_when_too_much_was_posted_since(adapter, fake_mastodon):
    attempts = Attempts(PartContent("Lost in the crowd"))
    attempts.state["posting_since"] = "2020-01-01T00:00:00+00:00"
    for number in range(130):
        adapter.publish_part(Attempts(PartContent(f"Busy {number}"), key=f"busy-{number}:0").request())

    with pytest.raises(OutcomeUnknown) as caught:
        adapter.find_published(attempts.request())
    assert "Check the account" in caught.value.message


# --- errors ------------------------------------------------------------------------------------


def test_it_retries_after_the_rate_limit_resets(adapter, fake_mastodon):
    fake_mastodon.rate_limit_next(path="/api/v1/statuses", reset_in=30)

    with pytest.raises(TransientError) as caught:
        adapter.publish_part(Attempts(PartContent("Too fast")).request())

    assert 30 < caught.value.retry_after <= 34  # with a safety margin
    assert fake_mastodon.statuses == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_it_retries_server_errors(adapter, fake_mastodon, status):
    fake_mastodon.fail_next(status, path="/api/v1/statuses")

    with pytest.raises(TransientError) as caught:
        adapter.publish_part(Attempts(PartContent("Server down")).request())
    assert f"HTTP {status}" in caught.value.message


def test_it_retries_when_the_server_is_unreachable(mastodon_channel):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mastodon_channel.server_url = f"http://127.0.0.1:{port}"

    with pytest.raises(TransientError) as caught:
        mastodon_channel.adapter().publish_part(Attempts(PartContent("Anyone there?")).request())
    assert f"Could not reach 127.0.0.1:{port}" in caught.value.message


def test_it_asks_for_a_reconnect_when_the_token_was_revoked(adapter, fake_mastodon):
    fake_mastodon.revoke(fake_mastodon.token)

    with pytest.raises(AuthorizationLost) as caught:
        adapter.publish_part(Attempts(PartContent("Still here?")).request())
    assert "Reconnect the channel" in caught.value.message
    assert "revoked" in caught.value.message


def test_it_asks_for_a_reconnect_when_the_token_lacks_permission(adapter, fake_mastodon):
    fake_mastodon.fail_next(
        403, path="/api/v1/statuses", error="This action is outside the authorized scopes"
    )

    with pytest.raises(AuthorizationLost):
        adapter.publish_part(Attempts(PartContent("Write scope?")).request())


def test_it_asks_for_a_reconnect_when_the_account_is_gone(adapter, fake_mastodon):
    fake_mastodon.fail_next(410, path="/api/v1/statuses", error="Gone")

    with pytest.raises(AuthorizationLost) as caught:
        adapter.publish_part(Attempts(PartContent("Hello?")).request())
    assert "not found" in caught.value.message


def test_it_reports_the_servers_reason_when_it_rejects_the_post(mastodon_channel, fake_mastodon):
    mastodon_channel.limits = {**mastodon_channel.limits, "max_characters": 5000}  # stale cache
    adapter = mastodon_channel.adapter()

    with pytest.raises(ContentRejected) as caught:
        adapter.publish_part(Attempts(PartContent("x" * 600)).request())

    assert caught.value.message == "Mastodon rejected the post: Text character limit of 500 exceeded."


def test_it_treats_a_400_from_a_fork_as_rejected_content(adapter, fake_mastodon):
    fake_mastodon.fail_next(400, path="/api/v1/statuses", error="Invalid visibility")

    with pytest.raises(ContentRejected) as caught:
        adapter.publish_part(Attempts(PartContent("Fork")).request())
    assert caught.value.message == "Mastodon rejected the post: Invalid visibility."


def test_it_rejects_a_reply_to_a_deleted_post(adapter, fake_mastodon):
    attempts = Attempts(PartContent("2/2"), reply_to=RemoteRef(id="999"))

    with pytest.raises(ContentRejected) as caught:
        adapter.publish_part(attempts.request())
    assert "replies to was deleted" in caught.value.message


def test_it_reports_media_the_server_does_not_accept(adapter, fake_mastodon, tmp_path):
    fake_mastodon.supported_mime_types = ["image/jpeg"]

    with pytest.raises(ContentRejected) as caught:
        adapter.publish_part(Attempts(PartContent("A PNG", [image(tmp_path)])).request())
    assert caught.value.message.startswith("Mastodon rejected photo.png: File content type is invalid")
    assert fake_mastodon.statuses == []


def test_it_refuses_plain_http_outside_development(adapter, settings):
    settings.SSRF_ALLOW_PRIVATE = False
    settings.DEBUG = False

    with pytest.raises(AuthorizationLost) as caught:
        MastodonAdapter(adapter.account).publish_part(Attempts(PartContent("Clear text")).request())
    assert "https://" in caught.value.message


# --- secrets -----------------------------------------------------------------------------------


def test_it_keeps_the_token_out_of_logs_and_messages(adapter, fake_mastodon, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    token = fake_mastodon.token

    adapter.publish_part(Attempts(PartContent("Logged", [image(tmp_path)])).request())
    fake_mastodon.fail_next(422, path="/api/v1/statuses", error="Validation failed: nope")
    with pytest.raises(ContentRejected) as rejected:
        adapter.publish_part(Attempts(PartContent("Again"), key="x:0").request())
    fake_mastodon.revoke(token)
    with pytest.raises(AuthorizationLost) as lost:
        adapter.publish_part(Attempts(PartContent("Again"), key="y:0").request())

    assert caplog.records  # something was logged
    assert token not in caplog.text
    assert token not in rejected.value.message and token not in lost.value.message
    assert token not in str(lost.value.__cause__)


@override_settings(SSRF_ALLOW_PRIVATE=True)
def test_it_keeps_a_pasted_token_out_of_logs_when_connecting_fails(fake_mastodon, caplog):

    caplog.set_level(logging.DEBUG)
    wrong = "WrongToken_" + "x" * 30

    with pytest.raises(ConnectError) as caught:
        connect_with_token(fake_mastodon.url, wrong)

    assert caught.value.field == "access_token"
    assert wrong not in caplog.text
    assert wrong not in caught.value.message
