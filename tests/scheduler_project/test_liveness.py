"""Is a worker alive? /healthz, the workspace overview and the sweeper give one answer (posts.liveness)."""

import json
from datetime import timedelta

import django_rq
import pytest
from django.urls import reverse
from rq import SimpleWorker
from rq.utils import utcformat

from channels.models import Channel
from posts import liveness
from posts.clock import now, skew_process_clock
from posts.dispatch import sweep
from posts.liveness import beat
from posts.models import Delivery, Heartbeat, Post

POOL = "worker@web-1.4242"  # the Heartbeat name of a worker pool (posts.workers)
POOL_THREAD = "web-1.4242.t0.1"  # the RQ name of one of its worker threads


def rq_worker(connection, name=None) -> SimpleWorker:
    """An RQ worker registered in Redis with a fresh RQ heartbeat, as a running one leaves it."""
    worker = SimpleWorker([django_rq.get_queue("default")], connection=connection, name=name)
    worker.register_birth()
    worker.heartbeat()
    return worker


def publishing(workspace, claimed_by: str, claimed_at) -> Delivery:
    channel = Channel.objects.create(workspace=workspace, network="mastodon", remote_id="1", handle="@a@b.c")
    post = Post.objects.create(workspace=workspace, status=Post.Status.SCHEDULED)
    return Delivery.objects.create(
        post=post,
        channel=channel,
        status=Delivery.Status.PUBLISHING,
        scheduled_for=claimed_at,
        next_attempt_at=claimed_at,
        claim="0" * 32,
        claimed_at=claimed_at,
        claimed_by=claimed_by,
        attempts=1,
    )


@pytest.fixture
def silent_pool(cast, redis_conn, settings):
    """A worker pool that stopped beating 60 s ago; RQ's registry still lists its thread as fresh."""
    settings.WORKER_LOST_AFTER = 30
    settings.WORKER_HEARTBEAT_MAX_AGE = 120
    at = now()
    Heartbeat.objects.create(name=POOL, kind="worker", beat=at - timedelta(seconds=60))
    worker = rq_worker(redis_conn, POOL_THREAD)
    delivery = publishing(cast.workspace, POOL, at - timedelta(seconds=60))
    yield delivery
    worker.register_death()


def test_a_pool_the_sweeper_calls_lost_is_down_on_healthz_and_the_overview(client, cast, silent_pool):
    beat("dispatcher@test:1")
    assert sweep()["recovered"] == 1  # lost for the sweeper
    assert Delivery.objects.get(pk=silent_pool.pk).status == Delivery.Status.SCHEDULED

    response = client.get("/healthz")
    workers = json.loads(response.content)["checks"]["workers"]
    assert response.status_code == 503
    assert workers["ok"] is False and workers["count"] == 0, workers
    assert 59 <= workers["age_s"] < 65  # the pool's beat, not its thread's fresh RQ heartbeat

    client.force_login(cast.victor)
    html = client.get(reverse("workspaces:overview", kwargs={"slug": "acme"})).content.decode()
    assert "No publishing worker is running" in html


def rq_beat(connection, worker: SimpleWorker, seconds_ago: float) -> None:
    """Make RQ's registry show the worker's last heartbeat `seconds_ago`."""
    connection.hset(worker.key, "last_heartbeat", utcformat(now() - timedelta(seconds=seconds_ago)))


def test_a_beating_pool_is_alive_for_all_three(client, cast, redis_conn, settings):
    settings.WORKER_LOST_AFTER = 30
    at = now()
    beat(POOL, kind="worker")
    beat("dispatcher@test:1")
    worker = rq_worker(redis_conn, POOL_THREAD)
    rq_beat(redis_conn, worker, 200)  # RQ's own heartbeat does not matter for a pool's thread
    delivery = publishing(cast.workspace, POOL, at - timedelta(seconds=60))
    try:
        assert sweep()["recovered"] == 0  # a slow publish by a live worker
        assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.PUBLISHING
        workers = json.loads(client.get("/healthz").content)["checks"]["workers"]
        assert workers["ok"] is True and workers["count"] == 1 and workers["age_s"] < 5, workers
        client.force_login(cast.victor)
        html = client.get(reverse("workspaces:overview", kwargs={"slug": "acme"})).content.decode()
        assert "No publishing worker" not in html and "dispatcher is not running" not in html
    finally:
        worker.register_death()


