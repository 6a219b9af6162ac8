"""The OpenAPI schema: at a stable URL, valid OpenAPI 3; no input found by fuzzing it gives a 500."""

from contextlib import contextmanager

import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from openapi_spec_validator import validate

from channels.networks.base import ConnectError
from posts.models import Post
from scheduler_project.wsgi import application
from tests.api.test_media import image_file as png
from tests.posts.engine import compose


def test_it_serves_a_valid_openapi_3_schema(client, db):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    validate(schema)
    paths = schema["paths"]
    for path in (
        "/api/v1/posts",
        "/api/v1/posts/{code}",
        "/api/v1/channels",
        "/api/v1/media",
        "/api/v1/deliveries/{code}/retry",
        "/api/v1/channels/{code}/queue",
    ):
        assert path in paths
    assert schema["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    create = paths["/api/v1/posts"]["post"]
    assert create["operationId"] == "create_post"
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    assert "400" in create["responses"] and "422" in create["responses"]


def test_it_serves_the_docs_page_with_local_assets_only(client, db):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page
    assert "/static/api/docs.js" in page
    assert "http://" not in page.replace("http://testserver", "") and "https://" not in page
    assert "<script>" not in page  # no inline script: the CSP forbids it
    assert "script-src 'self' 'nonce-" in response["Content-Security-Policy"]


@contextmanager
def connection_kept_open():
    """WSGI requests close "old" database connections when they end; the test's one must stay.

    (Django's test client does the same around each of its own requests.)
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _aimed(case, aim: bool, known: dict):
    """Half the generated cases name objects that exist, so fuzzed input reaches past the 404."""
    if not aim:
        return case
    if case.path_parameters and "code" in case.path_parameters:
        kind = next((k for k in known if f"/{k}" in case.path), None)
        if kind:
            # Deleting the post every other operation uses would hide them behind 404s.
            kind = "doomed" if kind == "posts" and case.method == "DELETE" else kind
            case.path_parameters["code"] = str(known[kind])
    if case.method == "POST" and case.path.endswith("/posts") and isinstance(case.body, dict):
        case.body["channels"] = [str(known["channels"])]
    return case


def test_it_answers_every_generated_request_without_a_server_error(
    alice_api, cast, make_channel, settings, monkeypatch
):
    settings.API_RATE_LIMIT_PER_MINUTE = 0  # hundreds of requests in a few seconds, on purpose

    def no_network(payload):
        # Fuzzed instance and PDS URLs must never reach out: the connect step is refused here.
        raise ConnectError("Not connecting in this test.", field="access_token")

    monkeypatch.setattr("api.endpoints.channels._connect", no_network)
    channel = make_channel()
    post = compose(cast.alice, cast.workspace, [channel], ["An existing post"], mode=Post.Mode.DRAFT)
    # Editing a post replaces its deliveries: the delivery probed is another post's.
    untouched = compose(cast.alice, cast.workspace, [channel], ["Left alone"], mode=Post.Mode.DRAFT)
    doomed = compose(cast.alice, cast.workspace, [channel], ["To be deleted"], mode=Post.Mode.DRAFT)
    media = alice_api.upload("/api/v1/media", {"file": png()}).json()["code"]
    known = {
        "channels": channel.code,
        "posts": post.code,
        "doomed": doomed.code,
        "deliveries": untouched.deliveries.get().code,
        "media": media,
    }
    headers = {"Authorization": f"Bearer {alice_api.secret}"}
    with connection_kept_open():
        failures, statuses = _fuzz(known, headers)
    assert len(statuses) >= 18
    assert not failures, failures[:5]
    # The fuzzing got past authentication and lookups: successes on reads and writes alike.
    assert 200 in statuses["GET /api/v1/posts/{code}"]
    assert 200 in statuses["PATCH /api/v1/posts/{code}"]
    assert 204 in statuses["DELETE /api/v1/posts/{code}"]
    assert 200 in statuses["GET /api/v1/deliveries/{code}"]


def _fuzz(known, headers):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
    failures = []
    statuses = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        cases = st.tuples(operation.as_strategy(), st.booleans()).map(lambda pair: _aimed(*pair, known=known))

        @hypothesis_settings(
            max_examples=20,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases)
        def check(case):
            response = case.call(headers=headers)
            statuses.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
            if response.status_code >= 500:
                failures.append((case.method, case.path, case.body, case.query, response.text[:300]))

        check()
    return failures, statuses
