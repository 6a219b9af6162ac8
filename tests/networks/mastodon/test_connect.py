"""Connecting a Mastodon account through the pages, against the fake Mastodon server."""

import logging
import time
from urllib.parse import parse_qs, urlsplit

from django.core import signing
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from channels.models import Channel, ServerApp
from channels.networks.mastodon.connect import SESSION_NONCES, STATE_SALT
from tests.networks.mastodon.pages import (
    CONNECT,
    authorize_on_the_server,
    closed_port,
    handoff_url,
    messages_of,
    paste_token,
    sign_in_link,
    start_sign_in,
)
from workspaces.models import Membership, Role

# --- the page ----------------------------------------------------------------------------------


def test_it_shows_both_ways_to_connect(alice):
    page = alice.get(CONNECT).content.decode()

    assert "Sign in with your server" in page
    assert "Development" in page and "Your access token" in page
    assert 'name="signin-instance_url"' in page and 'name="token-access_token"' in page


def test_it_links_to_the_page_from_the_channel_list(alice):
    assert f'href="{CONNECT}"' in alice.get("/w/acme/channels/").content.decode()


def test_it_hides_the_page_from_strangers_and_viewers(client, cast, fake_mastodon):
    client.force_login(cast.charlie)
    assert client.get(CONNECT).status_code == 404
    assert paste_token(client, fake_mastodon.url, fake_mastodon.token).status_code == 404
    client.force_login(cast.victor)
    assert client.get(CONNECT).status_code == 403
    assert paste_token(client, fake_mastodon.url, fake_mastodon.token).status_code == 403
    assert not Channel.objects.exists()


# --- pasting a token ---------------------------------------------------------------------------


def test_it_connects_with_a_pasted_token(alice, cast, fake_mastodon):
    fake_mastodon.max_characters = 1000

    response = paste_token(alice, fake_mastodon.url, fake_mastodon.token)

    assert response.status_code == 302 and response["Location"] == "/w/acme/channels/"
    channel = Channel.objects.get(workspace=cast.workspace)
    assert channel.handle == f"@alice@{fake_mastodon.domain}"
    assert channel.display_name == "Alice Example"
    assert channel.server_url == fake_mastodon.url
    assert channel.get_credentials() == {"access_token": fake_mastodon.token}
    assert channel.limits["max_characters"] == 1000
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT credentials FROM {Channel._meta.db_table} WHERE id = %s", [channel.pk])
        [raw] = cursor.fetchone()
    assert raw and fake_mastodon.token not in raw  # encrypted at rest
    assert f"Connected {channel.handle}" in messages_of(alice.get("/w/acme/channels/"))[0]


def test_it_reconnects_an_existing_channel_with_a_new_token(alice, cast, fake_mastodon):
    paste_token(alice, fake_mastodon.url, fake_mastodon.token)
    channel = Channel.objects.get()
    channel.mark_needs_reconnect("The token was revoked.")
    new_token = fake_mastodon.issue_token()

    paste_token(alice, fake_mastodon.url, new_token)

    channel.refresh_from_db()
    assert Channel.objects.count() == 1
    assert channel.get_credentials() == {"access_token": new_token}
    assert channel.status == Channel.Status.ACTIVE


def test_it_explains_a_bad_token_and_saves_nothing(alice, fake_mastodon):
    response = paste_token(alice, fake_mastodon.url, "NotTheRightToken123")

    assert response.status_code == 200
    form = response.context["token_form"]
    assert form.errors["access_token"] == [
        f"{fake_mastodon.domain} did not accept this access token. "
        "Check that you copied all of it and that it was not revoked."
    ]
    assert "NotTheRightToken123" not in response.content.decode()
    assert not Channel.objects.exists()


def test_it_refuses_something_that_is_not_a_token(alice, fake_mastodon):
    response = paste_token(alice, fake_mastodon.url, "my token with spaces")

    assert "does not look like an access token" in response.context["token_form"].errors["access_token"][0]
    assert fake_mastodon.requests == []


