"""What Bluesky's failures mean: one table from an SDK or transport error to an error kind.

`describe()` is the table. Each failure has the kind a job raises (TransientError, ContentRejected,
AuthorizationLost), its sentence, and what the connect form shows instead (and next to which
field). `translate()` and `translated()` give the job's error; `connect_error()` the connect
form's. The same answer means different things while signing in with the app password (a refused
password) and on any other call (a refused session).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from atproto.exceptions import (
    AtProtocolError,
    BadRequestError,
    ModelError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    RequestException,
    UnauthorizedError,
)

from channels.deadline import out_of_time
from channels.guard import UnsafeURL
from channels.networks.base import (
    AdapterError,
    AuthorizationLost,
    ConnectError,
    ContentRejected,
    TransientError,
)

# What a PDS answers when the access token (or the refresh token) is no longer valid.
SESSION_ERRORS = {"ExpiredToken", "InvalidToken"}
SUSPENDED_ERRORS = {"AccountTakedown", "AccountDeactivated", "RepoDeactivated", "RepoTakendown"}

_SUSPENDED = "Bluesky has suspended or deactivated this account."
_SIGN_IN_LOST = "Bluesky no longer accepts this channel's sign-in: reconnect it."
_WRONG_PASSWORD = (
    "Bluesky did not accept this handle and app password. Check both, or create a new app password."
)


@dataclass(frozen=True)
class Failure:
    """What one failure means. `kind` None: not expected of a working PDS (while publishing, a bug)."""

    kind: type[AdapterError] | None
    message: str  # the job's sentence
    on_connect: str = ""  # the connect form's sentence, when it differs
    field: str | None = None  # the connect form's field it concerns
    retry_after: float | None = None


def error_name(exc: RequestErrorBase) -> str:
    """The XRPC error name of an answer ("ExpiredToken", "RecordNotFound"...), or ""."""
    content = exc.response.content if exc.response is not None else None
    return getattr(content, "error", None) or ""


def _error_message(exc: RequestErrorBase) -> str:
    content = exc.response.content if exc.response is not None else None
    return (getattr(content, "message", None) or "").strip()


def _status(exc: RequestErrorBase) -> int | None:
    return exc.response.status_code if exc.response is not None else None


def _retry_after(exc: RateLimitExceededError) -> float | None:
    if exc.retry_after is not None:
        return exc.retry_after
    if exc.reset_at is not None:
        return max((exc.reset_at - datetime.now(UTC)).total_seconds(), 0.0)
    return None


def _sentence(text: str) -> str:
    text = " ".join(text.split())[:200]
    return text if text.endswith((".", "!", "?")) else text + "."


def describe(exc: Exception, *, signing_in: bool = False, server: str = "Bluesky") -> Failure | None:
    """The table: what `exc` means, or None for a failure that is not the network's (a bug).

    `server` is the PDS address, which the connect form's sentences name.
    """
    host = urlsplit(server).netloc or server
    unreachable = out_of_time(host) or (
        f"The server {server} could not be reached. Check the address, or try again later."
    )
    not_a_pds = f"{server} did not answer like a Bluesky server (PDS). Check the address."
    if isinstance(exc, UnsafeURL):
        # The server sent us somewhere we do not go: that needs fixing there, not a retry.
        return Failure(
            AuthorizationLost, f"{exc} Reconnect this channel once its server is fixed.", str(exc), "pds_url"
        )
    if isinstance(exc, RateLimitExceededError):
        wait = _retry_after(exc)
        when = f"in about {max(1, round(wait / 60))} minutes" if wait else "later"
        return Failure(
            TransientError,
            "Bluesky is limiting how often this account can make requests right now.",
            f"Bluesky is limiting sign-ins for this account right now: try again {when}.",
            retry_after=wait,
        )
    if isinstance(exc, NetworkError):  # transport failures, timeouts, and 409/413/502
        if _status(exc) == 413:
            return Failure(
                ContentRejected, "Bluesky refused a file of this post as too large.", unreachable, "pds_url"
            )
        return Failure(
            TransientError,
            "Bluesky could not be reached (network trouble or a timeout).",
            unreachable,
            "pds_url",
        )
    if isinstance(exc, httpx.TransportError):
        return Failure(
            TransientError, "The connection to Bluesky broke off before it answered.", unreachable, "pds_url"
        )
    if isinstance(exc, UnauthorizedError | BadRequestError):
        return _refused(exc, signing_in)
    if isinstance(exc, RequestException) and (_status(exc) or 0) >= 500:
        return Failure(TransientError, "Bluesky had a server problem.", not_a_pds, "pds_url")
    if isinstance(exc, RequestException | ModelError):
        return Failure(None, "", not_a_pds, "pds_url")
    return None


def _refused(exc: UnauthorizedError | BadRequestError, signing_in: bool) -> Failure:
    """A 401 or 400 answer."""
    name = error_name(exc)
    if name in SUSPENDED_ERRORS:
        return Failure(AuthorizationLost, _SUSPENDED)
    if signing_in:
        if name == "AuthFactorTokenRequired":
            return Failure(
                AuthorizationLost,
                "Bluesky asks this account for an email sign-in code: reconnect it with an app password.",
                "This account asks for an email sign-in code, which a scheduler cannot type in. Create an "
                "app password in Bluesky (Settings > Privacy and security > App passwords) and use it here.",
                "app_password",
            )
        return Failure(
            AuthorizationLost,
            "Bluesky refused the app password: create a new one and reconnect.",
            _WRONG_PASSWORD,
            "app_password",
        )
    if isinstance(exc, UnauthorizedError) or name in SESSION_ERRORS:
        return Failure(AuthorizationLost, _SIGN_IN_LOST)
    if name == "BlobTooLarge":
        return Failure(ContentRejected, "Bluesky refused an image as too large.")
    if message := _error_message(exc):
        return Failure(ContentRejected, f"Bluesky rejected the post: {_sentence(message)}")
    return Failure(ContentRejected, "Bluesky rejected the post as invalid.")


def translate(exc: Exception, *, signing_in: bool = False) -> AdapterError | None:
    """The job's error kind for an SDK or transport failure, or None when it is not an expected one."""
    failure = describe(exc, signing_in=signing_in)
    if failure is None or failure.kind is None:
        return None
    if failure.kind is TransientError:
        return TransientError(failure.message, retry_after=failure.retry_after)
    return failure.kind(failure.message)


@contextmanager
def translated(server: str = "Bluesky") -> Iterator[None]:
    """Raise the job's error kind for an expected failure inside the block; let a bug through.

    A transient failure after the web request's deadline (a person waiting on a page) says so.
    """
    try:
        yield
    except (AtProtocolError, httpx.TransportError, UnsafeURL) as exc:
        mapped = translate(exc)
        if mapped is None:
            raise
        if isinstance(mapped, TransientError) and (late := out_of_time(server)):
            mapped = TransientError(late)
        raise mapped from exc


def connect_error(exc: Exception, server: str) -> ConnectError | None:
    """The connect form's error for a failure while signing in at `server`, or None for a bug."""
    failure = describe(exc, signing_in=True, server=server)
    if failure is None:
        return None
    return ConnectError(failure.on_connect or failure.message, field=failure.field)
