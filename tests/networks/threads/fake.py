"""A fake Threads Graph API server: a real HTTP server on 127.0.0.1 that the adapter talks to unchanged.

It speaks the parts of graph.threads.net the scheduler uses (paths work with or without the /v1.0
prefix): OAuth (/oauth/authorize, which redirects back with a code; /oauth/access_token;
/access_token?grant_type=th_exchange_token; /refresh_access_token), /me, containers
(POST /{user}/threads, GET /{container}?fields=status,error_message), POST /{user}/threads_publish,
GET /{media}?fields=permalink,..., GET /{user}/threads and /{user}/replies, GET
/{user}/threads_publishing_limit and GET /{media}/insights. Errors use Meta's envelope
{"error": {"message", "type", "code", "error_subcode", "error_user_msg", "fbtrace_id"}}.

Fixtures (pytest picks them up through tests/conftest.py's pytest_plugins):

``fake_threads``
    The server (one per test session), reset for every test, with Django settings pointed at it:
    THREADS_GRAPH_URL=<url>/v1.0, THREADS_OAUTH_URL=<url>/oauth/authorize, THREADS_APP_ID/SECRET set to
    the fake app's, THREADS_MEDIA_REQUIRE_PUBLIC_URL=False (SITE_URL is localhost in tests) and short
    waits (THREADS_POLL_FIRST_DELAY, THREADS_CONTAINER_WAIT_SECONDS, THREADS_MEDIA_NOT_FOUND_DELAY).
``threads_channel``
    A Channel in cast.workspace connected through the real OAuth code path
    (fake.grant_code() + connect_with_code + Channel.objects.save_connected), token_expires set.

What it records, for assertions:
    fake.requests       every request: Recorded(method, path, params) (params merge query and form body)
    fake.containers     {container_id: {"params", "status", "error_message", "user_id", ...}}
    fake.posts          published media, in order: {"id", "text", "media_type", "reply_to_id",
                        "topic_tag", "link_attachment", "image_url", "video_url", "alt_text",
                        "children": [child container params...], "permalink", "timestamp", ...}
    fake.publish_calls  number of POST .../threads_publish received
    fake.tokens         {token: Token(user_id, kind, scopes, expires_at, revoked)}

How to make it misbehave (all reset between tests):
    fake.latency = 0.1                            seconds before every answer
    fake.next_container(finish_after=3)           the next container answers IN_PROGRESS 3 times first
    fake.next_container(stuck=True)               ... stays IN_PROGRESS until fake.finish(container_id)
    fake.next_container(error="FAILED_PROCESSING_VIDEO")   ... ends in ERROR with that error_message
    fake.next_container(expired=True)             ... is EXPIRED
    fake.default_finish_after = N                 for every container not scripted
    fake.media_not_found(times=2)                 the next 2 publish calls answer code 24 / 4279009
    fake.fail(path="threads_publish", status=500, code=2, times=1, method="POST", subcode=None,
              message=..., headers={...}, user_msg=..., extra={...})   answer an error envelope instead
    fake.fail(path=..., drop=True)                close the connection without answering
    fake.fail(path=..., skip=3)                   ... only from the 4th matching request on
    fake.lose_response(path="threads_publish")    do the work, then close the connection without answering
    fake.throttle(times=1, retry_after=120)       HTTP 429 with code 4 and a Retry-After header
    fake.refresh_mode = "ok" | "no_token" | "error190"
    fake.revoke(token)                            that token now answers code 190
    fake.quota_used = 250                         publishing limit usage (plus posts published here)
    fake.fetch_media = True                       fetch image_url/video_url on container creation;
                                                  an unreachable one makes the container ERROR
    fake.set_insights(media_id, likes=..., views=...)

Outside pytest: ``python -m tests.networks.threads.fake --port 8765 --latency-ms 100`` serves until killed
and prints its URL, app id/secret and a ready long-lived token; or use ``FakeThreads().start()`` /
``.stop()`` and ``.url``.

One module of ~800 lines, on purpose: the server's state, its routes and the misbehaviours above share one
lock and the records tests assert on, and tests/conftest.py registers the fixtures under this module's name.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

APP_ID = "1234567890"
APP_SECRET = "fake-threads-app-secret-5c1e"
LONG_LIVED_SECONDS = 60 * 24 * 3600
SHORT_LIVED_SECONDS = 3600
URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]


@dataclass
class Token:
    user_id: str
    kind: str  # "short" or "long"
    scopes: list[str]
    expires_at: datetime
    revoked: bool = False
    created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Failure:
    path: str
    method: str | None
    times: int
    status: int = 500
    code: int | None = 2
    subcode: int | None = None
    message: str = "An unexpected error has occurred. Please retry your request later."
    user_msg: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    drop: bool = False  # close the connection instead of answering
    skip: int = 0  # let this many matching requests through first
    after: bool = False  # do the work first (the answer is lost, the effect is not)


class _Answer(Exception):
    """Raised inside a handler to answer with an error envelope."""

    def __init__(self, status: int, code: int, message: str, subcode: int | None = None, **extra):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": extra.pop("type", "OAuthException"), "code": code}}
        if subcode is not None:
            self.body["error"]["error_subcode"] = subcode
        self.body["error"].update(extra)
        self.body["error"]["fbtrace_id"] = "Afake" + secrets.token_hex(6)
        self.headers: dict[str, str] = {}


class FakeThreads:
    """The fake server and its state. Thread-safe: one lock around every request's work."""

    def __init__(self, port: int = 0, latency: float = 0.0):
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self.reset()
        self.latency = latency

    # -- lifecycle

    def start(self) -> FakeThreads:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-threads", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"

    def reset(self) -> None:
        with self._lock:
            self.latency = 0.0
            self.requests: list[Recorded] = []
            self.users: dict[str, dict[str, str]] = {}
            self.tokens: dict[str, Token] = {}
            self.codes: dict[str, dict[str, Any]] = {}
            self.containers: dict[str, dict[str, Any]] = {}
            self.posts: list[dict[str, Any]] = []
            self.media: dict[str, dict[str, Any]] = {}
            self.insights: dict[str, dict[str, int]] = {}
            self.failures: list[Failure] = []
            self.container_scripts: list[dict[str, Any]] = []
            self.default_finish_after = 0
            self._media_not_found = 0
            self.publish_calls = 0
            self.refresh_mode = "ok"
            self.quota_used = 0
            self.quota_total = 250
            self.fetch_media = False
            self.app_id, self.app_secret = APP_ID, APP_SECRET
            self._ids = itertools.count(17_900_000_000_000_001)
            self.default_user = self.add_user(
                "acme.threads", user_id="25000000000000001", name="Acme on Threads"
            )

    # -- set-up helpers

    def add_user(self, username: str, user_id: str | None = None, name: str = "") -> str:
        user_id = user_id or str(next(self._ids))
        self.users[user_id] = {
            "id": user_id,
            "username": username,
            "name": name or username,
            "threads_profile_picture_url": f"https://cdn.example.net/{username}.jpg",
        }
        return user_id

    def issue_token(
        self, user_id: str | None = None, kind: str = "long", scopes: list[str] | None = None, expires_in=None
    ) -> str:
        token = f"TH{'L' if kind == 'long' else 'S'}{secrets.token_urlsafe(24)}"
        seconds = expires_in if expires_in is not None else (LONG_LIVED_SECONDS if kind == "long" else 3600)
        self.tokens[token] = Token(
            user_id=user_id or self.default_user,
            kind=kind,
            scopes=list(
                scopes
                or [
                    "threads_basic",
                    "threads_content_publish",
                    "threads_manage_insights",
                    "threads_read_replies",
                ]
            ),
            expires_at=datetime.now(UTC) + timedelta(seconds=seconds),
        )
        return token

    def grant_code(
        self, redirect_uri: str, user_id: str | None = None, scopes: list[str] | None = None
    ) -> str:
        """What /oauth/authorize does when the person clicks "Allow": a one-time code."""
        code = "code-" + secrets.token_urlsafe(16)
        self.codes[code] = {
            "redirect_uri": redirect_uri,
            "user_id": user_id or self.default_user,
            "scopes": scopes,
        }
        return code

    def revoke(self, token: str) -> None:
        self.tokens[token].revoked = True

    def next_container(
        self, *, finish_after: int = 0, stuck: bool = False, error: str = "", expired: bool = False
    ) -> None:
        self.container_scripts.append(
            {"finish_after": finish_after, "stuck": stuck, "error": error, "expired": expired}
        )

    def finish(self, container_id: str) -> None:
        container = self.containers[container_id]
        container["stuck"] = False
        container["polls_left"] = 0
        if container["status"] == "IN_PROGRESS":
            container["status"] = "FINISHED"

    def expire(self, container_id: str) -> None:
        self.containers[container_id]["status"] = "EXPIRED"

    def media_not_found(self, times: int = 1) -> None:
        self._media_not_found = times

    def fail(self, path: str, *, times: int = 1, method: str | None = None, **kwargs) -> None:
        self.failures.append(Failure(path=path, method=method, times=times, **kwargs))

    def lose_response(self, path: str = "threads_publish", times: int = 1) -> None:
        self.fail(path, times=times, method="POST", drop=True, after=True)

    def throttle(self, path: str = "", times: int = 1, retry_after: int | None = None, code: int = 4) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.fail(
            path,
            times=times,
            status=429,
            code=code,
            message="Application request limit reached",
            headers=headers,
        )

    def set_insights(self, media_id: str, **values: int) -> None:
        self.insights.setdefault(media_id, {}).update(values)

    # -- views for assertions

    def calls(self, method: str, path_contains: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and path_contains in r.path]

    def container_creations(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/threads")]

    # -- request handling (called by the handler under the lock)

    def handle(self, method: str, path: str, params: dict[str, str], bearer: str) -> tuple[int, Any, dict]:
        path = re.sub(r"^/v\d+\.\d+(?=/|$)", "", "/" + path.strip("/")) or "/"
        self.requests.append(Recorded(method, path, dict(params)))
        failure = self._failure_for(method, path)
        if failure and not failure.after:
            return self._failure_answer(failure)
        try:
            status, body, headers = self._route(method, path, params, bearer)
        except _Answer as answer:
            status, body, headers = answer.status, answer.body, answer.headers
        if failure and failure.after:
            return self._failure_answer(failure)
        return status, body, headers

    def _failure_for(self, method: str, path: str) -> Failure | None:
        for failure in self.failures:
            if failure.times > 0 and failure.path in path and (failure.method in (None, method)):
                if failure.skip > 0:
                    failure.skip -= 1
                    continue
                failure.times -= 1
                return failure
        return None

    def _failure_answer(self, failure: Failure) -> tuple[int, Any, dict]:
        if failure.drop:
            return -1, None, {}
        error = {"message": failure.message, "type": "OAuthException", "code": failure.code}
        if failure.subcode is not None:
            error["error_subcode"] = failure.subcode
        if failure.user_msg:
            error["error_user_msg"] = failure.user_msg
        error.update(failure.extra)
        error["fbtrace_id"] = "Afake" + secrets.token_hex(6)
        return failure.status, {"error": error}, dict(failure.headers)

    def _route(self, method: str, path: str, params: dict[str, str], bearer: str):
        parts = path.strip("/").split("/")
        if path == "/oauth/authorize" and method == "GET":
            return self._authorize(params)
        if path == "/oauth/access_token" and method == "POST":
            return self._code_for_token(params)
        if path == "/access_token" and method == "GET":
            return self._exchange(params)
        if path == "/refresh_access_token" and method == "GET":
            return self._refresh(params)
        if path == "/debug_token":
            raise _Answer(400, 100, "Unsupported get request.")
        token = self._token(params, bearer)
        user_id = token.user_id
        if len(parts) == 1 and method == "GET":
            if parts[0] == "me" or parts[0] == user_id:
                return 200, self._fields(self.users[user_id], params, default="id"), {}
            return self._get_object(parts[0], params, user_id)
        if len(parts) == 2:
            owner, edge = parts
            if edge == "insights" and method == "GET":
                return self._insights(owner, params, token)
            if owner not in ("me", user_id):
                raise _Answer(400, 100, "Unsupported request: the object does not belong to this user.")
            if edge == "threads" and method == "POST":
                return self._create_container(params, token)
            if edge == "threads_publish" and method == "POST":
                return self._publish(params, token)
            if edge in ("threads", "replies") and method == "GET":
                return self._list(user_id, params, replies=edge == "replies")
            if edge == "threads_publishing_limit" and method == "GET":
                return self._quota(user_id, params)
        raise _Answer(400, 100, f"Unsupported {method.lower()} request.", type="GraphMethodException")

    # -- auth

    def _token(self, params: dict[str, str], bearer: str) -> Token:
        value = params.get("access_token") or bearer
        if not value:
            raise _Answer(400, 190, "An active access token must be used to query information.")
        token = self.tokens.get(value)
        if token is None or token.revoked:
            raise _Answer(400, 190, "Error validating access token: the session has been invalidated.", 460)
        if token.expires_at < datetime.now(UTC):
            raise _Answer(400, 190, "Error validating access token: Session has expired.", 463)
        return token

    def _authorize(self, params):
        if params.get("client_id") != self.app_id:
            raise _Answer(400, 100, "Invalid platform app", type="OAuthException")
        code = self.grant_code(params.get("redirect_uri", ""), scopes=params.get("scope", "").split(","))
        query = urlencode({"code": code, "state": params.get("state", "")})
        separator = "&" if "?" in params.get("redirect_uri", "") else "?"
        return 302, None, {"Location": f"{params.get('redirect_uri', '')}{separator}{query}#_"}

    def _code_for_token(self, params):
        if params.get("client_id") != self.app_id or params.get("client_secret") != self.app_secret:
            raise _Answer(400, 101, "Error validating client secret.")
        if params.get("grant_type") != "authorization_code":
            raise _Answer(400, 100, "Invalid grant_type.")
        grant = self.codes.pop(params.get("code", ""), None)
        if grant is None:
            raise _Answer(400, 100, "Invalid verification code format.", 36008)
        if grant["redirect_uri"] != params.get("redirect_uri"):
            raise _Answer(
                400,
                100,
                "Error validating verification code. Please make sure your redirect_uri is "
                "identical to the one you used in the OAuth dialog request",
                36008,
            )
        token = self.issue_token(grant["user_id"], kind="short", scopes=grant["scopes"])
        return 200, {"access_token": token, "user_id": int(grant["user_id"])}, {}

    def _exchange(self, params):
        if params.get("grant_type") != "th_exchange_token":
            raise _Answer(400, 100, "Invalid grant_type.")
        if params.get("client_secret") != self.app_secret:
            raise _Answer(400, 101, "Error validating client secret.")
        short = self._token(params, "")
        if short.kind != "short":
            raise _Answer(400, 100, "Only short-lived tokens can be exchanged.")
        token = self.issue_token(short.user_id, kind="long", scopes=short.scopes)
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS}, {}

    def _refresh(self, params):
        if params.get("grant_type") != "th_refresh_token":
            raise _Answer(400, 100, "Invalid grant_type.")
        if self.refresh_mode == "error190":
            raise _Answer(400, 190, "Error validating access token: the session has been invalidated.", 460)
        old = self._token(params, "")
        if old.kind != "long":
            raise _Answer(400, 190, "Only long-lived tokens can be refreshed.")
        if self.refresh_mode == "no_token":
            return 200, {"token_type": "bearer"}, {}
        token = self.issue_token(old.user_id, kind="long", scopes=old.scopes)
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS}, {}

    def _need(self, token: Token, scope: str) -> None:
        if scope not in token.scopes:
            raise _Answer(403, 10, f"Application does not have permission for this action ({scope}).")

    # -- containers and publishing

    def _create_container(self, params, token: Token):
        self._need(token, "threads_content_publish")
        media_type = params.get("media_type", "")
        text = params.get("text", "")
        carousel_item = params.get("is_carousel_item") == "true"
        if media_type not in ("TEXT", "IMAGE", "VIDEO", "CAROUSEL"):
            raise _Answer(400, 100, "Param media_type must be one of {TEXT, IMAGE, VIDEO, CAROUSEL}.")
        if media_type == "TEXT" and not text:
            raise _Answer(400, 100, "Param text is required for TEXT posts.")
        if len(text.encode("utf-8")) > 500:
            raise _Answer(400, 100, "Param text must be at most 500 characters long.")
        links = {m.group(0).rstrip(".,;:!?)]}'\"").lower() for m in URL_RE.finditer(text)}
        if params.get("link_attachment"):
            if media_type != "TEXT":
                raise _Answer(400, 100, "link_attachment is only supported on TEXT posts.")
            links.add(params["link_attachment"].lower())
        if len(links) > 5:
            raise _Answer(
                400,
                100,
                "THREADS_API__LINK_LIMIT_EXCEEDED",
                4279029,
                error_user_title="Too many links",
                error_user_msg="A post can contain at most 5 links.",
                type="THApiException",
            )
        topic = params.get("topic_tag", "")
        if topic and (len(topic) > 50 or "." in topic or "&" in topic):
            raise _Answer(400, 100, "Param topic_tag is invalid.")
        if media_type == "IMAGE" and not params.get("image_url"):
            raise _Answer(400, 100, "Param image_url is required for IMAGE posts.")
        if media_type == "VIDEO" and not params.get("video_url"):
            raise _Answer(400, 100, "Param video_url is required for VIDEO posts.")
        children = [c for c in params.get("children", "").split(",") if c]
        if media_type == "CAROUSEL":
            if not 2 <= len(children) <= 20:
                raise _Answer(400, 100, "A carousel needs between 2 and 20 children.")
            for child in children:
                item = self.containers.get(child)
                if not item or not item["carousel_item"] or item["user_id"] != token.user_id:
                    raise _Answer(400, 100, f"Invalid carousel child {child}.")
                if item["status"] != "FINISHED":
                    raise _Answer(
                        400,
                        24,
                        "The requested resource does not exist",
                        4279009,
                        error_user_title="Media Not Found",
                        error_user_msg=f"The media with id {child} cannot be found.",
                    )
        reply_to = params.get("reply_to_id", "")
        if reply_to and reply_to not in self.media:
            raise _Answer(400, 100, f"Param reply_to_id {reply_to} does not exist.")
        script = self.container_scripts.pop(0) if self.container_scripts else {}
        container_id = str(next(self._ids))
        status = "IN_PROGRESS"
        error_message = ""
        if script.get("error"):
            status, error_message = "ERROR", script["error"]
        elif script.get("expired"):
            status = "EXPIRED"
        if self.fetch_media and status == "IN_PROGRESS":
            url = params.get("image_url") or params.get("video_url")
            if url and not _reachable(url):
                status, error_message = "ERROR", "FAILED_DOWNLOADING_VIDEO"
        self.containers[container_id] = {
            "id": container_id,
            "params": dict(params),
            "user_id": token.user_id,
            "status": status,
            "error_message": error_message,
            "polls_left": script.get("finish_after", self.default_finish_after),
            "stuck": script.get("stuck", False),
            "carousel_item": carousel_item,
            "children": children,
            "created": datetime.now(UTC),
            "media_id": None,
        }
        return 200, {"id": container_id}, {}

    def _container_status(self, container: dict[str, Any]) -> str:
        if container["status"] == "IN_PROGRESS" and not container["stuck"]:
            if container["polls_left"] <= 0:
                container["status"] = "FINISHED"
            else:
                container["polls_left"] -= 1
        return container["status"]

    def _publish(self, params, token: Token):
        self._need(token, "threads_content_publish")
        self.publish_calls += 1
        container = self.containers.get(params.get("creation_id", ""))
        if self._media_not_found > 0 or container is None or container["status"] == "IN_PROGRESS":
            self._media_not_found = max(0, self._media_not_found - 1)
            raise _Answer(
                400,
                24,
                "The requested resource does not exist",
                4279009,
                error_user_title="Media Not Found",
                error_user_msg=f"The media with id {params.get('creation_id')} cannot be found.",
            )
        if container["user_id"] != token.user_id or container["carousel_item"]:
            raise _Answer(400, 100, "Invalid creation_id.")
        if container["status"] == "PUBLISHED":
            raise _Answer(
                400,
                100,
                "This media has already been published.",
                4279010,
                error_user_msg="This post was already published.",
            )
        if container["status"] != "FINISHED":
            raise _Answer(
                400, 100, f"The container is {container['status']} and cannot be published.", 4279011
            )
        if self.quota_used + self._published_last_day(token.user_id) >= self.quota_total:
            raise _Answer(400, 4, "The user has reached the publishing limit (250 posts in 24 hours).")
        media_id = str(next(self._ids))
        shortcode = secrets.token_urlsafe(8).replace("-", "a").replace("_", "b")
        username = self.users[token.user_id]["username"]
        p = container["params"]
        post = {
            "id": media_id,
            "container_id": container["id"],
            "user_id": token.user_id,
            "media_type": {"TEXT": "TEXT_POST", "CAROUSEL": "CAROUSEL_ALBUM"}.get(
                p["media_type"], p["media_type"]
            ),
            "text": p.get("text", ""),
            "reply_to_id": p.get("reply_to_id", ""),
            "reply_control": p.get("reply_control", ""),
            "topic_tag": p.get("topic_tag", ""),
            "link_attachment": p.get("link_attachment", ""),
            "image_url": p.get("image_url", ""),
            "video_url": p.get("video_url", ""),
            "alt_text": p.get("alt_text", ""),
            "children": [dict(self.containers[c]["params"]) for c in container["children"]],
            "permalink": f"https://www.threads.net/@{username}/post/{shortcode}",
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "published": datetime.now(UTC),
        }
        container["status"] = "PUBLISHED"
        container["media_id"] = media_id
        self.posts.append(post)
        self.media[media_id] = post
        return 200, {"id": media_id}, {}

    def _published_last_day(self, user_id: str) -> int:
        since = datetime.now(UTC) - timedelta(days=1)
        return sum(
            1
            for p in self.posts
            if p["user_id"] == user_id and not p["reply_to_id"] and p["published"] > since
        )

    # -- reading

    def _get_object(self, object_id: str, params, user_id: str):
        if object_id in self.containers:
            container = self.containers[object_id]
            if container["user_id"] != user_id:
                raise _Answer(400, 100, "Unsupported get request.", 33, type="GraphMethodException")
            answer = {"id": object_id, "status": self._container_status(container)}
            if container["error_message"]:
                answer["error_message"] = container["error_message"]
            return 200, answer, {}
        if object_id in self.media:
            post = self.media[object_id]
            if post["user_id"] != user_id:
                raise _Answer(400, 100, "Unsupported get request.", 33, type="GraphMethodException")
            return 200, self._fields(self._public(post), params, default="id"), {}
        raise _Answer(
            400,
            100,
            f"Unsupported get request. Object with ID '{object_id}' does not exist.",
            33,
            type="GraphMethodException",
        )

    def _public(self, post: dict[str, Any]) -> dict[str, Any]:
        shown = {k: post[k] for k in ("id", "text", "media_type", "permalink", "timestamp")}
        shown["username"] = self.users[post["user_id"]]["username"]
        if post["reply_to_id"]:
            shown["replied_to"] = {"id": post["reply_to_id"]}
            shown["is_reply"] = True
        return shown

    def _fields(self, obj: dict[str, Any], params, default: str) -> dict[str, Any]:
        wanted = [f for f in (params.get("fields") or default).split(",") if f]
        return {k: obj[k] for k in ["id", *wanted] if k in obj}

    def _list(self, user_id: str, params, replies: bool):
        since = int(params["since"]) if params.get("since", "").isdigit() else 0
        limit = int(params.get("limit") or 25)
        rows = [
            self._fields(self._public(p), params, default="id")
            for p in reversed(self.posts)
            if p["user_id"] == user_id
            and bool(p["reply_to_id"]) == replies
            and p["published"].timestamp() >= since
        ]
        return 200, {"data": rows[:limit], "paging": {}}, {}

    def _quota(self, user_id: str, params):
        row = {
            "quota_usage": self.quota_used + self._published_last_day(user_id),
            "config": {"quota_total": self.quota_total, "quota_duration": 86400},
        }
        return 200, {"data": [self._fields(row, params, default="quota_usage")]}, {}

    def _insights(self, media_id: str, params, token: Token):
        self._need(token, "threads_manage_insights")
        post = self.media.get(media_id)
        if post is None or post["user_id"] != token.user_id:
            raise _Answer(
                400, 100, f"Object with ID '{media_id}' does not exist.", 33, type="GraphMethodException"
            )
        values = {"views": 0, "likes": 0, "replies": 0, "reposts": 0, "quotes": 0, "shares": 0}
        values.update(self.insights.get(media_id, {}))
        names = [m for m in params.get("metric", "").split(",") if m]
        unknown = [m for m in names if m not in values]
        if not names or unknown:
            raise _Answer(
                400, 100, "Param metric must be a list of views, likes, replies, reposts, quotes, shares."
            )
        data = [
            {
                "name": name,
                "period": "lifetime",
                "values": [{"value": values[name]}],
                "title": name.capitalize(),
                "id": f"{media_id}/insights/{name}/lifetime",
            }
            for name in names
        ]
        return 200, {"data": data}, {}