def test_it_explains_an_unreachable_server(alice):
    port = closed_port()

    response = paste_token(alice, f"http://127.0.0.1:{port}", "SomeToken123")

    assert response.context["token_form"].errors["instance_url"] == [
        f"Could not reach 127.0.0.1:{port}. Check the address."
    ]
    assert not Channel.objects.exists()


def test_it_explains_a_server_that_is_not_mastodon(alice, fake_mastodon):
    fake_mastodon.not_mastodon = True

    response = paste_token(alice, fake_mastodon.url, fake_mastodon.token)

    assert response.context["token_form"].errors["instance_url"] == [
        f"{fake_mastodon.domain} does not look like a Mastodon server."
    ]
    assert not Channel.objects.exists()


@override_settings(SSRF_ALLOW_PRIVATE=False)
def test_it_refuses_a_private_address(alice, fake_mastodon):
    response = paste_token(alice, fake_mastodon.url, fake_mastodon.token)

    assert response.context["token_form"].errors["instance_url"] == [
        "The address 127.0.0.1 points to a private network, which is not allowed."
    ]
    assert fake_mastodon.requests == []
    assert not Channel.objects.exists()


def test_it_keeps_the_token_out_of_logs_when_connecting(alice, fake_mastodon, caplog):
    caplog.set_level(logging.DEBUG)

    paste_token(alice, fake_mastodon.url, "WrongButSecret_abcdef0123456789")
    paste_token(alice, fake_mastodon.url, fake_mastodon.token)

    assert Channel.objects.count() == 1
    assert "WrongButSecret_abcdef0123456789" not in caplog.text
    assert fake_mastodon.token not in caplog.text


# --- signing in on the server (OAuth) ----------------------------------------------------------


def test_it_connects_by_signing_in_on_the_server(alice, cast, fake_mastodon):
    response = start_sign_in(alice, fake_mastodon.url)

    # A page that moves on by itself, not a redirect: the CSP's form-action would block a redirect.
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0, no-cache, no-store")
    assert f'<meta http-equiv="refresh" content="0; url={handoff_url(response)}"' in response.text.replace(
        "&amp;", "&"
    )
    authorize = urlsplit(handoff_url(response))
    params = parse_qs(authorize.query)
    assert (
        f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == f"{fake_mastodon.url}/oauth/authorize"
    )
    assert params["redirect_uri"] == ["http://localhost:8000/channels/connect/mastodon/callback/"]
    assert params["scope"] == ["read write"]
    app = ServerApp.objects.get()
    assert params["client_id"] == [app.client_id]
    assert app.domain == fake_mastodon.domain

    done = alice.get(authorize_on_the_server(handoff_url(response)))

    assert done.status_code == 302 and done["Location"] == "/w/acme/channels/"
    channel = Channel.objects.get(workspace=cast.workspace)
    assert channel.get_credentials() == {"access_token": fake_mastodon.tokens_issued[0]}
    assert channel.handle == f"@alice@{fake_mastodon.domain}"
    assert channel.limits["max_characters"] == 500


def test_it_registers_the_app_once_per_server(alice, fake_mastodon):
    for _ in range(2):
        alice.get(authorize_on_the_server(sign_in_link(alice, fake_mastodon.url)))

    assert ServerApp.objects.count() == 1
    assert len(fake_mastodon.apps) == 1
    assert len(fake_mastodon.tokens_issued) == 2
    assert Channel.objects.count() == 1


def test_it_signs_in_on_servers_without_oauth_metadata(alice, fake_mastodon):
    fake_mastodon.oauth_metadata = False

    link = sign_in_link(alice, fake_mastodon.url)
    alice.get(authorize_on_the_server(link))

    assert link.startswith(f"{fake_mastodon.url}/oauth/authorize?")
    assert Channel.objects.count() == 1


def test_it_says_so_when_the_user_denies_access(alice, fake_mastodon):
    fake_mastodon.deny_authorization = True

    done = alice.get(authorize_on_the_server(sign_in_link(alice, fake_mastodon.url)), follow=True)

    assert done.redirect_chain[0][0] == CONNECT
    assert f"You did not allow access on {fake_mastodon.domain}, so nothing was connected." in messages_of(
        done
    )
    assert not Channel.objects.exists()


