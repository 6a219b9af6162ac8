"""The HTTP clients the adapters keep per thread: reused from job to job, never carrying cookies."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings
from mastodon import Mastodon, MastodonNetworkError

from channels.http import thread_client
from channels.networks.bluesky import client as bluesky
from channels.networks.mastodon import client as mastodon
from channels.networks.threads import client as threads


class _CookieServer:
    """Sets a cookie on every answer and records the Cookie header and connection of each request."""

    def __init__(self):
        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self):
                seen.append((self.headers.get("Cookie"), self.client_address[1]))
                body = b"{}"
                self.send_response(200)
                self.send_header("Set-Cookie", "session=account-a; Path=/")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cookie_server():
    server = _CookieServer()
    yield server
    server.close()


def test_a_thread_keeps_one_client_per_key():
    made = []

    def factory():
        made.append(object())
        return made[-1]

    first = thread_client("test-key", factory)
    assert thread_client("test-key", factory) is first
    other = []
    thread = threading.Thread(target=lambda: other.append(thread_client("test-key", factory)))
    thread.start()
    thread.join()
    assert other[0] is not first
    assert len(made) == 2


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: mastodon.GuardedSession(), id="mastodon"),
        pytest.param(lambda: threads._session(), id="threads"),
        pytest.param(lambda: bluesky.httpx_client(5.0), id="bluesky"),
    ],
)
def test_shared_clients_keep_no_cookies_and_reuse_the_connection(cookie_server, make):
    client = make()

    client.get(cookie_server.url + "/one")
    client.get(cookie_server.url + "/two")

    (cookie_one, port_one), (cookie_two, port_two) = cookie_server.seen
    assert cookie_one is None
    assert cookie_two is None  # the first answer's cookie is not sent on (maybe for another account)
    assert port_one == port_two  # one kept-alive connection


def test_mastodon_clients_of_a_thread_share_one_session():
    one = mastodon.new_client("https://one.example", "token-one")
    two = mastodon.new_client("https://two.example", "token-two")

    assert one.session is two.session
    assert (one.access_token, two.access_token) == ("token-one", "token-two")


def test_bluesky_clients_share_the_connection_pool_but_not_the_headers():
    one, two = bluesky.new_client("https://pds.example"), bluesky.new_client("https://pds.example")
    one.request.add_additional_header("Authorization", "Bearer one")

    assert one.request._client is two.request._client
    assert "Authorization" not in two.request.get_headers()


def test_the_mastodon_session_does_not_remember_a_check_made_with_private_addresses_allowed(cookie_server):
    session = mastodon.GuardedSession()
    session.get(cookie_server.url + "/allowed")  # the test settings allow private addresses

    with override_settings(SSRF_ALLOW_PRIVATE=False):
        client = Mastodon(api_base_url=cookie_server.url, session=session, version_check_mode="none")
        with pytest.raises(MastodonNetworkError):
            client.instance_v1()

    assert len(cookie_server.seen) == 1


@pytest.mark.parametrize("behaviour", ["trickle", "trickle-body"])
def test_fetch_has_a_total_deadline_in_workers_too(behaviour):
    """A link-card server that trickles a byte a second is cut off at the timeout, not after every byte."""
    from time import monotonic

    from channels.http import FetchError, fetch
    from tests.fakes.stalling import StallingServer

    with StallingServer(behaviour, interval=0.5) as server:
        started = monotonic()
        with pytest.raises(FetchError) as caught:
            fetch(server.url + "/article", timeout=2)
        took = monotonic() - started

    assert took < 2 + 2
    assert "2 seconds" in caught.value.args[0] or "could not" in caught.value.args[0]
