"""Fixtures of the Mastodon tests (the fake server's own fixtures are in fake.py)."""

import pytest

from channels.networks.mastodon.adapter import MastodonAdapter


@pytest.fixture
def adapter(mastodon_channel):
    return mastodon_channel.adapter()


@pytest.fixture
def quick_media(monkeypatch):
    monkeypatch.setattr(MastodonAdapter, "media_poll_interval", 0.01)
    monkeypatch.setattr(MastodonAdapter, "media_wait_seconds", 0.3)


@pytest.fixture
def alice(client, cast):
    client.force_login(cast.alice)
    return client
