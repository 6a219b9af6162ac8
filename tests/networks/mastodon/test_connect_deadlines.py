"""Connecting to a Mastodon server that does not answer in time: the connect pages give up at the deadline."""

import time

import pytest

from channels.models import Channel, ServerApp
from tests.fakes.stalling import StallingServer
from tests.networks.mastodon.pages import (
    CONNECT,
    authorize_on_the_server,
    messages_of,
    paste_token,
    sign_in_link,
    start_sign_in,
)

# --- a server that does not answer in time -----------------------------------------------------


@pytest.mark.parametrize("behaviour", ["stall", "trickle"])
def test_it_gives_up_on_a_server_that_does_not_answer_in_time(alice, settings, behaviour):
    settings.WEB_NETWORK_DEADLINE = 2
    with StallingServer(behaviour) as server:
        started = time.monotonic()
        response = paste_token(alice, server.url, "SomeToken123")
        took = time.monotonic() - started

    assert response.status_code == 200
    assert response.context["token_form"].errors["instance_url"] == [
        f"{server.netloc} did not answer within 2 seconds. Try again in a moment."
    ]
    assert took < 2 + 3
    assert not Channel.objects.exists()


def test_it_gives_up_on_a_server_whose_answers_together_take_too_long(alice, settings, fake_mastodon):
    settings.WEB_NETWORK_DEADLINE = 2
    # Each call is quick enough; the account check and the instance document together are not (the
    # optional nodeinfo gets what is left, and its failure alone would not stop the connect).
    fake_mastodon.latency = 1.1

    started = time.monotonic()
    response = paste_token(alice, fake_mastodon.url, fake_mastodon.token)

    assert response.status_code == 200
    assert response.context["token_form"].errors["instance_url"] == [
        f"{fake_mastodon.domain} did not answer within 2 seconds. Try again in a moment."
    ]
    assert time.monotonic() - started < 2 + 3
    assert not Channel.objects.exists()


@pytest.mark.parametrize("behaviour", ["stall", "trickle"])
def test_it_gives_up_on_signing_in_with_a_server_that_does_not_answer(alice, settings, behaviour):
    settings.WEB_NETWORK_DEADLINE = 2
    with StallingServer(behaviour) as server:
        started = time.monotonic()
        response = start_sign_in(alice, server.url)
        took = time.monotonic() - started

    assert response.status_code == 200
    assert response.context["signin_form"].errors["instance_url"] == [
        f"{server.netloc} did not answer within 2 seconds. Try again in a moment."
    ]
    assert took < 2 + 3
    assert not ServerApp.objects.exists()


def test_it_says_to_start_again_when_the_code_exchange_does_not_answer(alice, settings, fake_mastodon):
    callback = authorize_on_the_server(sign_in_link(alice, fake_mastodon.url))
    settings.WEB_NETWORK_DEADLINE = 2
    # The server takes the code (it is used up) but answers too late.
    fake_mastodon.lose_next_response(path="/oauth/token", mode="hang", hang_seconds=5)

    started = time.monotonic()
    response = alice.get(callback, follow=True)

    assert time.monotonic() - started < 2 + 3
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == CONNECT  # the page to start again from
    assert messages_of(response) == [
        f"{fake_mastodon.domain} did not answer within 2 seconds. The sign-in code it sent can be used "
        "only once and may be used up now, so please start again."
    ]
    assert not Channel.objects.exists()
