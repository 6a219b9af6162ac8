"""Fixtures of the SSRF tests: a stand-in for an internal service, made-up host names, and a public loopback.

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

import pytest

from channels import guard
from tests.channels.ssrf import SECRET


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