def test_a_plain_rq_worker_is_judged_by_its_rq_heartbeat(db, redis_conn, settings):
    """manage.py rqworker does not beat in the database: RQ's registry and WORKER_HEARTBEAT_MAX_AGE tell."""
    settings.WORKER_LOST_AFTER = 30
    settings.WORKER_HEARTBEAT_MAX_AGE = 120
    worker = rq_worker(redis_conn)
    try:
        rq_beat(redis_conn, worker, 60)
        reading = liveness.workers()
        assert reading.alive is True and reading.count == 1 and 59 <= reading.age < 65
        rq_beat(redis_conn, worker, 200)
        reading = liveness.workers()
        assert reading.alive is False and reading.count == 0 and reading.age >= 199
    finally:
        worker.register_death()


def test_pools_and_plain_workers_are_counted_together(db, redis_conn, settings):
    settings.WORKER_LOST_AFTER = 30
    beat(POOL, kind="worker")
    Heartbeat.objects.create(name="worker@gone.1", kind="worker", beat=now() - timedelta(seconds=31))
    workers = [
        rq_worker(redis_conn, POOL_THREAD),
        rq_worker(redis_conn, "web-1.4242.t1.1"),
        rq_worker(redis_conn, "gone.1.t0.1"),  # its pool stopped beating
        rq_worker(redis_conn, "web-1.9999.t0.1"),  # a pool without a row: stopped cleanly, or never beat
        rq_worker(redis_conn),  # a plain rqworker
    ]
    try:
        reading = liveness.workers()
        assert reading.alive is True and reading.count == 3
        assert liveness.live_pools() == {POOL}
    finally:
        for worker in workers:
            worker.register_death()


def test_no_worker_at_all(db, redis_conn):
    assert liveness.workers() == liveness.Reading(alive=False, last_beat=None, age=None, count=0)


def test_the_dispatcher_reading_is_the_same_for_healthz_and_the_overview(client, cast, redis_conn, settings):
    settings.WORKER_HEARTBEAT_MAX_AGE = 120
    beat("dispatcher@old:1")
    beat("dispatcher@new:2")
    Heartbeat.objects.filter(name="dispatcher@old:1").update(beat=now() - timedelta(seconds=500))
    Heartbeat.objects.filter(name="dispatcher@new:2").update(beat=now() - timedelta(seconds=100))
    client.force_login(cast.victor)
    overview = reverse("workspaces:overview", kwargs={"slug": "acme"})

    dispatcher = json.loads(client.get("/healthz").content)["checks"]["dispatcher"]
    assert dispatcher["ok"] is True and 99 <= dispatcher["age_s"] < 105  # the freshest beat
    assert set(dispatcher) == {"ok", "last_heartbeat", "age_s"}
    assert "The dispatcher is not running" not in client.get(overview).content.decode()

    Heartbeat.objects.filter(name="dispatcher@new:2").update(beat=now() - timedelta(seconds=130))
    dispatcher = json.loads(client.get("/healthz").content)["checks"]["dispatcher"]
    assert dispatcher["ok"] is False and dispatcher["age_s"] >= 130
    assert "The dispatcher is not running" in client.get(overview).content.decode()


def test_ages_are_read_on_the_database_clock(db, redis_conn, settings):
    """A web machine ten minutes behind still sees a beat written a moment ago as fresh."""
    beat("dispatcher@right:1")
    beat(POOL, kind="worker")
    skew_process_clock(-600)
    try:
        assert liveness.dispatcher().alive is True
        assert liveness.live_pools() == {POOL}
    finally:
        skew_process_clock(0)


def test_rq_workers_of_a_pool_are_traced_to_the_pool_heartbeat():
    from posts.workers import WorkerPool

    pool = WorkerPool(threads=1)
    assert liveness.pool_of(pool._worker(0).name) == pool.heartbeat_name
    assert liveness.pool_of("web-1.example.com.4242.t3.7") == "worker@web-1.example.com.4242"
    assert liveness.pool_of("5f1c0c2a8e9b4d6f") is None  # RQ's own worker names
    assert liveness.pool_of(None) is None


def test_the_sweep_forgets_processes_gone_for_a_day(db):
    beat("worker@old.1", kind="worker")
    beat("dispatcher@new:2")
    Heartbeat.objects.filter(name="worker@old.1").update(beat=now() - timedelta(days=2))
    liveness.forget_gone(now())
    assert list(Heartbeat.objects.values_list("name", flat=True)) == ["dispatcher@new:2"]
