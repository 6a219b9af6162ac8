"""Bluesky's client: atproto's `Client` over a guarded httpx client, and what goes in a record's address.

Where the client goes. The PDS address is user-supplied, and a PDS names further addresses itself:
redirects, and the `serviceEndpoint` of the DID document in every session, which the SDK switches
to. Redirects are never followed (an XRPC server answers directly; a redirect of createSession
would carry the app password elsewhere). An announced endpoint may be another public host (the
bsky.social entryway announces *.host.bsky.network), but one on a private address is refused
before the client or the stored session switch to it. Every connection goes through
channels.transport.guarded_transport, which checks the address it connects to.

Record keys. A post is created with a record key (a TID) made here, so that the key is known, and
checkpointed, before createRecord is sent.
"""

from __future__ import annotations

import functools
import secrets
import ssl
import threading
import time
from urllib.parse import urlsplit

import httpx
from atproto import Client, Request, SessionEvent
from atproto_client.client.session import SessionResponse, get_session_pds_endpoint
from atproto_client.request import RequestBase
from django.conf import settings

from channels.guard import HostNotFound, PrivateAddress, UnsafeURL, check_url
from channels.http import no_cookies, thread_client
from channels.transport import guarded_transport


class RedirectRefused(UnsafeURL):
    """The server answered with a redirect, which is never followed."""


class EndpointRefused(UnsafeURL):
    """The server announced this account's PDS at an address the guard refuses."""


def _refuse_redirect(response: httpx.Response) -> None:
    if response.is_redirect:
        target = urlsplit(response.headers.get("Location", "")).netloc or "another address"
        raise RedirectRefused(
            f"{response.request.url.netloc.decode()} answered with a redirect to {target}, which is not "
            "followed: a Bluesky server must answer directly."
        )


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~40 ms of CPU, and httpx would do it for every new client (per job).
    return httpx.create_ssl_context()


def httpx_client(timeout: float) -> httpx.Client:
    """The httpx client under atproto's: no redirects, no cookies, only addresses the guard allows."""
    return httpx.Client(
        follow_redirects=False,
        event_hooks={"response": [_refuse_redirect]},
        timeout=timeout,
        transport=guarded_transport(verify=_ssl_context()),
        cookies=no_cookies(),
    )


class _ThreadRequest(Request):
    """atproto's Request over this thread's httpx client (channels.http.thread_client).

    The Request keeps its account's headers (the session's bearer token) to itself; only the
    connection pool is shared, so a worker reuses its connection to a PDS from job to job.
    """

    def __init__(self) -> None:
        RequestBase.__init__(self)
        timeout = settings.NETWORK_TIMEOUT
        self._client_kwargs = {}
        self._client = thread_client(("bluesky", timeout), lambda: httpx_client(timeout))

    def close(self) -> None:
        pass  # the client belongs to the thread


def check_pds_endpoint(endpoint: str) -> None:
    """Raise EndpointRefused if a server-announced PDS address is one the guard refuses.

    A name that does not resolve right now is let through (the connection fails, and is retried).
    """
    try:
        check_url(endpoint.removesuffix("/xrpc"))
    except PrivateAddress:
        host = urlsplit(endpoint).netloc
        raise EndpointRefused(
            f"The Bluesky server named {host} as this account's data server, which points to a private "
            "network and is not allowed."
        ) from None
    except HostNotFound:
        pass
    except UnsafeURL as exc:
        raise EndpointRefused(f"The Bluesky server named an unusable data server: {exc}") from None


class _GuardedClient(Client):
    """atproto's Client that refuses to switch to a PDS endpoint the guard refuses.

    The SDK moves its base URL to the DID document's serviceEndpoint on every session it creates
    or refreshes; the check runs before that, so neither the client nor the stored session (saved
    by the session-change callback) ever points there. A stored session being imported (every job)
    is not looked up again: it was checked when it was stored, and the guarded transport refuses
    to connect to a private address anyway.
    """

    def _set_session(self, event: SessionEvent, session: SessionResponse) -> None:
        endpoint = get_session_pds_endpoint(session)
        if endpoint and event is not SessionEvent.IMPORT:
            check_pds_endpoint(endpoint)
        super()._set_session(event, session)


def new_client(base_url: str) -> Client:
    """An atproto Client for the PDS at `base_url`, on this thread's guarded connection pool."""
    return _GuardedClient(base_url=base_url, request=_ThreadRequest())


# --- record keys -------------------------------------------------------------------------------

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_tid_lock = threading.Lock()
_tid_last_us = 0
# Distinguishes TIDs made in the same microsecond by different processes.
_TID_CLOCK_ID = secrets.randbelow(1024)


def new_tid() -> str:
    """A record key: 53-bit microseconds since the epoch, then a 10-bit clock id, in base32-sortable.

    Strictly increasing within a process, so two posts made in the same microsecond still differ.
    """
    global _tid_last_us
    with _tid_lock:
        now_us = max(time.time_ns() // 1000, _tid_last_us + 1)
        _tid_last_us = now_us
    value = ((now_us & (2**53 - 1)) << 10) | _TID_CLOCK_ID
    chars = []
    for _ in range(13):
        chars.append(_TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def post_url(did: str, rkey: str) -> str:
    return f"https://bsky.app/profile/{did}/post/{rkey}"
