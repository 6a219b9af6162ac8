"""Fetching user-supplied URLs (link-card pages), and one HTTP client per worker thread.

`fetch` goes through the guard (channels.guard, channels.transport) with a timeout and a size cap,
and re-checks every redirect. The adapters' own clients are built on channels.transport.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings

from channels.deadline import OutOfTime, out_of_time, web_deadline
from channels.guard import check_url
from channels.transport import guarded_adapter


class FetchError(Exception):
    """The page could not be fetched (timeout, too big, HTTP error). User-readable message."""


_local = threading.local()


def thread_client[T](key, factory: Callable[[], T]) -> T:
    """One HTTP client per thread and key, reused by every job the thread runs.

    A client per job cost a new connection pool, a new TCP (and TLS) connection to the same
    server and, for Mastodon, the guard's address lookup: setting up the pools alone was a seventh
    of a worker's CPU (bench/README.md). Clients are per thread, so no two jobs ever share one at
    the same time; they must not keep cookies (see NO_COOKIES), since one client serves every
    account on a server.
    """
    clients = _local.__dict__.setdefault("clients", {})
    client = clients.get(key)
    if client is None:
        client = clients[key] = factory()
    return client


# Accepts no cookie: a client shared by many accounts must not carry one account's cookies to another.
NO_COOKIES = DefaultCookiePolicy(allowed_domains=[])


def no_cookies() -> CookieJar:
    return CookieJar(policy=NO_COOKIES)


_session = guarded_adapter(requests.Session())


@dataclass
class Fetched:
    url: str
    content_type: str
    content: bytes


def fetch(
    url: str,
    *,
    timeout: float = 10.0,
    max_bytes: int = 2_000_000,
    max_redirects: int = 5,
    accept: str = "*/*",
) -> Fetched:
    """GET a user-supplied URL through the guard, following redirects by hand so each is checked.

    `timeout` bounds the whole fetch, redirects and body included, in workers as in web requests (where
    a shorter web deadline wins): a server that trickles a byte at a time is cut off, not waited for.
    """
    with web_deadline(timeout):
        return _fetch(url, timeout=timeout, max_bytes=max_bytes, max_redirects=max_redirects, accept=accept)


def _fetch(url: str, *, timeout: float, max_bytes: int, max_redirects: int, accept: str) -> Fetched:
    current = check_url(url)
    for _ in range(max_redirects + 1):
        try:
            response = _session.get(
                current,
                timeout=timeout,
                stream=True,
                allow_redirects=False,
                headers={"Accept": accept, "User-Agent": f"{settings.SITE_NAME} (+{settings.SITE_URL})"},
            )
        except (requests.RequestException, OutOfTime):
            host = urlsplit(current).netloc
            raise FetchError((out_of_time(host, "") or "The page could not be reached.").strip()) from None
        with response:
            if response.is_redirect:
                location = response.headers.get("Location", "")
                current = check_url(urljoin(current, location))
                continue
            if response.status_code >= 400:
                raise FetchError(f"The page answered with an error (HTTP {response.status_code}).")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError("The page is too large to read.")
            chunks, total = [], 0
            try:
                for chunk in response.iter_content(64 * 1024):
                    total += len(chunk)
                    if total > max_bytes:
                        raise FetchError("The page is too large to read.")
                    chunks.append(chunk)
            except (requests.RequestException, OutOfTime):
                host = urlsplit(current).netloc
                raise FetchError(
                    (out_of_time(host, "") or "The page could not be read completely.").strip()
                ) from None
            return Fetched(
                url=current,
                content_type=response.headers.get("Content-Type", "").split(";")[0].strip().lower(),
                content=b"".join(chunks),
            )
    raise FetchError("The page redirects too many times.")
