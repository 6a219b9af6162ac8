"""The publishing engine end to end, when all goes well: composer service, dispatcher, RQ worker,
adapters and fake networks; threads in order, metrics, and what a delivery costs."""

import pytest

from posts.dispatch import dispatch_due
from posts.models import Delivery, DeliveryAttempt, Post
from tests.posts.engine import compose, dispatch_and_work

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("engine_settings")]


def test_it_shares_now_on_every_channel(
    cast, mastodon_channel, bluesky_channel, threads_channel, fake_mastodon, fake_bluesky, fake_threads
):
    post = compose(
        cast.alice,
        cast.workspace,
        [mastodon_channel, bluesky_channel, threads_channel],
        ["Hello from the scheduler"],
    )
    assert set(post.deliveries.values_list("status", flat=True)) == {Delivery.Status.SCHEDULED}
    dispatch_and_work()
    post.refresh_from_db()
    assert post.status == Post.Status.PUBLISHED
    assert [s["text"] for s in fake_mastodon.statuses] == ["Hello from the scheduler"]
    assert [p["value"]["text"] for p in fake_bluesky.posts()] == ["Hello from the scheduler"]
    assert [p["text"] for p in fake_threads.posts] == ["Hello from the scheduler"]
    for delivery in post.deliveries.all():
        assert delivery.status == Delivery.Status.PUBLISHED
        assert delivery.remote_url.startswith("http")
        assert delivery.published_at is not None
        assert delivery.attempt_log.get().outcome == DeliveryAttempt.Outcome.PUBLISHED


def test_it_publishes_a_three_part_thread_in_order_on_all_networks(
    cast, mastodon_channel, bluesky_channel, threads_channel, fake_mastodon, fake_bluesky, fake_threads
):
    parts = ["1/3 The start", "2/3 The middle", "3/3 The end"]
    post = compose(cast.alice, cast.workspace, [mastodon_channel, bluesky_channel, threads_channel], parts)
    dispatch_and_work()
    post.refresh_from_db()
    assert post.status == Post.Status.PUBLISHED

    statuses = fake_mastodon.statuses
    assert [s["text"] for s in statuses] == parts
    assert statuses[0]["in_reply_to_id"] is None
    assert statuses[1]["in_reply_to_id"] == statuses[0]["id"]
    assert statuses[2]["in_reply_to_id"] == statuses[1]["id"]

    records = fake_bluesky.posts()
    assert [r["value"]["text"] for r in records] == parts

    def ref(d):
        return (d["uri"], d["cid"])

    assert "reply" not in records[0]["value"]
    assert ref(records[1]["value"]["reply"]["root"]) == ref(records[0])
    assert ref(records[1]["value"]["reply"]["parent"]) == ref(records[0])
    assert ref(records[2]["value"]["reply"]["root"]) == ref(records[0])
    assert ref(records[2]["value"]["reply"]["parent"]) == ref(records[1])

    published = fake_threads.posts
    assert [p["text"] for p in published] == parts
    assert published[1]["reply_to_id"] == published[0]["id"]
    assert published[2]["reply_to_id"] == published[1]["id"]

    delivery = post.deliveries.get(channel=mastodon_channel)
    assert [ref["id"] for ref in delivery.remote_parts] == [s["id"] for s in statuses]


def test_it_refreshes_metrics_of_published_posts(
    cast, mastodon_channel, bluesky_channel, fake_mastodon, fake_bluesky
):
    from posts.metrics import refresh_recent

    post = compose(cast.alice, cast.workspace, [mastodon_channel, bluesky_channel], ["Count me"])
    dispatch_and_work()
    fake_mastodon.set_counts(fake_mastodon.statuses[0]["id"], favourites=7, reblogs=2, replies=1)
    fake_bluesky.set_counts(fake_bluesky.posts()[0]["uri"], likes=5, reposts=3, replies=2, quotes=1)
    assert refresh_recent()["snapshots"] == 2
    mastodon = post.deliveries.get(channel=mastodon_channel).metrics.get()
    bluesky = post.deliveries.get(channel=bluesky_channel).metrics.get()
    assert (mastodon.likes, mastodon.reposts, mastodon.replies) == (7, 2, 1)
    assert (bluesky.likes, bluesky.reposts, bluesky.replies, bluesky.quotes) == (5, 3, 2, 1)


@pytest.mark.parametrize("network", ["mastodon", "bluesky", "threads"])
def test_a_one_part_delivery_costs_a_bounded_number_of_statements(
    cast, network, mastodon_channel, bluesky_channel, threads_channel
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from posts import publishing

    channel = {"mastodon": mastodon_channel, "bluesky": bluesky_channel, "threads": threads_channel}[network]
    post = compose(cast.alice, cast.workspace, [channel], ["Counted"])
    dispatch_due()
    delivery = post.deliveries.get()
    with CaptureQueriesContext(connection) as queries:
        assert publishing.publish(delivery.pk) == "published"
    statements = [
        q["sql"]
        for q in queries.captured_queries
        if not q["sql"].startswith(("BEGIN", "SAVEPOINT", "RELEASE SAVEPOINT", "COMMIT"))
    ]
    # claim, load, parts, media, checkpoints (1 Mastodon/Bluesky, 2 Threads: container, media id),
    # finish + attempt, post status (lock, count, update); Bluesky also reads its stored session.
    assert len(statements) <= {"mastodon": 10, "bluesky": 11, "threads": 11}[network], statements


def test_two_deliveries_of_a_post_finishing_together_leave_it_published(
    cast, mastodon_channel, bluesky_channel, fake_mastodon, fake_bluesky
):
    """The last delivery to count the post's deliveries must see every other one finished."""
    import threading

    from django.db import connection

    from posts import publishing

    post = compose(cast.alice, cast.workspace, [mastodon_channel, bluesky_channel], ["Together"])
    dispatch_due()
    first, second = post.deliveries.order_by("pk")

    def publish_second():
        try:
            publishing.publish(second.pk)
        finally:
            connection.close()

    other = threading.Thread(target=publish_second)

    def after_counting(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if 'COUNT("posts_delivery"."id")' in sql and not other.is_alive() and other.ident is None:
            # The second delivery finishes while the first has counted but not yet written.
            other.start()
            other.join(timeout=2)
        return result

    with connection.execute_wrapper(after_counting):
        assert publishing.publish(first.pk) == "published"
    other.join(timeout=30)

    assert set(post.deliveries.values_list("status", flat=True)) == {"published"}
    post.refresh_from_db()
    assert post.status == Post.Status.PUBLISHED
