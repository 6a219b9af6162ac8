"""The publishing engine (dispatcher, RQ worker) publishing a thread with an image on every server
program the fake plays, through a lost answer: every part once, in order."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from channels.models import Channel
from channels.networks.mastodon.connecting import connect_with_token
from posts.models import Delivery, Media
from tests.networks.mastodon.personalities import NAMES
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


@pytest.mark.parametrize("name", NAMES)
def test_a_thread_with_an_image_goes_out_once_through_a_lost_answer(cast, fake_mastodon, name):
    fake_mastodon.personality = name
    channel = Channel.objects.save_connected(
        cast.workspace, connect_with_token(fake_mastodon.url, fake_mastodon.token)
    )
    post = compose(
        cast.alice,
        cast.workspace,
        [channel],
        ["First, with a picture https://example.com/a/long/link", "Second & last"],
        media={0: [picture(cast.workspace)]},
    )
    fake_mastodon.lose_next_response(path="/api/v1/statuses")

    dispatch_and_work()
    delivery = post.deliveries.get()
    for _ in range(4):
        if delivery.status == Delivery.Status.PUBLISHED:
            break
        make_due(delivery)
        dispatch_and_work()
        delivery.refresh_from_db()

    assert delivery.status == Delivery.Status.PUBLISHED
    statuses = fake_mastodon.statuses
    assert [len(s["media"]) for s in statuses] == [1, 0]
    assert [s["in_reply_to_id"] for s in statuses] == [None, statuses[0]["id"]]
    assert [part["id"] for part in delivery.remote_parts] == [s["id"] for s in statuses]
