"""The dispatcher: hands due deliveries to RQ, sweeps up lost work, runs periodic tasks.

Safe to run on several machines at once: due rows are claimed with row locks (SKIP LOCKED on
PostgreSQL; SQLite's IMMEDIATE transactions serialise writers), the sweeper's changes are
conditional updates, and each periodic task is claimed through a PeriodicRun row.
"""

import logging
import os
import signal
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import django_rq
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Q
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from posts import channel_auth, liveness, states
from posts.clock import now
from posts.liveness import beat
from posts.models import Delivery, DeliveryAttempt, PeriodicRun

log = logging.getLogger(__name__)
S = Delivery.Status
QUEUE = "default"


def job_id(delivery_id: int, dispatched_at: datetime) -> str:
    """Derived from the row, so the sweeper can find the job without storing Redis state in the database."""
    return f"publish-{delivery_id}-{int(dispatched_at.timestamp() * 1000)}"


_queues: dict[tuple, Queue] = {}
_queue_lock = threading.Lock()


def queue() -> Queue:
    """One queue (and Redis connection pool) per process.

    django_rq.get_queue() builds a new client, and so a new TCP connection, on every call; the
    dispatcher calls it four times a second. redis-py clients are thread-safe.
    """
    key = (os.getpid(), repr(settings.RQ_QUEUES[QUEUE]))
    with _queue_lock:
        if key not in _queues:
            _queues[key] = django_rq.get_queue(QUEUE)
        return _queues[key]


def enqueue(items: list[tuple[int, datetime]]) -> None:
    from posts.jobs import publish_delivery

    if not items:
        return
    queue_ = queue()
    jobs = [
        Queue.prepare_data(
            publish_delivery,
            args=(delivery_id,),
            job_id=job_id(delivery_id, dispatched_at),
            timeout=settings.PUBLISH_JOB_TIMEOUT,
            result_ttl=600,
            failure_ttl=7 * 24 * 3600,
        )
        for delivery_id, dispatched_at in items
    ]
    with queue_.connection.pipeline() as pipe:
        queue_.enqueue_many(jobs, pipeline=pipe)
        pipe.execute()


