"""API test helpers: a token per member of the cast, and a client that sends it."""

import json

import pytest

from api.models import APIToken


class ApiClient:
    """Django's test client with a bearer token and JSON bodies."""

    def __init__(self, client, secret: str | None):
        self.client = client
        self.secret = secret

    def _headers(self, headers):
        extra = {}
        if self.secret:
            extra["Authorization"] = f"Bearer {self.secret}"
        extra.update(headers or {})
        return extra

    def get(self, path, params=None, headers=None):
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def post(self, path, data=None, headers=None, raw=None, content_type="application/json"):
        body = raw if raw is not None else json.dumps(data if data is not None else {})
        return self.client.post(path, body, content_type=content_type, headers=self._headers(headers))

    def upload(self, path, data, headers=None):
        return self.client.post(path, data, headers=self._headers(headers))

    def patch(self, path, data, headers=None):
        return self.client.patch(
            path, json.dumps(data), content_type="application/json", headers=self._headers(headers)
        )

    def put(self, path, data, headers=None):
        return self.client.put(
            path, json.dumps(data), content_type="application/json", headers=self._headers(headers)
        )

    def delete(self, path, headers=None):
        return self.client.delete(path, headers=self._headers(headers))


@pytest.fixture
def make_api(client, cast, redis_conn):
    """make_api(user, workspace=cast.workspace) -> ApiClient with a fresh token of that member."""

    def make(user, workspace=None):
        _, secret = APIToken.issue(workspace=workspace or cast.workspace, user=user, name=f"{user} test")
        return ApiClient(client, secret)

    return make


@pytest.fixture
def alice_api(make_api, cast):
    return make_api(cast.alice)


@pytest.fixture
def victor_api(make_api, cast):
    return make_api(cast.victor)


@pytest.fixture
def charlie_api(make_api, cast):
    return make_api(cast.charlie, cast.other)


@pytest.fixture
def make_channel(cast):
    """A channel row without a network behind it (for listing, permissions and queues)."""
    import uuid

    from channels.models import Channel

    def make(network="mastodon", workspace=None, **fields):
        return Channel.objects.create(
            workspace=workspace or cast.workspace,
            network=network,
            remote_id=str(uuid.uuid4()),
            handle=f"@{network}-{uuid.uuid4().hex[:6]}@example.org",
            server_url="https://example.org",
            **fields,
        )

    return make


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploads land in a temporary folder, not in the checkout's media/."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
