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
