"""A fake Bluesky PDS (AT Protocol XRPC under /xrpc/) for tests, benchmarks and local development.

This module holds the server, its switches and its fixtures; the XRPC methods are in fake_xrpc.py
and the HTTP handler in fake_http.py.

The real `atproto` client runs against it unchanged: sessions are JWTs the SDK can decode (HS256,
signed and checked here), the DID document in each session points back at this server, and errors
use the XRPC envelope {"error", "message"} with the status codes the reference PDS uses.

Fixtures (listed in tests/conftest.py's pytest_plugins):

- `fake_bluesky`: the server (one per test session), reset before each test. Accounts:
  ALICE ("alice.test", app password APP_PASSWORD, DID ALICE_DID), BOB ("bob.test", mention target),
  and TWO_FACTOR ("carol.test", password TWO_FACTOR_PASSWORD, email sign-in codes on).
- `bluesky_channel`: a Channel in `cast.workspace` connected to alice through the real connect code
  (so `fake_bluesky.logins == 1` afterwards).

What it records (all reset by `reset()`):

- `requests`: every XRPC call as `Call(method, nsid, params, body, headers)`; `calls(nsid)` filters.
- `records`: {at-uri: {"uri", "cid", "value", "rkey", "did"}} in creation order; `posts()` lists post
  records; `post(rkey)` returns one.
- `blobs`: {cid: {"mime", "size", "data"}}.
- `logins`, `refreshes`, `rejected_refreshes` counters; `page_hits` (paths of /pages/ requests).

Behaviour switches:

- `latency` (seconds before every response; also `--latency-ms` on the command line).
- `access_ttl` (seconds an access token claims to live; below 15 minutes the SDK refreshes before
  each call), `expire_access_tokens()` (every current access token answers 400 ExpiredToken),
  `expire_refresh_tokens()` (every refresh token is dead: the client must sign in again).
- `blob_limit` (bytes; larger uploads answer 400 BlobTooLarge).
- `fail_next(nsid, status, error=..., message=..., headers=..., times=1)`; `rate_limit_next(nsid,
  reset_in=60)` (429 with ratelimit-* headers); `lose_response_next(nsid)` (does the work, then
  closes the connection without answering); `hang_next(nsid, seconds)` (does the work, answers late).
  `nsid=None` matches any call.
- `redirect_next(nsid, location, status=307, times=1)`: answers the call with a redirect there.
- `service_endpoint`: the PDS address the DID document announces (default: this server's URL).
- `appview`: how app.bsky.* reads (getProfile, getPosts) are answered: "serving" (default), "none"
  (a PDS without an AppView: 400 "No service configured for …"), "not_implemented" (501),
  "down" (502 UpstreamFailure), "not_indexed" (getProfile: 400 "Profile not found", as for an
  account the AppView has not indexed yet). `APPVIEW_TROUBLES` lists the four.
- `set_counts(uri, likes=, reposts=, replies=, quotes=)` for getPosts.
- `set_password(handle, password)` to revoke an app password.

Web pages for link cards are served under /pages/: "/pages/article" (OpenGraph title, description
and image "/pages/card.jpg"), "/pages/plain" (only a <title>); add more with `add_page(path, body,
content_type)`.

Outside pytest: `python -m tests.networks.bluesky.fake --port 2583 --latency-ms 100` serves until killed.
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

import pytest

from tests.networks.bluesky.fake_http import Call, Handler, avatar_image, card_image
from tests.networks.bluesky.fake_xrpc import XrpcError, XrpcMethods

ALICE = "alice.test"
ALICE_DID = "did:plc:alice0000000000000000000"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
ALICE_MAIN_PASSWORD = "alice-main-password"
BOB = "bob.test"
BOB_DID = "did:plc:bob00000000000000000000"
TWO_FACTOR = "carol.test"
TWO_FACTOR_DID = "did:plc:carol000000000000000000"
TWO_FACTOR_PASSWORD = "carol-main-password"
APPVIEW_TROUBLES = ("none", "not_implemented", "down", "not_indexed")
# What the PDS answers for app.bsky.* per `appview` switch (see FakeBluesky.appview_answer).
_APPVIEW_ANSWERS = {
    "none": (400, "InvalidRequest", "No service configured for {nsid}"),
    "not_implemented": (501, "MethodNotImplemented", "Method Not Implemented"),
    "down": (502, "UpstreamFailure", "Upstream service unreachable"),
}


@dataclass
class FakeAccount:
    handle: str
    did: str
    passwords: set[str]
    two_factor_password: str = ""  # the main password, which asks for an email code
    display_name: str = ""
    avatar: str = ""


@dataclass
class _Misbehaviour:
    nsid: str | None
    kind: str  # "status", "lose", "hang", "redirect"
    status: int = 500
    error: str = "InternalServerError"
    message: str = "Internal Server Error"
    headers: dict = field(default_factory=dict)
    seconds: float = 0.0
    times: int = 1
    location: str = ""


class FakeBluesky(XrpcMethods):
    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0):
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._server.fake = self
        self._thread: threading.Thread | None = None
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self.default_latency = latency
        self.reset()

    # --- lifecycle ---

    def start(self) -> FakeBluesky:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-bluesky", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.latency = self.default_latency
            self.access_ttl = 2 * 3600
            self.refresh_ttl = 60 * 24 * 3600
            self.blob_limit = 1_000_000
            self.service_endpoint: str | None = None
            self.appview = "serving"
            self.accounts: dict[str, FakeAccount] = {}
            self.requests: list[Call] = []
            self.records: dict[str, dict] = {}
            self.blobs: dict[str, dict] = {}
            self.counts: dict[str, dict] = {}
            self.logins = 0
            self.refreshes = 0
            self.rejected_refreshes = 0
            self._refresh_tokens: dict[str, str] = {}  # jti -> "valid" | "used"
            self._access_nonces: set[str] = set()  # every access token issued
            self._expired_nonces: set[str] = set()  # the ones expired on demand
            self._misbehaviours: list[_Misbehaviour] = []
            self.pages: dict[str, tuple[str, bytes]] = {}
            self.page_hits: list[str] = []
        self.add_account(ALICE, ALICE_DID, APP_PASSWORD, ALICE_MAIN_PASSWORD, display_name="Alice Example")
        self.add_account(BOB, BOB_DID, "bob-app-pass-word")
        self.add_account(TWO_FACTOR, TWO_FACTOR_DID, two_factor_password=TWO_FACTOR_PASSWORD)
        self.add_page("/pages/card.jpg", card_image(), "image/jpeg")
        self.add_page(
            "/pages/article",
            (
                b"<!doctype html><html><head><meta charset='utf-8'><title>Fallback title</title>"
                b"<meta property='og:title' content='Spring launch &amp; news'>"
                b"<meta property='og:description' content='Everything about the spring launch.'>"
                b"<meta property='og:image' content='/pages/card.jpg'>"
                b"</head><body><h1>Article</h1></body></html>"
            ),
            "text/html; charset=utf-8",
        )
        self.add_page(
            "/pages/plain",
            b"<html><head><title>  Just a title  </title></head><body>Hi</body></html>",
            "text/html",
        )

    # --- setup helpers ---

    def add_account(
        self, handle: str, did: str, *passwords: str, two_factor_password: str = "", display_name: str = ""
    ) -> FakeAccount:
        account = FakeAccount(
            handle=handle,
            did=did,
            passwords=set(passwords),
            two_factor_password=two_factor_password,
            display_name=display_name,
            avatar=f"{self.url}/pages/avatar-{handle}.jpg",
        )
        with self._lock:
            self.accounts[handle] = account
        # Pages that show the account (the dashboard) load its avatar.
        self.add_page(f"/pages/avatar-{handle}.jpg", avatar_image(), "image/jpeg")
        return account

    def set_password(self, handle: str, *passwords: str) -> None:
        with self._lock:
            self.accounts[handle].passwords = set(passwords)

    def add_page(self, path: str, body: bytes, content_type: str) -> str:
        with self._lock:
            self.pages[path] = (content_type, body)
        return self.url + path

    def page_url(self, path: str) -> str:
        return self.url + path

    def set_counts(self, uri: str, *, likes=0, reposts=0, replies=0, quotes=0) -> None:
        with self._lock:
            self.counts[uri] = {
                "likeCount": likes,
                "repostCount": reposts,
                "replyCount": replies,
                "quoteCount": quotes,
            }

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._expired_nonces |= self._access_nonces

    def expire_refresh_tokens(self) -> None:
        with self._lock:
            for jti in self._refresh_tokens:
                self._refresh_tokens[jti] = "used"

    def fail_next(
        self,
        nsid,
        status=500,
        *,
        error="InternalServerError",
        message="Internal Server Error",
        headers=None,
        times=1,
    ) -> None:
        with self._lock:
            self._misbehaviours.append(
                _Misbehaviour(nsid, "status", status, error, message, dict(headers or {}), times=times)
            )

    def rate_limit_next(self, nsid=None, *, reset_in: int = 60, times: int = 1) -> None:
        reset = int(time.time()) + reset_in
        headers = {
            "ratelimit-limit": "3000",
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(reset),
            "ratelimit-policy": "3000;w=300",
        }
        self.fail_next(
            nsid, 429, error="RateLimitExceeded", message="Rate Limit Exceeded", headers=headers, times=times
        )

    def lose_response_next(self, nsid="com.atproto.repo.createRecord", times: int = 1) -> None:
        with self._lock:
            self._misbehaviours.append(_Misbehaviour(nsid, "lose", times=times))

    def hang_next(self, nsid, seconds: float, times: int = 1) -> None:
        with self._lock:
            self._misbehaviours.append(_Misbehaviour(nsid, "hang", seconds=seconds, times=times))

    def redirect_next(self, nsid, location: str, *, status: int = 307, times: int = 1) -> None:
        with self._lock:
            self._misbehaviours.append(
                _Misbehaviour(nsid, "redirect", status, location=location, times=times)
            )

    # --- queries for assertions ---

    def calls(self, nsid: str) -> list[Call]:
        with self._lock:
            return [c for c in self.requests if c.nsid == nsid]

    def posts(self) -> list[dict]:
        with self._lock:
            return [r for r in self.records.values() if "/app.bsky.feed.post/" in r["uri"]]

    def post(self, rkey: str) -> dict | None:
        return next((p for p in self.posts() if p["rkey"] == rkey), None)

    def blob(self, ref: dict) -> dict:
        return self.blobs[ref["ref"]["$link"]]

    # --- request handling (called by the handler thread) ---

    def appview_answer(self, nsid: str, headers: dict) -> None:
        """Raise what the PDS answers for an AppView read (app.bsky.*) when `appview` is not "serving".

        The reference PDS checks the access token, then proxies app.bsky.* to its configured AppView
        (packages/pds/src/pipethrough.ts): without one it refuses with 400 InvalidRequest "No service
        configured for <nsid>"; an unreachable AppView is 502 UpstreamFailure; the AppView's own
        errors pass through (getProfile of an account it has not indexed yet: 400 "Profile not
        found"). Servers that do not implement app.bsky.* at all answer 501 MethodNotImplemented.
        """
        if self.appview == "serving":
            return
        self._authed(headers)
        if self.appview == "not_indexed" and nsid == "app.bsky.actor.getProfile":
            raise XrpcError(400, "InvalidRequest", "Profile not found")
        if answer := _APPVIEW_ANSWERS.get(self.appview):
            raise XrpcError(answer[0], answer[1], answer[2].format(nsid=nsid))

    def _take_misbehaviour(self, nsid: str) -> _Misbehaviour | None:
        with self._lock:
            for item in self._misbehaviours:
                if item.nsid is None or item.nsid == nsid:
                    item.times -= 1
                    if item.times <= 0:
                        self._misbehaviours.remove(item)
                    return item
        return None


# --- pytest fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _fake_bluesky_server():
    server = FakeBluesky().start()
    yield server
    server.stop()


@pytest.fixture
def fake_bluesky(_fake_bluesky_server, settings):
    _fake_bluesky_server.reset()
    _fake_bluesky_server.blob_limit = settings.BLUESKY_MAX_BLOB_BYTES
    settings.SSRF_ALLOW_PRIVATE = True
    yield _fake_bluesky_server
    _fake_bluesky_server.reset()


@pytest.fixture
def bluesky_channel(cast, fake_bluesky):
    from channels.models import Channel
    from channels.networks.bluesky.connecting import connect

    account = connect(ALICE, APP_PASSWORD, fake_bluesky.url)
    return Channel.objects.save_connected(cast.workspace, account)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Bluesky PDS until killed.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2583)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    options = parser.parse_args()
    server = FakeBluesky(options.host, options.port, latency=options.latency_ms / 1000)
    print(f"Fake Bluesky PDS at {server.url} (handle {ALICE}, app password {APP_PASSWORD})", flush=True)
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
