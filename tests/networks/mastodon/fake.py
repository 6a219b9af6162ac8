"""A fake Mastodon server that the real Mastodon.py talks to unchanged.

It is a real HTTP server (ThreadingHTTPServer on 127.0.0.1, port 0, in a daemon thread) speaking the
part of the client API this project uses: app registration and OAuth (with or without
/.well-known/oauth-authorization-server), verify_credentials, instance v1/v2 and nodeinfo, media
upload (v2 with asynchronous processing, v1 synchronous), status creation with Idempotency-Key,
status reads (single, batched, per account). It validates input as Mastodon does (length with URLs
counted as 23, media processed before posting, reply target exists, bearer token valid) and answers
with Mastodon's error bodies.

Fixtures (pytest picks them up through tests/conftest.py's pytest_plugins):

``fake_mastodon``
    The server, reset to a clean state for each test (one server per test session). Main API:

    - ``personality``: the server program it pretends to be (personalities.py: mastodon, sharkey,
      gotosocial, akkoma, pleroma, pixelfed, friendica, takahe; reset to "mastodon"). Setting it sets
      the version, software, limits and idempotency attributes below and ``traits`` (its counting
      rule, ``text`` field, Idempotency-Key behaviour, media and visibility rules, rate-limit style).
    - ``nodeinfo``: "ok", "fail" (500) or "stall" (answers after ``nodeinfo_stall_seconds``).
    - ``url``: base URL; ``token``: a valid access token of the default account ``account``
      (username "alice"); ``add_account(username)``, ``issue_token(account_id)``, ``revoke(token)``.
    - Configuration attributes (reset to these defaults): ``version`` ("4.3.0"), ``software``
      ("mastodon"), ``max_characters`` (500), ``max_media_attachments`` (4),
      ``characters_reserved_per_url`` (23), ``supported_mime_types``, ``image_size_limit`` (16 MB),
      ``video_size_limit`` (99 MB), ``description_limit`` (1500), ``instance_v2`` (False: /api/v2/instance
      answers 404 and /api/v1/instance looks like Pleroma's with ``max_toot_chars``),
      ``oauth_metadata`` (False: /.well-known/oauth-authorization-server answers 404),
      ``honour_idempotency`` (False: ignore Idempotency-Key), ``batch_statuses``
      (False: GET /api/v1/statuses?id[]= answers 404, as before Mastodon 4.3), ``media_processing_polls``
      (how many GET /api/v1/media/:id answer 206 with url null before the media is ready; 0 makes
      uploads synchronous), ``media_never_finishes``, ``deny_authorization`` (the user clicks "Deny"),
      ``not_mastodon`` (every path answers an HTML page), ``latency`` (seconds before each response).
    - Misbehaviour: ``fail_next(status, count=1, path=None, error=None)``,
      ``rate_limit_next(count=1, path=None, reset_in=30, style=None, extra_headers=None)`` (the
      personality's 429, or one in `style`; `extra_headers` such as a second Date header),
      ``lose_next_response(path="/api/v1/statuses", count=1, mode="drop"|"hang", hang_seconds=...)``
      (the request is fully handled, then the connection is closed without an answer, or the answer
      comes only after ``hang_seconds``).
    - Records: ``statuses`` (created statuses, oldest first, each with text, title (Friendica), media
      (with descriptions), in_reply_to_id, visibility, spoiler_text, sensitive, language,
      idempotency_key), ``media`` (id -> upload), ``requests`` (every request: method, path, query,
      headers, form), ``apps``,
      ``authorizations`` (GET /oauth/authorize), ``tokens`` (token -> account id), ``tokens_issued``
      (by /oauth/token). Helpers: ``set_counts(status_id, favourites=.., reblogs=.., replies=..,
      quotes=..)``, ``requests_to(method, path)``.

``mastodon_channel``
    A Channel in ``cast.workspace`` connected to the fake through the real connect code
    (connect_with_token), with its limits read from the fake.

Outside pytest: ``python -m tests.networks.mastodon.fake --port 8765 --latency-ms 100`` serves until killed
and prints the URL and a valid token.

One file, longer than most: it is one server whose request handlers share one state and one lock,
and bench/fake_network.py and ``python -m`` run it on its own.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import functools
import html
import io
import itertools
import json
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.networks.mastodon.personalities import PERSONALITIES, count, rate_limit_headers

MB = 1024 * 1024
DEFAULT_MIME_TYPES = [
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/heic",
    "image/heif",
    "image/webp",
    "image/avif",
    "video/webm",
    "video/mp4",
    "video/quicktime",
    "video/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wave",
    "audio/vnd.wave",
    "audio/ogg",
    "audio/vorbis",
    "audio/mpeg",
    "audio/mp3",
    "audio/webm",
    "audio/flac",
    "audio/aac",
    "audio/m4a",
    "audio/x-m4a",
    "audio/mp4",
    "audio/3gpp",
    "video/x-ms-asf",
]

_URL_RE = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_MENTION_RE = re.compile(r"(?<![/\w])@([a-z0-9_]+)(?:@([a-z0-9.\-]+[a-z0-9]))?", re.IGNORECASE)
_TOKEN_RE = re.compile(
    r"(https?://[^\s<>\"]+)|(?<![/\w])@([a-z0-9_]+)(?:@([a-z0-9.\-]+[a-z0-9]))?|(?<![/\w])#(\w+)",
    re.IGNORECASE,
)


@functools.cache
def _avatar_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (96, 96), (99, 100, 255)).save(buffer, "PNG")
    return buffer.getvalue()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def status_length(text: str, spoiler_text: str, reserved_per_url: int) -> int:
    """Mastodon's count: URLs as `reserved_per_url`, remote mentions without their domain, CW included."""
    import grapheme

    counted = _URL_RE.sub("x" * reserved_per_url, text)
    counted = _MENTION_RE.sub(lambda m: "@" + m.group(1), counted)
    return grapheme.length(counted) + grapheme.length(spoiler_text)


