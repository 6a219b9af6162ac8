import uuid

import pytest

from channels.models import Channel


@pytest.fixture
def make_channel(cast):
    def make(network="mastodon", tz="", workspace=None, **fields):
        return Channel.objects.create(
            workspace=workspace or cast.workspace,
            network=network,
            remote_id=str(uuid.uuid4()),
            handle=f"@{network}@example.org",
            server_url="https://example.org",
            timezone=tz,
            **fields,
        )

    return make


@pytest.fixture
def media_root(settings, tmp_path):
    """Uploads land in a temporary folder, not in the checkout's media/ (the composer's modules use it
    for every test: `pytestmark = pytest.mark.usefixtures("media_root")`)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def two(mastodon_channel, bluesky_channel):
    return [mastodon_channel, bluesky_channel]


@pytest.fixture
def engine_settings(settings, redis_conn):
    """Quick retries and three attempts at most, with a clean Redis (the engine's modules use it for
    every test)."""
    settings.PUBLISH_RETRY_BASE = 0.5
    settings.PUBLISH_MAX_ATTEMPTS = 3
