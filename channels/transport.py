"""Connections that honour the web request's deadline and connect only to checked addresses.

A check and a later connection must not look the name up separately: a name can answer a public
address to the check and a private one to the connection (DNS rebinding). So the guarded clients
(`guarded_transport` for httpx, `guarded_adapter` for requests) look the name up once when they
open a connection, check every address (channels.guard), and connect to a checked address, while
TLS (SNI and the certificate) and the Host header stay on the name. Every connect, send and receive
waits at most for the web request's time left (channels.deadline); workers have no deadline and
keep their per-call timeouts.
"""

import socket

import httpcore
import httpx
import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter

from channels.deadline import OutOfTime, current, timeout_for
from channels.guard import UnsafeURL, public_addresses


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
        if current() is None:
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
