"""The Mastodon.py client this package talks through: guarded against private addresses, bounded in
time, never sleeping on a rate limit, and told the server's API level instead of asking for it.

Mastodon.py does the HTTP; this module decides timeouts, the user agent, where requests may go,
and which Mastodon API level a server's version string stands for (it picks endpoints: v2 media
from 3.1.4, batched status reads from 4.3.0).
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import requests
from django.conf import settings
from mastodon import Mastodon
from mastodon.versions import parse_version_string

from channels.guard import check_url
from channels.http import NO_COOKIES, thread_client
from channels.transport import guarded_adapter

# Assumed when a server's version string cannot be parsed (some Pixelfed builds send a name).
DEFAULT_VERSION = "4.0.0"


def http_allowed() -> bool:
    """Plain-http instances only in development and tests (local fakes); tokens never go out in clear."""
    return bool(settings.SSRF_ALLOW_PRIVATE or settings.DEBUG)


def user_agent() -> str:
    return f"{settings.SITE_NAME} (+{settings.SITE_URL})"


def host_of(base_url: str) -> str:
    return urlsplit(base_url).netloc or base_url


class GuardedSession(requests.Session):
    """Sends nothing to a private address: every request and redirect goes through the SSRF guard.

    Instance addresses are user-supplied, and servers hand out further URLs themselves (nodeinfo
    links, the OAuth token endpoint, redirects), which Mastodon.py follows. A host found public is
    trusted for CHECK_TTL seconds, so a worker reusing its session (channels.http.thread_client)
    looks each server up about once a minute, not once per request. Cookies are never kept. The
    headers of the last answer are kept for what Mastodon.py does not pass on (rate-limit headers,
    Akkoma's idempotent-replayed).
    """

    last_headers = None

    CHECK_TTL = 60.0

    def __init__(self):
        super().__init__()
        self.cookies.set_policy(NO_COOKIES)
        self._checked: dict[str, float] = {}
        guarded_adapter(self)  # connects only to the address that was checked (no DNS rebinding)

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if self._checked.get(origin, 0.0) < time.monotonic():
            check_url(origin)  # raises UnsafeURL; Mastodon.py reports it as a MastodonNetworkError
            if not settings.SSRF_ALLOW_PRIVATE:  # only a real lookup is worth remembering
                self._checked[origin] = time.monotonic() + self.CHECK_TTL
        self.last_headers = None
        response = super().send(request, **kwargs)
        self.last_headers = response.headers
        return response


def last_headers(client: Mastodon):
    """The headers of the client's last answer (its session is this thread's: the last request of
    this thread), or None when it got none. Mastodon.py's errors do not carry them."""
    return getattr(client.session, "last_headers", None)


def new_client(
    base_url: str,
    access_token: str | None = None,
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    version: str = DEFAULT_VERSION,
    timeout: float | None = None,
) -> Mastodon:
    client = Mastodon(
        api_base_url=base_url,
        ratelimit_method="throw",  # the default "wait" sleeps up to 5 minutes inside a call
        request_timeout=timeout or settings.NETWORK_TIMEOUT,
        user_agent=user_agent(),
        # Given a version, Mastodon.py never asks the server for one. Asking goes wrong on some
        # servers: when /api/v1/instance fails it retries until RecursionError (Mastodon.py issue
        # #450), and a version it cannot parse raises ValueError from inside any call. With version
        # checks off it does not parse the given version, so the API level is set below; it only
        # picks endpoints (v1 or v2 media).
        mastodon_version=version,
        version_check_mode="none",
        session=thread_client("mastodon", GuardedSession),
    )
    client.mastodon_major, client.mastodon_minor, client.mastodon_patch = version_tuple(version)
    # Set after construction: the constructor reads a token or client id that names an existing
    # file from that file, and these strings come from users and servers.
    client.access_token = access_token
    client.client_id = client_id
    client.client_secret = client_secret
    return client


def version_of(client: Mastodon) -> str:
    """The API level a client was built for, as "x.y.z"."""
    return f"{client.mastodon_major}.{client.mastodon_minor}.{client.mastodon_patch}"


def version_tuple(version: str) -> tuple[int, int, int]:
    try:
        return parse_version_string(version)
    except (ValueError, IndexError, AttributeError):
        return parse_version_string(DEFAULT_VERSION)


def api_level(version_string: str) -> str:
    """The Mastodon API level in a server's version string, as Mastodon.py reads it.

    "4.3.0" -> "4.3.0"; "2.7.2 (compatible; Pleroma 2.6.0)" -> "2.7.2"; "4.2.0+glitch" -> "4.2.0";
    Hometown's "1.1.1+4.0.0" -> "4.0.0"; GoToSocial's "3.5.3+0.16.0" -> "3.5.3";
    unparseable (e.g. "Pixelfed") -> DEFAULT_VERSION.
    """
    version = (version_string or "").split(" ")[0]
    head, _, tail = version.partition("+")
    # After the "+": Hometown puts the Mastodon version there, GoToSocial its own 0.x version.
    candidates = [tail, head] if _parses(tail) and version_tuple(tail)[0] >= 1 else [head]
    for candidate in candidates:
        if _parses(candidate):
            return "{}.{}.{}".format(*parse_version_string(candidate))
    return DEFAULT_VERSION


def _parses(version: str) -> bool:
    try:
        parse_version_string(version)
    except (ValueError, IndexError, AttributeError):
        return False
    return True
