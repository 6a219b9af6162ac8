"""A Bluesky part goes out once: its record key is checkpointed before createRecord, and a retry asks
the PDS for that key once (the engine's find_published) before creating the record again."""

import pytest
from atproto_client.models.string_formats import TID_RE

from channels.networks.base import TransientError
from channels.networks.bluesky.client import new_tid
from posts.models import Delivery as DeliveryRow
from tests.networks.bluesky.parts import CREATE, Delivery, retry
from tests.posts.engine import compose, dispatch_and_work, make_due

GET_RECORD = "com.atproto.repo.getRecord"


def test_it_creates_one_record_when_the_response_is_lost_and_the_part_retried(bluesky_channel, fake_bluesky):
    delivery = Delivery("Only once, please")
    fake_bluesky.lose_response_next(CREATE)

    with pytest.raises(TransientError):
        bluesky_channel.adapter().publish_part(delivery.request())
    [checkpoint] = delivery.checkpoints
    fake_bluesky.requests.clear()
    ref = retry(bluesky_channel, delivery)

    [post] = fake_bluesky.posts()
    assert post["rkey"] == checkpoint["rkey"]
    assert ref.uri == post["uri"] and ref.cid == post["cid"]
    assert [c.nsid for c in fake_bluesky.requests] == [GET_RECORD]


def test_it_creates_the_record_with_the_same_rkey_when_the_first_attempt_never_arrived(
    bluesky_channel, fake_bluesky
):
    delivery = Delivery("Second time lucky")
    fake_bluesky.fail_next(CREATE, 503, error="ServiceUnavailable", message="Try later")

    with pytest.raises(TransientError):
        bluesky_channel.adapter().publish_part(delivery.request())
    assert not fake_bluesky.posts()
    ref = retry(bluesky_channel, delivery)

    [post] = fake_bluesky.posts()
    assert post["rkey"] == delivery.checkpoints[0]["rkey"] == ref.uri.rsplit("/", 1)[1]
    assert len(fake_bluesky.calls(GET_RECORD)) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("failure", ["lost-response", "refused"])
def test_the_engine_reads_the_record_once_per_retry(cast, redis_conn, bluesky_channel, fake_bluesky, failure):
    post = compose(cast.alice, cast.workspace, [bluesky_channel], ["Asked about once"])
    if failure == "lost-response":  # the record was created; the answer never came
        fake_bluesky.lose_response_next(CREATE)
    else:  # the PDS refused the first createRecord: no record
        fake_bluesky.fail_next(CREATE, 503, error="ServiceUnavailable", message="Try later")
    dispatch_and_work()
    delivery = post.deliveries.get()
    assert delivery.status == DeliveryRow.Status.SCHEDULED and delivery.part_state["0"]["rkey"]
    fake_bluesky.requests.clear()

    make_due(delivery)
    dispatch_and_work()

    delivery.refresh_from_db()
    assert delivery.status == DeliveryRow.Status.PUBLISHED
    assert len(fake_bluesky.posts()) == 1
    assert len(fake_bluesky.calls(GET_RECORD)) == 1
    assert len(fake_bluesky.calls(CREATE)) == (0 if failure == "lost-response" else 1)


def test_it_checkpoints_the_rkey_before_creating_the_record(bluesky_channel, fake_bluesky):
    seen = []
    delivery = Delivery("Checkpoint first")
    request = delivery.request()
    request.checkpoint = lambda state: seen.append((dict(state), len(fake_bluesky.calls(CREATE))))

    request_ref = bluesky_channel.adapter().publish_part(request)

    [(state, creates_before)] = seen
    assert creates_before == 0
    assert TID_RE.match(state["rkey"]) and request_ref.uri.endswith("/" + state["rkey"])


def test_it_finds_a_published_part_only_from_its_rkey(bluesky_channel, fake_bluesky):
    adapter = bluesky_channel.adapter()
    calls_before = len(fake_bluesky.requests)
    assert adapter.find_published(Delivery("Never sent").request()) is None
    assert len(fake_bluesky.requests) == calls_before  # nothing was ever sent, nothing to ask

    absent = Delivery("Lost before arriving")
    absent.state = {"rkey": new_tid()}
    assert adapter.find_published(absent.request()) is None

    sent = Delivery("Sent")
    ref = adapter.publish_part(sent.request())
    assert adapter.find_published(sent.request()) == ref
