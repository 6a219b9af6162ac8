"""The publishing engine end to end: composer service, dispatcher, RQ worker, adapters, fake networks."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils.timezone import now

from channels.models import Channel
from posts.dispatch import dispatch_due, sweep
from posts.models import Delivery, DeliveryAttempt, Notification, Post
from tests.posts.engine import compose, dispatch_and_work, make_due, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def engine_settings(settings, redis_conn):
    settings.PUBLISH_RETRY_BASE = 0.5
    settings.PUBLISH_MAX_ATTEMPTS = 3


def only(queryset):
    items = list(queryset)
    assert len(items) == 1, items
    return items[0]


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


def test_it_resumes_a_thread_at_the_part_that_failed(cast, threads_channel, fake_threads):
    post = compose(cast.alice, cast.workspace, [threads_channel], ["one", "two", "three"])
    delivery = post.deliveries.get()
    fake_threads.fail(path="threads_publish", status=500, code=2, skip=2)  # the third publish fails
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SCHEDULED
    assert 0 < len(delivery.remote_parts) < 3  # stopped part-way
    assert "Trying again" in delivery.last_error
    make_due(delivery)
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHED
    assert [p["text"] for p in fake_threads.posts] == ["one", "two", "three"]  # nothing twice, in order
    assert fake_threads.posts[2]["reply_to_id"] == fake_threads.posts[1]["id"]
    assert [a.outcome for a in delivery.attempt_log.all()] == ["retry", "published"]


def test_it_retries_with_backoff_after_a_temporary_error(cast, mastodon_channel, fake_mastodon, settings):
    settings.PUBLISH_RETRY_BASE = 5
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Try, try again"])
    delivery = post.deliveries.get()
    fake_mastodon.fail_next(502, count=1, path="/api/v1/statuses")
    before = now()
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SCHEDULED
    assert delivery.attempts == 1
    # The first retry waits PUBLISH_RETRY_BASE (5 s) +-20 %.
    assert before + timedelta(seconds=3.9) <= delivery.next_attempt_at <= now() + timedelta(seconds=6.1)
    dispatch_and_work()  # not due yet: nothing happens
    assert fake_mastodon.statuses == []
    make_due(delivery)
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHED
    assert len(fake_mastodon.statuses) == 1


def test_it_gives_up_after_the_maximum_attempts(cast, mastodon_channel, fake_mastodon):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Never lands"])
    delivery = post.deliveries.get()
    fake_mastodon.fail_next(503, count=10, path="/api/v1/statuses")
    for _ in range(3):
        make_due(delivery)
        dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.last_error.startswith("Gave up after 3 attempts")
    assert Notification.objects.filter(post=post, kind=Notification.Kind.DELIVERY_FAILED).exists()


def test_it_honours_a_rate_limit_and_holds_the_channels_other_posts(cast, mastodon_channel, fake_mastodon):
    first = compose(cast.alice, cast.workspace, [mastodon_channel], ["first"]).deliveries.get()
    fake_mastodon.rate_limit_next(count=1, path="/api/v1/statuses", reset_in=300)
    dispatch_and_work()
    first.refresh_from_db()
    assert first.status == Delivery.Status.SCHEDULED
    assert first.next_attempt_at >= now() + timedelta(seconds=250)
    mastodon_channel.refresh_from_db()
    assert mastodon_channel.rate_limited_until >= now() + timedelta(seconds=250)
    second = compose(cast.alice, cast.workspace, [mastodon_channel], ["second"]).deliveries.get()
    assert dispatch_due() == 0  # the channel is resting
    second.refresh_from_db()
    assert second.status == Delivery.Status.SCHEDULED
    Channel.objects.filter(pk=mastodon_channel.pk).update(rate_limited_until=None)
    make_due(first, second)
    dispatch_and_work()
    assert sorted(s["text"] for s in fake_mastodon.statuses) == ["first", "second"]


def test_it_fails_at_once_when_the_network_rejects_the_content(cast, mastodon_channel, fake_mastodon):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Fine by our count"])
    fake_mastodon.fail_next(
        422, count=1, path="/api/v1/statuses", error="Validation failed: Text contains spam"
    )
    dispatch_and_work()
    delivery = post.deliveries.get()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 1
    assert "spam" in delivery.last_error
    post.refresh_from_db()
    assert post.status == Post.Status.FAILED
    # The author and the admins hear about it, in the dashboard and by email.
    assert Notification.objects.filter(user=cast.alice, post=post).exists()
    assert any("spam" in m.body for m in mail.outbox)


def test_it_marks_the_channel_and_holds_posts_when_the_token_is_revoked(
    cast, mastodon_channel, fake_mastodon
):
    first = compose(cast.alice, cast.workspace, [mastodon_channel], ["first"]).deliveries.get()
    second = compose(cast.alice, cast.workspace, [mastodon_channel], ["second"]).deliveries.get()
    fake_mastodon.revoke(fake_mastodon.token)
    dispatch_due(limit=1)
    run_worker()
    first.refresh_from_db()
    mastodon_channel.refresh_from_db()
    assert mastodon_channel.status == Channel.Status.NEEDS_RECONNECT
    assert first.status == Delivery.Status.HELD
    assert Notification.objects.filter(
        kind=Notification.Kind.CHANNEL_RECONNECT, channel=mastodon_channel
    ).exists()
    dispatch_and_work()
    second.refresh_from_db()
    assert second.status in (Delivery.Status.SCHEDULED, Delivery.Status.HELD)
    assert fake_mastodon.statuses == []

    # Reconnecting releases both; they go out once.
    from channels.adapters.mastodon import connect_with_token

    Channel.objects.save_connected(
        cast.workspace, connect_with_token(fake_mastodon.url, fake_mastodon.issue_token())
    )
    sweep()
    dispatch_and_work()
    assert sorted(s["text"] for s in fake_mastodon.statuses) == ["first", "second"]


def test_it_publishes_once_when_the_response_is_lost_after_the_post_was_created(
    cast, mastodon_channel, bluesky_channel, threads_channel, fake_mastodon, fake_bluesky, fake_threads
):
    post = compose(
        cast.alice, cast.workspace, [mastodon_channel, bluesky_channel, threads_channel], ["Once only"]
    )
    fake_mastodon.lose_next_response(path="/api/v1/statuses")
    fake_bluesky.lose_response_next("com.atproto.repo.createRecord")
    fake_threads.lose_response(path="threads_publish")
    dispatch_and_work()
    for _ in range(3):
        make_due(*post.deliveries.all())
        dispatch_and_work()
    assert len(fake_mastodon.statuses) == 1
    assert len(fake_bluesky.posts()) == 1
    assert len(fake_threads.posts) == 1
    assert set(post.deliveries.values_list("status", flat=True)) == {Delivery.Status.PUBLISHED}


def test_a_duplicated_job_does_not_publish_twice(cast, mastodon_channel, fake_mastodon):
    from posts.jobs import publish_delivery

    delivery = compose(cast.alice, cast.workspace, [mastodon_channel], ["Just once"]).deliveries.get()
    dispatch_due()
    assert publish_delivery(delivery.pk) == "published"
    assert publish_delivery(delivery.pk) == "not-claimed"
    run_worker()  # the job the dispatcher enqueued finds nothing to claim
    assert len(fake_mastodon.statuses) == 1


def test_it_republishes_everything_after_redis_is_flushed(
    cast, mastodon_channel, bluesky_channel, fake_mastodon, fake_bluesky, redis_conn, settings
):
    channels = [mastodon_channel, bluesky_channel]
    posts = [compose(cast.alice, cast.workspace, channels, [f"Post {i}"]) for i in range(25)]
    assert dispatch_due() == 50
    redis_conn.flushdb()
    run_worker()  # nothing to run: the jobs are gone
    assert fake_mastodon.statuses == [] and fake_bluesky.posts() == []
    counts = sweep(at=now() + timedelta(seconds=settings.SWEEP_QUEUED_AFTER + 1))
    assert counts["requeued"] == 50
    run_worker()
    assert sorted(s["text"] for s in fake_mastodon.statuses) == sorted(f"Post {i}" for i in range(25))
    assert sorted(p["value"]["text"] for p in fake_bluesky.posts()) == sorted(f"Post {i}" for i in range(25))
    assert all(p.deliveries.filter(status=Delivery.Status.PUBLISHED).count() == 2 for p in posts)


def test_the_sweeper_leaves_jobs_that_are_still_waiting(cast, mastodon_channel, fake_mastodon, settings):
    compose(cast.alice, cast.workspace, [mastodon_channel], ["waiting"])
    dispatch_due()
    counts = sweep(at=now() + timedelta(seconds=settings.SWEEP_QUEUED_AFTER + 1))
    assert counts["requeued"] == 0
    run_worker()
    assert len(fake_mastodon.statuses) == 1


def test_it_recovers_a_delivery_left_publishing_by_a_dead_worker(
    cast, mastodon_channel, fake_mastodon, settings
):
    """The worker died after the network accepted the post: the retry finds it instead of posting again."""
    from posts import publishing

    delivery = compose(cast.alice, cast.workspace, [mastodon_channel], ["Survives a crash"]).deliveries.get()
    dispatch_due()
    delivery_id = delivery.pk

    class Crash(BaseException):
        pass

    original = publishing._update

    def crash_after_publish(d, token, **fields):
        if "remote_parts" in fields:
            raise Crash  # as if the process were killed right after the network answered
        return original(d, token, **fields)

    publishing._update = crash_after_publish
    try:
        with pytest.raises(Crash):
            publishing.publish(delivery_id)
    finally:
        publishing._update = original
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHING
    assert len(fake_mastodon.statuses) == 1

    assert not delivery.attempt_log.exists()  # an attempt is written when it ends
    assert delivery.part_state["0"]["started"]  # with the adapter's checkpoint, before the network call

    counts = sweep(at=now() + timedelta(seconds=settings.PUBLISH_JOB_TIMEOUT + 31))
    assert counts["recovered"] == 1
    make_due(delivery)  # the sweep ran "in the future"
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHED
    assert len(fake_mastodon.statuses) == 1
    assert delivery.remote_parts[0]["id"] == fake_mastodon.statuses[0]["id"]
    log = list(delivery.attempt_log.values_list("number", "outcome", "started"))
    assert [(number, outcome) for number, outcome, _ in log] == [(1, "recovered"), (2, "published")]
    assert log[0][2] < log[1][2]


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


@pytest.mark.parametrize("fails", ["before the network call", "after the network call"])
def test_a_delivery_caught_by_a_database_failure_is_given_back_and_posted_once(
    cast, mastodon_channel, fake_mastodon, fails, monkeypatch
):
    from django.db import OperationalError

    from posts import publishing

    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Through a restart"])
    dispatch_due()
    delivery = post.deliveries.get()
    original = publishing._update

    def failing(d, token, **fields):
        if ("remote_parts" in fields) == (fails == "after the network call"):
            raise OperationalError("server closed the connection unexpectedly")
        return original(d, token, **fields)

    monkeypatch.setattr(publishing, "_update", failing)
    with pytest.raises(OperationalError):
        publishing.publish(delivery.pk)
    monkeypatch.setattr(publishing, "_update", original)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHING  # not "needs attention": not the post's fault
    assert len(fake_mastodon.statuses) == (1 if fails == "after the network call" else 0)

    assert publishing.give_back_unsettled() == 1
    assert publishing.give_back_unsettled() == 0
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SCHEDULED
    assert list(delivery.attempt_log.values_list("outcome", flat=True)) == ["recovered"]
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHED
    assert [s["text"] for s in fake_mastodon.statuses] == ["Through a restart"]
    post.refresh_from_db()
    assert post.status == Post.Status.PUBLISHED


def test_a_database_error_on_every_attempt_stops_in_needs_attention(
    cast, mastodon_channel, fake_mastodon, monkeypatch, settings
):
    from django.db import OperationalError

    from posts import publishing

    settings.PUBLISH_MAX_ATTEMPTS = 2
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Never settles"])
    delivery = post.deliveries.get()

    def failing(d, token, **fields):
        raise OperationalError("canceling statement due to statement timeout")

    monkeypatch.setattr(publishing, "_update", failing)
    for _ in range(2):
        make_due(delivery)
        dispatch_due()
        with pytest.raises(OperationalError):
            publishing.publish(delivery.pk)
        publishing.give_back_unsettled()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.NEEDS_ATTENTION
    assert delivery.last_error == "A database error stopped every attempt."
    assert fake_mastodon.statuses == []  # it failed before the network call, every time
