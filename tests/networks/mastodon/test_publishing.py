"""The Mastodon adapter driven by the publishing engine (dispatcher, RQ worker) against the fake server."""

import pytest

from posts.models import Delivery
from tests.posts.engine import compose, dispatch_and_work, make_due

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def engine_settings(settings, redis_conn):
    settings.PUBLISH_RETRY_BASE = 0.5
    settings.PUBLISH_MAX_ATTEMPTS = 3


def reads_of_the_account_posts(fake_mastodon, account_id: str) -> int:
    return len(fake_mastodon.requests_to("GET", f"/api/v1/accounts/{account_id}/statuses"))


@pytest.mark.parametrize("honour_idempotency", [True, False], ids=["keyed", "key-ignored"])
def test_a_retry_after_a_lost_answer_reads_the_account_posts_once(
    cast, mastodon_channel, fake_mastodon, honour_idempotency
):
    fake_mastodon.honour_idempotency = honour_idempotency
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Said once, read once"])
    fake_mastodon.lose_next_response(path="/api/v1/statuses")
    dispatch_and_work()
    delivery = post.deliveries.get()
    assert delivery.status == Delivery.Status.SCHEDULED  # a retry is due
    assert reads_of_the_account_posts(fake_mastodon, mastodon_channel.remote_id) == 0

    make_due(delivery)
    dispatch_and_work()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHED
    assert len(fake_mastodon.statuses) == 1
    assert delivery.remote_parts[0]["id"] == fake_mastodon.statuses[0]["id"]
    assert reads_of_the_account_posts(fake_mastodon, mastodon_channel.remote_id) == 1


def test_a_retry_that_finds_nothing_reads_the_account_posts_once_then_posts(
    cast, mastodon_channel, fake_mastodon
):
    # The first attempt sent the status (and checkpointed so) but the server created nothing: the
    # retry asks the account's posts once, finds nothing, and posts.
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Refused, then accepted"])
    fake_mastodon.fail_next(503, path="/api/v1/statuses")
    dispatch_and_work()
    delivery = post.deliveries.get()
    assert delivery.status == Delivery.Status.SCHEDULED

    make_due(delivery)
    dispatch_and_work()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHED
    assert [s["text"] for s in fake_mastodon.statuses] == ["Refused, then accepted"]
    assert reads_of_the_account_posts(fake_mastodon, mastodon_channel.remote_id) == 1
