"""A fake Bluesky PDS (AT Protocol XRPC under /xrpc/) for tests, benchmarks and local development.

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
- `set_counts(uri, likes=, reposts=, replies=, quotes=)` for getPosts.
- `set_password(handle, password)` to revoke an app password.

Web pages for link cards are served under /pages/: "/pages/article" (OpenGraph title, description
and image "/pages/card.jpg"), "/pages/plain" (only a <title>); add more with `add_page(path, body,
content_type)`.

Outside pytest: `python -m tests.fakes.bluesky --port 2583 --latency-ms 100` serves until killed.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import hmac
import io
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import grapheme
import pytest

ALICE = "alice.test"
ALICE_DID = "did:plc:alice0000000000000000000"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
ALICE_MAIN_PASSWORD = "alice-main-password"
BOB = "bob.test"
BOB_DID = "did:plc:bob00000000000000000000"
TWO_FACTOR = "carol.test"
TWO_FACTOR_DID = "did:plc:carol000000000000000000"
TWO_FACTOR_PASSWORD = "carol-main-password"

_TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
_JWT_SECRET = secrets.token_bytes(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_jwt(payload: dict, typ: str) -> str:
    header = _b64(json.dumps({"typ": typ, "alg": "HS256"}).encode())
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(_JWT_SECRET, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def read_jwt(token: str) -> dict | None:
    """The payload if the signature is ours, else None (expiry is checked by the caller)."""
    try:
        header, body, signature = token.split(".")
        expected = hmac.new(_JWT_SECRET, f"{header}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        return json.loads(_unb64(body))
    except ValueError:
        return None


def make_cid(data: bytes, codec: int) -> str:
    """A CIDv1 (sha2-256) in base32, as the PDS returns: codec 0x71 dag-cbor records, 0x55 raw blobs."""
    digest = hashlib.sha256(data).digest()
    return "b" + base64.b32encode(bytes([0x01, codec, 0x12, 0x20]) + digest).decode().lower().rstrip("=")


def make_tid() -> str:
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    value = (time.time_ns() // 1000) << 10 | secrets.randbelow(1024)
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(13)))


@dataclass
class FakeAccount:
    handle: str
    did: str
    passwords: set[str]
    two_factor_password: str = ""  # the main password, which asks for an email code
    display_name: str = ""
    avatar: str = ""


@dataclass
class Call:
    method: str
    nsid: str
    params: dict
    body: object
    headers: dict


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


class XrpcError(Exception):
    def __init__(self, status: int, error: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers or {}


class FakeBluesky:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0):
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer((host, port), _Handler)
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
        self.add_page("/pages/card.jpg", _card_image(), "image/jpeg")
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
        self.add_page(f"/pages/avatar-{handle}.jpg", _avatar_image(), "image/jpeg")
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

    def _take_misbehaviour(self, nsid: str) -> _Misbehaviour | None:
        with self._lock:
            for item in self._misbehaviours:
                if item.nsid is None or item.nsid == nsid:
                    item.times -= 1
                    if item.times <= 0:
                        self._misbehaviours.remove(item)
                    return item
        return None

    def _did_doc(self, account: FakeAccount) -> dict:
        return {
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": account.did,
            "alsoKnownAs": [f"at://{account.handle}"],
            "verificationMethod": [],
            "service": [
                {
                    "id": "#atproto_pds",
                    "type": "AtprotoPersonalDataServer",
                    "serviceEndpoint": self.service_endpoint or self.url,
                }
            ],
        }

    def _issue_session(self, account: FakeAccount) -> dict:
        now = int(time.time())
        jti, nonce = secrets.token_urlsafe(16), secrets.token_hex(8)
        self._refresh_tokens[jti] = "valid"
        self._access_nonces.add(nonce)
        access = make_jwt(
            {
                "scope": "com.atproto.access",
                "sub": account.did,
                "aud": "did:web:fake.pds",
                "iat": now,
                "exp": now + self.access_ttl,
                "nonce": nonce,
            },
            "at+jwt",
        )
        refresh = make_jwt(
            {
                "scope": "com.atproto.refresh",
                "sub": account.did,
                "aud": "did:web:fake.pds",
                "iat": now,
                "exp": now + self.refresh_ttl,
                "jti": jti,
            },
            "refresh+jwt",
        )
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": account.handle,
            "did": account.did,
            "didDoc": self._did_doc(account),
            "active": True,
        }

    def _account(self, identifier: str) -> FakeAccount | None:
        identifier = identifier.lower()
        for account in self.accounts.values():
            if identifier in (account.handle, account.did):
                return account
        return None

    def _bearer(self, headers: dict) -> str:
        value = headers.get("authorization", "")
        if not value.startswith("Bearer "):
            raise XrpcError(401, "AuthMissing", "Authentication Required")
        return value[7:]

    def _authed(self, headers: dict) -> FakeAccount:
        payload = read_jwt(self._bearer(headers))
        if payload is None or payload.get("scope") != "com.atproto.access":
            raise XrpcError(401, "InvalidToken", "Token could not be verified")
        if payload["exp"] < time.time() or payload.get("nonce") in self._expired_nonces:
            raise XrpcError(400, "ExpiredToken", "Token has expired")
        account = self._account(payload["sub"])
        if account is None:
            raise XrpcError(401, "InvalidToken", "Token could not be verified")
        return account

    def handle(self, method: str, nsid: str, params: dict, body, headers: dict) -> dict:
        routes = {
            "com.atproto.server.createSession": self._create_session,
            "com.atproto.server.refreshSession": self._refresh_session,
            "com.atproto.server.getSession": self._get_session,
            "com.atproto.identity.resolveHandle": self._resolve_handle,
            "app.bsky.actor.getProfile": self._get_profile,
            "com.atproto.repo.uploadBlob": self._upload_blob,
            "com.atproto.repo.createRecord": self._create_record,
            "com.atproto.repo.getRecord": self._get_record,
            "app.bsky.feed.getPosts": self._get_posts,
        }
        route = routes.get(nsid)
        if route is None:
            raise XrpcError(501, "MethodNotImplemented", "Method Not Implemented")
        with self._lock:
            return route(params, body, headers)

    def _create_session(self, params, body, headers) -> dict:
        identifier, password = body.get("identifier", ""), body.get("password", "")
        account = self._account(identifier)
        if account is None or (password not in account.passwords and password != account.two_factor_password):
            raise XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
        if password == account.two_factor_password and not body.get("authFactorToken"):
            raise XrpcError(
                401, "AuthFactorTokenRequired", "A sign in code has been sent to your email address"
            )
        self.logins += 1
        return self._issue_session(account)

    def _refresh_session(self, params, body, headers) -> dict:
        payload = read_jwt(self._bearer(headers))
        if payload is None or payload.get("scope") != "com.atproto.refresh":
            raise XrpcError(400, "InvalidToken", "Token could not be verified")
        if payload["exp"] < time.time():
            self.rejected_refreshes += 1
            raise XrpcError(400, "ExpiredToken", "Token has expired")
        if self._refresh_tokens.get(payload["jti"]) != "valid":
            self.rejected_refreshes += 1
            raise XrpcError(400, "ExpiredToken", "Token has been revoked")
        self._refresh_tokens[payload["jti"]] = "used"
        self.refreshes += 1
        return self._issue_session(self._account(payload["sub"]))

    def _get_session(self, params, body, headers) -> dict:
        account = self._authed(headers)
        return {
            "handle": account.handle,
            "did": account.did,
            "didDoc": self._did_doc(account),
            "active": True,
        }

    def _resolve_handle(self, params, body, headers) -> dict:
        account = self._account(params.get("handle", [""])[0])
        if account is None:
            raise XrpcError(400, "InvalidRequest", "Unable to resolve handle")
        return {"did": account.did}

    def _get_profile(self, params, body, headers) -> dict:
        self._authed(headers)
        account = self._account(params.get("actor", [""])[0])
        if account is None:
            raise XrpcError(400, "InvalidRequest", "Profile not found")
        return {
            "did": account.did,
            "handle": account.handle,
            "displayName": account.display_name,
            "avatar": account.avatar,
            "followersCount": 0,
            "followsCount": 0,
            "postsCount": len(self.posts()),
        }

    def _upload_blob(self, params, body, headers) -> dict:
        self._authed(headers)
        data = body or b""
        if len(data) > self.blob_limit:
            raise XrpcError(
                400,
                "BlobTooLarge",
                f"This file is too large. It is {len(data)} bytes but the maximum size is "
                f"{self.blob_limit} bytes.",
            )
        mime = headers.get("content-type", "application/octet-stream")
        cid = make_cid(data, 0x55)
        self.blobs[cid] = {"mime": mime, "size": len(data), "data": data}
        return {"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}}

    def _create_record(self, params, body, headers) -> dict:
        account = self._authed(headers)
        if body.get("repo") not in (account.did, account.handle):
            raise XrpcError(401, "AuthRequired", "Can only write to your own repo")
        collection, record = body.get("collection"), body.get("record") or {}
        if record.get("$type") != collection:
            raise XrpcError(400, "InvalidRequest", f"Invalid $type: expected {collection}")
        if collection == "app.bsky.feed.post":
            self._validate_post(record)
        rkey = body.get("rkey") or make_tid()
        if not _TID_RE.match(rkey):
            raise XrpcError(400, "InvalidRequest", "Invalid record key: must be a TID")
        uri = f"at://{account.did}/{collection}/{rkey}"
        if uri in self.records:
            # What the reference PDS historically answered for a duplicate key.
            raise XrpcError(500, "InternalServerError", "Internal Server Error")
        cid = make_cid(json.dumps(record, sort_keys=True).encode(), 0x71)
        self.records[uri] = {"uri": uri, "cid": cid, "value": record, "rkey": rkey, "did": account.did}
        return {
            "uri": uri,
            "cid": cid,
            "commit": {"cid": make_cid(uri.encode(), 0x71), "rev": make_tid()},
            "validationStatus": "valid",
        }

    def _validate_post(self, record: dict) -> None:
        def invalid(message: str):
            raise XrpcError(400, "InvalidRecord", f"Invalid app.bsky.feed.post record: {message}")

        text = record.get("text")
        if not isinstance(text, str):
            invalid('Record must have the property "text"')
        if not isinstance(record.get("createdAt"), str):
            invalid('Record must have the property "createdAt"')
        encoded = text.encode("utf-8")
        if len(encoded) > 3000:
            invalid("Record/text must not be longer than 3000 characters")
        if grapheme.length(text) > 300:
            invalid("Record/text must not be longer than 300 graphemes")
        for number, facet in enumerate(record.get("facets") or []):
            index = facet.get("index") or {}
            start, end = index.get("byteStart"), index.get("byteEnd")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(encoded)):
                invalid(f"Record/facets/{number}/index is outside the text")
            for offset in (start, end):
                if offset < len(encoded) and (encoded[offset] & 0xC0) == 0x80:
                    invalid(f"Record/facets/{number}/index splits a character")
            if not facet.get("features"):
                invalid(f"Record/facets/{number} must have features")
        langs = record.get("langs")
        if langs is not None and (not isinstance(langs, list) or len(langs) > 3):
            invalid("Record/langs must not be longer than 3 elements")
        embed = record.get("embed")
        if embed:
            self._validate_embed(embed, invalid)
        reply = record.get("reply")
        if reply:
            for key in ("root", "parent"):
                ref = reply.get(key) or {}
                if not ref.get("uri") or not ref.get("cid"):
                    invalid(f"Record/reply/{key} must have uri and cid")

    def _validate_embed(self, embed: dict, invalid) -> None:
        kind = embed.get("$type")
        if kind == "app.bsky.embed.images":
            images = embed.get("images") or []
            if not images or len(images) > 4:
                invalid("Record/embed/images must have 1 to 4 elements")
            for number, image in enumerate(images):
                if "alt" not in image:
                    invalid(f'Record/embed/images/{number} must have the property "alt"')
                self._check_blob(
                    image.get("image"), f"Record/embed/images/{number}/image", invalid, image=True
                )
        elif kind == "app.bsky.embed.external":
            external = embed.get("external") or {}
            for key in ("uri", "title", "description"):
                if not isinstance(external.get(key), str):
                    invalid(f'Record/embed/external must have the property "{key}"')
            if external.get("thumb"):
                self._check_blob(external["thumb"], "Record/embed/external/thumb", invalid, image=True)
        else:
            invalid(f"Record/embed has an unsupported type {kind}")

    def _check_blob(self, ref, where: str, invalid, image: bool) -> None:
        if not isinstance(ref, dict) or ref.get("$type") != "blob":
            invalid(f"{where} should be a blob ref")
        stored = self.blobs.get((ref.get("ref") or {}).get("$link", ""))
        if stored is None:
            raise XrpcError(
                400, "InvalidRequest", f"Could not find blob: {(ref.get('ref') or {}).get('$link')}"
            )
        if image and not stored["mime"].startswith("image/"):
            invalid(f"{where} has the wrong type {stored['mime']}, expected image/*")
        if stored["size"] > 1_000_000 and where.endswith("thumb"):
            raise XrpcError(400, "BlobTooLarge", "This file is too large.")

    def _get_record(self, params, body, headers) -> dict:
        repo, collection, rkey = (params.get(k, [""])[0] for k in ("repo", "collection", "rkey"))
        account = self._account(repo)
        uri = f"at://{account.did if account else repo}/{collection}/{rkey}"
        record = self.records.get(uri)
        if record is None:
            raise XrpcError(400, "RecordNotFound", f"Could not locate record: {uri}")
        return {"uri": uri, "cid": record["cid"], "value": record["value"]}

    def _get_posts(self, params, body, headers) -> dict:
        self._authed(headers)
        uris = params.get("uris", [])
        if len(uris) > 25:
            raise XrpcError(400, "InvalidRequest", "uris must not have more than 25 elements")
        posts = []
        for uri in uris:
            record = self.records.get(uri)
            if record is None:
                continue
            author = self._account(record["did"])
            counts = self.counts.get(
                uri, {"likeCount": 0, "repostCount": 0, "replyCount": 0, "quoteCount": 0}
            )
            posts.append(
                {
                    "uri": uri,
                    "cid": record["cid"],
                    "author": {"did": author.did, "handle": author.handle},
                    "record": record["value"],
                    "indexedAt": record["value"].get("createdAt"),
                    **counts,
                }
            )
        return {"posts": posts}


@functools.cache
def _avatar_image() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (96, 96), (220, 120, 40)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def _card_image() -> bytes:
    from PIL import Image

    image = Image.new("RGB", (1200, 630), (30, 90, 160))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakePDS/1.0"
    # Headers and body go out in separate writes: without TCP_NODELAY a kept-alive connection waits
    # ~40 ms for the client's delayed ACK between them, which no real server does.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # keep test output quiet
        pass

    @property
    def fake(self) -> FakeBluesky:
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
    from channels.adapters.bluesky import connect
    from channels.models import Channel

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
