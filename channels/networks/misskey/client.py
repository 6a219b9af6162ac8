"""Misskey's API over `requests`: every endpoint is `POST /api/<name>` with the credential in the body.

The token travels as the body field `i` (JSON), or the form field `i` for uploads (misskey-js
`APIClient.request`). Request bodies are never logged, and no exception text from requests is logged
or re-raised (it may carry the request): errors carry our own sentences (errors.py), logs name only
the endpoint. Every connection goes to a checked public address (channels.transport) and honours the
web request's deadline.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from channels.deadline import out_of_time
from channels.guard import UnsafeURL
from channels.http import NO_COOKIES, thread_client
from channels.networks.base import TransientError
from channels.networks.misskey.errors import error_for
from channels.transport import guarded_adapter

log = logging.getLogger(__name__)


def http_allowed() -> bool:
    """Plain-http servers only in development and tests (local fakes); tokens never go out in clear."""
    return bool(settings.SSRF_ALLOW_PRIVATE or settings.DEBUG)


def host_of(base_url: str) -> str:
    return urlsplit(base_url).netloc or base_url


def _session() -> requests.Session:
    """One per worker thread, keeping no cookies (one session serves every account on every server)."""
    session = requests.Session()
    session.headers["User-Agent"] = f"{settings.SITE_NAME} (+{settings.SITE_URL})"
    session.cookies.set_policy(NO_COOKIES)
    return guarded_adapter(session)


class MisskeyClient:
    """Calls to one Misskey server, with or without a token; failures raise the three error kinds."""

    def __init__(self, base_url: str, token: str = ""):
        self.base_url = base_url.rstrip("/")
        self.host = host_of(self.base_url)
        self.token = token
        self.timeout = settings.NETWORK_TIMEOUT
        self.session = thread_client("misskey", _session)

    def call(self, endpoint: str, body: dict[str, Any] | None = None, *, what: str = "the request") -> Any:
        """POST /api/<endpoint> with a JSON body (and the token as `i`); the decoded answer."""
        payload = {k: v for k, v in (body or {}).items() if v is not None}
        if self.token:
            payload["i"] = self.token
        return self._send(
            endpoint, what, data=json.dumps(payload), headers={"Content-Type": "application/json"}
        )

    def upload(self, path: str, mime_type: str, fields: dict[str, Any], *, what: str) -> Any:
        """POST /api/drive/files/create as multipart: the file, the fields and the token as `i`."""
        form = {k: _form_value(v) for k, v in fields.items() if v is not None}
        if self.token:
            form["i"] = self.token
        with open(path, "rb") as handle:
            files = {"file": (fields.get("name") or Path(path).name, handle, mime_type)}
            return self._send("drive/files/create", what, data=form, files=files)

    def _send(self, endpoint: str, what: str, **kwargs) -> Any:
        url = f"{self.base_url}/api/{endpoint}"
        started = time.monotonic()
        try:
            response = self.session.post(url, timeout=self.timeout, allow_redirects=False, **kwargs)
        except requests.Timeout:
            took = time.monotonic() - started
            log.warning("Misskey %s /api/%s timed out after %.1fs", self.host, endpoint, took)
            raise TransientError(out_of_time(self.host) or f"{self.host} did not answer in time.") from None
        except (requests.RequestException, UnsafeURL) as exc:
            log.warning("Misskey %s /api/%s failed: %s", self.host, endpoint, type(exc).__name__)
            raise TransientError(out_of_time(self.host) or f"{self.host} could not be reached.") from None
        if response.status_code == 204:
            return None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code != 200 or answer is None:
            error = error_for(response.status_code, answer, response.headers, self.host, what, time.time())
            if answer is None and response.status_code == 200:
                error = TransientError(f"{self.host} answered {what} with something other than JSON.")
            log.info(
                "Misskey %s /api/%s answered HTTP %s (%s)",
                self.host,
                endpoint,
                response.status_code,
                type(error).__name__,
            )
            raise error
        return answer


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
