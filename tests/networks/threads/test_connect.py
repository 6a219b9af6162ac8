"""Connecting Threads accounts through the views, against the fake Threads Graph server."""

import logging
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core import signing
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from channels.models import Channel
from channels.networks.base import ConnectError
from channels.networks.threads.connect import STATE_SALT
from channels.networks.threads.connecting import authorization_url, connect_with_code
from tests.fakes.stalling import StallingServer

pytestmark = pytest.mark.django_db


def connect_page(slug="acme"):
    return reverse("channels:connect-threads", kwargs={"slug": slug})


def start_url(slug="acme"):
    return reverse("channels:connect-threads-start", kwargs={"slug": slug})


def callback_path():
    return reverse("channels:connect-threads-callback")


def stored_credentials(channel) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM channels_channel WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


def handoff(started) -> str:
    """Where "Continue to Threads" sends the browser: our hand-off page, never a redirect (the CSP's
    form-action would make the browser drop a redirect to Threads after the form POST)."""
    assert started.status_code == 200, started.content
    assert [t.name for t in started.templates][0] == "channels/oauth_handoff.html"
    return started.context["url"]


def authorise(client, fake):
    """Start in the app, 'click Allow' on the fake's consent page, return the callback response."""
    started = client.post(start_url())
    consent = requests.get(handoff(started), allow_redirects=False, timeout=5)
    assert consent.status_code == 302
    back = urlsplit(consent.headers["Location"])
    assert back.path == callback_path()
    return client.get(f"{back.path}?{back.query}")


def test_it_connects_through_threads_oauth_end_to_end(client, cast, fake_threads):
    client.force_login(cast.alice)

    started = client.post(start_url())

    target = urlsplit(handoff(started))
    query = parse_qs(target.query)
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{fake_threads.url}/oauth/authorize"
    assert query["client_id"] == [fake_threads.app_id]
    assert query["redirect_uri"] == ["http://localhost:8000" + callback_path()]
    assert query["scope"] == [
        "threads_basic,threads_content_publish,threads_manage_insights,threads_read_replies"
    ]
    assert signing.loads(query["state"][0], salt=STATE_SALT)["ws"] == "acme"

    consent = requests.get(handoff(started), allow_redirects=False, timeout=5)
    back = urlsplit(consent.headers["Location"])
    finished = client.get(f"{back.path}?{back.query}", follow=True)

    assert finished.redirect_chain[-1][0] == reverse("channels:list", kwargs={"slug": "acme"})
    assert "Threads account @acme.threads is connected." in finished.content.decode()
    channel = Channel.objects.get(workspace=cast.workspace, network="threads")
    assert channel.remote_id == fake_threads.default_user
    assert channel.handle == "@acme.threads"
    assert channel.display_name == "Acme on Threads"
    token = channel.get_credentials()["access_token"]
    assert fake_threads.tokens[token].kind == "long"
    assert token not in stored_credentials(channel)  # encrypted at rest
    assert timedelta(days=59) < channel.token_expires - timezone.now() < timedelta(days=61)


def test_it_connects_with_a_pasted_token(client, cast, fake_threads):
    token = fake_threads.issue_token()
    client.force_login(cast.alice)

    response = client.post(connect_page(), {"access_token": f"  {token} "})

    assert response.status_code == 302
    channel = Channel.objects.get(workspace=cast.workspace, network="threads")
    assert channel.get_credentials()["access_token"] == token
    assert channel.handle == "@acme.threads"
    assert channel.token_expires is None  # unknown for a pasted token; the refresh job learns it


def test_it_shows_a_bad_token_next_to_the_field_and_saves_nothing(client, cast, fake_threads, caplog):
    caplog.set_level(logging.DEBUG)
    client.force_login(cast.alice)
    bad = "THLnot-a-real-token-4f9a8b7c"

    response = client.post(connect_page(), {"access_token": bad})

    assert response.status_code == 400
    assert response.context["form"].errors["access_token"] == [
        "Threads did not accept this token: it may be mistyped, expired or revoked, or lack the "
        "threads_basic permission."
    ]
    assert bad not in response.content.decode()
    assert bad not in caplog.text
    assert not Channel.objects.exists()


