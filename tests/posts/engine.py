"""Helpers for driving the engine in tests: compose posts, dispatch, run a worker, start processes."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import django_rq
from django.conf import settings
from django.db import connection
from rq import SimpleWorker

from posts import composing
from posts.dispatch import dispatch_due
from posts.models import Delivery, Post
from workspaces.models import Membership

ROOT = Path(__file__).resolve().parents[2]


def compose(user, workspace, channels, parts, mode=Post.Mode.NOW, **kwargs):
    membership = Membership.objects.get(user=user, workspace=workspace)
    draft = composing.Draft(parts=list(parts), channels=list(channels), mode=mode, **kwargs)
    return composing.compose(workspace=workspace, membership=membership, draft=draft)


def run_worker() -> None:
    """Run every queued job in this process (RQ's SimpleWorker, burst mode)."""
    worker = django_rq.get_worker("default", worker_class=SimpleWorker)
    worker.work(burst=True, with_scheduler=False)


def dispatch_and_work(rounds: int = 1) -> None:
    for _ in range(rounds):
        dispatch_due()
        run_worker()


def make_due(*deliveries) -> None:
    """Pull retries forward instead of waiting for their backoff."""
    from django.utils.timezone import now

    Delivery.objects.filter(pk__in=[d.pk for d in deliveries], status=Delivery.Status.SCHEDULED).update(
        next_attempt_at=now()
    )


def process_env(**extra) -> dict:
    """Environment for a worker or dispatcher process that shares this test's database and Redis."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db['NAME']}"
    else:
        auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        database_url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.RQ_QUEUES["default"]["URL"],
        "SSRF_ALLOW_PRIVATE": "1",
        "PUBLISH_RETRY_BASE": str(settings.PUBLISH_RETRY_BASE),
        "LOG_LEVEL": "WARNING",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start(*args, **env) -> subprocess.Popen:
    # Output goes to a file: a pipe nobody reads would block a chatty process once it fills.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=process_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    process.log = log
    return process


def start_worker(**env) -> subprocess.Popen:
    return start("rqworker", "default", "--worker-class", "rq.SimpleWorker", **env)


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log = getattr(process, "log", None)
    if log is None:
        return ""
    log.seek(0)
    return log.read().decode(errors="replace")


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"gave up waiting after {timeout}s")
