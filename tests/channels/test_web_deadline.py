"""Web requests that call a network stop at WEB_NETWORK_DEADLINE, well before gunicorn's timeout.

The connect pages are tested in test_<network>_connect.py; here: the HTTP clients under the deadline,
"Check connection", and the settings that tie the deadline to WEB_TIMEOUT.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import requests
from django.urls import reverse

from channels.deadline import timeout_for, web_deadline
from channels.http import FetchError, fetch
from channels.models import Channel
from channels.networks.bluesky import client as bluesky
from channels.networks.mastodon import client as mastodon
from channels.networks.threads import client as threads
from tests.fakes.stalling import BEHAVIOURS, StallingServer

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 2
# A guard against hanging, not a benchmark.
SLACK = 3


@pytest.fixture
def alice(client, cast, settings):
    settings.WEB_NETWORK_DEADLINE = DEADLINE
    client.force_login(cast.alice)
    return client


# --- the HTTP clients ------------------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
@pytest.mark.parametrize("session", [mastodon.GuardedSession, threads._session], ids=["mastodon", "threads"])
def test_a_requests_session_gives_up_at_the_deadline(session, behaviour):
    with StallingServer(behaviour) as server, web_deadline(DEADLINE):
        started = time.monotonic()
        with pytest.raises(requests.RequestException):
            session().get(f"{server.url}/api/v1/instance", timeout=30)

    assert time.monotonic() - started < DEADLINE + SLACK


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_a_link_card_fetched_during_a_web_request_gives_up_at_the_deadline(behaviour):
    with StallingServer(behaviour) as server, web_deadline(DEADLINE):
        started = time.monotonic()
        with pytest.raises(FetchError):
            fetch(f"{server.url}/article", timeout=30)

    assert time.monotonic() - started < DEADLINE + SLACK


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_the_bluesky_client_gives_up_at_the_deadline(behaviour):
    client = bluesky.httpx_client(30)
    with StallingServer(behaviour) as server, web_deadline(DEADLINE):
        started = time.monotonic()
        with pytest.raises(httpx.TimeoutException):
            client.get(f"{server.url}/xrpc/com.atproto.server.describeServer")

    assert time.monotonic() - started < DEADLINE + SLACK


def test_one_deadline_covers_all_the_calls_of_the_block():
    with web_deadline(DEADLINE):
        time.sleep(0.5)
        assert DEADLINE - 0.7 < timeout_for(30) <= DEADLINE - 0.5
        assert timeout_for(0.1) == 0.1  # a shorter per-call timeout stays


def test_outside_a_web_request_calls_keep_their_own_timeout():
    assert timeout_for(30) == 30
    with web_deadline(DEADLINE):
        pass
    assert timeout_for(30) == 30


def test_a_worker_call_is_not_cut_short_by_the_web_deadline(settings):
    settings.WEB_NETWORK_DEADLINE = 0.5
    with StallingServer("stall") as server:
        started = time.monotonic()
        with pytest.raises(requests.Timeout):
            threads._session().get(server.url, timeout=1.5)

    assert time.monotonic() - started >= 1.5


# --- "Check connection" ------------------------------------------------------------------------------


def make_channel(cast, network: str, server_url: str, credentials: dict) -> Channel:
    channel = Channel.objects.create(
        workspace=cast.workspace,
        network=network,
        remote_id="did:plc:alice" if network == "bluesky" else "1234",
        handle="@alice.example",
        server_url=server_url,
    )
    channel.set_credentials(credentials)
    channel.save()
    return channel


def check(client, channel):
    started = time.monotonic()
    response = client.post(reverse("channels:verify", kwargs={"slug": "acme", "code": channel.code}))
    took = time.monotonic() - started
    assert response.status_code == 302
    page = client.get(response["Location"])
    return page, [str(m) for m in page.context["messages"]], took


@pytest.mark.parametrize("behaviour", ["stall", "trickle"])
def test_check_connection_gives_up_on_a_mastodon_server_that_does_not_answer(alice, cast, behaviour):
    with StallingServer(behaviour) as server:
        channel = make_channel(cast, "mastodon", server.url, {"access_token": "SomeToken123"})
        page, messages, took = check(alice, channel)

    assert messages == [
        f"Could not check {channel}: {server.netloc} did not answer within 2 seconds. Try again in a moment."
    ]
    assert took < DEADLINE + SLACK
    channel.refresh_from_db()
    assert channel.status == Channel.Status.ACTIVE  # not taken for a lost authorisation


@pytest.mark.parametrize("behaviour", ["stall", "trickle"])
def test_check_connection_gives_up_on_a_pds_that_does_not_answer(alice, cast, behaviour, redis_conn):
    with StallingServer(behaviour) as server:
        channel = make_channel(
            cast, "bluesky", server.url, {"handle": "alice.example", "app_password": "abcd-efgh-ijkl-mnop"}
        )
        page, messages, took = check(alice, channel)

    assert messages == [
        f"Could not check {channel}: {server.netloc} did not answer within 2 seconds. Try again in a moment."
    ]
    assert took < DEADLINE + SLACK
    channel.refresh_from_db()
    assert channel.status == Channel.Status.ACTIVE


@pytest.mark.parametrize("behaviour", ["stall", "trickle"])
def test_check_connection_gives_up_on_threads_when_it_does_not_answer(alice, cast, settings, behaviour):
    with StallingServer(behaviour) as server:
        settings.THREADS_GRAPH_URL = f"{server.url}/v1.0"
        channel = make_channel(cast, "threads", "", {"access_token": "THL-token", "user_id": "1234"})
        page, messages, took = check(alice, channel)

    assert messages == [
        f"Could not check {channel}: Threads did not answer within 2 seconds. Try again in a moment."
    ]
    assert took < DEADLINE + SLACK
    channel.refresh_from_db()
    assert channel.status == Channel.Status.ACTIVE


# --- settings ------------------------------------------------------------------------------------------


def settings_with(**env) -> subprocess.CompletedProcess:
    """The web timeout and deadline as a fresh interpreter reads them from exactly this environment."""
    clean = {"PATH": os.environ["PATH"], "ENV_FILE": "/nonexistent", "DEBUG": "1", **env}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
            "'scheduler_project.settings'); django.setup(); from django.conf import settings; "
            "print(settings.WEB_TIMEOUT, settings.WEB_NETWORK_DEADLINE)",
        ],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_deadline_defaults_to_two_thirds_of_the_web_timeout():
    assert settings_with().stdout.split() == ["30", "20.0"]
    assert settings_with(WEB_TIMEOUT="60").stdout.split() == ["60", "40.0"]


def test_start_up_refuses_a_deadline_that_is_not_below_the_web_timeout():
    result = settings_with(WEB_TIMEOUT="30", WEB_NETWORK_DEADLINE="30")

    assert result.returncode != 0
    assert "WEB_NETWORK_DEADLINE" in result.stderr and "WEB_TIMEOUT" in result.stderr


def test_the_procfile_gives_gunicorn_the_web_timeout():
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))

    assert "--timeout ${WEB_TIMEOUT:-30}" in web
