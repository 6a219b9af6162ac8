"""A fake Misskey server: a real HTTP server on 127.0.0.1 that the adapter talks to unchanged.

Written from misskey-js 2026.5.1 (`built/autogen/types.d.ts`, `built/api.js`) and Misskey's endpoint
definitions: every endpoint is `POST /api/<name>` with a JSON body carrying the token as `i`
(multipart with a form field `i` for `drive/files/create`); failures answer
`{"error": {"message", "code", "id", "kind", "info"}}`. It speaks `i`, `meta`, `drive/files/create`,
`notes/create`, `notes/show`, `users/notes` and MiAuth (`GET /miauth/<session>`, the page where the
person allows access, and `POST /api/miauth/<session>/check`). As Misskey does, a public note from a
role without `canPublicNote` is quietly made a home note.

Fixtures (registered through tests/conftest.py's pytest_plugins):

``fake_misskey``
    The server (one per test session), reset for every test. ``url``; ``token`` (all permissions) of
    the account ``user`` (username "alice"); ``issue_token(permissions=...)``, ``revoke(token)``.
    Settings: ``max_note_text_length`` (3000), ``max_file_size`` (bytes, 30 MB), ``can_public_note``.
    MiAuth: ``miauth_sessions`` (session -> {"query", "allowed"}), ``allow_miauth(session)`` (the person
    clicks "Allow"). Misbehaviour: ``fail_next(status, count=1, endpoint=None)`` (INTERNAL_ERROR or
    the code for the status), ``rate_limit_next(count=1, endpoint=None, sharkey=False, retry_after=30)``
    (429 RATE_LIMIT_EXCEEDED; with `sharkey`, the fork's Retry-After and X-RateLimit-* headers),
    ``lose_next_response(endpoint="notes/create", count=1)`` (the work is done, then the connection is
    closed without an answer). Records: ``notes`` (oldest first), ``files`` (id -> drive file),
    ``requests`` (endpoint, body without `i`, whether a token came), ``set_counts(note_id, ...)``.
``misskey_channel``
    A Channel in cast.workspace connected to the fake with the pasted-token code path.

One file, longer than most: one server whose handlers share one state and one lock.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

MB = 1024 * 1024
ALL_PERMISSIONS = ("read:account", "write:notes", "write:drive", "read:drive")
KINDS = {  # the permission each endpoint needs (its meta `kind`)
    "i": "read:account",
    "notes/create": "write:notes",
    "drive/files/create": "write:drive",
}
NEEDS_CREDENTIAL = {"i", "notes/create", "drive/files/create"}
ERRORS = {
    "CREDENTIAL_REQUIRED": (401, "Credential required.", "1384574d-a912-4b81-8601-c7b1c4085df1"),
    "AUTHENTICATION_FAILED": (
        401,
        "Authentication failed. Please ensure your token is correct.",
        "b0a7f5f8-dc2f-4171-b91f-de88ad238e14",
    ),
    "PERMISSION_DENIED": (
        403,
        "Your app does not have the necessary permissions to use this endpoint.",
        "1370e5b7-d4eb-4566-bb1d-7748ee6a1838",
    ),
    "RATE_LIMIT_EXCEEDED": (
        429,
        "Rate limit exceeded. Please try again later.",
        "d5826d14-3982-4d2e-8011-b9e9f02499ef",
    ),
    "INTERNAL_ERROR": (
        500,
        "Internal error occurred. Please contact us if the error persists.",
        "5d37dbcb-891e-41ca-a3d6-e690c97775ac",
    ),
    "INVALID_PARAM": (400, "Invalid param.", "3d81ceae-475f-4600-b2a8-2bc116157532"),
    "NO_SUCH_NOTE": (400, "No such note.", "24fcbfc6-2e37-42b6-8388-c29b3861a08d"),
    "NO_SUCH_FILE": (400, "Some files are not found.", "b6992544-63e7-67f0-fa7f-32444b1b5306"),
    "NO_SUCH_REPLY_TARGET": (400, "No such reply target.", "749ee0f6-d3da-459a-bf02-282e2da4292c"),
    "CONTENT_REQUIRED": (
        400,
        "Content required. You need to set text, fileIds, renoteId or poll.",
        "6f57e42b-c348-439b-bc45-993995cc515a",
    ),
    "MAX_FILE_SIZE_EXCEEDED": (
        400,
        "Cannot upload the file because it exceeds the maximum file size.",
        "b9d8c348-33f0-4673-b9a9-5d4da058977a",
    ),
}


class _Answer(Exception):
    def __init__(self, code: str, status: int | None = None, headers: dict | None = None, info=None):
        default_status, message, error_id = ERRORS.get(code, (status or 400, code, "0"))
        self.status = status or default_status
        kind = "server" if self.status >= 500 else ("permission" if self.status in (401, 403) else "client")
        error = {"message": message, "code": code, "id": error_id, "kind": kind}
        if info is not None:
            error["info"] = info
        self.body = {"error": error}
        self.headers = headers or {}


@dataclass
class _Trouble:
    kind: str  # "fail", "rate", "lose"
    endpoint: str | None
    count: int
    status: int = 500
    sharkey: bool = False
    retry_after: int = 30


class FakeMisskey:
    """The fake server and its state. One lock around every request's work."""

    def __init__(self, port: int = 0):
        self._lock = threading.RLock()
        handler = type("FakeMisskeyHandler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.reset()

    def start(self) -> FakeMisskey:
        threading.Thread(target=self._server.serve_forever, name="fake-misskey", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self._ids = itertools.count(1)
            self.max_note_text_length = 3000
            self.max_file_size = 30 * MB
            self.can_public_note = True
            self.users: dict[str, dict] = {}
            self.tokens: dict[str, dict] = {}
            self.notes: list[dict] = []
            self.files: dict[str, dict] = {}
            self.miauth_sessions: dict[str, dict] = {}
            self.requests: list[dict] = []
            self._trouble: list[_Trouble] = []
            self.user = self.add_user("alice")
            self.token = self.issue_token()

    # --- accounts and tokens

    def new_id(self) -> str:
        # Misskey's "aid": a time part and a counter, sortable as strings.
        return f"a{int(time.time() * 1000):011x}{next(self._ids):04d}"

    def add_user(self, username: str) -> dict:
        with self._lock:
            user = {
                "id": self.new_id(),
                "username": username,
                "name": username.title(),
                "host": None,
                "avatarUrl": f"{self.url}/avatar/{username}.png",
            }
            self.users[user["id"]] = user
            return user

    def issue_token(self, permissions=ALL_PERMISSIONS, user: dict | None = None) -> str:
        with self._lock:
            token = secrets.token_hex(16)
            self.tokens[token] = {"user": (user or self.user)["id"], "permissions": set(permissions)}
            return token

    def revoke(self, token: str) -> None:
        with self._lock:
            self.tokens.pop(token, None)

    def allow_miauth(self, session: str, user: dict | None = None) -> None:
        with self._lock:
            entry = self.miauth_sessions[session]
            permissions = entry["query"].get("permission", "").split(",")
            entry["allowed"] = True
            entry["token"] = self.issue_token([p for p in permissions if p], user)

    def set_counts(self, note_id: str, reactions: int = 0, renotes: int = 0, replies: int = 0) -> None:
        with self._lock:
            note = self._note(note_id)
            note.update(reactionCount=reactions, renoteCount=renotes, repliesCount=replies)

    # --- misbehaviour

    def fail_next(self, status: int = 500, count: int = 1, endpoint: str | None = None) -> None:
        self._trouble.append(_Trouble("fail", endpoint, count, status=status))

    def rate_limit_next(
        self, count: int = 1, endpoint: str | None = None, sharkey: bool = False, retry_after: int = 30
    ) -> None:
        self._trouble.append(_Trouble("rate", endpoint, count, sharkey=sharkey, retry_after=retry_after))

    def lose_next_response(self, endpoint: str = "notes/create", count: int = 1) -> None:
        self._trouble.append(_Trouble("lose", endpoint, count))

    def _take_trouble(self, endpoint: str) -> _Trouble | None:
        for trouble in self._trouble:
            if trouble.count > 0 and trouble.endpoint in (None, endpoint):
                trouble.count -= 1
                return trouble
        return None

    def requests_to(self, endpoint: str) -> list[dict]:
        return [r for r in self.requests if r["endpoint"] == endpoint]

    # --- requests

    def handle(self, req: _Handler) -> None:
        parts = urlsplit(req.path)
        if req.command == "GET":
            match = re.fullmatch(r"/miauth/([A-Za-z0-9\-]+)", parts.path)
            if not match:
                return req.send_json(404, {})
            with self._lock:
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                self.miauth_sessions[match.group(1)] = {"query": query, "allowed": False}
            return req.send_html(200, "<h1>Allow access?</h1>")
        if not parts.path.startswith("/api/"):
            return req.send_json(404, {})
        endpoint = parts.path.removeprefix("/api/")
        try:
            body, upload = _read(req)
        except _Answer as answer:
            return req.send_json(answer.status, answer.body, answer.headers)
        token = body.pop("i", None)
        with self._lock:
            self.requests.append({"endpoint": endpoint, "body": dict(body), "with_token": bool(token)})
            trouble = self._take_trouble(endpoint)
            try:
                if trouble is not None and trouble.kind == "fail":
                    code = (
                        "INTERNAL_ERROR"
                        if trouble.status >= 500
                        else {401: "AUTHENTICATION_FAILED", 403: "PERMISSION_DENIED"}.get(
                            trouble.status, "INVALID_PARAM"
                        )
                    )
                    raise _Answer(code, status=trouble.status)
                if trouble is not None and trouble.kind == "rate":
                    raise _Answer(
                        "RATE_LIMIT_EXCEEDED",
                        headers=_rate_headers(trouble),
                        info={"resetMs": trouble.retry_after * 1000},
                    )
                user = self._authenticate(endpoint, token)
                status, payload = self._route(endpoint, body, upload, user)
            except _Answer as answer:
                return req.send_json(answer.status, answer.body, answer.headers)
        if trouble is not None and trouble.kind == "lose":
            return req.drop()
        req.send_json(status, payload)

    def _authenticate(self, endpoint: str, token: str | None) -> dict | None:
        if not token:
            if endpoint in NEEDS_CREDENTIAL:
                raise _Answer("CREDENTIAL_REQUIRED")
            return None
        grant = self.tokens.get(token)
        if grant is None:
            raise _Answer("AUTHENTICATION_FAILED")
        kind = KINDS.get(endpoint)
        if kind and kind not in grant["permissions"]:
            raise _Answer("PERMISSION_DENIED")
        return self.users[grant["user"]]

    def _route(self, endpoint: str, body: dict, upload: dict | None, user: dict | None) -> tuple[int, Any]:
        match = re.fullmatch(r"miauth/([A-Za-z0-9\-]+)/check", endpoint)
        if match:
            entry = self.miauth_sessions.get(match.group(1))
            if not entry or not entry["allowed"] or entry.get("checked"):
                return 200, {"ok": False}
            entry["checked"] = True
            grant = self.tokens[entry["token"]]
            return 200, {"ok": True, "token": entry["token"], "user": self.users[grant["user"]]}
        if endpoint == "meta":
            return 200, {
                "name": "Fake Misskey",
                "version": "2026.5.1",
                "maxNoteTextLength": self.max_note_text_length,
                "maxFileSize": self.max_file_size,
            }
        if endpoint == "i":
            policies = {
                "canPublicNote": self.can_public_note,
                "maxFileSizeMb": self.max_file_size // MB,
                "driveCapacityMb": 1024,
            }
            return 200, {**user, "policies": policies}
        if endpoint == "drive/files/create":
            return 200, self._create_file(body, upload, user)
        if endpoint == "notes/create":
            return 200, {"createdNote": self._create_note(body, user)}
        if endpoint == "notes/show":
            return 200, self._note(str(body.get("noteId")))
        if endpoint == "users/notes":
            return 200, self._user_notes(body)
        raise _Answer("NO_SUCH_ENDPOINT", status=404)

    def _create_file(self, form: dict, upload: dict | None, user: dict) -> dict:
        if upload is None:
            raise _Answer("INVALID_PARAM")
        if len(upload["data"]) > self.max_file_size:
            raise _Answer("MAX_FILE_SIZE_EXCEEDED")
        drive_file = {
            "id": self.new_id(),
            "name": form.get("name") or upload["filename"],
            "type": upload["content_type"],
            "size": len(upload["data"]),
            "comment": form.get("comment"),
            "userId": user["id"],
            "isSensitive": form.get("isSensitive") == "true",
            "createdAt": _now(),
        }
        self.files[drive_file["id"]] = drive_file
        return drive_file

    def _create_note(self, body: dict, user: dict) -> dict:
        text, cw, file_ids = body.get("text"), body.get("cw"), list(body.get("fileIds") or [])
        visibility = body.get("visibility") or "public"
        if visibility not in ("public", "home", "followers", "specified"):
            raise _Answer("INVALID_PARAM")
        if text is not None and (not text or len(text) > self.max_note_text_length):
            raise _Answer("INVALID_PARAM")
        if cw is not None and len(cw) > 100:
            raise _Answer("INVALID_PARAM")
        if not 0 <= len(file_ids) <= 16:
            raise _Answer("INVALID_PARAM")
        if not (text or file_ids):
            raise _Answer("CONTENT_REQUIRED")
        if any(self.files.get(i, {}).get("userId") != user["id"] for i in file_ids):
            raise _Answer("NO_SUCH_FILE")
        reply_id = body.get("replyId")
        if reply_id and not any(n["id"] == reply_id for n in self.notes):
            raise _Answer("NO_SUCH_REPLY_TARGET")
        if visibility == "public" and not self.can_public_note:
            visibility = "home"
        note = {
            "id": self.new_id(),
            "createdAt": _now(),
            "userId": user["id"],
            "user": user,
            "text": text,
            "cw": cw,
            "visibility": visibility,
            "localOnly": bool(body.get("localOnly")),
            "replyId": reply_id,
            "fileIds": file_ids,
            "files": [self.files[i] for i in file_ids],
            "reactionCount": 0,
            "renoteCount": 0,
            "repliesCount": 0,
            "reactions": {},
        }
        self.notes.append(note)
        return note

    def _note(self, note_id: str) -> dict:
        for note in self.notes:
            if note["id"] == note_id:
                return note
        raise _Answer("NO_SUCH_NOTE")

    def _user_notes(self, body: dict) -> list[dict]:
        since, until = body.get("sinceDate"), body.get("untilDate")
        found = []
        for note in reversed(self.notes):
            created = datetime.fromisoformat(note["createdAt"].replace("Z", "+00:00")).timestamp() * 1000
            if note["userId"] != body.get("userId"):
                continue
            if (since is not None and created <= since) or (until is not None and created >= until):
                continue
            if note["replyId"] and not body.get("withReplies"):
                target = next((n for n in self.notes if n["id"] == note["replyId"]), None)
                if target is None or target["userId"] != note["userId"]:
                    continue
            found.append(note)
        return found[: int(body.get("limit") or 10)]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rate_headers(trouble: _Trouble) -> dict[str, str]:
    if not trouble.sharkey:
        return {}  # upstream Misskey sends none
    return {
        "Retry-After": str(trouble.retry_after),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Clear": f"{trouble.retry_after:.3f}",
        "X-RateLimit-Reset": f"{trouble.retry_after:.3f}",
    }


def _read(req: _Handler) -> tuple[dict, dict | None]:
    length = int(req.headers.get("Content-Length") or 0)
    raw = req.rfile.read(length) if length else b""
    content_type = req.headers.get("Content-Type", "")
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
        )
        form, upload = {}, None
        for part in message.iter_parts():
            data = part.get_payload(decode=True) or b""
            if part.get_filename() is not None:
                upload = {
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "data": data,
                }
            else:
                form[part.get_param("name", header="content-disposition")] = data.decode()
        return form, upload
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise _Answer("INVALID_PARAM") from None
    return (body if isinstance(body, dict) else {}), None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    fake: FakeMisskey

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

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

    def drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.fake.handle(self)

    def do_POST(self):  # noqa: N802
        self.fake.handle(self)


@pytest.fixture(scope="session")
def _fake_misskey_server():
    server = FakeMisskey().start()
    yield server
    server.stop()


@pytest.fixture
def fake_misskey(_fake_misskey_server):
    _fake_misskey_server.reset()
    yield _fake_misskey_server
    _fake_misskey_server.reset()


@pytest.fixture
def misskey_channel(cast, fake_misskey):
    from channels.models import Channel
    from channels.networks.misskey.connecting import connect_with_token

    return Channel.objects.save_connected(
        cast.workspace, connect_with_token(fake_misskey.url, fake_misskey.token)
    )
