"""Faults during a burst: nothing lost, nothing posted twice, and how long the engine takes to recover.

Every scenario runs the real processes (dispatcher and thread-pool workers, as the Procfile starts
them) against the fake networks, makes FAULTS_SIZE deliveries due at once over all three networks,
injects a fault mid-burst and waits until every delivery is published. The fakes' records are the
judge: each post exactly once. The sweep, which the dispatcher runs every 15 s, is run here by the
test every second, in real time, with its waits shortened: WORKER_LOST_AFTER 2 s (30 s by default)
before a worker pool that stopped beating counts as dead, SWEEP_QUEUED_AFTER 2-5 s (60 s by default)
before a handed-out delivery whose job vanished is handed out again. Recovery times include them.
"""

import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta

import django_rq
import pytest
from django.db import connection
from django.utils.timezone import now
from rq import Worker

from bench import seed
from posts.dispatch import sweep
from posts.models import Delivery, DeliveryAttempt, Heartbeat
from tests.bench.conftest import SIZE
from tests.networks.threads.fake import APP_ID, APP_SECRET
from tests.posts.engine import ROOT, process_env, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.faults]

WORKER_LOST_AFTER = 2

PER_CHANNEL = 10
THREADS_PER_POOL = 8
S = Delivery.Status


class Engine:
    """The dispatcher and worker processes, with their output kept in files (never a full pipe)."""

    def __init__(self, env: dict):
        self.env = env
        self.processes: list[subprocess.Popen] = []
        self.folder = tempfile.mkdtemp(prefix="faults-")

    def start(self, *args) -> subprocess.Popen:
        log = open(os.path.join(self.folder, f"{len(self.processes)}.log"), "w")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, stdout=log, stderr=log
        )
        self.processes.append(process)
        return process

    def dispatcher(self) -> subprocess.Popen:
        return self.start("run_dispatcher", "--interval", "0.05")

    def pool(self) -> subprocess.Popen:
        return self.start("run_workers", "default", "--threads", str(THREADS_PER_POOL))

    def run(self, pools: int) -> list[subprocess.Popen]:
        """A dispatcher and `pools` worker pools, once every worker thread is registered."""
        self.dispatcher()
        started = [self.pool() for _ in range(pools)]
        self.wait_ready(pools * THREADS_PER_POOL)
        return started

    def wait_ready(self, threads: int) -> None:
        redis = django_rq.get_connection("default")
        wait_for(
            lambda: (
                len(Worker.all(connection=redis)) >= threads
                and Heartbeat.objects.filter(kind="dispatcher").exists()
            ),
            timeout=60,
            interval=0.1,
        )

    def logs(self) -> str:
        out = []
        for name in sorted(os.listdir(self.folder)):
            with open(os.path.join(self.folder, name)) as handle:
                out.append(f"--- process {name}\n{handle.read()[-3000:]}")
        return "\n".join(out)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def networks(cast, fake_mastodon, fake_bluesky, fake_threads, redis_conn):
    """Channels on all three fakes (PER_CHANNEL deliveries each), and the env for engine processes."""
    per_network = max(1, math.ceil(SIZE / 3 / PER_CHANNEL))
    channels = []
    for i in range(per_network):
        account = fake_mastodon.add_account(f"burst{i}")
        token = fake_mastodon.issue_token(account["id"])
        channels.append(seed.connect_channel(cast.workspace, "mastodon", fake_mastodon.url, {"token": token}))
        handle = f"burst{i}.test"
        fake_bluesky.add_account(handle, f"did:plc:burst{i:021d}", "burst-app-pass-word")
        channels.append(
            seed.connect_channel(
                cast.workspace,
                "bluesky",
                fake_bluesky.url,
                {"handle": handle, "app_password": "burst-app-pass-word"},
            )
        )
        token = fake_threads.issue_token(fake_threads.add_user(f"burst{i}"))
        channels.append(seed.connect_channel(cast.workspace, "threads", "", {"token": token}))
    env = process_env(
        THREADS_GRAPH_URL=fake_threads.graph_url,
        THREADS_OAUTH_URL=f"{fake_threads.url}/oauth/authorize",
        THREADS_APP_ID=APP_ID,
        THREADS_APP_SECRET=APP_SECRET,
        THREADS_MEDIA_REQUIRE_PUBLIC_URL=0,
        THREADS_POLL_FIRST_DELAY=0.01,
        THREADS_POLL_MAX_DELAY=0.05,
        PUBLISH_RETRY_BASE=0.5,
        PUBLISH_MAX_ATTEMPTS=20,
        WORKER_LOST_AFTER=WORKER_LOST_AFTER,
    )

    class Networks:
        pass

    n = Networks()
    n.channels, n.env = channels, env
    n.mastodon, n.bluesky, n.threads = fake_mastodon, fake_bluesky, fake_threads
    n.owner = cast.alice

    def latency(seconds):
        fake_mastodon.latency = fake_bluesky.latency = fake_threads.latency = seconds

    n.latency = latency
    return n


