"""Connecting a Misskey account through the pages (a pasted token, MiAuth) and the REST API's hooks."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.urls import reverse

from channels import networks
from channels.models import Channel
from channels.networks.base import ConnectError

pytestmark = pytest.mark.django_db

CONNECT = "/w/acme/channels/connect/misskey/"


def paste_token(client, server, token):
    return client.post(CONNECT, {"method": "token", "token-server_url": server, "token-access_token": token})


def start_miauth(client, server) -> str:
    """Where "Sign in with your server" sends the browser (through the hand-off page, not a redirect)."""
    response = client.post(CONNECT, {"method": "miauth", "miauth-server_url": server})
    assert response.status_code == 200, response.content
    assert [t.name for t in response.templates][0] == "channels/oauth_handoff.html"
    return response.context["url"]


def test_the_page_offers_both_ways_and_the_list_links_to_it(alice):
    page = alice.get(CONNECT).content.decode()
    assert 'name="miauth-server_url"' in page and 'name="token-access_token"' in page
    assert "write:notes" in page
    assert f'href="{CONNECT}"' in alice.get("/w/acme/channels/").content.decode()


def test_it_connects_with_a_pasted_token(alice, cast, fake_misskey):
    fake_misskey.max_note_text_length = 1500
    response = paste_token(alice, fake_misskey.url, fake_misskey.token)

    assert response.status_code == 302 and response["Location"] == "/w/acme/channels/"
    channel = Channel.objects.get(workspace=cast.workspace)
    host = urlsplit(fake_misskey.url).netloc
    assert (channel.network, channel.handle, channel.server_url) == (
        "misskey",
        f"@alice@{host}",
        fake_misskey.url,
    )
    assert channel.get_credentials() == {"access_token": fake_misskey.token}
    assert channel.limits["max_characters"] == 1500 and channel.limits["can_public_note"] is True
    assert channel.remote_id == fake_misskey.user["id"]


def test_a_wrong_token_is_refused_on_its_field(alice, fake_misskey):
    response = paste_token(alice, fake_misskey.url, "0123456789abcdef0123456789abcdef")
    assert response.status_code == 200
    assert "did not accept this access token" in str(response.context["token_form"].errors["access_token"])
    assert not Channel.objects.exists()


def test_miauth_sends_the_person_to_the_server_and_connects_on_the_way_back(alice, cast, fake_misskey):
    url = start_miauth(alice, fake_misskey.url)
    parts = urlsplit(url)
    session = parts.path.rsplit("/", 1)[-1]
    query = parse_qs(parts.query)
    assert url.startswith(f"{fake_misskey.url}/miauth/")
    assert query["permission"] == ["write:notes,write:drive,read:account"]
    assert query["callback"][0].endswith(reverse("channels:connect-misskey-callback"))

    assert requests.get(url, timeout=5).status_code == 200  # the server's page
    fake_misskey.allow_miauth(session)
    response = alice.get(reverse("channels:connect-misskey-callback"), {"session": session})

    assert response.status_code == 302 and response["Location"] == "/w/acme/channels/"
    channel = Channel.objects.get(workspace=cast.workspace)
    token = channel.get_credentials()["access_token"]
    assert fake_misskey.tokens[token]["permissions"] == {"write:notes", "write:drive", "read:account"}
    # One use only: the same callback again is refused.
    again = alice.get(reverse("channels:connect-misskey-callback"), {"session": session})
    assert again["Location"] == reverse("workspaces:home")


def test_miauth_not_allowed_connects_nothing(alice, fake_misskey):
    url = start_miauth(alice, fake_misskey.url)
    session = urlsplit(url).path.rsplit("/", 1)[-1]
    response = alice.get(reverse("channels:connect-misskey-callback"), {"session": session})
    assert response["Location"] == CONNECT
    assert not Channel.objects.exists()


def test_a_callback_for_a_session_not_started_here_is_refused(alice, fake_misskey):
    response = alice.get(
        reverse("channels:connect-misskey-callback"), {"session": "0b8a1a52-0000-4000-8000-000000000000"}
    )
    assert response["Location"] == reverse("workspaces:home")
    assert not fake_misskey.requests_to("miauth/0b8a1a52-0000-4000-8000-000000000000/check")


def test_another_users_miauth_session_is_refused(client, cast, fake_misskey):
    client.force_login(cast.alice)
    url = start_miauth(client, fake_misskey.url)
    session = urlsplit(url).path.rsplit("/", 1)[-1]
    requests.get(url, timeout=5)
    fake_misskey.allow_miauth(session)
    client.force_login(cast.bob)
    response = client.get(reverse("channels:connect-misskey-callback"), {"session": session})
    assert response["Location"] == reverse("workspaces:home")
    assert not Channel.objects.exists()


def test_the_api_connects_with_server_and_token(fake_misskey):
    spec = networks.spec("misskey")
    schema = spec.api_connect_schema()
    payload = schema(network="misskey", server_url=fake_misskey.url, access_token=fake_misskey.token)
    account = spec.api_connect(payload)
    assert account.network == "misskey" and account.credentials == {"access_token": fake_misskey.token}
    with pytest.raises(ConnectError):
        spec.api_connect(schema(network="misskey", server_url=fake_misskey.url, access_token="not a token"))
