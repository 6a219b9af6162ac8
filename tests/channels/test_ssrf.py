"""The SSRF guard: address classes, pinned connections, and what a Bluesky server may send us to.

The fake PDS listens on 127.0.0.1. With private addresses refused (settings.SSRF_ALLOW_PRIVATE off),
`public_loopback` lets the guard count 127.0.0.1, and only it, as public: it stands in for a public
server. An "internal service" on 127.0.0.2 (same port) stands in for what the guard must protect;
it answers everything with a secret, and records what reaches it.
"""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import pytest
import requests
from django.urls import reverse

from channels import http as guard
from channels.adapters import bluesky
from channels.adapters.base import AuthorizationLost, ConnectError
from channels.http import UnsafeURL, check_url, fetch
from channels.models import Channel
from posts.models import Delivery as DeliveryRow
from tests.channels.test_bluesky_adapter import Delivery
from tests.fakes.bluesky import ALICE, APP_PASSWORD
from tests.posts.engine import compose, dispatch_and_work

SECRET = "INTERNAL-SECRET-4711"
CREATE_SESSION = "com.atproto.server.createSession"


class _InternalHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.hits.append((self.command, self.path, dict(self.headers), body))
        payload = json.dumps({"error": "InvalidRequest", "message": SECRET}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer


@pytest.fixture
def internal(fake_bluesky):
    """An internal service on 127.0.0.2, on the fake PDS's port (so one name:port can point at either)."""
    server = ThreadingHTTPServer(("127.0.0.2", urlsplit(fake_bluesky.url).port), _InternalHandler)
    server.daemon_threads = True
    server.hits = []
    server.url = f"http://127.0.0.2:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def public_loopback(fake_bluesky, settings, monkeypatch):
    """Private addresses refused, except 127.0.0.1 (the fake PDS), which counts as a public server."""
    real = guard._is_public
    monkeypatch.setattr(guard, "_is_public", lambda address: address == "127.0.0.1" or real(address))
    settings.SSRF_ALLOW_PRIVATE = False


@pytest.fixture
def names(monkeypatch):
    """Made-up host names: {name: [address, ...]} answered in turn (the last one repeats)."""
    table: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, bytes):
            host = host.decode()
        answers = table.get(host)
        if answers is None:
            return real(host, port, *args, **kwargs)
        address = answers.pop(0) if len(answers) > 1 else answers[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, port or 0, 0, 0) if family == socket.AF_INET6 else (address, port or 0)
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


def port_of(fake) -> int:
    return urlsplit(fake.url).port


def sent_the_password(server) -> bool:
    return any(APP_PASSWORD.encode() in body for *_, body in server.hits)


# --- address classes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "127.0.0.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",  # IPv4-mapped
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "::10.0.0.1",  # IPv4-compatible (deprecated)
        "::127.0.0.1",
        "::8.8.8.8",  # IPv4-compatible addresses are never used for real servers
        "fec0::1",  # site-local (deprecated)
        "feff::1",
        "64:ff9b:1::a00:1",  # local-use NAT64
    ],
)
def test_the_guard_refuses_addresses_that_reach_a_private_network(address, settings, names):
    settings.SSRF_ALLOW_PRIVATE = False
    names["inside.example"] = [address]

    with pytest.raises(UnsafeURL, match="points to a private network"):
        check_url("https://inside.example/")


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1", "64:ff9b::808:808", "2002:808:808::1"])
def test_the_guard_lets_public_addresses_through(address, settings, names):
    settings.SSRF_ALLOW_PRIVATE = False
    names["outside.example"] = [address]

    assert check_url("https://outside.example/") == "https://outside.example/"


# --- one lookup, and the connection goes where it pointed --------------------------------------


def test_the_bluesky_client_connects_to_the_address_it_checked(
    public_loopback, names, internal, fake_bluesky
):
    names["rebind.test"] = ["127.0.0.1", "127.0.0.2"]
    client = bluesky._httpx_client(5)

    response = client.get(f"http://rebind.test:{port_of(fake_bluesky)}/pages/plain")

    assert response.status_code == 200 and b"Just a title" in response.content
    assert fake_bluesky.page_hits == ["/pages/plain"] and internal.hits == []


def test_the_bluesky_client_refuses_a_name_that_points_inside(public_loopback, names, internal, fake_bluesky):
    names["inside.test"] = ["127.0.0.2"]
    client = bluesky._httpx_client(5)

    with pytest.raises(UnsafeURL, match="private network"):
        client.get(f"http://inside.test:{port_of(fake_bluesky)}/pages/plain")

    assert internal.hits == []


