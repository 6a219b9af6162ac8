"""Connecting a Bluesky account: the connect() function and the connect page, against the fake PDS."""

import socket
import time

import pytest
from django.db import connection
from django.urls import reverse

from channels.models import Channel
from channels.networks.base import ConnectError
from channels.networks.bluesky.connecting import _normalise_handle, connect
from tests.fakes.stalling import StallingServer
from tests.networks.bluesky.fake import (
    ALICE,
    ALICE_DID,
    ALICE_MAIN_PASSWORD,
    APP_PASSWORD,
    TWO_FACTOR,
    TWO_FACTOR_PASSWORD,
)

URL = reverse("channels:connect-bluesky", kwargs={"slug": "acme"})


@pytest.fixture
def alice(client, cast):
    client.force_login(cast.alice)
    return client


def post(client, fake, handle=ALICE, password=APP_PASSWORD, pds_url=None):
    return client.post(URL, {"handle": handle, "app_password": password, "pds_url": pds_url or fake.url})


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# --- connect() ---------------------------------------------------------------------------------


def test_it_returns_the_account_with_its_session_and_app_password(fake_bluesky):
    account = connect(f"@{ALICE.upper()}", f" {APP_PASSWORD} ", fake_bluesky.url + "/")

    assert (account.network, account.remote_id, account.handle) == ("bluesky", ALICE_DID, ALICE)
    assert account.server_url == fake_bluesky.url
    assert account.display_name == "Alice Example"
    assert account.credentials["app_password"] == APP_PASSWORD
    assert account.credentials["handle"] == ALICE
    assert ALICE_DID in account.credentials["session"]
    assert fake_bluesky.logins == 1


def test_it_signs_in_with_the_main_password_of_an_account_without_email_codes(fake_bluesky):
    assert connect(ALICE, ALICE_MAIN_PASSWORD, fake_bluesky.url).remote_id == ALICE_DID


def test_it_explains_app_passwords_to_accounts_with_email_codes(fake_bluesky):
    with pytest.raises(ConnectError) as caught:
        connect(TWO_FACTOR, TWO_FACTOR_PASSWORD, fake_bluesky.url)

    assert caught.value.field == "app_password"
    assert "Settings > Privacy and security > App passwords" in caught.value.message


def test_it_reports_an_unreachable_pds_on_the_server_field(settings):
    settings.SSRF_ALLOW_PRIVATE = True

    with pytest.raises(ConnectError) as caught:
        connect(ALICE, APP_PASSWORD, closed_port_url())

    assert caught.value.field == "pds_url"
    assert "could not be reached" in caught.value.message


def test_it_reports_a_server_that_does_not_speak_xrpc(fake_bluesky):
    fake_bluesky.fail_next("com.atproto.server.createSession", 404, error="NotFound", message="Not Found")

    with pytest.raises(ConnectError) as caught:
        connect(ALICE, APP_PASSWORD, fake_bluesky.url)

    assert caught.value.field == "pds_url"
    assert "did not answer like a Bluesky server" in caught.value.message


def test_it_reports_a_sign_in_rate_limit_with_the_wait(fake_bluesky):
    fake_bluesky.rate_limit_next("com.atproto.server.createSession", reset_in=600)

    with pytest.raises(ConnectError) as caught:
        connect(ALICE, APP_PASSWORD, fake_bluesky.url)

    assert "try again in about 10 minutes" in caught.value.message


def test_it_completes_short_handles_on_bsky_social_only():
    assert _normalise_handle(" @Alice ", "https://bsky.social") == "alice.bsky.social"
    assert _normalise_handle("alice", "https://pds.example.org") == "alice"
    assert _normalise_handle("alice.example.org", "https://bsky.social") == "alice.example.org"


# --- the connect page --------------------------------------------------------------------------


def test_it_shows_the_form_with_the_default_pds_and_how_to_make_an_app_password(alice, settings):
    response = alice.get(URL)

    assert response.status_code == 200
    content = response.content.decode()
    assert f'value="{settings.BLUESKY_DEFAULT_PDS}"' in content
    assert "App passwords" in content and 'type="password"' in content
    assert "two-factor" in content