def render_content(text: str, base_url: str) -> str:
    """Plain text to HTML the way Mastodon's formatter does (links, mentions, tags, <p> and <br />)."""

    def link(url: str) -> str:
        scheme, _, rest = url.partition("://")
        prefix = scheme + "://"
        shown, hidden = (rest[:30], rest[30:]) if len(rest) > 30 else (rest, "")
        shown_class = "ellipsis" if hidden else ""
        return (
            f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
            f'<span class="invisible">{html.escape(prefix)}</span>'
            f'<span class="{shown_class}">{html.escape(shown)}</span>'
            f'<span class="invisible">{html.escape(hidden)}</span></a>'
        )

    def inline(segment: str) -> str:
        out, last = [], 0
        for match in _TOKEN_RE.finditer(segment):
            out.append(html.escape(segment[last : match.start()]))
            if match.group(1):
                out.append(link(match.group(1)))
            elif match.group(2):
                user, domain = match.group(2), match.group(3) or urlsplit(base_url).netloc
                out.append(
                    f'<span class="h-card" translate="no"><a href="https://{html.escape(domain)}/@{user}" '
                    f'class="u-url mention">@<span>{html.escape(user)}</span></a></span>'
                )
            else:
                tag = html.escape(match.group(4))
                href = f"{base_url}/tags/{tag}"
                out.append(f'<a href="{href}" class="mention hashtag" rel="tag">#<span>{tag}</span></a>')
            last = match.end()
        out.append(html.escape(segment[last:]))
        return "".join(out)

    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p]
    return "".join("<p>" + "<br />".join(inline(line) for line in p.split("\n")) + "</p>" for p in paragraphs)


@dataclass
class Fault:
    status: int
    count: int
    path: str | None = None
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def matches(self, path: str) -> bool:
        return self.path is None or path.rstrip("/") == self.path.rstrip("/") or path.startswith(self.path)


@dataclass
class LostResponse:
    path: str
    count: int
    mode: str  # "drop" (close the connection) or "hang" (answer after hang_seconds)
    hang_seconds: float


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    form: dict[str, list[str]]
    at: float


