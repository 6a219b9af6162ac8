from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils.timezone import now

from posts.dispatch import claim_periodic, dispatch_due
from posts.models import Delivery, Post


def scheduled(channel, when, status=Delivery.Status.SCHEDULED):
    post = Post.objects.create(workspace=channel.workspace, status=Post.Status.SCHEDULED)
    return Delivery.objects.create(
        post=post, channel=channel, status=status, scheduled_for=when, next_attempt_at=when
    )


def test_it_claims_each_periodic_task_once_per_period(db):
    at = now()
    assert claim_periodic("x", timedelta(minutes=5), at=at) is True
    assert claim_periodic("x", timedelta(minutes=5), at=at) is False
    assert claim_periodic("x", timedelta(minutes=5), at=at + timedelta(minutes=4)) is False
    assert claim_periodic("x", timedelta(minutes=5), at=at + timedelta(minutes=5)) is True


def test_it_dispatches_only_due_deliveries_on_active_channels(make_channel, redis_conn):
    active, paused = make_channel(), make_channel(status="paused")
    due = scheduled(active, now() - timedelta(seconds=1))
    later = scheduled(active, now() + timedelta(minutes=1))
    on_paused = scheduled(paused, now() - timedelta(seconds=1))
    assert dispatch_due() == 1
    statuses = dict(Delivery.objects.values_list("pk", "status"))
    assert statuses == {due.pk: "queued", later.pk: "scheduled", on_paused.pk: "scheduled"}


@pytest.mark.django_db(transaction=True)
def test_it_enqueues_one_job_per_claimed_delivery_after_commit(cast, make_channel, redis_conn):
    import django_rq

    channel = make_channel()
    for _ in range(3):
        scheduled(channel, now() - timedelta(seconds=1))
    assert dispatch_due() == 3
    assert django_rq.get_queue("default").count == 3
    assert dispatch_due() == 0  # claimed rows are not handed out twice
    assert django_rq.get_queue("default").count == 3


def test_the_deliveries_command_lists_and_retries(make_channel):
    channel = make_channel()
    late = scheduled(channel, now() - timedelta(minutes=5))
    failed = scheduled(channel, now() - timedelta(hours=1), status=Delivery.Status.FAILED)
    Delivery.objects.filter(pk=failed.pk).update(last_error="Mastodon rejected the post: too long.")
    out = StringIO()
    call_command("deliveries", "overdue", stdout=out)
    assert str(late.code) in out.getvalue() and "1 overdue deliveries" in out.getvalue()
    out = StringIO()
    call_command("deliveries", "failed", stdout=out)
    assert "too long" in out.getvalue()
    call_command("deliveries", "retry", str(failed.code), stdout=StringIO())
    failed.refresh_from_db()
    assert failed.status == Delivery.Status.SCHEDULED and failed.last_error == ""


def test_the_dispatcher_looks_at_periodic_tasks_once_a_second_not_every_tick(
    make_channel, redis_conn, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from posts import dispatch

    dispatcher = dispatch.Dispatcher(interval=0.01)
    clock = [1000.0]
    monkeypatch.setattr(dispatch.time, "monotonic", lambda: clock[0])

    def periodic_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            dispatcher.tick()
        return sum("posts_periodicrun" in q["sql"] for q in queries.captured_queries)

    assert periodic_queries() > 0
    clock[0] += 0.5
    assert periodic_queries() == 0
    clock[0] += 0.6
    assert periodic_queries() > 0


def test_the_sweeper_recovers_deliveries_of_a_worker_whose_heartbeat_stopped(make_channel, settings):
    from posts.dispatch import sweep
    from posts.models import Heartbeat

    settings.WORKER_LOST_AFTER = 30
    channel = make_channel()
    at = now()
    claimed = at - timedelta(seconds=45)

    def publishing(claimed_by):
        delivery = scheduled(channel, claimed, status=Delivery.Status.PUBLISHING)
        Delivery.objects.filter(pk=delivery.pk).update(
            claim="0" * 32, claimed_at=claimed, claimed_by=claimed_by, attempts=1
        )
        return delivery

    dead = publishing("worker@gone.1")
    alive = publishing("worker@here.2")
    unsigned = publishing("")  # a plain rqworker: only the job timeout tells
    Heartbeat.objects.create(name="worker@gone.1", kind="worker", beat=at - timedelta(seconds=31))
    Heartbeat.objects.create(name="worker@here.2", kind="worker", beat=at - timedelta(seconds=3))

    assert sweep(at=at)["recovered"] == 1
    statuses = dict(Delivery.objects.values_list("pk", "status"))
    assert statuses == {dead.pk: "scheduled", alive.pk: "publishing", unsigned.pk: "publishing"}
    assert list(dead.attempt_log.values_list("outcome", flat=True)) == ["recovered"]

    later = at + timedelta(seconds=settings.PUBLISH_JOB_TIMEOUT + 30)
    Heartbeat.objects.filter(name="worker@here.2").update(beat=later)
    assert sweep(at=later)["recovered"] == 2  # past the job timeout, a beating worker is stuck: recover


def test_the_sweeper_forgets_heartbeats_of_processes_gone_for_a_day(db):
    from posts.dispatch import sweep
    from posts.models import Heartbeat

    Heartbeat.objects.create(name="worker@old.1", kind="worker", beat=now() - timedelta(days=2))
    Heartbeat.objects.create(name="dispatcher@new:2", kind="dispatcher", beat=now())
    sweep()
    assert list(Heartbeat.objects.values_list("name", flat=True)) == ["dispatcher@new:2"]


def test_rq_workers_of_a_pool_are_traced_to_the_pool_heartbeat():
    from posts.liveness import pool_of as _pool_of
    from posts.workers import WorkerPool

    pool = WorkerPool(threads=1)
    assert _pool_of(pool._worker(0).name) == pool.heartbeat_name
    assert _pool_of("web-1.example.com.4242.t3.7") == "worker@web-1.example.com.4242"
    assert _pool_of("5f1c0c2a8e9b4d6f") is None  # RQ's own worker names
    assert _pool_of(None) is None
