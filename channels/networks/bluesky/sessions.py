"""One Bluesky account's session: resumed from the stored credentials, used under a lock, saved on change.

Credentials hold {"handle", "app_password", "session"} (the SDK's session string). A
createSession (password login) is rate-limited to a few dozen per day, so the stored session is
resumed for every job and every refresh of it is saved at once (refresh tokens rotate: a used one
is dead). Two workers refreshing one account at the same time would kill each other's refresh
token, so every use of a session happens under a Redis lock per channel, and the credentials are
re-read after taking it. The app password is used again only when the session itself is dead
(its refresh token expired or revoked): an idle channel needs no renewing in between.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis
from atproto import Client, Session, SessionEvent
from atproto.exceptions import AtProtocolError, BadRequestError, UnauthorizedError
from django.conf import settings

from channels.deadline import timeout_for
from channels.networks.base import Account, AuthorizationLost, TransientError
from channels.networks.bluesky.client import new_client
from channels.networks.bluesky.errors import SESSION_ERRORS, error_name, translate, translated
from channels.networks.bluesky.rules import NETWORK

logger = logging.getLogger(__name__)

# How long a job waits for another one using the same channel before giving up for now.
LOCK_WAIT = 30

T = TypeVar("T")


@functools.cache
def _redis_for(url: str) -> redis.Redis:
    # django_rq.get_connection() builds a new client and pool on every call; keep one per process.
    return redis.Redis.from_url(url)


class Sessions:
    """The session of one account, for one adapter (reused across its calls and jobs)."""

    def __init__(self, account: Account):
        self.account = account
        self.credentials: dict[str, Any] = dict(account.credentials or {})
        self.info: Session | None = None  # the current session (its DID and handle)
        self._client: Client | None = None
        self._redis = None
        self._lock = None

    @property
    def did(self) -> str:
        return self.info.did

    @contextmanager
    def open(self) -> Iterator[Client]:
        """A client with this channel's current session, used by nobody else until the block ends.

        Failures inside the block come out as the adapter error kinds.
        """
        if self._redis is None:
            self._redis = _redis_for(settings.RQ_QUEUES["default"]["URL"])
        key = self.account.lock_key or f"{NETWORK}:{self.account.remote_id}"
        lock = self._redis.lock(
            f"lock:{key}", timeout=self._lock_timeout(), blocking_timeout=timeout_for(LOCK_WAIT)
        )
        try:
            acquired = lock.acquire()
        except redis.RedisError:
            raise TransientError("The scheduler's Redis server could not be reached.") from None
        if not acquired:
            raise TransientError(
                "Another job is using this Bluesky channel right now.",
                retry_after=10,
            )
        self._lock = lock
        try:
            with translated(urlsplit(self.account.server_url or settings.BLUESKY_DEFAULT_PDS).netloc):
                yield self._resume()
        finally:
            self._lock = None
            try:
                lock.release()
            except redis.exceptions.LockError:
                logger.warning("The session lock for a Bluesky channel expired before it was released")

    @staticmethod
    def _lock_timeout() -> int:
        # The lock must outlive one request (NETWORK_TIMEOUT); call() renews it before each one.
        return int(max(60, 2 * settings.NETWORK_TIMEOUT))

    def call(self, method: Callable[..., T], *args, **kwargs) -> T:
        """One PDS call, renewing the session once if the server says it is no longer valid."""
        if self._lock is not None:
            try:
                self._lock.reacquire()
            except redis.exceptions.LockError:
                raise TransientError("Talking to Bluesky took too long.") from None
        try:
            return method(*args, **kwargs)
        except BadRequestError as exc:
            if error_name(exc) not in SESSION_ERRORS:
                raise
        except UnauthorizedError:
            pass
        self._renew()
        return method(*args, **kwargs)

    def _resume(self) -> Client:
        """Load the stored session (another worker may have refreshed it) into the reused client."""
        if self.account.load_credentials is not None:
            self.credentials = dict(self.account.load_credentials() or {})
            self.account.credentials = self.credentials
        if not self.credentials.get("app_password") and not self.credentials.get("session"):
            raise AuthorizationLost("This Bluesky channel has no stored sign-in: reconnect it.")
        if self._client is None:
            self._client = new_client(self.account.server_url or settings.BLUESKY_DEFAULT_PDS)
            # Registered before any login or resume so that no session change goes unsaved.
            self._client.on_session_change(self._on_session_change)
        stored = self.credentials.get("session") or ""
        if stored and stored != self._current_session_string():
            try:
                self._client.login(session_string=stored, fetch_bsky_profile=False)
                return self._client
            except ValueError:
                logger.warning(
                    "The stored Bluesky session of %s is unreadable; signing in again", self.account.handle
                )
        elif stored:
            return self._client
        self._login_with_password()
        return self._client

    def _current_session_string(self) -> str:
        try:
            return self._client.export_session_string()
        except AtProtocolError:
            return ""

    def _on_session_change(self, event: SessionEvent, session: Session) -> None:
        self.info = session
        if event not in (SessionEvent.CREATE, SessionEvent.REFRESH):
            return
        self.credentials = {**self.credentials, "handle": session.handle, "session": session.export()}
        self.account.credentials = self.credentials
        self.account.save_credentials(dict(self.credentials))

    def _login_with_password(self) -> None:
        handle, password = self.credentials.get("handle"), self.credentials.get("app_password")
        if not handle or not password:
            raise AuthorizationLost("Bluesky needs this channel to sign in again: reconnect it.")
        logger.warning("Signing in to Bluesky again with the app password of %s", handle)
        try:
            self._client.login(handle, password, fetch_bsky_profile=False)
        except (UnauthorizedError, BadRequestError) as exc:
            raise translate(exc, signing_in=True) from None

    def _renew(self) -> None:
        """The server refused the access token: refresh the session, or sign in again if that is dead too."""
        try:
            # The SDK refreshes by the token's clock only; a server may expire or revoke it sooner.
            self._client._refresh_and_set_session()
        except BadRequestError as exc:
            if error_name(exc) not in SESSION_ERRORS:
                raise
            self._login_with_password()
        except UnauthorizedError:
            self._login_with_password()
