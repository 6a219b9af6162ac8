"""One guarded way to reach user-supplied URLs (instances, PDSes, link-card pages).

`check_url` refuses URLs whose host resolves to a private, loopback, link-local or otherwise
non-public address, unless settings.SSRF_ALLOW_PRIVATE is on (development and tests against local
servers). `fetch` adds a timeout and a size cap, and re-checks every redirect.

A check and a later connection must not look the name up separately: a name can answer a public
address to the check and a private one to the connection (DNS rebinding). So the guarded clients
(`guarded_transport` for httpx, `fetch`'s session and `guarded_adapter` for requests) look the
name up once when they open a connection, check every address, and connect to a checked address,
while TLS (SNI and the certificate) and the Host header stay on the name.

`web_deadline` bounds all the network calls of one web request together (see there); the HTTP
clients of the adapters and `fetch` honour it through `deadline_adapter` and `guarded_adapter`
(requests) and `guarded_transport` (httpx).
"""

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter

from channels.addresses import BadAddress, server_base_url


class UnsafeURL(Exception):
    """The URL is malformed or points somewhere we must not go. The message is user-readable."""


class PrivateAddress(UnsafeURL):
    """The host resolves to an address that is not on the public internet."""


class HostNotFound(UnsafeURL):
    """The host name could not be looked up (it may not exist, or DNS is failing right now)."""


class FetchError(Exception):
    """The page could not be fetched (timeout, too big, HTTP error). User-readable message."""


# IPv6 ranges that Python counts as global but that reach private networks or are obsolete.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the IPv4 address is the last 32 bits
_NOT_PUBLIC_V6 = (
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated; never a real server)
    ipaddress.ip_network("fec0::/10"),  # site-local (deprecated; still routed inside some networks)
    ipaddress.ip_network("64:ff9b:1::/48"),  # NAT64 for local use
)


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        elif ip.sixtofour:  # 2002::/16 carries an IPv4 address to tunnel to
            ip = ip.sixtofour
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif any(ip in network for network in _NOT_PUBLIC_V6):
            return False
    return ip.is_global and not ip.is_multicast


def public_addresses(host: str, port: int) -> list[tuple[int, str]]:
    """Look the host up once: its (family, address) pairs, all public, else raise PrivateAddress.

    A failed lookup raises socket.gaierror (or UnicodeError), as a connection would.
    """
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    for info in infos:
        if not _is_public(info[4][0]):
            raise PrivateAddress(f"The address {host} points to a private network, which is not allowed.")
    return list(dict.fromkeys((info[0], info[4][0]) for info in infos))


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
        public_addresses(parts.hostname, port)
    except (socket.gaierror, UnicodeError):
        raise HostNotFound(f"The server {parts.hostname} could not be found. Check the address.") from None
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


def normalise_base_url(url: str, *, example: str = "mastodon.social") -> str:
    """'mastodon.social' -> 'https://mastodon.social'; strips paths, keeps a port and IPv6 brackets
    (read by channels.addresses, which refuses malformed addresses with a sentence naming `example`)."""
    try:
        base_url = server_base_url(url, example=example)
    except BadAddress as exc:
        raise UnsafeURL(exc.message) from None
    return check_url(base_url)


# --- the web request's deadline ----------------------------------------------------------------


class OutOfTime(TimeoutError):
    """The web request's time for network calls is used up (a socket timeout to the libraries)."""


@dataclass
class Deadline:
    seconds: float
    ends_at: float

    def left(self) -> float:
        return self.ends_at - time.monotonic()


_deadline: ContextVar[Deadline | None] = ContextVar("web_deadline", default=None)
# Below this, a wait is not worth starting; above it, a failure is not the deadline's doing.
_MIN_WAIT = 0.05


@contextmanager
def web_deadline(seconds: float | None = None) -> Iterator[Deadline]:
    """Bound the network calls made inside the block to WEB_NETWORK_DEADLINE seconds in all.

    Per-call timeouts bound each wait for the next bytes, not a whole call, and not the several
    calls of one connect (a Mastodon connect makes five). A slow server, or one that trickles a byte
    at a time, would keep a web request past gunicorn's timeout (WEB_TIMEOUT), which kills the
    worker: a 500, and for OAuth a used-up code. Inside the block every connect, send and receive
    waits at most for the time left (`timeout_for`), and gives up as a timeout once it is gone;
    `out_of_time` then gives the sentence to show. Views that call a network open it; workers never
    do and keep their per-call timeouts.
    """
    outer = _deadline.get()
    seconds = settings.WEB_NETWORK_DEADLINE if seconds is None else seconds
    deadline = Deadline(seconds, time.monotonic() + seconds)
    if outer is not None and outer.ends_at < deadline.ends_at:
        deadline = outer
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


def timeout_for(timeout: float | None) -> float | None:
    """A per-call timeout cut to the web request's time left; raises OutOfTime when none is left."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline.left()
    if left < _MIN_WAIT:
        raise OutOfTime(f"The {deadline.seconds:g} seconds for this request's network calls are up.")
    return left if timeout is None else min(timeout, left)


TRY_AGAIN = "Try again in a moment."
# After an OAuth callback's code exchange: the server may have taken the code before it went quiet.
START_AGAIN = "The sign-in code it sent can be used only once and may be used up now, so please start again."


def out_of_time(server: str, then: str = TRY_AGAIN) -> str | None:
    """The sentence for a call that failed because the web request's deadline passed, else None."""
    deadline = _deadline.get()
    if deadline is None or deadline.left() >= _MIN_WAIT:
        return None
    return f"{server} did not answer within {deadline.seconds:g} seconds. {then}"