class FakeMastodon:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0):
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self.reset()
        self.latency = latency

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeMastodon:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-mastodon", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.personality = "mastodon"
            self.nodeinfo = "ok"  # "fail" (500) or "stall" (nodeinfo_stall_seconds before answering)
            self.nodeinfo_stall_seconds = 3.0
            self.supported_mime_types = list(DEFAULT_MIME_TYPES)
            self.image_size_limit = 16 * MB
            self.video_size_limit = 99 * MB
            self.description_limit = 1500
            self.oauth_metadata = True
            self.batch_statuses = True
            self.media_processing_polls = 0
            self.media_never_finishes = False
            self.deny_authorization = False
            self.not_mastodon = False
            self.latency = 0.0

            self.faults: list[Fault] = []
            self.lost: list[LostResponse] = []
            self.requests: list[RequestRecord] = []
            self.accounts: dict[str, dict] = {}
            self.tokens: dict[str, str] = {}
            self.revoked: set[str] = set()
            self.tokens_issued: list[str] = []
            self.apps: dict[str, dict] = {}
            self.codes: dict[str, dict] = {}
            self.authorizations: list[dict] = []
            self.media: dict[str, dict] = {}
            self.statuses: list[dict] = []
            self._by_id: dict[str, dict] = {}
            self._idempotency: dict[tuple[str, str], str] = {}
            self._replays: dict[str, tuple[int, Any, dict]] = {}  # Akkoma's global key cache
            self._ids = itertools.count(1)
            self.account = self.add_account("alice", display_name="Alice Example")
            self.token = self.issue_token(self.account["id"])

    # --- personalities (personalities.py) -----------------------------------------------------

    @property
    def personality(self) -> str:
        return self.traits.name

    @personality.setter
    def personality(self, name: str) -> None:
        """Pretend to be another server program: its version, limits and behaviours."""
        traits = PERSONALITIES[name]
        with self._lock:
            self.traits = traits
            self.version = traits.version
            self.software = traits.software
            self.max_characters = traits.max_characters
            self.max_media_attachments = traits.max_media_attachments
            self.characters_reserved_per_url = traits.characters_reserved_per_url
            self.instance_v2 = traits.instance_v2
            self.honour_idempotency = traits.idempotency == "honour"

    # --- set-up helpers ------------------------------------------------------------------------

    @property
    def domain(self) -> str:
        return urlsplit(self.url).netloc

    def _new_id(self) -> str:
        # Snowflake-like string ids, as Mastodon sends them (never integers).
        return str(110_000_000_000_000_000 + next(self._ids))

    def add_account(self, username: str, display_name: str = "") -> dict:
        with self._lock:
            account_id = self._new_id()
            account = {
                "id": account_id,
                "username": username,
                "acct": username,
                "display_name": display_name or username,
                "locked": False,
                "bot": False,
                "note": "",
                "url": f"{self.url}/@{username}",
                "uri": f"{self.url}/users/{username}",
                "avatar": f"{self.url}/avatars/{username}.png",
                "avatar_static": f"{self.url}/avatars/{username}.png",
                "header": "",
                "header_static": "",
                "followers_count": 0,
                "following_count": 0,
                "statuses_count": 0,
                "created_at": _iso(datetime.now(UTC)),
                "emojis": [],
                "fields": [],
            }
            self.accounts[account_id] = account
            return account

    def issue_token(self, account_id: str | None = None) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self.tokens[token] = account_id or self.account["id"]
        return token

    def revoke(self, token: str) -> None:
        with self._lock:
            self.revoked.add(token)

    def set_counts(self, status_id: str, *, favourites=None, reblogs=None, replies=None, quotes=None) -> None:
        with self._lock:
            status = self._by_id[status_id]
            for key, value in (
                ("favourites_count", favourites),
                ("reblogs_count", reblogs),
                ("replies_count", replies),
                ("quotes_count", quotes),
            ):
                if value is not None:
                    status["json"][key] = value

    def requests_to(self, method: str, path: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.method == method and r.path.rstrip("/") == path.rstrip("/")]

    # --- misbehaviour --------------------------------------------------------------------------

    def fail_next(
        self, status: int, count: int = 1, path: str | None = None, error: str | None = None
    ) -> None:
        body = {
            "error": error
            or {401: "The access token is invalid", 422: "Validation failed"}.get(status, "Error")
        }
        with self._lock:
            self.faults.append(Fault(status=status, count=count, path=path, body=body))

    def rate_limit_next(
        self,
        count: int = 1,
        path: str | None = None,
        reset_in: float = 30,
        style: str | None = None,
        extra_headers: dict | None = None,
    ) -> None:
        """Answer 429 in the personality's style (or `style`: see Personality.rate_limit);
        `extra_headers` are sent as well (a second Date header, an unreadable reset time)."""
        headers = rate_limit_headers(style or self.traits.rate_limit, reset_in)
        headers.update(extra_headers or {})
        body = {"error": self.traits.rate_limit_error}
        with self._lock:
            self.faults.append(Fault(status=429, count=count, path=path, body=body, headers=headers))

    def lose_next_response(
        self, path: str = "/api/v1/statuses", count: int = 1, mode: str = "drop", hang_seconds: float = 5.0
    ) -> None:
        with self._lock:
            self.lost.append(LostResponse(path=path, count=count, mode=mode, hang_seconds=hang_seconds))

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.count > 0 and fault.matches(path):
                    fault.count -= 1
                    return fault
        return None

    def _take_lost(self, method: str, path: str) -> LostResponse | None:
        if method != "POST":
            return None
        with self._lock:
            for lost in self.lost:
                if lost.count > 0 and path.rstrip("/") == lost.path.rstrip("/"):
                    lost.count -= 1
                    return lost
        return None

    # --- JSON shapes ---------------------------------------------------------------------------

    def instance_v2_json(self) -> dict:
        return {
            "domain": self.domain,
            "title": "Fake Mastodon",
            "version": self.version,
            "source_url": "https://github.com/mastodon/mastodon",
            "description": "A fake server for tests.",
            "usage": {"users": {"active_month": len(self.accounts)}},
            "thumbnail": {"url": f"{self.url}/thumbnail.png"},
            "languages": ["en"],
            "configuration": {
                "urls": {"streaming": self.url.replace("http", "ws", 1)},
                "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
                "statuses": {
                    "max_characters": self.max_characters,
                    "max_media_attachments": self.max_media_attachments,
                    "characters_reserved_per_url": self.characters_reserved_per_url,
                },
                "media_attachments": {
                    "supported_mime_types": self.supported_mime_types,
                    "description_limit": self.description_limit,
                    "image_size_limit": self.image_size_limit,
                    "image_matrix_limit": 33177600,
                    "video_size_limit": self.video_size_limit,
                    "video_frame_rate_limit": 120,
                    "video_matrix_limit": 8294400,
                },
                "polls": {"max_options": 4, "max_characters_per_option": 50},
                "translation": {"enabled": False},
            },
            "registrations": {"enabled": False, "approval_required": False, "message": None},
            "contact": {"email": "admin@example.org", "account": None},
            "rules": [],
            "api_versions": {"mastodon": 2},
        }

    def instance_v1_json(self) -> dict:
        if self.traits.v1_style == "pleroma" or not self.instance_v2:
            # Pleroma/Akkoma, Pixelfed: a Mastodon-compatible version string and max_toot_chars.
            return {
                "uri": self.url,
                "title": f"Fake {self.personality}",
                "version": self.version
                if self.traits.v1_style == "pleroma"
                else f"2.7.2 (compatible; {self.software.capitalize()} 2.6.0)",
                "max_toot_chars": self.max_characters,
                "max_media_attachments": self.max_media_attachments,
                "upload_limit": self.image_size_limit,
                "description_limit": self.description_limit,
                "languages": ["en"],
                "registrations": False,
                "stats": {"user_count": len(self.accounts)},
            }
        return {
            "uri": self.domain,
            "title": "Fake Mastodon",
            "version": self.version,
            "languages": ["en"],
            "registrations": False,
            "stats": {"user_count": len(self.accounts)},
            "configuration": self.instance_v2_json()["configuration"],
        }

    def _media_json(self, media: dict) -> dict:
        ready = media["ready"]
        return {
            "id": media["id"],
            "type": media["kind"],
            "url": f"{self.url}/media/{media['id']}" if ready else None,
            "preview_url": f"{self.url}/media/{media['id']}/small" if ready else None,
            "remote_url": None,
            "text_url": None,
            "meta": {},
            "description": media["description"] or None,
            "blurhash": None,
        }

    # --- request handling ----------------------------------------------------------------------

    def handle(self, req: _Handler, method: str) -> None:
        parts = urlsplit(req.path)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        body = req.read_body()
        content_type = req.headers.get("Content-Type", "")
        form: dict[str, list[str]] = {}
        files: dict[str, dict] = {}
        if content_type.startswith("multipart/form-data"):
            form, files = _parse_multipart(content_type, body)
        elif content_type.startswith("application/json") and body:
            form = {k: (v if isinstance(v, list) else [v]) for k, v in json.loads(body).items()}
        elif body:
            form = parse_qs(body.decode(), keep_blank_values=True)
        with self._lock:
            self.requests.append(
                RequestRecord(method, path, query, {k: v for k, v in req.headers.items()}, form, time.time())
            )
        if self.latency:
            time.sleep(self.latency)
        if self.not_mastodon:
            return req.send_html(200, "<!doctype html><html><body><h1>Welcome to my blog</h1></body></html>")
        if method == "GET" and path.startswith("/avatars/"):
            # The dashboard shows the account's avatar.
            return req._send(200, _avatar_png(), "image/png")
        key = req.headers.get("Idempotency-Key") if method == "POST" else None
        if key and self.traits.idempotency == "replay":
            with self._lock:
                replay = self._replays.get(key)
            if replay is not None:
                status, payload, headers = replay
                return req.send_json(status, payload, {**headers, "idempotent-replayed": "true"})
        fault = self._take_fault(path)
        if fault is not None:
            if key and self.traits.idempotency == "replay":
                with self._lock:
                    self._replays[key] = (fault.status, fault.body, {})
            return req.send_json(fault.status, fault.body, fault.headers)
        lost = self._take_lost(method, path)
        status, payload, headers = self.route(method, path, query, form, files, req.headers)
        if key and self.traits.idempotency == "replay" and not isinstance(payload, str):
            with self._lock:
                self._replays[key] = (status, payload, {})
        if lost is not None:
            if lost.mode == "drop":
                req.drop()
                return
            time.sleep(lost.hang_seconds)
        if status in (301, 302, 303):
            return req.send_redirect(status, payload)
        if isinstance(payload, str):
            return req.send_html(status, payload)
        req.send_json(status, payload, headers)

    def route(self, method, path, query, form, files, headers):  # noqa: C901 (a router reads best flat)
        if path in ("/api/v1/instance/", "/api/v2/instance/") and not self.traits.instance_trailing_slash:
            return 404, {"error": "Not Found"}, {}
        path = path.rstrip("/") or "/"
        one = {k: v[0] for k, v in form.items() if v}
        if method == "GET" and path == "/.well-known/oauth-authorization-server":
            if not self.oauth_metadata:
                return 404, {"error": "Not Found"}, {}
            return 200, self._oauth_metadata(), {}
        if method == "GET" and path == "/.well-known/nodeinfo":
            if self.nodeinfo == "fail":
                return 500, {"error": "Internal server error"}, {}
            if self.nodeinfo == "stall":
                time.sleep(self.nodeinfo_stall_seconds)
            href = f"{self.url}/nodeinfo/2.0"
            return (
                200,
                {"links": [{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0", "href": href}]},
                {},
            )
        if method == "GET" and path == "/nodeinfo/2.0":
            return 200, self._nodeinfo(), {}
        if method == "GET" and path == "/api/v2/instance":
            if not self.instance_v2:
                return 404, {"error": "Not Found"}, {}
            return 200, self.instance_v2_json(), {}
        if method == "GET" and path == "/api/v1/instance":
            return 200, self.instance_v1_json(), {}
        if method == "POST" and path == "/api/v1/apps":
            return self._create_app(one)
        if method == "GET" and path == "/oauth/authorize":
            return self._authorize({k: v[0] for k, v in query.items()})
        if method == "POST" and path == "/oauth/token":
            return self._token(one)

        # Everything below needs a valid bearer token.
        account, error = self._authenticate(headers)
        if error:
            return 401, {"error": error}, {}
        limits = {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "299",
            "X-RateLimit-Reset": _iso(datetime.now(UTC) + timedelta(minutes=5)),
        }
        if method == "GET" and path == "/api/v1/accounts/verify_credentials":
            source = {"privacy": "public", "sensitive": False, "language": "en", "note": "", "fields": []}
            return 200, {**account, "source": source}, limits
        if method == "POST" and path in ("/api/v2/media", "/api/v1/media"):
            return (*self._upload(account, one, files, synchronous=path == "/api/v1/media"), limits)
        if method == "GET" and (m := re.fullmatch(r"/api/v1/media/([^/]+)", path)):
            return (*self._poll_media(account, m.group(1)), limits)
        if method == "POST" and path == "/api/v1/statuses":
            return (*self._post_status(account, form, headers), limits)
        if method == "GET" and path == "/api/v1/statuses":
            if not self.batch_statuses:
                return 404, {"error": "Not Found"}, limits
            ids = query.get("id[]", [])
            with self._lock:
                found = [self._by_id[i]["json"] for i in ids if i in self._by_id]
            return 200, found, limits
        if method == "GET" and (m := re.fullmatch(r"/api/v1/statuses/([^/]+)", path)):
            with self._lock:
                status = self._by_id.get(m.group(1))
            if status is None:
                return 404, {"error": "Record not found"}, limits
            return 200, status["json"], limits
        if method == "GET" and (m := re.fullmatch(r"/api/v1/accounts/([^/]+)/statuses", path)):
            return self._account_statuses(m.group(1), query, limits)
        return 404, {"error": "Not Found"}, {}

    # --- OAuth -------------------------------------------------------------------------------

    def _oauth_metadata(self) -> dict:
        return {
            "issuer": self.url + "/",
            "service_documentation": "https://docs.joinmastodon.org/",
            "authorization_endpoint": f"{self.url}/oauth/authorize",
            "token_endpoint": f"{self.url}/oauth/token",
            "app_registration_endpoint": f"{self.url}/api/v1/apps",
            "revocation_endpoint": f"{self.url}/oauth/revoke",
            "scopes_supported": ["read", "write", "follow", "push", "profile"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    def _nodeinfo(self) -> dict:
        return {
            "version": "2.0",
            "software": {"name": self.software, "version": self.version},
            "protocols": ["activitypub"],
            "services": {"outbound": [], "inbound": []},
            "usage": {"users": {"total": len(self.accounts)}, "localPosts": len(self.statuses)},
            "openRegistrations": False,
            "metadata": {},
        }

    def _create_app(self, form: dict):
        redirect_uris = [u for u in form.get("redirect_uris", "").split("\n") if u]
        if not form.get("client_name"):
            return 422, {"error": "Validation failed: Application name can't be blank"}, {}
        for uri in redirect_uris:
            if uri != "urn:ietf:wg:oauth:2.0:oob" and not urlsplit(uri).scheme:
                return 422, {"error": "Validation failed: Redirect URI must be an absolute URI."}, {}
        if not redirect_uris:
            return 422, {"error": "Validation failed: Redirect URI can't be blank"}, {}
        app = {
            "id": self._new_id(),
            "name": form["client_name"],
            "website": form.get("website"),
            "scopes": form.get("scopes", "read").split(),
            "redirect_uri": "\n".join(redirect_uris),
            "redirect_uris": redirect_uris,
            "client_id": secrets.token_urlsafe(24),
            "client_secret": secrets.token_urlsafe(24),
            "vapid_key": "fake",
        }
        with self._lock:
            self.apps[app["client_id"]] = app
        return 200, app, {}

    def _authorize(self, params: dict):
        with self._lock:
            self.authorizations.append(params)
            app = self.apps.get(params.get("client_id", ""))
        if app is None:
            return 400, "<p>Client authentication failed due to unknown client.</p>", {}
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in app["redirect_uris"]:
            return 400, "<p>The redirect uri included is not valid.</p>", {}
        if not set(params.get("scope", "read").split()) <= set(app["scopes"]):
            return 400, "<p>The requested scope is invalid, unknown, or malformed.</p>", {}
        state = params.get("state")
        if self.deny_authorization:
            answer = {
                "error": "access_denied",
                "error_description": "The resource owner or authorization server denied the request.",
            }
        else:
            code = secrets.token_urlsafe(16)
            with self._lock:
                self.codes[code] = {
                    "client_id": app["client_id"],
                    "redirect_uri": redirect_uri,
                    "account_id": self.account["id"],
                    "scope": params.get("scope", "read"),
                }
            answer = {"code": code}
        if state is not None:
            answer["state"] = state
        return 302, f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(answer)}", {}

    def _token(self, form: dict):
        app = self.apps.get(form.get("client_id", ""))
        if app is None or app["client_secret"] != form.get("client_secret"):
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed."}, {}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}, {}
        with self._lock:
            grant = self.codes.pop(form.get("code", ""), None)
        if (
            grant is None
            or grant["client_id"] != app["client_id"]
            or grant["redirect_uri"] != form.get("redirect_uri")
        ):
            return (
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "The provided authorization grant is invalid, expired, revoked, "
                    "does not match the redirection URI used in the authorization request, or was issued "
                    "to another client.",
                },
                {},
            )
        token = self.issue_token(grant["account_id"])
        with self._lock:
            self.tokens_issued.append(token)
        answer = {
            "access_token": token,
            "token_type": "Bearer",
            "scope": grant["scope"],
            "created_at": int(time.time()),
        }
        return 200, answer, {}

    def _authenticate(self, headers) -> tuple[dict | None, str | None]:
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None, "The access token is invalid"
        token = auth.removeprefix("Bearer ")
        with self._lock:
            if token in self.revoked:
                return None, "The access token was revoked"
            account_id = self.tokens.get(token)
            if account_id is None:
                return None, "The access token is invalid"
            return self.accounts[account_id], None

    # --- media ---------------------------------------------------------------------------------

    def _upload(self, account: dict, form: dict, files: dict, synchronous: bool):
        upload = files.get("file")
        if upload is None:
            return 422, {"error": "Validation failed: File can't be blank"}
        mime = upload["content_type"]
        if mime not in self.supported_mime_types:
            return 422, {
                "error": "Validation failed: File content type is invalid, File file name is invalid"
            }
        kind = mime.split("/")[0] if mime.split("/")[0] in ("image", "video", "audio") else "unknown"
        limit = self.image_size_limit if kind == "image" else self.video_size_limit
        if len(upload["data"]) > limit:
            return 422, {"error": f"Validation failed: File file size must be less than {limit // MB} MB"}
        description = form.get("description", "")
        if len(description) > self.description_limit:
            return 422, {
                "error": f"Validation failed: Description is too long (maximum is "
                f"{self.description_limit} characters)"
            }
        processing = not synchronous and (self.media_never_finishes or self.media_processing_polls > 0)
        media = {
            "id": self._new_id(),
            "account_id": account["id"],
            "kind": kind,
            "mime_type": mime,
            "file_name": upload["filename"],
            "size": len(upload["data"]),
            "data": upload["data"],
            "description": description,
            "focus": form.get("focus"),
            "ready": not processing,
            "polls_left": self.media_processing_polls,
            "status_id": None,
        }
        with self._lock:
            self.media[media["id"]] = media
        return (202 if processing else 200), self._media_json(media)

    def _poll_media(self, account: dict, media_id: str):
        with self._lock:
            media = self.media.get(media_id)
            if media is None or media["account_id"] != account["id"] or media["status_id"] is not None:
                return 404, {"error": "Record not found"}
            if not media["ready"] and not self.media_never_finishes:
                media["polls_left"] -= 1
                if media["polls_left"] <= 0:
                    media["ready"] = True
            return (200 if media["ready"] else 206), self._media_json(media)

    # --- statuses ------------------------------------------------------------------------------

    def _post_status(self, account: dict, form: dict[str, list[str]], headers):  # noqa: C901
        one = {k: v[0] for k, v in form.items() if v}
        key = headers.get("Idempotency-Key")
        traits = self.traits
        with self._lock:
            if key and self.honour_idempotency and (account["id"], key) in self._idempotency:
                return 200, self._by_id[self._idempotency[(account["id"], key)]]["json"]
            if key and traits.idempotency == "reject_repeat":
                # Pixelfed records the key before it creates anything.
                if (account["id"], key) in self._idempotency:
                    return 400, {"error": "Duplicate idempotency key."}
                self._idempotency[(account["id"], key)] = ""
        text = one.get("status", "")
        spoiler = one.get("spoiler_text", "")
        media_ids = form.get("media_ids[]", []) or form.get("media_ids", [])
        visibility = one.get("visibility", "public")
        if visibility not in traits.visibilities:
            return 422, {"error": "Validation failed: Visibility is not included in the list"}
        if traits.media_required and not media_ids and not one.get("in_reply_to_id"):
            return 403, {"error": "Empty statuses are not allowed"}
        if not text.strip() and not media_ids:
            return 422, {"error": "Validation failed: Text can't be blank"}
        if traits.counting == "caption" and len(spoiler) > 140:
            return 422, {"error": "The spoiler text may not be greater than 140 characters."}
        length = count(
            traits,
            text,
            spoiler,
            lambda t, w: status_length(t, w, self.characters_reserved_per_url),
        )
        if length > self.max_characters:
            return 422, {
                "error": f"Validation failed: Text character limit of {self.max_characters} exceeded"
            }
        title = ""
        if (
            traits.warning_as_title
            and spoiler
            and not one.get("in_reply_to_id")
            and "friendica.title" not in one
        ):
            title, spoiler = spoiler, ""
        if len(media_ids) > self.max_media_attachments:
            return 422, {"error": f"Cannot attach more than {self.max_media_attachments} files"}
        with self._lock:
            attached = []
            for media_id in media_ids:
                media = self.media.get(media_id)
                if media is None or media["account_id"] != account["id"] or media["status_id"] is not None:
                    return 422, {"error": f"Could not find media with IDs {media_id}"}
                if not media["ready"]:
                    return 422, {
                        "error": "Cannot attach files that have not finished processing. "
                        "Try again in a moment!"
                    }
                attached.append(media)
            kinds = {m["kind"] for m in attached}
            if len(attached) > 1 and kinds & {"video", "audio"}:
                return 422, {"error": "Cannot attach a video to a post that already contains images"}
            reply_to = one.get("in_reply_to_id")
            parent = self._by_id.get(reply_to) if reply_to else None
            if reply_to and parent is None:
                return 404, {"error": "The post you are trying to reply to does not appear to exist."}
            status_id = self._new_id()
            for media in attached:
                media["status_id"] = status_id
            now = datetime.now(UTC)
            sensitive = one.get("sensitive") in ("1", "true", "True")
            status_json = {
                "id": status_id,
                "created_at": _iso(now),
                "in_reply_to_id": reply_to,
                "in_reply_to_account_id": parent["account_id"] if parent else None,
                "sensitive": sensitive,
                "spoiler_text": spoiler,
                "visibility": visibility,
                "language": one.get("language") or "en",
                "uri": f"{self.url}/users/{account['username']}/statuses/{status_id}",
                "url": f"{self.url}/@{account['username']}/{status_id}",
                "replies_count": 0,
                "reblogs_count": 0,
                "favourites_count": 0,
                "quotes_count": 0,
                "edited_at": None,
                "favourited": False,
                "reblogged": False,
                "muted": False,
                "bookmarked": False,
                "pinned": False,
                "content": (f"<h4>{html.escape(title)}</h4>" if title else "")
                + render_content(text, self.url),
                "text": {"null": None, "plain": text, "html": render_content(text, self.url)}[
                    traits.text_field
                ],
                "filtered": [],
                "reblog": None,
                "application": {"name": "fake", "website": None},
                "account": account,
                "media_attachments": [self._media_json(m) for m in attached],
                "mentions": [],
                "tags": [],
                "emojis": [],
                "card": None,
                "poll": None,
            }
            record = {
                "id": status_id,
                "account_id": account["id"],
                "text": text,
                "spoiler_text": spoiler,
                "visibility": visibility,
                "sensitive": sensitive,
                "language": one.get("language"),
                "in_reply_to_id": reply_to,
                "media": [
                    {
                        "id": m["id"],
                        "description": m["description"],
                        "mime_type": m["mime_type"],
                        "size": m["size"],
                        "file_name": m["file_name"],
                    }
                    for m in attached
                ],
                "idempotency_key": key,
                "title": title,
                "json": status_json,
            }
            self.statuses.append(record)
            self._by_id[status_id] = record
            account["statuses_count"] += 1
            if parent is not None:
                parent["json"]["replies_count"] += 1
            if key and traits.idempotency == "honour":
                self._idempotency[(account["id"], key)] = status_id
        return 200, status_json

    def _account_statuses(self, account_id: str, query: dict, limits: dict):
        limit = min(int((query.get("limit") or ["20"])[0]), 40)
        max_id = (query.get("max_id") or [None])[0]
        with self._lock:
            if account_id not in self.accounts:
                return 404, {"error": "Record not found"}, limits
            own = [s for s in reversed(self.statuses) if s["account_id"] == account_id]
        if max_id:
            own = [s for s in own if int(s["id"]) < int(max_id)]
        page = own[:limit]
        headers = dict(limits)
        if len(own) > limit:
            headers["Link"] = (
                f"<{self.url}/api/v1/accounts/{account_id}/statuses?limit={limit}&max_id={page[-1]['id']}>; "
                f'rel="next"'
            )
        return 200, [s["json"] for s in page], headers


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, list[str]], dict[str, dict]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    form: dict[str, list[str]] = {}
    files: dict[str, dict] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        data = part.get_payload(decode=True) or b""
        if filename is not None:
            files[name] = {"filename": filename, "content_type": part.get_content_type(), "data": data}
        else:
            form.setdefault(name, []).append(data.decode())
    return form, files


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle on, each answer waits for a delayed ACK.
    disable_nagle_algorithm = True
    fake: FakeMastodon

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # the fake records requests itself; stderr noise helps nobody

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send_json(self, status: int, payload: Any, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8", headers)

    def send_html(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/html; charset=utf-8")

    def send_redirect(self, status: int, location: str) -> None:
        self._send(status, b"", "text/html; charset=utf-8", {"Location": location})

    def drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.fake.handle(self, "GET")

    def do_POST(self):  # noqa: N802
        self.fake.handle(self, "POST")

    def do_PUT(self):  # noqa: N802
        self.fake.handle(self, "PUT")

    def do_DELETE(self):  # noqa: N802
        self.fake.handle(self, "DELETE")


def _handler_for(fake: FakeMastodon) -> type[_Handler]:
    return type("FakeMastodonHandler", (_Handler,), {"fake": fake})


# --- pytest fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _fake_mastodon_server():
    server = FakeMastodon().start()
    yield server
    server.stop()


@pytest.fixture
def fake_mastodon(_fake_mastodon_server):
    _fake_mastodon_server.reset()
    yield _fake_mastodon_server
    _fake_mastodon_server.reset()


@pytest.fixture
def mastodon_channel(cast, fake_mastodon):
    from channels.models import Channel
    from channels.networks.mastodon.connecting import connect_with_token

    account = connect_with_token(fake_mastodon.url, fake_mastodon.token)
    return Channel.objects.save_connected(cast.workspace, account)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Mastodon server until killed.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    server = FakeMastodon(port=args.port, latency=args.latency_ms / 1000)
    print(f"Fake Mastodon on {server.url} (token {server.token})", flush=True)
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._server.server_close()


if __name__ == "__main__":
    main()
