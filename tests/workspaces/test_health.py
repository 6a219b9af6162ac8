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


def test_it_is_healthy_with_a_live_worker(client, db, redis_conn):
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