def _reachable(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


class _Handler(BaseHTTPRequestHandler):
    fake: FakeThreads
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY a kept-alive connection waits
    # ~40 ms for the client's delayed ACK between them, which no real server does.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet (and token-free)
        pass

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            body = self.rfile.read(length).decode()
            if "json" in (self.headers.get("Content-Type") or ""):
                params.update({k: str(v) for k, v in json.loads(body or "{}").items()})
            else:
                params.update(dict(parse_qsl(body, keep_blank_values=True)))
        auth = self.headers.get("Authorization", "")
        bearer = auth.split(" ", 1)[1] if auth.lower().startswith(("bearer ", "oauth ")) else ""
        with self.fake._lock:
            status, body, headers = self.fake.handle(method, split.path, params, bearer)
        if self.fake.latency:
            time.sleep(self.fake.latency)
        if status == -1:  # lose the answer: close without a byte
            self.close_connection = True
            return
        payload = json.dumps(body).encode() if body is not None else b""
        try:
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json; charset=UTF-8")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            # Headers and body in one write: two small writes meet delayed ACKs (40 ms per answer).
            self._headers_buffer.append(b"\r\n" + payload)
            self.flush_headers()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (a timeout test)

    def do_GET(self):  # noqa: N802
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    def do_DELETE(self):  # noqa: N802
        self._serve("DELETE")


# --- pytest fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _threads_server():
    server = FakeThreads().start()
    yield server
    server.stop()


@pytest.fixture
def fake_threads(_threads_server, settings):
    _threads_server.reset()
    settings.THREADS_GRAPH_URL = _threads_server.graph_url
    settings.THREADS_OAUTH_URL = f"{_threads_server.url}/oauth/authorize"
    settings.THREADS_APP_ID = APP_ID
    settings.THREADS_APP_SECRET = APP_SECRET
    settings.THREADS_MEDIA_REQUIRE_PUBLIC_URL = False
    settings.THREADS_POLL_FIRST_DELAY = 0.01
    settings.THREADS_POLL_MAX_DELAY = 0.05
    settings.THREADS_CONTAINER_WAIT_SECONDS = 0.3
    settings.THREADS_MEDIA_NOT_FOUND_DELAY = 0.0
    yield _threads_server
    _threads_server.reset()


@pytest.fixture
def threads_channel(fake_threads, cast):
    from django.conf import settings
    from django.urls import reverse

    from channels.models import Channel
    from channels.networks.threads.connecting import connect_with_code

    redirect_uri = settings.SITE_URL + reverse("channels:connect-threads-callback")
    code = fake_threads.grant_code(redirect_uri)
    return Channel.objects.save_connected(cast.workspace, connect_with_code(code, redirect_uri))


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Threads Graph API until killed.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    fake = FakeThreads(port=args.port, latency=args.latency_ms / 1000).start()
    print(f"Fake Threads at {fake.url} (THREADS_GRAPH_URL={fake.graph_url})", flush=True)
    print(
        f"THREADS_OAUTH_URL={fake.url}/oauth/authorize THREADS_APP_ID={APP_ID} "
        f"THREADS_APP_SECRET={APP_SECRET}"
    )
    print(f"long-lived token for @acme.threads: {fake.issue_token()}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