def test_it_explains_a_failed_app_registration(alice, fake_mastodon):
    fake_mastodon.fail_next(422, path="/api/v1/apps", error="Validation failed: Redirect URI is invalid")

    response = start_sign_in(alice, fake_mastodon.url)

    assert response.status_code == 200
    assert "did not let this site register" in response.context["signin_form"].errors["instance_url"][0]
    assert not ServerApp.objects.exists()


def test_it_explains_a_sign_in_address_that_is_not_a_server(alice):
    response = start_sign_in(alice, f"http://127.0.0.1:{closed_port()}")

    assert "unreachable" in response.context["signin_form"].errors["instance_url"][0]


def test_it_refuses_a_replayed_callback(alice, fake_mastodon):
    callback = authorize_on_the_server(sign_in_link(alice, fake_mastodon.url))
    alice.get(callback)
    Channel.objects.all().delete()

    again = alice.get(callback, follow=True)

    assert "This sign-in link is invalid or has expired. Please start again." in messages_of(again)
    assert not Channel.objects.exists()


def test_it_refuses_a_forged_state(alice, fake_mastodon):
    callback = authorize_on_the_server(sign_in_link(alice, fake_mastodon.url))
    path, query = callback.split("?")
    params = parse_qs(query)
    forged = signing.dumps({"w": "acme", "u": 1, "b": fake_mastodon.url, "n": "x"}, salt="another-salt")

    response = alice.get(path, {"code": params["code"][0], "state": forged}, follow=True)

    assert "This sign-in link is invalid or has expired. Please start again." in messages_of(response)
    assert not Channel.objects.exists()


def test_it_refuses_an_expired_state(alice, cast, fake_mastodon, monkeypatch):
    start_sign_in(alice, fake_mastodon.url)
    nonce = alice.session[SESSION_NONCES][-1]
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() - 16 * 60)
    old = signing.dumps(
        {"w": "acme", "u": cast.alice.pk, "b": fake_mastodon.url, "n": nonce}, salt=STATE_SALT
    )
    monkeypatch.undo()

    response = alice.get(
        reverse("channels:connect-mastodon-callback"), {"code": "abc", "state": old}, follow=True
    )

    assert "This sign-in link is invalid or has expired. Please start again." in messages_of(response)
    assert not Channel.objects.exists()


def test_it_refuses_a_callback_in_another_users_session(client, cast, fake_mastodon):
    client.force_login(cast.alice)
    callback = authorize_on_the_server(sign_in_link(client, fake_mastodon.url))
    client.force_login(cast.bob)

    response = client.get(callback, follow=True)

    assert "This sign-in link is invalid or has expired. Please start again." in messages_of(response)
    assert not Channel.objects.exists()


def test_it_checks_the_role_again_in_the_callback(alice, cast, fake_mastodon):
    callback = authorize_on_the_server(sign_in_link(alice, fake_mastodon.url))
    Membership.objects.filter(user=cast.alice, workspace=cast.workspace).update(role=Role.VIEWER)

    assert alice.get(callback).status_code == 403
    assert not Channel.objects.exists()


def test_it_hides_the_workspace_from_a_removed_member_in_the_callback(alice, cast, fake_mastodon):
    callback = authorize_on_the_server(sign_in_link(alice, fake_mastodon.url))
    Membership.objects.filter(user=cast.alice, workspace=cast.workspace).delete()

    assert alice.get(callback).status_code == 404
    assert not Channel.objects.exists()


def test_it_explains_a_code_the_server_refuses(alice, fake_mastodon):
    callback = authorize_on_the_server(sign_in_link(alice, fake_mastodon.url))
    fake_mastodon.codes.clear()  # the code expired on the server

    response = alice.get(callback, follow=True)

    assert (
        f"{fake_mastodon.domain} did not complete the sign-in (the link may have expired). Please try again."
        in (messages_of(response))
    )
    assert not Channel.objects.exists()
