"""The publishing engine through lost answers, duplicated jobs, a flushed Redis, dead workers and
database failures: every post goes out, and once."""

from datetime import timedelta

import pytest
from django.utils.timezone import now

from posts.dispatch import dispatch_due, sweep
from posts.models import Delivery, Post
from tests.posts.engine import compose, dispatch_and_work, make_due, run_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("engine_settings")]


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

    publisher = publishing.Publisher("worker@host.1")
    monkeypatch.setattr(publishing, "_update", failing)
    with pytest.raises(OperationalError):
        publisher.publish(delivery.pk)
    monkeypatch.setattr(publishing, "_update", original)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHING  # not "needs attention": not the post's fault
    assert delivery.claimed_by == "worker@host.1"  # signed with the publisher's name
    assert len(fake_mastodon.statuses) == (1 if fails == "after the network call" else 0)

    assert publishing.Publisher().give_back_unsettled() == 0  # another process's publisher has none
    assert publisher.give_back_unsettled() == 1
    assert publisher.give_back_unsettled() == 0
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

    publisher = publishing.Publisher()
    monkeypatch.setattr(publishing, "_update", failing)
    for _ in range(2):
        make_due(delivery)
        dispatch_due()
        with pytest.raises(OperationalError):
            publisher.publish(delivery.pk)
        publisher.give_back_unsettled()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.NEEDS_ATTENTION
    assert delivery.last_error == "A database error stopped every attempt."
    assert fake_mastodon.statuses == []  # it failed before the network call, every time
