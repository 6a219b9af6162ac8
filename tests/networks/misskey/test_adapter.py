"""The Misskey adapter against the fake server: validation, publishing, read-back, metrics, errors."""

from datetime import UTC, datetime, timedelta

import pytest

from channels.networks.base import (
    AuthorizationLost,
    ContentRejected,
    PartContent,
    PostOptions,
    RemoteRef,
    TransientError,
)
from tests.networks.misskey.parts import Attempts, image

pytestmark = pytest.mark.django_db


def test_validate_counts_to_the_servers_limit_and_not_one_more(fake_misskey, cast):
    from channels.models import Channel
    from channels.networks.misskey.connecting import connect_with_token

    fake_misskey.max_note_text_length = 50
    channel = Channel.objects.save_connected(
        cast.workspace, connect_with_token(fake_misskey.url, fake_misskey.token)
    )
    adapter = channel.adapter()
    at_limit = adapter.validate([PartContent("é" * 50)], PostOptions())
    assert at_limit.ok and at_limit.usage[0].used == 50 and at_limit.usage[0].limit == 50
    over = adapter.validate([PartContent("é" * 51)], PostOptions())
    assert [p.message for p in over.errors] == ["This note is 1 character over the server's 50."]


def test_validate_cw_files_and_visibility(adapter, tmp_path):
    assert adapter.validate([PartContent("hi")], PostOptions(misskey_cw="w" * 100)).ok
    too_long = adapter.validate([PartContent("hi")], PostOptions(misskey_cw="w" * 101))
    assert "content warning is 101 characters" in too_long.errors[0].message
    files = [image(tmp_path, f"{n}.png") for n in range(17)]
    assert adapter.validate([PartContent("hi", files[:16])], PostOptions()).ok
    assert "at most 16 files" in adapter.validate([PartContent("hi", files)], PostOptions()).errors[0].message
    assert not adapter.validate([PartContent("  ")], PostOptions()).ok


def test_a_role_without_public_notes_is_told_before_publishing(fake_misskey, cast):
    from channels.models import Channel
    from channels.networks.misskey.connecting import connect_with_token

    fake_misskey.can_public_note = False
    channel = Channel.objects.save_connected(
        cast.workspace, connect_with_token(fake_misskey.url, fake_misskey.token)
    )
    adapter = channel.adapter()
    refused = adapter.validate([PartContent("hi")], PostOptions(misskey_visibility="public"))
    assert "does not allow public notes" in refused.errors[0].message
    assert adapter.validate([PartContent("hi")], PostOptions(misskey_visibility="home")).ok


def test_publish_with_images_alt_text_and_options(adapter, fake_misskey, tmp_path):
    options = PostOptions(misskey_visibility="followers", misskey_cw="Spoilers", misskey_sensitive=True)
    part = PartContent(
        "Two pictures", [image(tmp_path, "a.png", "First"), image(tmp_path, "b.png", "Second")]
    )
    ref = Attempts(part, options).publish(adapter)

    [note] = fake_misskey.notes
    assert ref.id == note["id"] and ref.url.endswith(f"/notes/{note['id']}")
    assert (note["text"], note["cw"], note["visibility"]) == ("Two pictures", "Spoilers", "followers")
    assert [f["comment"] for f in note["files"]] == ["First", "Second"]
    assert all(f["isSensitive"] for f in note["files"])
    uploads = fake_misskey.requests_to("drive/files/create")
    assert len(uploads) == 2 and all(r["with_token"] and "i" not in r["body"] for r in uploads)


def test_a_thread_replies_to_the_previous_part(adapter, fake_misskey):
    first = Attempts(PartContent("One")).publish(adapter)
    second = Attempts(PartContent("Two"), key="delivery-1:1", reply_to=first).publish(adapter, 1)
    Attempts(PartContent("Three"), key="delivery-1:2", reply_to=second).publish(adapter, 2)
    assert [n["replyId"] for n in fake_misskey.notes] == [None, first.id, second.id]


def test_a_lost_answer_is_found_in_one_read_and_not_posted_again(adapter, fake_misskey, tmp_path):
    attempts = Attempts(PartContent("Once only", [image(tmp_path)]))
    fake_misskey.lose_next_response("notes/create")
    with pytest.raises(TransientError):
        attempts.publish(adapter)
    assert attempts.state["posting_since"] and attempts.state["files"]

    ref = attempts.publish(adapter)

    assert [n["id"] for n in fake_misskey.notes] == [ref.id]
    assert len(fake_misskey.requests_to("users/notes")) == 1
    assert len(fake_misskey.requests_to("drive/files/create")) == 1  # the upload is reused


