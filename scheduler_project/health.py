"""/healthz: database, Redis, workers and the dispatcher, as JSON, 503 when something is down.

Whether a worker or the dispatcher is alive is posts.liveness's answer, the one the sweeper and the
workspace overview use.
"""

import time

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
    """Whether any worker can take jobs, by the rules of posts.liveness."""
    from posts import liveness

    try:
        reading = liveness.workers()
    except Exception as exc:  # Redis (or the database) did not answer; the class name is enough detail
        return {"ok": False, "error": exc.__class__.__name__, "count": 0}
    answer = reading.as_json()
    if reading.last_beat is None:
        answer["error"] = "no worker is running"
    return answer


_DATABASE_DOWN = {"ok": False, "error": "the database is down"}


@never_cache
def healthz(request):
    checks = {"database": check_database(), "redis": check_redis()}
    # The engine's checks query the database: when it did not answer, asking again would only double
    # the wait (DATABASE_CONNECT_TIMEOUT) before the answer.
    if not checks["redis"]["ok"]:
        checks["workers"] = {"ok": False, "error": "redis is down"}
    else:
        checks["workers"] = check_workers() if checks["database"]["ok"] else _DATABASE_DOWN
    for name, extra in extra_checks() if checks["database"]["ok"] else [("dispatcher", _DATABASE_DOWN)]:
        checks[name] = extra
    ok = all(check["ok"] for check in checks.values())
    return JsonResponse({"ok": ok, "checks": checks}, status=200 if ok else 503)


def extra_checks():
    """The engine: a live dispatcher, and no deliveries overdue by more than a minute."""
    from posts import clock, liveness
    from posts.models import Delivery

    try:
        # Ages on the database's clock, which the dispatcher writes its beats with (posts.clock).
        at = clock.now()
        dispatcher = liveness.dispatcher(at)
        overdue = Delivery.objects.overdue(at=at).count()
    except Exception as exc:  # the database check reports the cause
        return [("dispatcher", {"ok": False, "error": exc.__class__.__name__})]
    return [("dispatcher", dispatcher.as_json()), ("overdue", {"ok": overdue == 0, "count": overdue})]