def dispatch_due(limit: int = 500) -> int:
    """Claim due deliveries (SCHEDULED -> QUEUED) and enqueue a job for each, after commit."""
    at = now()
    with transaction.atomic():
        ids = list(
            Delivery.objects.due(at)
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return 0
        states.apply("dispatch", Delivery.objects.filter(pk__in=ids), dispatched_at=at, updated=at)
        transaction.on_commit(lambda: enqueue([(pk, at) for pk in ids]))
    return len(ids)


# A job claims its delivery first thing: a job started this long ago whose delivery is still QUEUED
# belongs to a worker that died between taking the job and claiming the row.
STARTED_GRACE = timedelta(seconds=30)


def _job_alive(queue_: Queue, jid: str, at: datetime, beating: set[str]) -> bool:
    try:
        job = Job.fetch(jid, connection=queue_.connection)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
        return True
    if status == JobStatus.QUEUED:
        # A worker killed right after taking the job leaves it marked queued but in no queue (RQ's
        # intermediate list): only a job still waiting in the queue will run.
        return queue_.connection.lpos(queue_.key, jid) is not None
    if status == JobStatus.STARTED:
        pool = liveness.pool_of(job.worker_name)
        if pool is not None and pool not in beating:
            return False  # taken by a worker pool that stopped beating before it claimed the row
        return job.started_at is None or job.started_at.replace(tzinfo=UTC) > at - STARTED_GRACE
    return False


def sweep(at: datetime | None = None) -> dict[str, int]:
    """Find work that was lost and put it back on track.

    - QUEUED for a while but its job is gone from Redis (flushed, lost) or was taken by a worker that
      died before claiming the row: enqueue it again (a duplicate job finds nothing to claim).
    - PUBLISHING by a worker process whose heartbeat stopped (WORKER_LOST_AFTER), or long past the
      job timeout: its worker died. Back to SCHEDULED; the next attempt asks the network whether
      the interrupted part went out before sending it again.
    - HELD on a channel that is active again (reconnected): schedule it.
    - SCHEDULED and due on a channel that needs reconnecting: hold it (posts.channel_auth).
    """
    at = at or now()
    counts = {"requeued": 0, "recovered": 0, "released": 0, "held": 0}
    queue_ = queue()
    lost_after = at - timedelta(seconds=settings.WORKER_LOST_AFTER)
    beating = liveness.live_pools(at)
    stale_queued = Delivery.objects.filter(
        status=S.QUEUED, dispatched_at__lt=at - timedelta(seconds=settings.SWEEP_QUEUED_AFTER)
    ).values_list("pk", "dispatched_at")[:1000]
    requeue = []
    for pk, dispatched_at in stale_queued:
        if _job_alive(queue_, job_id(pk, dispatched_at), at, beating):
            continue
        if Delivery.objects.filter(pk=pk, status=S.QUEUED, dispatched_at=dispatched_at).update(
            dispatched_at=at
        ):
            requeue.append((pk, at))
    enqueue(requeue)
    counts["requeued"] = len(requeue)

    cutoff = at - timedelta(seconds=settings.PUBLISH_JOB_TIMEOUT + 30)
    stopped = Delivery.objects.filter(
        Q(claimed_at__lt=cutoff) | (~Q(claimed_by="") & Q(claimed_at__lt=lost_after)), status=S.PUBLISHING
    ).values_list("pk", "claim", "attempts", "claimed_at", "claimed_by")
    for pk, claim, attempts, claimed_at, claimed_by in stopped:
        if claimed_at >= cutoff and claimed_by in beating:
            continue  # a slow publish by a live worker
        with transaction.atomic():
            if states.apply(
                "give_back",
                pk,
                where={"claim": claim},
                claim=None,
                next_attempt_at=at,
                updated=at,
                last_error="The worker stopped while publishing; checking the network before trying again.",
            ):
                # A worker writes its attempt when the attempt ends; this one never did.
                DeliveryAttempt.objects.create(
                    delivery_id=pk,
                    number=attempts,
                    started=claimed_at,
                    finished=at,
                    outcome=DeliveryAttempt.Outcome.RECOVERED,
                    message="The worker stopped during this attempt.",
                )
                counts["recovered"] += 1

    counts["released"] = states.apply(
        "release",
        Delivery.objects.filter(channel__status="active"),
        next_attempt_at=at,
        last_error="",
        updated=at,
    )
    counts["held"] = channel_auth.hold_due(at=at)
    liveness.forget_gone(at)  # processes long gone
    if any(counts.values()):
        log.info("sweep: %s", counts)
    return counts


def claim_periodic(name: str, every: timedelta, at: datetime | None = None) -> bool:
    """True for exactly one caller per period, across processes and machines."""
    at = at or now()
    if PeriodicRun.objects.filter(name=name, last_run__lte=at - every).update(last_run=at):
        return True
    # Not due, or never run: the first caller to create the row runs it.
    _, created = PeriodicRun.objects.get_or_create(name=name, defaults={"last_run": at})
    return created


PERIODIC = [
    # (name, period, dotted job path): enqueued to RQ, run by a worker.
    ("refresh-metrics", timedelta(hours=1), "posts.jobs.refresh_metrics"),
    ("refresh-credentials", timedelta(hours=6), "posts.jobs.refresh_credentials"),
    ("refresh-limits", timedelta(days=1), "posts.jobs.refresh_limits"),
    ("remove-unused-media", timedelta(hours=6), "posts.jobs.remove_unused_media"),
]


PERIODIC_CHECK_SECONDS = 1.0


class Dispatcher:
    def __init__(self, interval: float | None = None, sweep_every: float = 15.0):
        self.interval = interval or settings.DISPATCH_INTERVAL
        self.sweep_every = sweep_every
        self.name = f"dispatcher@{socket.gethostname()}:{os.getpid()}"
        self.stopping = False
        self.periodic_at = 0.0

    def stop(self, *args) -> None:
        self.stopping = True

    def tick(self) -> int:
        dispatched = dispatch_due()
        # The periodic tasks' rows are looked at once a second, not at every tick: claiming them was
        # most of an idle dispatcher's queries (bench/publish_burst.py --spread).
        if time.monotonic() >= self.periodic_at:
            self.periodic_at = time.monotonic() + PERIODIC_CHECK_SECONDS
            if claim_periodic("sweep", timedelta(seconds=self.sweep_every)):
                sweep()
            for name, every, path in PERIODIC:
                if claim_periodic(name, every):
                    queue().enqueue(path, job_timeout=3600)
        return dispatched

    def run(self, max_seconds: float | None = None) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        started = time.monotonic()
        last_beat = 0.0
        log.info("%s started (every %.2fs)", self.name, self.interval)
        while not self.stopping:
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                break
            try:
                if time.monotonic() - last_beat > 5:
                    beat(self.name)
                    last_beat = time.monotonic()
                dispatched = self.tick()
            except Exception:
                # Database restarting, Redis away: log, wait, carry on; the record is in the database.
                log.exception("dispatcher tick failed; retrying")
                close_old_connections()
                time.sleep(min(5.0, self.interval * 10))
                continue
            if not dispatched:
                time.sleep(self.interval)
        log.info("%s stopped", self.name)