def test_it_links_to_the_connect_page_from_the_channel_list(alice):
    response = alice.get(reverse("channels:list", kwargs={"slug": "acme"}))

    assert f'href="{URL}"' in response.content.decode()
    assert "Connect Bluesky" in response.content.decode()


def test_it_connects_a_channel_and_redirects_to_the_list(alice, cast, fake_bluesky):
    response = post(alice, fake_bluesky)

    assert response.status_code == 302
    assert response.url == reverse("channels:list", kwargs={"slug": "acme"})
    channel = Channel.objects.get(workspace=cast.workspace, network="bluesky")
    assert (channel.remote_id, channel.handle, channel.server_url) == (ALICE_DID, ALICE, fake_bluesky.url)
    assert channel.display_name == "Alice Example"
    credentials = channel.get_credentials()
    assert credentials["app_password"] == APP_PASSWORD and credentials["session"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM channels_channel WHERE id = %s", [channel.pk])
        assert APP_PASSWORD not in cursor.fetchone()[0]  # encrypted at rest
    page = alice.get(response.url).content.decode()
    assert "is connected" in page


def test_it_shows_a_wrong_app_password_next_to_the_field_and_saves_nothing(alice, fake_bluesky):
    response = post(alice, fake_bluesky, password="wrong-pass-word1")

    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["app_password"] == [
        "Bluesky did not accept this handle and app password. Check both, or create a new app password."
    ]
    assert "wrong-pass-word1" not in response.content.decode()  # never displayed again
    assert not Channel.objects.exists()


def test_it_tells_a_two_factor_account_to_create_an_app_password(alice, fake_bluesky):
    response = post(alice, fake_bluesky, handle=TWO_FACTOR, password=TWO_FACTOR_PASSWORD)

    assert "App passwords" in response.context["form"].errors["app_password"][0]
    assert not Channel.objects.exists()


def test_it_refuses_a_private_pds_when_private_addresses_are_not_allowed(alice, fake_bluesky, settings):
    settings.SSRF_ALLOW_PRIVATE = False

    response = post(alice, fake_bluesky)

    assert "private network" in response.context["form"].errors["pds_url"][0]
    assert fake_bluesky.requests == []
    assert not Channel.objects.exists()


def test_it_reconnects_an_existing_channel_instead_of_adding_one(alice, cast, fake_bluesky):
    post(alice, fake_bluesky)
    channel = Channel.objects.get()
    Channel.objects.filter(pk=channel.pk).update(status=Channel.Status.NEEDS_RECONNECT)
    old_session = channel.get_credentials()["session"]

    post(alice, fake_bluesky)

    channel.refresh_from_db()
    assert Channel.objects.count() == 1
    assert channel.status == Channel.Status.ACTIVE
    assert channel.get_credentials()["session"] != old_session


def test_it_hides_the_connect_page_from_strangers(client, cast, fake_bluesky):
    client.force_login(cast.charlie)

    assert client.get(URL).status_code == 404
    assert post(client, fake_bluesky).status_code == 404
    assert fake_bluesky.logins == 0


def test_it_forbids_viewers_to_connect_channels(client, cast, fake_bluesky):
    client.force_login(cast.victor)

    assert client.get(URL).status_code == 403
    assert post(client, fake_bluesky).status_code == 403
    assert fake_bluesky.logins == 0 and not Channel.objects.exists()


# --- a server that does not answer in time -----------------------------------------------------


@pytest.mark.parametrize("behaviour", ["stall", "trickle"])
def test_it_gives_up_on_a_pds_that_does_not_answer_in_time(alice, settings, behaviour):
    settings.WEB_NETWORK_DEADLINE = 2
    with StallingServer(behaviour) as server:
        started = time.monotonic()
        response = post(alice, server)
        took = time.monotonic() - started

    assert response.status_code == 200
    assert response.context["form"].errors["pds_url"] == [
        f"{server.netloc} did not answer within 2 seconds. Try again in a moment."
    ]
    assert took < 2 + 3
    assert not Channel.objects.exists()