class _DeadlineSocket:
    """A connected socket whose every send and receive waits no longer than the deadline leaves.

    requests (urllib3, http.client) reads the status line and headers line by line and the body in
    large blocks, each over many receives that a per-read timeout bounds one by one, so a trickling
    server is only stopped by bounding each receive by the time left.
    """

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._timeout = sock.gettimeout()

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def settimeout(self, value: float | None) -> None:
        self._timeout = value
        self._sock.settimeout(value)

    def gettimeout(self) -> float | None:
        return self._timeout

    def _bounded(self) -> None:
        if _deadline.get() is None:
            if self._sock.gettimeout() != self._timeout:
                self._sock.settimeout(self._timeout)
            return
        self._sock.settimeout(timeout_for(self._timeout))

    def recv(self, *args):
        self._bounded()
        return self._sock.recv(*args)

    def recv_into(self, *args):
        self._bounded()
        return self._sock.recv_into(*args)

    def send(self, *args):
        self._bounded()
        return self._sock.send(*args)

    def sendall(self, *args):
        self._bounded()
        return self._sock.sendall(*args)

    def makefile(self, *args, **kwargs):
        file = self._sock.makefile(*args, **kwargs)
        # http.client reads through this file: its receives must come back here.
        (file.raw if hasattr(file, "raw") else file)._sock = self
        return file


class _DeadlineMixin:
    def connect(self) -> None:
        super().connect()
        self.sock = _DeadlineSocket(self.sock)


class _DeadlineHTTPConnection(_DeadlineMixin, urllib3.connection.HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_DeadlineMixin, urllib3.connection.HTTPSConnection):
    pass


class _PinnedMixin:
    """Connects to an address checked by the guard; TLS and the Host header keep the name.

    urllib3 looks the name up through `_dns_host` only (SNI and certificate checks use `host`), so
    pointing it at each checked address in turn pins the connection without touching the rest.
    """

    def _new_conn(self) -> socket.socket:
        if settings.SSRF_ALLOW_PRIVATE:
            return super()._new_conn()
        name = self._dns_host
        try:
            addresses = public_addresses(name, self.port)
        except (socket.gaierror, UnicodeError) as exc:
            raise urllib3.exceptions.NameResolutionError(self.host, self, exc) from exc
        error = None
        try:
            for _family, address in addresses:
                self._dns_host = address
                try:
                    return super()._new_conn()
                except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
                    error = exc
            raise error
        finally:
            self._dns_host = name


class _PinnedHTTPConnection(_PinnedMixin, _DeadlineHTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedMixin, _DeadlineHTTPSConnection):
    pass


class _DeadlineHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


class _PinnedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


_DEADLINE_POOLS = {"http": _DeadlineHTTPPool, "https": _DeadlineHTTPSPool}
_PINNED_POOLS = {"http": _PinnedHTTPPool, "https": _PinnedHTTPSPool}


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter with each call's timeouts cut to the web request's time left."""

    pools = _DEADLINE_POOLS

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self.pools

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _DEADLINE_POOLS
        return manager

    def send(self, request, stream=False, timeout=None, **kwargs):
        try:
            if isinstance(timeout, tuple):
                timeout = tuple(timeout_for(part) for part in timeout)
            elif not isinstance(timeout, urllib3.Timeout):
                timeout = timeout_for(timeout)
        except OutOfTime as exc:
            raise requests.ConnectTimeout(str(exc), request=request) from None
        return super().send(request, stream=stream, timeout=timeout, **kwargs)


class _GuardedAdapter(_DeadlineAdapter):
    """Also connects only to public addresses, looked up once per connection (through a proxy,
    the proxy looks the name up: only the deadline applies)."""

    pools = _PINNED_POOLS


def _mount(session: requests.Session, adapter: HTTPAdapter) -> requests.Session:
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def deadline_adapter(session: requests.Session) -> requests.Session:
    """Make the session's calls honour web_deadline (nothing changes outside one)."""
    return _mount(session, _DeadlineAdapter())


def guarded_adapter(session: requests.Session) -> requests.Session:
    """deadline_adapter, and every connection goes to a checked public address (raises PrivateAddress)."""
    return _mount(session, _GuardedAdapter())


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _httpcore_timeout(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _httpcore_timeout(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        timeout = _httpcore_timeout(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network with every connect, read and write cut to the web request's time left.

    httpx's timeouts (connect, read, write, pool) are per operation; it has no total.
    """

    def __init__(self, backend: httpcore.NetworkBackend):
        self._backend = backend

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        timeout = _httpcore_timeout(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network connecting only to public addresses, each name looked up once."""

    def __init__(self, backend: httpcore.NetworkBackend):
        self._backend = backend

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        if settings.SSRF_ALLOW_PRIVATE:
            return self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            addresses = public_addresses(host, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        error = None
        for _family, address in addresses:
            try:
                return self._backend.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise UnsafeURL("Connections through local sockets are not allowed.")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _httpcore_timeout(timeout: float | None, error: type[Exception]) -> float | None:
    try:
        return timeout_for(timeout)
    except OutOfTime as exc:
        raise error(str(exc)) from None


def guarded_transport(**kwargs) -> httpx.HTTPTransport:
    """An httpx transport (HTTPTransport's arguments) whose calls honour web_deadline, and whose
    every connection goes to a checked public address.

    A private address raises PrivateAddress (an UnsafeURL) out of the client's call. TLS keeps
    the name: httpcore takes SNI and the certificate check from the URL, not from the socket.
    """
    transport = httpx.HTTPTransport(**kwargs)
    # httpx has no setting for httpcore's network backend; the pool keeps it here.
    pool = transport._pool
    pool._network_backend = _GuardedBackend(_DeadlineBackend(pool._network_backend))
    return transport


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
