"""Fixtures of the Misskey tests (the fake server's own fixtures are in fake.py)."""

import pytest


@pytest.fixture
def adapter(misskey_channel):
    return misskey_channel.adapter()


@pytest.fixture
def alice(client, cast):
    client.force_login(cast.alice)
    return client
