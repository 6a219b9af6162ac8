"""Times that other processes compare come from the database's clock, whatever this machine's says."""

import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from posts import clock
from posts.dispatch import beat, claim_periodic, dispatch_due, sweep
from posts.models import Delivery, Heartbeat, PeriodicRun, Post
from tests.posts.engine import ROOT, compose, process_env, run_worker, stop, wait_for

SWEEP_EVERY = timedelta(seconds=15)


def database_now() -> datetime:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0]
        cursor.execute("SELECT strftime(%s, 'now')", ["%Y-%m-%d %H:%M:%f"])
        return datetime.fromisoformat(cursor.fetchone()[0]).replace(tzinfo=UTC)


def seconds_from_database(value: datetime) -> float:
    return abs((value - database_now()).total_seconds())


@pytest.fixture
def skew():
    """Put this process's clock off by some seconds (as a machine without NTP would be)."""
    yield clock.skew_process_clock
    clock.skew_process_clock(0)


def test_the_clock_reads_the_database_once_and_not_at_every_call(db, skew, django_assert_num_queries):
    skew(600)
    assert abs((timezone.now() - database_now()).total_seconds() - 600) < 2  # the machine is off
    assert seconds_from_database(clock.now()) < 2  # the clock is not
    with django_assert_num_queries(0):
        for _ in range(100):
            clock.now()


def test_the_clock_keeps_its_offset_while_the_database_is_away(db, skew, monkeypatch):
    from django.db import InterfaceError

    skew(600)
    clock.now()

    def away():
        raise InterfaceError("connection already closed")

    monkeypatch.setattr(clock, "measure", away)
    clock.resync()
    assert seconds_from_database(clock.now()) < 2  # no error, and still the database's time


def test_a_dispatcher_ten_minutes_fast_does_not_stop_the_sweeps(db, skew):
    skew(600)
    assert claim_periodic("sweep", SWEEP_EVERY) is True
    beat("dispatcher@fast:1")
    skew(0)
    assert seconds_from_database(PeriodicRun.objects.get(name="sweep").last_run) < 2
    assert seconds_from_database(Heartbeat.objects.get(name="dispatcher@fast:1").beat) < 2
    # A dispatcher with the right time sweeps when the period is over, not ten minutes later.
    assert claim_periodic("sweep", SWEEP_EVERY, at=database_now() + SWEEP_EVERY) is True


def test_healthz_calls_a_stopped_dispatcher_down_even_if_its_clock_was_fast(client, db, skew, settings):
    settings.WORKER_HEARTBEAT_MAX_AGE = 3
    skew(600)
    beat("dispatcher@fast:1")  # its last beat: then it stops
    skew(0)
    dispatcher = json.loads(client.get("/healthz").content)["checks"]["dispatcher"]
    assert dispatcher["ok"] is True and 0 <= dispatcher["age_s"] < 3, dispatcher
    time.sleep(3.5)
    dispatcher = json.loads(client.get("/healthz").content)["checks"]["dispatcher"]
    assert dispatcher["ok"] is False and dispatcher["age_s"] > 3, dispatcher


def test_healthz_on_a_slow_machine_sees_a_live_dispatcher_as_live(client, db, skew, settings):
    settings.WORKER_HEARTBEAT_MAX_AGE = 60
    beat("dispatcher@right:1")
    skew(-600)  # the web's machine is ten minutes behind
    dispatcher = json.loads(client.get("/healthz").content)["checks"]["dispatcher"]
    assert dispatcher["ok"] is True and 0 <= dispatcher["age_s"] < 2


def test_a_sweeper_ten_minutes_fast_leaves_a_live_workers_delivery_alone(
    cast, mastodon_channel, redis_conn, skew
):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Slow answer"])
    delivery = post.deliveries.get()
    at = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.PUBLISHING,
        claim="2c2c1e0e-8f7d-4a67-9a0e-4c1d3a8b9f00",
        claimed_at=at,
        claimed_by="worker@host.1",
        attempts=1,
    )
    Heartbeat.objects.create(name="worker@host.1", kind="worker", beat=at)
    skew(600)
    assert sweep()["recovered"] == 0
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.PUBLISHING


def test_a_dispatcher_a_minute_slow_hands_out_share_now_posts_at_once(
    cast, mastodon_channel, redis_conn, skew
):
    compose(cast.alice, cast.workspace, [mastodon_channel], ["Share this now"])
    skew(-60)
    assert dispatch_due() == 1


def test_share_now_from_a_web_machine_a_minute_fast_is_handed_out_at_once(
    cast, mastodon_channel, redis_conn, skew
):
    skew(60)  # the web's machine
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Share this now"])
    skew(0)  # the dispatcher's
    assert seconds_from_database(post.deliveries.get().scheduled_for) < 2
    assert dispatch_due() == 1


@pytest.mark.django_db(transaction=True)  # jobs are enqueued after commit
def test_a_worker_a_minute_slow_publishes_share_now_posts_at_once(
    cast, mastodon_channel, fake_mastodon, redis_conn, skew
):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Share this now"])
    assert dispatch_due() == 1
    skew(-60)
    run_worker()
    delivery = post.deliveries.get()
    assert delivery.status == Delivery.Status.PUBLISHED
    assert [s["text"] for s in fake_mastodon.statuses] == ["Share this now"]
    assert seconds_from_database(delivery.published_at) < 2


# --- Real processes whose clock is off -------------------------------------------------------------


def start_skewed(seconds: float, *args) -> subprocess.Popen:
    """manage.py <args> in a process whose clock is `seconds` off."""
    code = (
        "import runpy, sys\n"
        "from posts.clock import skew_process_clock\n"
        f"skew_process_clock({seconds!r})\n"
        "runpy.run_path('manage.py', run_name='__main__')\n"
    )
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=process_env(),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    process.log = log
    return process


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_dispatcher_process_ten_minutes_fast_writes_the_databases_time(redis_conn):
    dispatcher = start_skewed(600, "run_dispatcher", "--interval", "0.05")
    try:
        wait_for(lambda: PeriodicRun.objects.filter(name="sweep").exists(), timeout=30)
        beat_at = wait_for(lambda: Heartbeat.objects.values_list("beat", flat=True).first(), timeout=10)
        swept_at = PeriodicRun.objects.get(name="sweep").last_run
    finally:
        logs = stop(dispatcher)
    assert seconds_from_database(beat_at) < 10, logs
    assert seconds_from_database(swept_at) < 10, logs


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_dispatcher_and_worker_a_minute_slow_publish_share_now_within_seconds(
    cast, mastodon_channel, fake_mastodon, redis_conn
):
    processes = [
        start_skewed(-60, "run_dispatcher", "--interval", "0.05"),
        start_skewed(-60, "rqworker", "default", "--worker-class", "rq.SimpleWorker"),
    ]
    try:
        import django_rq
        from rq import Worker

        wait_for(
            lambda: (
                Heartbeat.objects.filter(kind="dispatcher").exists()
                and Worker.all(connection=django_rq.get_connection("default"))
            ),
            timeout=30,
        )
        started = time.monotonic()
        post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Share this now"])
        wait_for(
            lambda: Delivery.objects.filter(post=post, status=Delivery.Status.PUBLISHED).exists(), timeout=15
        )
        took = time.monotonic() - started
    finally:
        logs = [stop(p) for p in processes]
    assert took < 3, (took, logs)
    assert Post.objects.get(pk=post.pk).status == Post.Status.PUBLISHED
