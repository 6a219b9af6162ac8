"""The Misskey adapter driven by the publishing engine (dispatcher, RQ worker) against the fake server."""

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.timezone import now
from PIL import Image

from channels.models import Channel
from posts.models import Delivery, Media
from tests.posts.engine import compose, dispatch_and_work, make_due

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def engine_settings(settings, redis_conn, tmp_path):
    settings.PUBLISH_RETRY_BASE = 0.5
    settings.PUBLISH_MAX_ATTEMPTS = 4
    settings.MEDIA_ROOT = tmp_path / "media"


def picture(workspace) -> Media:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "teal").save(buffer, "PNG")
    upload = SimpleUploadedFile("teal.png", buffer.getvalue(), content_type="image/png")
    return Media.objects.create(
        workspace=workspace,
        file=upload,
        mime_type="image/png",
        size=upload.size,
        width=40,
        height=30,
        alt_text="A teal rectangle",
    )


def test_a_thread_with_an_image_goes_out_once_through_a_lost_answer(cast, misskey_channel, fake_misskey):
    post = compose(
        cast.alice,
        cast.workspace,
        [misskey_channel],
        ["First, with a picture", "Second & last"],
        media={0: [picture(cast.workspace)]},
    )
    fake_misskey.lose_next_response("notes/create")
    dispatch_and_work()
    delivery = post.deliveries.get()
    assert delivery.status == Delivery.Status.SCHEDULED  # a retry is due
    assert not fake_misskey.requests_to("users/notes")

    make_due(delivery)
    dispatch_and_work()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHED
    notes = fake_misskey.notes
    assert [n["text"] for n in notes] == ["First, with a picture", "Second & last"]
    assert [[f["comment"] for f in n["files"]] for n in notes] == [["A teal rectangle"], []]
    assert [n["replyId"] for n in notes] == [None, notes[0]["id"]]
    assert [part["id"] for part in delivery.remote_parts] == [n["id"] for n in notes]
    assert len(fake_misskey.requests_to("users/notes")) == 1  # one read for the one retry
    assert len(fake_misskey.requests_to("drive/files/create")) == 1


@pytest.mark.parametrize("sharkey, wait", [(False, 60), (True, 120)], ids=["misskey", "sharkey"])
def test_a_rate_limit_puts_the_next_attempt_after_the_wait(
    cast, misskey_channel, fake_misskey, sharkey, wait
):
    post = compose(cast.alice, cast.workspace, [misskey_channel], ["Not so fast"])
    fake_misskey.rate_limit_next(endpoint="notes/create", sharkey=sharkey, retry_after=120)
    before = now()
    dispatch_and_work()

    delivery = post.deliveries.get()
    assert delivery.status == Delivery.Status.SCHEDULED
    assert delivery.next_attempt_at >= before + timedelta(seconds=wait - 1)
    assert not fake_misskey.notes
    misskey_channel.refresh_from_db()
    if wait > 60:  # a long wait holds the channel's other posts back too
        assert misskey_channel.rate_limited_until >= before + timedelta(seconds=wait - 1)
        Channel.objects.filter(pk=misskey_channel.pk).update(rate_limited_until=None)

    make_due(delivery)
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHED and len(fake_misskey.notes) == 1


def test_a_revoked_token_holds_the_post_and_asks_for_a_reconnect(cast, misskey_channel, fake_misskey):
    post = compose(cast.alice, cast.workspace, [misskey_channel], ["Anyone there?"])
    fake_misskey.revoke(fake_misskey.token)
    dispatch_and_work()

    delivery = post.deliveries.get()
    misskey_channel.refresh_from_db()
    assert misskey_channel.status == Channel.Status.NEEDS_RECONNECT
    assert delivery.status == Delivery.Status.HELD
    assert not fake_misskey.notes
