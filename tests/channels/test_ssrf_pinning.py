"""One lookup per connection: each client connects to the address the guard checked, so a name that
answers public then private never reaches inside (nor does a link card's fetch), and TLS still checks
the name.

The fake PDS on 127.0.0.1 stands in for a public server, an internal service on 127.0.0.2 for
what the guard protects (the fixtures are in conftest.py)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import requests

from channels import http, transport
from channels.guard import UnsafeURL
from channels.http import fetch
from channels.networks.base import ConnectError
from channels.networks.bluesky import client as bluesky_client
from channels.networks.bluesky import connecting as bluesky
from tests.channels.ssrf import port_of
from tests.networks.bluesky.fake import ALICE, APP_PASSWORD
from tests.networks.bluesky.parts import Delivery


def test_the_bluesky_client_connects_to_the_address_it_checked(
    public_loopback, names, internal, fake_bluesky
):
    names["rebind.test"] = ["127.0.0.1", "127.0.0.2"]
    client = bluesky_client.httpx_client(5)

    response = client.get(f"http://rebind.test:{port_of(fake_bluesky)}/pages/plain")

    assert response.status_code == 200 and b"Just a title" in response.content
    assert fake_bluesky.page_hits == ["/pages/plain"] and internal.hits == []


def test_the_bluesky_client_refuses_a_name_that_points_inside(public_loopback, names, internal, fake_bluesky):
    names["inside.test"] = ["127.0.0.2"]
    client = bluesky_client.httpx_client(5)

    with pytest.raises(UnsafeURL, match="private network"):
        client.get(f"http://inside.test:{port_of(fake_bluesky)}/pages/plain")

    assert internal.hits == []


def test_the_guarded_requests_session_connects_to_the_address_it_checked(
    public_loopback, names, internal, fake_bluesky
):
    names["rebind-requests.test"] = ["127.0.0.1", "127.0.0.2"]
    names["inside-requests.test"] = ["127.0.0.2"]
    port = port_of(fake_bluesky)

    response = http._session.get(f"http://rebind-requests.test:{port}/pages/plain", timeout=5)
    assert response.status_code == 200 and "Just a title" in response.text
    with pytest.raises(UnsafeURL, match="private network"):
        http._session.get(f"http://inside-requests.test:{port}/pages/plain", timeout=5)

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


def test_the_mastodon_session_connects_to_the_address_it_checked(
    public_loopback, names, internal, fake_bluesky
):
    from channels.networks.mastodon.client import GuardedSession

    names["rebind-mastodon.test"] = ["127.0.0.1", "127.0.0.2"]
    session = GuardedSession()

    try:
        response = session.get(f"http://rebind-mastodon.test:{port_of(fake_bluesky)}/pages/plain", timeout=5)
    except UnsafeURL:
        pass  # refusing is fine (the session's own check took the public answer): going inside is not
    else:
        assert "Just a title" in response.text

    assert internal.hits == []


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
    client = httpx.Client(transport=transport.guarded_transport(verify=context))
    session = requests.Session()
    transport.guarded_adapter(session)

    assert client.get(f"https://pds.test:{tls_server.port}/").text == "ok"
    assert session.get(f"https://pds.test:{tls_server.port}/", verify=tls_server.ca, timeout=5).text == "ok"
    with pytest.raises(httpx.ConnectError, match="certificate"):
        client.get(f"https://other.test:{tls_server.port}/")
    with pytest.raises(requests.exceptions.SSLError):
        session.get(f"https://other.test:{tls_server.port}/", verify=tls_server.ca, timeout=5)

    assert tls_server.hosts == [f"pds.test:{tls_server.port}"] * 2