def test_it_explains_when_the_operator_has_not_configured_the_meta_app(client, cast, fake_threads, settings):
    settings.THREADS_APP_ID = ""
    client.force_login(cast.alice)

    page = client.get(connect_page()).content.decode()
    started = client.post(start_url())

    assert "THREADS_APP_ID" in page and "http://localhost:8000" + callback_path() in page
    assert "Continue to Threads" not in page
    assert started.status_code == 400
    assert "the operator must create a Meta app" in started.context["oauth_error"]
    assert not Channel.objects.exists()
    with pytest.raises(ConnectError):
        authorization_url("http://localhost:8000/cb", "state")
    with pytest.raises(ConnectError):
        connect_with_code("code", "http://localhost:8000/cb")


def test_it_says_that_threads_posts_are_text_only_without_a_public_site(client, cast, fake_threads, settings):
    client.force_login(cast.alice)
    settings.THREADS_MEDIA_REQUIRE_PUBLIC_URL = True

    private = client.get(connect_page()).content.decode()
    settings.SITE_URL = "https://scheduler.acme.org"
    public = client.get(connect_page()).content.decode()

    assert "can therefore be text only" in private
    assert "can therefore be text only" not in public


def test_it_reports_a_refused_code_and_saves_nothing(client, cast, fake_threads, caplog):
    caplog.set_level(logging.DEBUG)
    client.force_login(cast.alice)
    started = client.post(start_url())
    state = parse_qs(urlsplit(handoff(started)).query)["state"][0]
    fake_threads.app_secret = "rotated-secret"  # the operator's secret no longer matches Meta's

    response = client.get(callback_path(), {"code": "code-forged", "state": state})

    assert response.status_code == 400
    assert "Threads did not accept the authorisation" in response.context["oauth_error"]
    assert not Channel.objects.exists()
    assert "fake-threads-app-secret" not in caplog.text


def test_it_reports_that_the_person_declined(client, cast, fake_threads):
    client.force_login(cast.alice)
    started = client.post(start_url())
    state = parse_qs(urlsplit(handoff(started)).query)["state"][0]

    response = client.get(
        callback_path(),
        {
            "error": "access_denied",
            "error_reason": "user_denied",
            "error_description": "Permissions error",
            "state": state,
        },
    )

    assert response.status_code == 400
    assert response.context["oauth_error"] == "Threads did not connect: Permissions error."
    assert not Channel.objects.exists()


def test_it_refuses_a_callback_it_did_not_start(client, cast, fake_threads):
    client.force_login(cast.alice)
    forged = signing.dumps({"ws": "acme", "uid": cast.alice.pk, "nonce": "guessed"}, salt=STATE_SALT)
    code = fake_threads.grant_code("http://localhost:8000" + callback_path())

    forged_nonce = client.get(callback_path(), {"code": code, "state": forged}, follow=True)
    tampered = client.get(callback_path(), {"code": code, "state": forged + "x"}, follow=True)

    assert "was not started in this browser session" in forged_nonce.content.decode()
    assert "expired or was not started here" in tampered.content.decode()
    assert not Channel.objects.exists()


def test_it_uses_each_state_once(client, cast, fake_threads):
    client.force_login(cast.alice)
    first = authorise(client, fake_threads)
    assert first.status_code == 302
    Channel.objects.all().delete()

    started = client.post(start_url())
    state = parse_qs(urlsplit(handoff(started)).query)["state"][0]
    client.get(
        callback_path(),
        {"code": fake_threads.grant_code("http://localhost:8000" + callback_path()), "state": state},
    )
    replay = client.get(
        callback_path(),
        {"code": fake_threads.grant_code("http://localhost:8000" + callback_path()), "state": state},
    )

    assert replay.status_code == 302 and replay["Location"] == connect_page()
    assert Channel.objects.count() == 1


