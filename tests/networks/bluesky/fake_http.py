"""The fake PDS's HTTP side: one handler for XRPC calls (recorded, then misbehaving on request) and
for the web pages that link cards and avatars are read from."""

from __future__ import annotations

import functools
import io
import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.networks.bluesky.fake_xrpc import XrpcError


@dataclass
class Call:
    method: str
    nsid: str
    params: dict
    body: object
    headers: dict


@functools.cache
def avatar_image() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (96, 96), (220, 120, 40)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def card_image() -> bytes:
    from PIL import Image

    image = Image.new("RGB", (1200, 630), (30, 90, 160))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakePDS/1.0"
    # Headers and body go out in separate writes: without TCP_NODELAY a kept-alive connection waits
    # ~40 ms for the client's delayed ACK between them, which no real server does.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # keep test output quiet
        pass

    @property
    def fake(self):
        return self.server.fake

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not parts.path.startswith("/xrpc/"):
            self._page(parts.path)
            return
        nsid = parts.path[len("/xrpc/") :]
        headers = {k.lower(): v for k, v in self.headers.items()}
        params = parse_qs(parts.query)
        if nsid == "com.atproto.repo.uploadBlob":
            body = raw
        else:
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                self._reply(400, {"error": "InvalidRequest", "message": "Request body is not JSON"})
                return
        with self.fake._lock:
            self.fake.requests.append(Call(method, nsid, params, body, headers))
        misbehaviour = self.fake._take_misbehaviour(nsid)
        if misbehaviour is not None and misbehaviour.kind == "redirect":
            self._send(misbehaviour.status, b"", "text/plain", {"Location": misbehaviour.location})
            return
        if misbehaviour is not None and misbehaviour.kind == "status":
            self._reply(
                misbehaviour.status,
                {"error": misbehaviour.error, "message": misbehaviour.message},
                misbehaviour.headers,
            )
            return
        try:
            status, payload, extra = 200, self.fake.handle(method, nsid, params, body, headers), {}
        except XrpcError as exc:
            status, payload, extra = exc.status, {"error": exc.error, "message": exc.message}, exc.headers
        if misbehaviour is not None and misbehaviour.kind == "lose":
            self.close_connection = True
            self.connection.shutdown(2)  # the work is done; the answer never arrives
            return
        if misbehaviour is not None and misbehaviour.kind == "hang":
            time.sleep(misbehaviour.seconds)
        self._reply(status, payload, extra)

    def _page(self, path: str) -> None:
        with self.fake._lock:
            self.fake.page_hits.append(path)
        page = self.fake.pages.get(path)
        if page is None:
            self._send(404, b"Not found", "text/plain")
        else:
            self._send(200, page[1], page[0])

    def _reply(self, status: int, payload: dict, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8", headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        if self.fake.latency:
            time.sleep(self.fake.latency)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
