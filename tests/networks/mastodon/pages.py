"""Driving the Mastodon connect pages as a browser would, and the fake server's sign-in page."""

import socket
from urllib.parse import urlsplit

import requests
from django.urls import reverse

CONNECT = "/w/acme/channels/connect/mastodon/"


def paste_token(client, instance_url, token):
    return client.post(
        CONNECT, {"method": "token", "token-instance_url": instance_url, "token-access_token": token}
    )


def start_sign_in(client, instance_url):
    return client.post(CONNECT, {"method": "signin", "signin-instance_url": instance_url})


def sign_in_link(client, instance_url) -> str:
    """Where "Sign in with your server" sends the browser (through our hand-off page, not a redirect)."""
    response = start_sign_in(client, instance_url)
    assert response.status_code == 200, response.content
    return handoff_url(response)


def handoff_url(response) -> str:
    assert [t.name for t in response.templates][0] == "channels/oauth_handoff.html"
    return response.context["url"]


def authorize_on_the_server(location: str) -> str:
    """The user approves on the (fake) server, which redirects to our callback: return its path+query."""
    answer = requests.get(location, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    callback = urlsplit(answer.headers["Location"])
    assert callback.path == reverse("channels:connect-mastodon-callback")
    return f"{callback.path}?{callback.query}"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []
