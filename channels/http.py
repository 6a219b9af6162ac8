"""One guarded way to reach user-supplied URLs (instances, PDSes, link-card pages).

`check_url` refuses URLs whose host resolves to a private, loopback, link-local or otherwise
non-public address, unless settings.SSRF_ALLOW_PRIVATE is on (development and tests against local
servers). `fetch` adds a timeout and a size cap, and re-checks every redirect.
"""

import ipaddress
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings


class UnsafeURL(Exception):
    """The URL is malformed or points somewhere we must not go. The message is user-readable."""


class FetchError(Exception):
    """The page could not be fetched (timeout, too big, HTTP error). User-readable message."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str) -> str:
    """Return the normalised URL if it is an http(s) URL to a public host, else raise UnsafeURL."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("Enter a full web address starting with https://.")
    if parts.username or parts.password:
        raise UnsafeURL("Addresses with a user name or password in them are not accepted.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeURL("The address has an invalid port number.") from None
    if settings.SSRF_ALLOW_PRIVATE:
        return url
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise UnsafeURL(f"The server {parts.hostname} could not be found. Check the address.") from None
    for info in infos:
        if not _is_public(info[4][0]):
            raise UnsafeURL(
                f"The address {parts.hostname} points to a private network, which is not allowed."
            )
    return url


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


def normalise_base_url(url: str) -> str:
    """'mastodon.social' -> 'https://mastodon.social'; strips paths and trailing slashes."""
    url = (url or "").strip()
    if url and "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if not parts.hostname:
        raise UnsafeURL("Enter the server's address, such as mastodon.social.")
    netloc = parts.hostname.lower() + (f":{parts.port}" if parts.port else "")
    return check_url(f"{parts.scheme}://{netloc}")


_session = requests.Session()


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
    """GET a user-supplied URL through the guard, following redirects by hand so each is checked."""
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
        except requests.RequestException:
            raise FetchError("The page could not be reached.") from None
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
            except requests.RequestException:
                raise FetchError("The page could not be read completely.") from None
            return Fetched(
                url=current,
                content_type=response.headers.get("Content-Type", "").split(";")[0].strip().lower(),
                content=b"".join(chunks),
            )
    raise FetchError("The page redirects too many times.")
