"""/healthz: database, Redis and worker heartbeat, as JSON, 503 when something is down."""

import datetime
import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache


def check_database() -> dict:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"; the class name is enough detail
        # A server that takes the connection and never answers costs DATABASE_CONNECT_TIMEOUT seconds.
        waited = round(time.monotonic() - started, 1)
        return {
            "ok": False,
            "error": exc.__class__.__name__,
            "message": f"The database could not be queried (gave up after {waited:g} s).",
        }
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}


def check_redis() -> dict:
    import django_rq
    import redis

    started = time.monotonic()
    try:
        django_rq.get_connection("default").ping()
    except redis.exceptions.TimeoutError as exc:  # it took the connection and never answered
        return {
            "ok": False,
            "error": exc.__class__.__name__,
            "message": f"Redis did not answer within {round(time.monotonic() - started):g} s.",
        }
    except Exception as exc:  # redis-py raises ConnectionError, ...
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}


def check_workers() -> dict:
    """Workers register themselves in Redis with a heartbeat; the freshest one tells if any is alive."""
    import django_rq
    from rq import Worker

    from posts import clock

    try:
        workers = Worker.all(connection=django_rq.get_connection("default"))
    except Exception as exc:
        return {"ok": False, "error": exc.__class__.__name__, "count": 0}
    beats = [w.last_heartbeat for w in workers if w.last_heartbeat]
    if not beats:
        return {"ok": False, "count": 0, "last_heartbeat": None, "error": "no worker is running"}
    last = max(beats)
    if last.tzinfo is None:
        last = last.replace(tzinfo=datetime.UTC)  # RQ stores UTC
    # RQ stamps beats with the worker's own clock; read on the database's (posts.clock), this
    # machine's error at least is left out.
    age = (clock.now() - last).total_seconds()
    return {
        "ok": age <= settings.WORKER_HEARTBEAT_MAX_AGE,
        "count": len(workers),
        "last_heartbeat": last.isoformat(),
        "age_s": round(age, 1),
    }


_DATABASE_DOWN = {"ok": False, "error": "the database is down"}


@never_cache
def healthz(request):
    checks = {"database": check_database(), "redis": check_redis()}
    checks["workers"] = check_workers() if checks["redis"]["ok"] else {"ok": False, "error": "redis is down"}
    # The engine's checks query the database: when it did not answer, asking again would only double
    # the wait (DATABASE_CONNECT_TIMEOUT) before the answer.
    for name, extra in extra_checks() if checks["database"]["ok"] else [("dispatcher", _DATABASE_DOWN)]:
        checks[name] = extra
    ok = all(check["ok"] for check in checks.values())
    return JsonResponse({"ok": ok, "checks": checks}, status=200 if ok else 503)


def extra_checks():
    """The engine: a live dispatcher, and no deliveries overdue by more than a minute."""
    from posts import clock
    from posts.models import Delivery, Heartbeat

    try:
        last = (
            Heartbeat.objects.filter(kind="dispatcher")
            .order_by("-beat")
            .values_list("beat", flat=True)
            .first()
        )
        # Ages on the database's clock, which the dispatcher writes its beats with (posts.clock).
        at = clock.now()
        overdue = Delivery.objects.overdue(at=at).count()
    except Exception as exc:  # the database check reports the cause
        return [("dispatcher", {"ok": False, "error": exc.__class__.__name__})]
    age = (at - last).total_seconds() if last else None
    return [
        (
            "dispatcher",
            {
                "ok": age is not None and age <= settings.WORKER_HEARTBEAT_MAX_AGE,
                "last_heartbeat": last.isoformat() if last else None,
                "age_s": round(age, 1) if age is not None else None,
            },
        ),
        ("overdue", {"ok": overdue == 0, "count": overdue}),
    ]