def test_the_guarded_requests_session_connects_to_the_address_it_checked(
    public_loopback, names, internal, fake_bluesky
):
    names["rebind-requests.test"] = ["127.0.0.1", "127.0.0.2"]
    names["inside-requests.test"] = ["127.0.0.2"]
    port = port_of(fake_bluesky)

    response = guard._session.get(f"http://rebind-requests.test:{port}/pages/plain", timeout=5)
    assert response.status_code == 200 and "Just a title" in response.text
    with pytest.raises(UnsafeURL, match="private network"):
        guard._session.get(f"http://inside-requests.test:{port}/pages/plain", timeout=5)

    assert fake_bluesky.page_hits == ["/pages/plain"] and internal.hits == []


def test_fetch_never_reaches_a_name_that_answers_public_then_private(
    public_loopback, names, internal, fake_bluesky
):
    names["rebind-fetch.test"] = ["127.0.0.1", "127.0.0.2"]

    try:
        fetched = fetch(f"http://rebind-fetch.test:{port_of(fake_bluesky)}/pages/plain")
    except UnsafeURL:
        pass  # refusing is fine: going where the second answer points is not
    else:
        assert b"Just a title" in fetched.content

    assert internal.hits == []


def test_connect_never_sends_the_password_to_a_name_that_answers_public_then_private(
    public_loopback, names, internal, fake_bluesky
):
    names["rebind-connect.test"] = ["127.0.0.1", "127.0.0.2"]

    with pytest.raises(ConnectError) as caught:
        bluesky.connect(ALICE, APP_PASSWORD, f"http://rebind-connect.test:{port_of(fake_bluesky)}")

    assert caught.value.field == "pds_url" and "private network" in caught.value.message
    assert internal.hits == []


def test_a_post_gets_no_card_from_a_private_address(bluesky_channel, public_loopback, internal, fake_bluesky):
    url = f"{internal.url}/pages/article"

    bluesky_channel.adapter().publish_part(Delivery(f"Internal {url}").request())

    assert "embed" not in fake_bluesky.posts()[0]["value"]
    assert internal.hits == []


# --- redirects ---------------------------------------------------------------------------------


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


# --- the PDS address a server announces --------------------------------------------------------


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


# --- TLS stays on the name ---------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 whose certificate (from a test CA) names pds.test only."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Test CA"))
        .issuer_name(name("Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("pds.test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("pds.test")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(pem))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

        def do_GET(self):
            self.server.hosts.append(self.headers.get("Host"))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.hosts = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.port = server.server_address[1]
    server.ca = str(tmp_path / "ca.pem")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_pinned_connections_check_the_certificate_against_the_name(public_loopback, names, tls_server):
    import ssl

    names["pds.test"] = ["127.0.0.1"]
    names["other.test"] = ["127.0.0.1"]  # the same server, under a name its certificate does not have
    context = ssl.create_default_context(cafile=tls_server.ca)
    client = httpx.Client(transport=guard.guarded_transport(verify=context))
    session = requests.Session()
    guard.guarded_adapter(session)

    assert client.get(f"https://pds.test:{tls_server.port}/").text == "ok"
    assert session.get(f"https://pds.test:{tls_server.port}/", verify=tls_server.ca, timeout=5).text == "ok"
    with pytest.raises(httpx.ConnectError, match="certificate"):
        client.get(f"https://other.test:{tls_server.port}/")
    with pytest.raises(requests.exceptions.SSLError):
        session.get(f"https://other.test:{tls_server.port}/", verify=tls_server.ca, timeout=5)

    assert tls_server.hosts == [f"pds.test:{tls_server.port}"] * 2


def test_the_mastodon_session_connects_to_the_address_it_checked(
    public_loopback, names, internal, fake_bluesky
):
    from channels.adapters.mastodon import _GuardedSession

    names["rebind-mastodon.test"] = ["127.0.0.1", "127.0.0.2"]
    session = _GuardedSession()

    try:
        response = session.get(f"http://rebind-mastodon.test:{port_of(fake_bluesky)}/pages/plain", timeout=5)
    except UnsafeURL:
        pass  # refusing is fine (the session's own check took the public answer): going inside is not
    else:
        assert "Just a title" in response.text

    assert internal.hits == []
