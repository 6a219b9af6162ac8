import pytest


@pytest.fixture
def adapter(threads_channel):
    """The adapter of a channel connected to the fake Threads server."""
    return threads_channel.adapter()
