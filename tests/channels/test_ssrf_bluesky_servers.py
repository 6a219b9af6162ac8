"""Where a Bluesky server may send us: no sign-in redirect is followed, and no data server it
announces, or that a stored session names, on a private address is used.

The fake PDS on 127.0.0.1 stands in for a public server, an internal service on 127.0.0.2 for
what the guard protects (the fixtures are in conftest.py)."""

import pytest
from django.urls import reverse

from channels.models import Channel
from channels.networks.base import AuthorizationLost, ConnectError
from channels.networks.bluesky import connecting as bluesky
from posts.models import Delivery as DeliveryRow
from tests.channels.ssrf import CREATE_SESSION, SECRET, port_of, sent_the_password
from tests.networks.bluesky.fake import ALICE, APP_PASSWORD
from tests.posts.engine import compose, dispatch_and_work


def test_connect_does_not_follow_a_sign_in_redirect(public_loopback, internal, fake_bluesky):
    fake_bluesky.redirect_next(CREATE_SESSION, f"{internal.url}/xrpc/{CREATE_SESSION}")

    with pytest.raises(ConnectError) as caught:
        bluesky.connect(ALICE, APP_PASSWORD, fake_bluesky.url)

    assert caught.value.field == "pds_url"
    assert "redirect" in caught.value.message
    assert internal.hits == []


def test_connect_does_not_follow_a_redirect_even_when_private_addresses_are_allowed(internal, fake_bluesky):
    fake_bluesky.redirect_next(CREATE_SESSION, f"{internal.url}/xrpc/{CREATE_SESSION}")

    with pytest.raises(ConnectError):
        bluesky.connect(ALICE, APP_PASSWORD, fake_bluesky.url)

    assert internal.hits == []


@pytest.mark.django_db(transaction=True)
def test_publishing_does_not_follow_a_sign_in_redirect(
    cast, redis_conn, bluesky_channel, public_loopback, internal, fake_bluesky
):
    fake_bluesky.expire_access_tokens()
    fake_bluesky.expire_refresh_tokens()  # the worker must sign in with the app password
    fake_bluesky.redirect_next(CREATE_SESSION, f"{internal.url}/xrpc/{CREATE_SESSION}")
    post = compose(cast.alice, cast.workspace, [bluesky_channel], ["Hello"])

    dispatch_and_work()

    delivery = post.deliveries.get()
    assert delivery.status == DeliveryRow.Status.HELD
    assert "redirect" in delivery.last_error
    assert internal.hits == [] and not sent_the_password(internal)
    assert fake_bluesky.posts() == []


def stored_endpoint(channel) -> str:
    channel = Channel.objects.get(pk=channel.pk)
    return channel.get_credentials()["session"].split(":::")[-1]


def test_connect_refuses_a_data_server_announced_on_a_private_address(
    public_loopback, internal, fake_bluesky
):
    fake_bluesky.service_endpoint = internal.url

    with pytest.raises(ConnectError) as caught:
        bluesky.connect(ALICE, APP_PASSWORD, fake_bluesky.url)

    assert caught.value.field == "pds_url" and "private network" in caught.value.message
    assert internal.hits == []


@pytest.mark.django_db(transaction=True)
def test_a_session_refresh_never_moves_the_channel_to_a_private_address(
    client, cast, redis_conn, bluesky_channel, public_loopback, internal, fake_bluesky
):
    before = stored_endpoint(bluesky_channel)
    fake_bluesky.service_endpoint = internal.url
    fake_bluesky.expire_access_tokens()  # the worker refreshes the session first
    post = compose(cast.alice, cast.workspace, [bluesky_channel], ["Hello"])

    dispatch_and_work()

    delivery = post.deliveries.get()
    assert delivery.status == DeliveryRow.Status.HELD
    assert "private network" in delivery.last_error and SECRET not in delivery.last_error
    assert internal.hits == []
    assert stored_endpoint(bluesky_channel) == before
    client.force_login(cast.alice)
    for name in ("posts:failed", "channels:list"):
        html = client.get(reverse(name, kwargs={"slug": "acme"})).content.decode()
        assert SECRET not in html


@pytest.mark.django_db(transaction=True)
def test_a_session_refresh_may_move_the_channel_to_another_public_server(
    cast, redis_conn, bluesky_channel, public_loopback, names, internal, fake_bluesky
):
    names["pds2.test"] = ["127.0.0.1"]  # the same fake, under another public name
    moved = f"http://pds2.test:{port_of(fake_bluesky)}"
    fake_bluesky.service_endpoint = moved
    fake_bluesky.expire_access_tokens()
    post = compose(cast.alice, cast.workspace, [bluesky_channel], ["Hello"])

    dispatch_and_work()

    assert post.deliveries.get().status == DeliveryRow.Status.PUBLISHED
    assert stored_endpoint(bluesky_channel).startswith(moved)
    assert len(fake_bluesky.posts()) == 1 and internal.hits == []


def test_a_stored_session_on_a_private_address_is_not_used(bluesky_channel, public_loopback, internal):
    credentials = bluesky_channel.get_credentials()
    session = credentials["session"].rsplit(":::", 1)[0] + ":::" + internal.url
    bluesky_channel.save_credentials({**credentials, "session": session})

    with pytest.raises(AuthorizationLost, match="private network"):
        bluesky_channel.adapter().verify()

    assert internal.hits == []
