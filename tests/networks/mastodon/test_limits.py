"""Reading a server's limits, from Mastodon and the servers that speak its API, at connect and again."""

import pytest

from channels.networks.base import AuthorizationLost, PartContent, PostOptions, TransientError
from channels.networks.mastodon.client import api_level
from channels.networks.mastodon.connecting import connect_with_token
from channels.networks.mastodon.profiles import profile_for
from tests.networks.mastodon.parts import Attempts, adapter_for, image

# --- other servers -----------------------------------------------------------------------------


def test_it_reads_a_pleroma_servers_limits_from_the_v1_instance(fake_mastodon, tmp_path):
    fake_mastodon.instance_v2 = False
    fake_mastodon.software = "pleroma"
    fake_mastodon.max_characters = 5000

    connected = connect_with_token(fake_mastodon.url, fake_mastodon.token)

    assert connected.limits["max_characters"] == 5000
    assert connected.limits["software"] == "pleroma"
    assert connected.limits["server_version"] == "2.7.2"
    assert profile_for(connected.limits).counting == "graphemes"  # Pleroma counts URLs as typed
    pleroma = adapter_for(connected)
    assert pleroma.validate([PartContent("z" * 4000)], PostOptions()).ok
    pleroma.publish_part(Attempts(PartContent("Hi Pleroma", [image(tmp_path)])).request())
    assert len(fake_mastodon.requests_to("POST", "/api/v1/media")) == 1  # its API level predates v2 media
    assert fake_mastodon.statuses[0]["media"][0]["description"] == "A teal square"


@pytest.mark.parametrize(
    "version, level",
    [
        ("4.3.0", "4.3.0"),
        ("2.7.2 (compatible; Pleroma 2.6.0)", "2.7.2"),
        ("4.2.0+glitch", "4.2.0"),
        ("1.1.1+4.0.0", "4.0.0"),
        ("3.5.3+0.16.0", "3.5.3"),
        ("Pixelfed", "4.0.0"),
        ("", "4.0.0"),
    ],
)
def test_it_reads_the_api_level_from_version_strings_of_every_kind(version, level):
    assert api_level(version) == level


def test_it_copes_with_a_version_mastodon_py_cannot_read(fake_mastodon, tmp_path):
    fake_mastodon.version = "Pixelfed"
    fake_mastodon.fail_next(404, count=1000, path="/api/v1/instance")  # what sends Mastodon.py recursing

    connected = connect_with_token(fake_mastodon.url, fake_mastodon.token)
    adapter_for(connected).publish_part(Attempts(PartContent("Photo", [image(tmp_path)])).request())

    assert connected.limits["server_version"] == "4.0.0"
    assert len(fake_mastodon.statuses) == 1


# --- reading them again ------------------------------------------------------------------------


def test_it_reads_limits_again(adapter, fake_mastodon):
    fake_mastodon.max_characters = 11000

    assert adapter.read_limits()["max_characters"] == 11000


def test_it_reads_the_limits_again_in_the_shape_connecting_stored(mastodon_channel, fake_mastodon):
    stored = dict(mastodon_channel.limits)
    fake_mastodon.max_characters = 1000
    fake_mastodon.description_limit = 3000
    fake_mastodon.supported_mime_types = ["image/jpeg", "image/png"]
    fake_mastodon.version = "4.4.1"

    limits = mastodon_channel.adapter().read_limits()

    assert limits == {
        **stored,
        "max_characters": 1000,
        "description_limit": 3000,
        "supported_mime_types": ["image/jpeg", "image/png"],
        "server_version": "4.4.1",
        "software_version": "4.4.1",
    }


def test_it_reads_the_limits_again_from_a_server_that_has_become_pleroma(mastodon_channel, fake_mastodon):
    fake_mastodon.instance_v2 = False
    fake_mastodon.software = "pleroma"
    fake_mastodon.max_characters = 5000

    limits = mastodon_channel.adapter().read_limits()

    assert set(limits) == set(mastodon_channel.limits)
    assert limits["max_characters"] == 5000
    assert profile_for(limits).counting == "graphemes"
    assert limits["software"] == "pleroma"


def test_reading_the_limits_again_asks_for_a_reconnect_when_the_token_was_revoked(adapter, fake_mastodon):
    fake_mastodon.fail_next(401, path="/api/v2/instance", error="The access token was revoked")

    with pytest.raises(AuthorizationLost):
        adapter.read_limits()


def test_reading_the_limits_again_is_retried_when_the_server_is_down(adapter, fake_mastodon):
    fake_mastodon.fail_next(503, path="/api/v2/instance")

    with pytest.raises(TransientError):
        adapter.read_limits()