@pytest.fixture
def engine(networks):
    running = Engine(networks.env)
    yield running
    running.stop()


def records(networks) -> Counter:
    texts = [s["text"] for s in networks.mastodon.statuses]
    texts += [p["value"]["text"] for p in networks.bluesky.posts()]
    texts += [p["text"] for p in networks.threads.posts]
    return Counter(texts)


def burst(networks, size=SIZE, lead=1.0) -> dict[str, int]:
    texts = seed.burst(networks.owner, networks.channels, size, now() + timedelta(days=1), label="Fault")
    seed.make_due_at(texts.values(), now() + timedelta(seconds=lead))
    return texts


def burst_under_way(networks) -> tuple[dict[str, int], list[int]]:
    """A burst, once a fifth of it is out: the moment to inject a fault."""
    texts = burst(networks)
    ids = list(texts.values())
    wait_for(lambda: published(ids) >= max(1, len(ids) // 5), timeout=60)
    return texts, ids


def published(ids) -> int:
    return Delivery.objects.filter(pk__in=ids, status=S.PUBLISHED).count()


def wait_published(ids, timeout=90.0, between=None) -> float:
    """Wait until all `ids` are published, calling `between()` every second; returns when it happened."""
    deadline = time.monotonic() + timeout
    last = 0.0
    while published(ids) < len(ids):
        if time.monotonic() > deadline:
            counts = Counter(Delivery.objects.filter(pk__in=ids).values_list("status", flat=True))
            raise AssertionError(f"not all published after {timeout}s: {dict(counts)}")
        if between is not None and time.monotonic() - last > 1.0:
            between()
            last = time.monotonic()
        time.sleep(0.1)
    return time.monotonic()


def assert_exactly_once(networks, texts: dict[str, int]) -> None:
    seen = records(networks)
    duplicated = {text: count for text, count in seen.items() if text in texts and count > 1}
    lost = [text for text in texts if text not in seen]
    assert not duplicated, f"posted more than once: {duplicated}"
    assert not lost, f"never posted: {lost[:10]} ({len(lost)})"
    assert published(texts.values()) == len(texts)


def sweep_now() -> dict:
    """The sweep in real time (the dispatcher runs it every 15 s), then due at once again."""
    counts = sweep()
    Delivery.objects.filter(status=S.SCHEDULED, next_attempt_at__gt=now()).update(next_attempt_at=now())
    return counts


def test_a_worker_killed_mid_publish_loses_and_duplicates_nothing(networks, engine, recovery, settings):
    settings.WORKER_LOST_AFTER = WORKER_LOST_AFTER
    settings.SWEEP_QUEUED_AFTER = 5
    networks.latency(0.2)  # long enough to catch posts in flight
    victim, survivor = engine.run(pools=2)
    texts = burst(networks)
    ids = list(texts.values())
    wait_for(lambda: Delivery.objects.filter(pk__in=ids, status=S.PUBLISHING).count() >= 3, timeout=30)
    killed_at = now()
    started = time.monotonic()
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(10)
    in_flight = Delivery.objects.filter(pk__in=ids, status=S.PUBLISHING, claimed_at__lt=killed_at).count()
    done = wait_published(ids, between=sweep_now)
    recovery(done - started, in_flight_at_kill=in_flight)
    assert_exactly_once(networks, texts)
    assert survivor.poll() is None, engine.logs()


def test_flushing_redis_mid_burst_loses_and_duplicates_nothing(
    networks, engine, recovery, redis_conn, settings
):
    settings.SWEEP_QUEUED_AFTER = 2  # in real time: a handed-out delivery whose job vanished
    networks.latency(0.1)
    engine.run(pools=2)
    texts, ids = burst_under_way(networks)
    started = time.monotonic()
    redis_conn.flushdb()
    done = wait_published(ids, between=sweep_now)
    recovery(done - started)
    assert_exactly_once(networks, texts)
    # The workers registered themselves again, so the health check still sees them.
    wait_for(lambda: len(Worker.all(connection=redis_conn)) >= 2 * THREADS_PER_POOL, timeout=15)


def _postgres_restart_command() -> list[str] | None:
    tool = shutil.which("pg_ctlcluster")
    if tool is None or os.geteuid() != 0:
        return None
    clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout.split()
    if len(clusters) < 2:
        return None
    return [tool, "--skip-systemctl-redirect", clusters[0], clusters[1], "restart"]


def test_restarting_postgresql_mid_burst_loses_and_duplicates_nothing(networks, engine, recovery, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the database is SQLite: there is no server to restart (set DATABASE_URL to PostgreSQL)")
    if os.environ.get("FAULTS_RESTART_POSTGRES") != "1":
        # It restarts the whole server, under every other user of it: only when asked for.
        pytest.skip("restarts the PostgreSQL server: set FAULTS_RESTART_POSTGRES=1 to run it")
    command = _postgres_restart_command()
    if command is None:
        pytest.skip("restarting PostgreSQL needs pg_ctlcluster and root")
    # In real time: jobs that failed to claim their delivery are handed out again after 2 s; what the
    # pools were publishing they give back themselves once the database answers.
    settings.SWEEP_QUEUED_AFTER = 2
    settings.WORKER_LOST_AFTER = WORKER_LOST_AFTER
    networks.latency(0.1)
    engine.run(pools=2)
    texts, ids = burst_under_way(networks)
    started = time.monotonic()
    connection.close()
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    wait_for(lambda: _database_up(), timeout=30, interval=0.2)
    done = wait_published(ids, between=sweep_now)
    interrupted = DeliveryAttempt.objects.filter(delivery__in=ids, outcome="recovered").count()
    recovery(done - started, attempts_interrupted=interrupted)
    assert_exactly_once(networks, texts)


def _database_up() -> bool:
    try:
        connection.close()
        connection.ensure_connection()
        return True
    except Exception:  # noqa: BLE001 - any driver error means "not yet"
        return False


def test_responses_lost_after_the_network_accepted_the_post_are_not_posted_again(networks, engine, recovery):
    lose = max(1, SIZE // 6)  # per network
    networks.mastodon.lose_next_response(path="/api/v1/statuses", count=lose)
    networks.bluesky.lose_response_next("com.atproto.repo.createRecord", times=lose)
    networks.threads.lose_response(path="threads_publish", times=lose)
    engine.run(pools=1)
    texts = burst(networks)
    ids = list(texts.values())
    started = time.monotonic()
    done = wait_published(ids)
    recovery(done - started, lost_answers=3 * lose)
    assert_exactly_once(networks, texts)
    retried = Delivery.objects.filter(pk__in=ids, attempts__gt=1).count()
    assert retried >= min(3 * lose, len(ids)) - 3  # the lost answers really happened


def test_a_429_storm_delays_but_never_duplicates(networks, engine, recovery):
    storm = max(2, SIZE // 3)  # per network
    networks.mastodon.rate_limit_next(count=storm, path="/api/v1/statuses", reset_in=2)
    networks.bluesky.rate_limit_next("com.atproto.repo.createRecord", reset_in=2, times=storm)
    networks.threads.throttle(path="threads", times=storm, retry_after=2)
    engine.run(pools=1)
    texts = burst(networks)
    ids = list(texts.values())
    started = time.monotonic()
    done = wait_published(ids)
    recovery(done - started, rate_limited_answers=3 * storm)
    assert_exactly_once(networks, texts)
    assert Delivery.objects.filter(pk__in=ids, attempts__gt=1).exists()


def test_two_dispatchers_and_many_workers_publish_each_delivery_once(networks, engine, recovery):
    networks.latency(0.05)
    engine.dispatcher()
    engine.dispatcher()
    engine.pool()
    engine.pool()
    engine.start("rqworker", "default")  # RQ's own forking worker on the same queue
    engine.wait_ready(2 * THREADS_PER_POOL + 1)
    texts = burst(networks)
    ids = list(texts.values())
    started = time.monotonic()
    done = wait_published(ids)
    recovery(done - started, dispatchers=2, workers=2 * THREADS_PER_POOL + 1)
    assert_exactly_once(networks, texts)
    assert Delivery.objects.filter(pk__in=ids).exclude(attempts=1).count() == 0
