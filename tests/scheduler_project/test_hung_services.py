"""A Redis or PostgreSQL that takes connections and never answers does not hang pages, /healthz or workers.

The "black hole" is tests/fakes/stalling.py's stalling server: it accepts, reads, and never writes. It
stops by itself (closing every connection) after its lifetime, so a test of a missing timeout fails on
the time bound instead of hanging the suite.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import redis

from tests.fakes.stalling import StallingServer

ROOT = Path(__file__).resolve().parents[2]
BOUND = 8.0  # seconds: REDIS_TIMEOUT and DATABASE_CONNECT_TIMEOUT are 5 by default

HEALTHZ = """
import json, time
import django
django.setup()
from django.test import Client
started = time.monotonic()
response = Client().get("/healthz", HTTP_HOST="localhost")
print(json.dumps({"status": response.status_code, "seconds": time.monotonic() - started,
                  "body": json.loads(response.content)}))
"""

ENQUEUE = """
import json, time
import django
django.setup()
from django.utils.timezone import now
from posts.dispatch import enqueue
started = time.monotonic()
try:
    enqueue([(1, now())])
    error = None
except Exception as exc:
    error = exc.__class__.__name__
print(json.dumps({"error": error, "seconds": time.monotonic() - started}))
"""


def run_in_a_fresh_process(script: str, **env) -> dict:
    """The settings as a deployment builds them, from its environment, in a process of their own."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    sqlite = os.path.join(tempfile.mkdtemp(prefix="hung-"), "db.sqlite3")
    env = {
        **keep,
        "DJANGO_SETTINGS_MODULE": "scheduler_project.settings",
        "ENV_FILE": os.devnull,
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{sqlite}",
        "REDIS_URL": os.environ["REDIS_URL"],
        "PYTHONDONTWRITEBYTECODE": "1",
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def black_hole():
    with StallingServer("stall", lifetime=20) as server:
        yield server


def test_healthz_answers_quickly_when_redis_never_answers(black_hole):
    result = run_in_a_fresh_process(HEALTHZ, REDIS_URL=f"redis://{black_hole.netloc}/0")
    assert black_hole.connections >= 1
    assert result["seconds"] < BOUND
    assert result["status"] == 503
    redis_check = result["body"]["checks"]["redis"]
    assert redis_check["ok"] is False
    assert redis_check["error"] == "TimeoutError"
    assert redis_check["message"].startswith("Redis did not answer within")


def test_the_dispatcher_gives_up_on_a_redis_that_never_answers(black_hole):
    result = run_in_a_fresh_process(ENQUEUE, REDIS_URL=f"redis://{black_hole.netloc}/0")
    assert black_hole.connections >= 1
    assert result["seconds"] < BOUND
    assert result["error"] == "TimeoutError"  # the dispatcher loop logs it and carries on


def test_a_timeout_already_in_redis_url_is_kept():
    from scheduler_project.settings import _with_redis_timeouts

    url = _with_redis_timeouts("redis://h:6379/1?socket_timeout=20", 5)
    kwargs = redis.Redis.from_url(url).connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 20
    assert kwargs["socket_connect_timeout"] == 5
    unix = redis.Redis.from_url(_with_redis_timeouts("unix:///tmp/redis.sock?db=2", 5))
    assert unix.connection_pool.connection_kwargs["socket_timeout"] == 5


def test_a_worker_thread_gives_up_on_a_redis_that_never_answers(settings, black_hole):
    from posts.workers import WorkerPool
    from scheduler_project.settings import _with_redis_timeouts

    # A worker as the pool builds it, on a Redis that answers; then Redis stops answering.
    url = _with_redis_timeouts(os.environ["REDIS_URL"], settings.REDIS_TIMEOUT)
    settings.RQ_QUEUES = {name: {**config, "URL": url} for name, config in settings.RQ_QUEUES.items()}
    worker = WorkerPool(threads=1)._worker(0)
    host, port = black_hole.netloc.split(":")
    worker.connection.connection_pool.connection_kwargs.update(host=host, port=int(port))
    worker.connection.connection_pool.reset()
    outcome = {}

    def wait_for_a_job():
        started = time.monotonic()
        try:
            worker.dequeue_job_and_maintain_ttl(worker.dequeue_timeout)
        except Exception as exc:
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=wait_for_a_job, daemon=True)
    thread.start()
    thread.join(BOUND)
    assert not thread.is_alive(), "the worker thread was still waiting for Redis"
    # RQ's work loop ends on it; the pool starts a new thread that carries on once Redis answers.
    assert isinstance(outcome["error"], redis.exceptions.TimeoutError)
    # ... but a healthy Redis gets the time to answer the worker's blocking wait for a job.
    from posts.workers import STOP_CHECK_SECONDS

    assert worker.connection.connection_pool.connection_kwargs["socket_timeout"] > STOP_CHECK_SECONDS


POSTGRES_CHECK = """
import json, time
import django
django.setup()
from django.db import connection
started = time.monotonic()
try:
    connection.ensure_connection()
    error = None
except Exception as exc:
    error = str(exc)
print(json.dumps({"error": error, "seconds": time.monotonic() - started}))
"""


def test_a_postgresql_that_never_answers_fails_the_connection_quickly(black_hole):
    result = run_in_a_fresh_process(
        POSTGRES_CHECK, DATABASE_URL=f"postgres://postgres@{black_hole.netloc}/scheduler"
    )
    assert black_hole.connections >= 1
    assert result["seconds"] < BOUND
    assert "timeout" in result["error"]


def test_healthz_answers_503_quickly_when_postgresql_never_answers(black_hole):
    result = run_in_a_fresh_process(
        HEALTHZ, DATABASE_URL=f"postgres://postgres@{black_hole.netloc}/scheduler"
    )
    assert result["seconds"] < BOUND
    assert result["status"] == 503
    database = result["body"]["checks"]["database"]
    assert database["ok"] is False
    assert database["message"].startswith("The database could not be queried")
    assert result["body"]["checks"]["redis"]["ok"] is True
    assert result["body"]["checks"]["dispatcher"]["ok"] is False


TIMEOUTS = """
import json
import django
django.setup()
from workspaces.throttle import _redis
kwargs = _redis().connection_pool.connection_kwargs
print(json.dumps([kwargs["socket_timeout"], kwargs["socket_connect_timeout"]]))
"""


def test_the_log_in_throttle_and_the_api_rate_limit_use_redis_timeout_too():
    assert run_in_a_fresh_process(TIMEOUTS, REDIS_TIMEOUT="7") == [7, 7]