def test_a_refused_first_attempt_is_not_found_and_posted(adapter, fake_misskey):
    attempts = Attempts(PartContent("Refused, then accepted"))
    fake_misskey.fail_next(502, endpoint="notes/create")
    with pytest.raises(TransientError):
        attempts.publish(adapter)
    assert adapter.find_published(attempts.request()) is None
    attempts.publish(adapter)
    assert [n["text"] for n in fake_misskey.notes] == ["Refused, then accepted"]


@pytest.mark.parametrize("sharkey, wait", [(False, 60.0), (True, 12.0)], ids=["misskey", "sharkey"])
def test_a_rate_limit_is_transient_with_the_servers_wait(adapter, fake_misskey, sharkey, wait):
    fake_misskey.rate_limit_next(endpoint="notes/create", sharkey=sharkey, retry_after=12)
    with pytest.raises(TransientError) as caught:
        Attempts(PartContent("Slow down")).publish(adapter)
    assert caught.value.retry_after == wait
    assert "limiting" in caught.value.message


def test_a_revoked_token_is_authorization_lost(adapter, fake_misskey):
    fake_misskey.revoke(fake_misskey.token)
    with pytest.raises(AuthorizationLost):
        Attempts(PartContent("Hello?")).publish(adapter)
    with pytest.raises(AuthorizationLost):
        adapter.verify()


def test_a_token_without_write_notes_is_authorization_lost(fake_misskey, cast):
    from channels.models import Channel
    from channels.networks.misskey.connecting import connect_with_token

    token = fake_misskey.issue_token(["read:account", "write:drive"])
    adapter = Channel.objects.save_connected(
        cast.workspace, connect_with_token(fake_misskey.url, token)
    ).adapter()
    with pytest.raises(AuthorizationLost, match="does not allow publishing"):
        Attempts(PartContent("Hello?")).publish(adapter)


def test_server_errors_are_transient_and_bad_input_is_rejected(adapter, fake_misskey):
    fake_misskey.fail_next(500, endpoint="notes/create")
    with pytest.raises(TransientError):
        Attempts(PartContent("x")).publish(adapter)
    fake_misskey.max_note_text_length = 5
    with pytest.raises(ContentRejected, match="refused the note"):
        Attempts(PartContent("too long for it"), key="k2").publish(adapter)


def test_no_token_in_logs_or_messages(adapter, fake_misskey, caplog):
    caplog.set_level("DEBUG")
    fake_misskey.fail_next(500, endpoint="notes/create")
    with pytest.raises(TransientError) as caught:
        Attempts(PartContent("x")).publish(adapter)
    assert fake_misskey.token not in caplog.text and fake_misskey.token not in caught.value.message


def test_metrics_from_notes_show(adapter, fake_misskey):
    ref = Attempts(PartContent("Count me")).publish(adapter)
    fake_misskey.set_counts(ref.id, reactions=5, renotes=2, replies=1)
    metrics = adapter.fetch_metrics([ref, RemoteRef(id="gone")])
    assert list(metrics) == [ref.id]
    assert (metrics[ref.id].likes, metrics[ref.id].reposts, metrics[ref.id].replies) == (5, 2, 1)


def test_recent_posts_and_limits(adapter, fake_misskey):
    start = datetime.now(UTC) - timedelta(seconds=5)
    first = Attempts(PartContent("Older")).publish(adapter)
    second = Attempts(PartContent("Newer"), key="k2").publish(adapter)
    recent = adapter.recent_posts(start, datetime.now(UTC) + timedelta(seconds=5))
    assert [(p.ref.id, p.text) for p in recent] == [(second.id, "Newer"), (first.id, "Older")]
    fake_misskey.max_note_text_length = 1234
    fake_misskey.can_public_note = False
    limits = adapter.read_limits()
    assert limits["max_characters"] == 1234 and limits["can_public_note"] is False
    assert set(limits) == set(adapter.limits)
    assert adapter.verify().handle == adapter.account.handle


def test_sharkeys_reset_header_alone_gives_the_wait():
    from channels.networks.misskey.errors import retry_after

    assert retry_after({"X-RateLimit-Reset": "12.500"}, now=0) == 12.5
    assert retry_after({"X-RateLimit-Reset": "1700000100"}, now=1700000000) == 100
    assert retry_after({"Retry-After": "7", "X-RateLimit-Reset": "6.2"}, now=0) == 7
    assert retry_after({}, now=0) is None
