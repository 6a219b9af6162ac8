"""Is the engine alive? The one answer for /healthz, the workspace overview and the sweeper.

The rules, all on the database's clock (posts.clock):

- A worker pool (manage.py run_workers) beats in the Heartbeat table (kind "worker", named
  "worker@<host>.<pid>") several times per WORKER_LOST_AFTER seconds. It is alive while its last beat
  is at most WORKER_LOST_AFTER seconds old; past that the sweeper takes back what it was publishing,
  and /healthz and the overview count its worker threads as gone, even while RQ's registry still
  lists them.
- A plain RQ worker (manage.py rqworker) does not beat in the table: RQ's worker registry in Redis is
  the only sign of it. It is alive while RQ's own heartbeat is at most WORKER_HEARTBEAT_MAX_AGE
  seconds old (RQ beats less often, and stamps the beat with the worker's own clock). The sweeper
  cannot tell which deliveries such a worker holds (its claims are unsigned) and waits out the job
  timeout instead.
- The dispatcher (manage.py run_dispatcher) beats in the table (kind "dispatcher") every 5 seconds
  and is alive while its freshest beat is at most WORKER_HEARTBEAT_MAX_AGE seconds old.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings

from posts.clock import now
from posts.models import Heartbeat

WORKER = "worker"
DISPATCHER = "dispatcher"

# How long the row of a process that stopped beating is kept (it is deleted by the sweep).
FORGET_AFTER = timedelta(days=1)

# RQ worker names of a worker pool (posts.workers): "<host>.<pid>.t<slot>.<generation>".
_POOL_THREAD = re.compile(r"^(?P<pool>.+)\.t\d+\.\d+$")


@dataclass(frozen=True)
class Reading:
    """What the beats say: alive or not, how many are alive, and the freshest beat and its age."""

    alive: bool
    last_beat: datetime | None
    age: float | None  # seconds, on the database's clock
    count: int | None = None  # workers only

    def as_json(self) -> dict:
        """The reading as /healthz shows it."""
        answer = {"ok": self.alive}
        if self.count is not None:
            answer["count"] = self.count
        answer["last_heartbeat"] = self.last_beat.isoformat() if self.last_beat else None
        answer["age_s"] = round(self.age, 1) if self.age is not None else None
        return answer


def beat(name: str, kind: str = DISPATCHER) -> None:
    """Record that the process `name` is alive now."""
    Heartbeat.objects.update_or_create(name=name, defaults={"kind": kind, "beat": now()})


def forget_gone(at: datetime) -> None:
    """Delete the rows of processes that stopped beating long ago."""
    Heartbeat.objects.filter(beat__lt=at - FORGET_AFTER).delete()


def pool_of(worker_name: str | None) -> str | None:
    """The Heartbeat name of the pool that runs an RQ worker, or None for any other worker."""
    match = _POOL_THREAD.match(worker_name or "")
    return f"worker@{match['pool']}" if match else None


def live_pools(at: datetime | None = None) -> set[str]:
    """The Heartbeat names of the worker pools alive at `at`."""
    at = at or now()
    lost_after = at - timedelta(seconds=settings.WORKER_LOST_AFTER)
    return set(Heartbeat.objects.filter(kind=WORKER, beat__gte=lost_after).values_list("name", flat=True))


def dispatcher(at: datetime | None = None) -> Reading:
    """Whether a dispatcher is running, by the freshest dispatcher beat."""
    at = at or now()
    last = Heartbeat.objects.filter(kind=DISPATCHER).order_by("-beat").values_list("beat", flat=True).first()
    age = (at - last).total_seconds() if last else None
    alive = age is not None and age <= settings.WORKER_HEARTBEAT_MAX_AGE
    return Reading(alive=alive, last_beat=last, age=age)


def workers(at: datetime | None = None) -> Reading:
    """Whether any worker can take jobs: each RQ worker registered in Redis, judged by the rules above.

    Raises Redis's errors when the registry cannot be read.
    """
    import django_rq
    from rq import Worker

    registered = Worker.all(connection=django_rq.get_connection("default"))
    at = at or now()
    pool_beats = dict(Heartbeat.objects.filter(kind=WORKER).values_list("name", "beat"))
    lost_after = timedelta(seconds=settings.WORKER_LOST_AFTER)
    max_age = timedelta(seconds=settings.WORKER_HEARTBEAT_MAX_AGE)
    alive, beats = 0, []
    for worker in registered:
        pool = pool_of(worker.name)
        if pool is not None:
            last, allowed = pool_beats.get(pool), lost_after
        else:
            last, allowed = _rq_beat(worker), max_age
        if last is None:
            continue
        beats.append(last)
        alive += at - last <= allowed
    last = max(beats, default=None)
    age = (at - last).total_seconds() if last else None
    return Reading(alive=alive > 0, count=alive, last_beat=last, age=age)


def _rq_beat(worker) -> datetime | None:
    last = worker.last_heartbeat
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)  # RQ stores UTC
    return last
