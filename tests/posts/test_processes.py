"""The engine as it runs for real: dispatcher and worker processes, killed workers, competing processes."""

import os
import signal
from datetime import timedelta

import django_rq
import pytest
from django.utils.timezone import now
from rq import Worker

from posts.dispatch import sweep
from posts.models import Delivery, Heartbeat, Post
from tests.posts.engine import compose, dispatch_and_work, make_due, start, start_worker, stop, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(autouse=True)
def clean_redis(redis_conn):
    yield


def start_dispatcher(interval=0.05):
    return start("run_dispatcher", "--interval", str(interval))


def workers_ready(count=1):
    return len(Worker.all(connection=django_rq.get_connection("default"))) >= count


def test_it_publishes_a_scheduled_post_within_a_second_of_its_time(cast, mastodon_channel, fake_mastodon):
    processes = [start_dispatcher(), start_worker()]
    try:
        wait_for(lambda: workers_ready() and Heartbeat.objects.filter(kind="dispatcher").exists(), timeout=30)
        due = now() + timedelta(seconds=2)
        post = compose(
            cast.alice,
            cast.workspace,
            [mastodon_channel],
            ["Right on time"],
            mode=Post.Mode.AT,
            scheduled_at=due,
        )
        delivery = post.deliveries.get()
        wait_for(lambda: Delivery.objects.filter(pk=delivery.pk, status="published").exists(), timeout=15)
    finally:
        logs = [stop(p) for p in processes]
    delivery.refresh_from_db()
    lateness = (delivery.published_at - due).total_seconds()
    assert 0 <= lateness < 1.0, (lateness, logs)
    assert [s["text"] for s in fake_mastodon.statuses] == ["Right on time"]


def test_a_killed_worker_leaves_exactly_one_post_after_the_sweep(
    cast, mastodon_channel, fake_mastodon, settings
):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Killed mid-publish"])
    delivery = post.deliveries.get()
    # The server creates the status and then keeps the worker waiting for the answer.
    fake_mastodon.lose_next_response(path="/api/v1/statuses", mode="hang", hang_seconds=5)
    from posts.dispatch import dispatch_due

    dispatch_due()
    worker = start_worker()
    try:
        wait_for(lambda: len(fake_mastodon.statuses) == 1, timeout=30)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        stop(worker)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHING

    counts = sweep(at=now() + timedelta(seconds=settings.PUBLISH_JOB_TIMEOUT + 31))
    assert counts["recovered"] == 1
    make_due(delivery)
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHED
    assert len(fake_mastodon.statuses) == 1
    assert delivery.remote_parts[0]["id"] == fake_mastodon.statuses[0]["id"]


def test_a_killed_worker_pool_is_recovered_as_soon_as_its_heartbeat_stops(
    cast, mastodon_channel, fake_mastodon, settings
):
    settings.WORKER_LOST_AFTER = 2
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Pool killed mid-publish"])
    delivery = post.deliveries.get()
    fake_mastodon.lose_next_response(path="/api/v1/statuses", mode="hang", hang_seconds=8)
    from posts.dispatch import dispatch_due

    dispatch_due()
    pool = start("run_workers", "default", "--threads", "2", WORKER_LOST_AFTER=2)
    try:
        wait_for(lambda: len(fake_mastodon.statuses) == 1, timeout=30)
        delivery.refresh_from_db()
        assert delivery.claimed_by.startswith("worker@")
        wait_for(lambda: (now() - delivery.claimed_at).total_seconds() > 2.5, timeout=5)
        assert sweep()["recovered"] == 0  # still beating: a slow answer, not a dead worker
        os.kill(pool.pid, signal.SIGKILL)
        pool.wait(10)
    finally:
        stop(pool)
    # Within seconds of the last beat (WORKER_LOST_AFTER), not after the job timeout (300 s).
    assert wait_for(lambda: sweep()["recovered"], timeout=60, interval=0.2) == 1
    make_due(delivery)
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHED
    assert len(fake_mastodon.statuses) == 1
    assert delivery.remote_parts[0]["id"] == fake_mastodon.statuses[0]["id"]


def test_two_dispatchers_and_two_workers_publish_200_deliveries_once_each(
    cast, mastodon_channel, bluesky_channel, fake_mastodon, fake_bluesky
):
    texts = [f"Post number {i}" for i in range(100)]
    for text in texts:
        compose(cast.alice, cast.workspace, [mastodon_channel, bluesky_channel], [text])
    processes = [start_dispatcher(), start_dispatcher(), start_worker(), start_worker()]
    try:
        wait_for(
            lambda: Delivery.objects.filter(status="published").count() == 200, timeout=120, interval=0.2
        )
    finally:
        logs = [stop(p) for p in processes]
    assert sorted(s["text"] for s in fake_mastodon.statuses) == sorted(texts), logs
    assert sorted(p["value"]["text"] for p in fake_bluesky.posts()) == sorted(texts)
    assert Delivery.objects.exclude(attempts=1).count() == 0


def test_a_worker_whose_database_connection_is_cut_mid_publish_gives_the_delivery_back(
    cast, mastodon_channel, fake_mastodon
):
    """Every connection to the database is cut while the network holds the answer (a failover)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("cuts PostgreSQL connections (pg_terminate_backend); SQLite has none")
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Through a failover"])
    delivery = post.deliveries.get()
    fake_mastodon.lose_next_response(path="/api/v1/statuses", mode="hang", hang_seconds=3)
    from posts.dispatch import dispatch_due

    dispatch_due()
    pool = start("run_workers", "default", "--threads", "2")
    try:
        wait_for(lambda: len(fake_mastodon.statuses) == 1, timeout=30)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        # The answer arrives, the worker cannot record it, and gives the delivery back once it can.
        wait_for(lambda: Delivery.objects.filter(pk=delivery.pk, status="scheduled").exists(), timeout=30)
        dispatch_due()
        wait_for(lambda: Delivery.objects.filter(pk=delivery.pk, status="published").exists(), timeout=30)
    finally:
        logs = stop(pool)
    delivery.refresh_from_db()
    assert len(fake_mastodon.statuses) == 1, logs  # asked the network first, did not post again
    assert delivery.remote_parts[0]["id"] == fake_mastodon.statuses[0]["id"]
    assert list(delivery.attempt_log.values_list("outcome", flat=True)) == ["recovered", "published"]