def test_it_reconnects_a_channel_that_needs_it(client, cast, fake_threads, threads_channel):
    old_token = threads_channel.get_credentials()["access_token"]
    threads_channel.mark_needs_reconnect("Threads no longer accepts this channel's access.")
    client.force_login(cast.alice)

    authorise(client, fake_threads)

    threads_channel.refresh_from_db()
    assert Channel.objects.count() == 1
    assert threads_channel.status == Channel.Status.ACTIVE
    assert threads_channel.last_error == ""
    assert threads_channel.get_credentials()["access_token"] != old_token


def test_it_hides_the_connect_pages_from_strangers_and_forbids_viewers(client, cast, fake_threads):
    client.force_login(cast.charlie)
    assert client.get(connect_page()).status_code == 404
    assert client.post(start_url()).status_code == 404
    assert client.post(connect_page(), {"access_token": fake_threads.issue_token()}).status_code == 404

    client.force_login(cast.victor)
    assert client.get(connect_page()).status_code == 403
    assert client.post(start_url()).status_code == 403
    assert client.post(connect_page(), {"access_token": fake_threads.issue_token()}).status_code == 403

    assert not Channel.objects.exists()


def test_it_checks_membership_again_on_the_callback(client, cast, fake_threads):
    # Charlie starts a flow in his own workspace, then swaps in a state naming acme: still a 404.
    client.force_login(cast.charlie)
    client.post(start_url("charlies"))
    nonce = client.session["threads_oauth_nonces"][-1]
    state = signing.dumps({"ws": "acme", "uid": cast.charlie.pk, "nonce": nonce}, salt=STATE_SALT)
    code = fake_threads.grant_code("http://localhost:8000" + callback_path())

    assert client.get(callback_path(), {"code": code, "state": state}).status_code == 404

    # Alice started a flow, then lost the right to manage channels before coming back.
    client.force_login(cast.alice)
    started = client.post(start_url())
    state = parse_qs(urlsplit(handoff(started)).query)["state"][0]
    cast.alice.memberships.update(role="viewer")
    assert client.get(callback_path(), {"code": code, "state": state}).status_code == 403
    assert not Channel.objects.exists()


def test_the_channel_list_links_to_the_threads_connect_page(client, cast, fake_threads):
    client.force_login(cast.alice)

    page = client.get(reverse("channels:list", kwargs={"slug": "acme"})).content.decode()

    assert f'href="{connect_page()}"' in page


# --- Threads not answering in time -------------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["stall", "trickle"])
def test_it_gives_up_on_threads_when_it_does_not_answer_in_time(client, cast, settings, behaviour):
    settings.WEB_NETWORK_DEADLINE = 2
    client.force_login(cast.alice)
    with StallingServer(behaviour) as server:
        settings.THREADS_GRAPH_URL = f"{server.url}/v1.0"
        started = time.monotonic()
        response = client.post(connect_page(), {"access_token": "THL-some-token"})
        took = time.monotonic() - started

    assert response.status_code == 400
    assert response.context["form"].errors["access_token"] == [
        "Threads did not answer within 2 seconds. Try again in a moment."
    ]
    assert took < 2 + 3
    assert not Channel.objects.exists()


def test_it_says_to_start_again_when_the_code_exchange_does_not_answer(client, cast, fake_threads, settings):
    client.force_login(cast.alice)
    started = client.post(start_url())
    consent = requests.get(handoff(started), allow_redirects=False, timeout=5)
    back = urlsplit(consent.headers["Location"])
    settings.WEB_NETWORK_DEADLINE = 2
    fake_threads.latency = 3  # Meta takes the code, and answers too late

    began = time.monotonic()
    response = client.get(f"{back.path}?{back.query}")

    assert time.monotonic() - began < 2 + 3
    assert response.status_code == 400
    assert response.context["oauth_error"] == (
        "Threads did not answer within 2 seconds. The sign-in code it sent can be used only once and may be "
        "used up now, so please start again."
    )
    assert "Continue to Threads" in response.content.decode()  # the way to start again
    assert not Channel.objects.exists()
