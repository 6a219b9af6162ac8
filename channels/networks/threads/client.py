"""The Threads Graph API over plain `requests` (Meta ships no Python SDK), and its time formats.

Endpoints come from settings.THREADS_GRAPH_URL (e.g. https://graph.threads.net/v1.0).

Tokens travel as the `access_token` parameter (query string for GET, form body for POST), as Meta
documents. Because requests' exception texts contain the full URL, no exception text from requests is
ever logged or re-raised: errors carry our own sentences (errors.py), logs name only the path.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import requests
from django.conf import settings

from channels.deadline import out_of_time
from channels.http import NO_COOKIES, thread_client
from channels.networks.base import TransientError
from channels.networks.threads.errors import error_for
from channels.transport import deadline_adapter

logger = logging.getLogger(__name__)


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def parse_time(value: str) -> datetime | None:
    """Threads timestamps look like 2024-07-01T12:34:56+0000; ours are isoformat()."""
    if not value:
        return None
    for parse in (datetime.fromisoformat, lambda v: datetime.strptime(v, "%Y-%m-%dT%H:%M:%S%z")):
        try:
            parsed = parse(value)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _session() -> requests.Session:
    """A session bounded by the web request's deadline, keeping no cookies (one serves every account)."""
    session = requests.Session()
    session.headers["User-Agent"] = f"{settings.SITE_NAME} (+{settings.SITE_URL})"
    session.cookies.set_policy(NO_COOKIES)
    return deadline_adapter(session)


class GraphClient:
    """One requests.Session (per thread) against the Threads Graph API; failures raise the error kinds."""

    def __init__(self):
        self.base_url = settings.THREADS_GRAPH_URL.rstrip("/")
        self.timeout = settings.NETWORK_TIMEOUT
        self.session = thread_client("threads", _session)

    def call(self, method: str, path: str, *, token: str = "", params=None, data=None) -> dict[str, Any]:
        path = path.lstrip("/")
        params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        data = {k: v for k, v in (data or {}).items() if v not in (None, "")} if method != "GET" else None
        if token:
            if method == "GET":
                params["access_token"] = token
            else:
                data["access_token"] = token
        started = time.monotonic()
        try:
            response = self.session.request(
                method, f"{self.base_url}/{path}", params=params, data=data, timeout=self.timeout
            )
        except requests.Timeout:
            logger.warning("Threads %s /%s timed out after %.1fs", method, path, time.monotonic() - started)
            raise TransientError(out_of_time("Threads") or "Threads did not answer in time.") from None
        except requests.RequestException as exc:
            # str(exc) holds the URL, and with it the token: log the class only.
            logger.warning("Threads %s /%s failed: %s", method, path, type(exc).__name__)
            raise TransientError(out_of_time("Threads") or "Threads could not be reached.") from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code >= 400 or not isinstance(payload, dict) or "error" in payload:
            error = error_for(response, payload)
            logger.info(
                "Threads %s /%s answered HTTP %s (%s): %s",
                method,
                path,
                response.status_code,
                type(error).__name__,
                error.message,
            )
            raise error
        return payload
