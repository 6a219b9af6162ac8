import json
import socket

import django_rq
import pytest
from rq import SimpleWorker


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_it_reports_a_missing_worker(client, db, redis_conn):
    response = client.get("/healthz")
    body = json.loads(response.content)
    assert response.status_code == 503
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["workers"]["ok"] is False


def test_it_is_healthy_with_a_live_worker_and_dispatcher(client, db, redis_conn):
    from posts.liveness import beat

    beat("dispatcher@test:1")
    worker = SimpleWorker([django_rq.get_queue("default")], connection=redis_conn)
    worker.register_birth()
    worker.heartbeat()
    try:
        response = client.get("/healthz")
        body = json.loads(response.content)
        assert response.status_code == 200, body
        assert body["ok"] is True
        assert body["checks"]["workers"]["count"] == 1
    finally:
        worker.register_death()


@pytest.fixture
def redis_down(settings):
    url = f"redis://127.0.0.1:{closed_port()}/0"
    queues = {name: {**config, "URL": url} for name, config in settings.RQ_QUEUES.items()}
    settings.RQ_QUEUES = queues
    yield


def test_it_reports_redis_down(client, db, redis_down):
    response = client.get("/healthz")
    body = json.loads(response.content)
    assert response.status_code == 503
    assert body["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}
    assert body["checks"]["database"]["ok"] is True


def test_it_counts_overdue_deliveries(client, cast, redis_conn):
    from datetime import timedelta

    from django.utils.timezone import now

    from channels.models import Channel
    from posts.models import Delivery, Post

    channel = Channel.objects.create(
        workspace=cast.workspace, network="mastodon", remote_id="1", handle="@a@b.c"
    )
    post = Post.objects.create(workspace=cast.workspace, status=Post.Status.SCHEDULED)
    late = now() - timedelta(minutes=5)
    Delivery.objects.create(
        post=post, channel=channel, status=Delivery.Status.SCHEDULED, scheduled_for=late, next_attempt_at=late
    )
    body = json.loads(client.get("/healthz").content)
    assert body["checks"]["overdue"] == {"ok": False, "count": 1}
    assert body["checks"]["dispatcher"]["ok"] is False
