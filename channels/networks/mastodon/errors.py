"""What a failure of Mastodon.py means: one table, read by publishing and by connecting.

`classify` sorts every error Mastodon.py raises for a request into one kind of failure (rate
limited, unreachable, the server's own trouble, an answer that is not JSON, or what the HTTP status
says). Publishing words a kind as one of the three adapter errors (`adapter_error`: try again,
rejected content, reconnect); connecting words it as a ConnectError on the connect form
(`connect_error`). Anything that is not a Mastodon.py error (a bug) is not classified and passes
through.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mastodon import MastodonAPIError, MastodonNetworkError, MastodonRatelimitError, MastodonServerError

from channels.deadline import out_of_time
from channels.networks.base import (
    AdapterError,
    AuthorizationLost,
    ConnectError,
    ContentRejected,
    TransientError,
)

log = logging.getLogger(__name__)

# HTTP status -> kind, for answers Mastodon.py reports as MastodonAPIError. Others are "refused".
_BY_STATUS = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    410: "not_found",
    408: "busy",
    409: "busy",
    425: "busy",
    413: "too_large",
}

# Words in a 403's message that say the token or the account, not the request, is refused.
_AUTH_WORDS = (
    "token",
    "scope",
    "login",
    "log in",
    "disabled",
    "suspended",
    "approved",
    "confirm",
    "authoriz",
    "authentic",
    "forbidden for this account",
)


@dataclass(frozen=True)
class Failure:
    """One failed request. `kind`: rate_limited, unreadable_limits (rate-limit headers Mastodon.py could
    not read), unreachable, server, unreadable (a 2xx/3xx that was
    not JSON: a maintenance page, a captive proxy), unauthorized, forbidden, not_found, busy,
    too_large or refused. `status` and `message` are the HTTP status and the server's own words."""

    kind: str
    status: int | None = None
    message: str = ""

    @property
    def duplicate_key(self) -> bool:
        """Pixelfed's answer to an Idempotency-Key it has seen: nothing says whether it posted."""
        return self.status == 400 and "duplicate idempotency key" in self.message.lower()

    @property
    def reason(self) -> str:
        """The server's message as a sentence: without Rails' "Validation failed: " prefix, bounded."""
        message = " ".join((self.message or "").split()).removeprefix("Validation failed: ")
        if len(message) > 300:
            message = message[:297] + "..."
        return message.rstrip(".") + "." if message else ""

    @property
    def access_refused(self) -> bool:
        """The token or the account is refused (a 401, or a 403 that says so), not the request."""
        return self.kind == "unauthorized" or (
            self.kind == "forbidden" and any(word in self.message.lower() for word in _AUTH_WORDS)
        )


def classify(exc: Exception) -> Failure | None:
    """The failure a Mastodon.py error stands for; None for anything else."""
    if isinstance(exc, MastodonRatelimitError):
        # Mastodon.py also raises it when it cannot read the rate-limit headers of any answer (an
        # unparseable reset time, two Date headers joined into one).
        if "calculations failed" in str(exc):
            return Failure("unreadable_limits", message=str(exc))
        return Failure("rate_limited")
    if isinstance(exc, MastodonNetworkError):
        return Failure("unreachable")
    if not isinstance(exc, MastodonAPIError):
        return None
    status, message = _api_status(exc)
    if isinstance(exc, MastodonServerError):
        return Failure("server", status, message)
    if status is None:
        return Failure("unreadable")
    return Failure(_BY_STATUS.get(status, "refused"), status, message)


def _api_status(exc: MastodonAPIError) -> tuple[int | None, str]:
    """(HTTP status, the server's own message) from Mastodon.py's error args."""
    args = exc.args
    if len(args) >= 4 and isinstance(args[1], int):
        message = args[3] if isinstance(args[3], str) else ""
        return args[1], message
    return None, ""


def missing(exc: MastodonAPIError) -> bool:
    """The endpoint is not there (or not JSON): fall back, rather than fail."""
    failure = classify(exc)
    return failure.kind in ("not_found", "unreadable") or failure.status in (400, 403, 405, 406)


def adapter_error(
    exc: Exception,
    host: str,
    what: str,
    *,
    replying: bool = False,
    gone: str = "account",
    retry_after: float | None = None,
    software: str = "Mastodon",
) -> AdapterError | None:
    """A Mastodon.py error as one of the three adapter errors; None when it is not Mastodon.py's.

    `what` names the thing acted on in messages ("the post", a file name). `gone` says what a
    404/410 means: "account" (the account is gone: reconnect) or "content" (the thing acted on is
    missing: rejected). `retry_after` is when the rate limit resets, if the client knows.
    `software` names the server program in messages ("GoToSocial rejected the post").
    """
    failure = classify(exc)
    if failure is None:
        return None
    kind, status, reason = failure.kind, failure.status, failure.reason
    if kind == "rate_limited":
        log.warning("Mastodon %s rate limit hit (reset in %s s)", host, retry_after)
        return TransientError(
            f"{host} is limiting how many requests this account can make; "
            "trying again when the limit resets.",
            retry_after=retry_after,
        )
    if kind == "unreadable_limits":
        log.warning("Mastodon %s sent rate-limit headers that could not be read: %s", host, exc)
        return TransientError(
            f"{host} sent rate-limit information that could not be read; trying again shortly.",
            retry_after=retry_after,
        )
    if kind == "unreachable":
        log.warning("Mastodon %s unreachable: %s", host, exc)
        return TransientError(out_of_time(host) or f"Could not reach {host}; trying again shortly.")
    if kind == "server":
        log.warning("Mastodon %s server error %s", host, status)
        return TransientError(f"{host} had a problem on its side (HTTP {status}); trying again shortly.")
    log.warning("Mastodon %s answered %s for %s: %s", host, status, what, failure.message)
    if kind == "unreadable":
        return TransientError(f"{host} sent an answer that could not be read; trying again shortly.")
    if failure.access_refused:
        detail = f" ({reason})" if reason else ""
        return AuthorizationLost(
            f"{host} no longer accepts this channel's access{detail}. Reconnect the channel."
        )
    if status == 404 and replying:
        return ContentRejected(
            "The post this replies to was deleted, so this part of the thread cannot be published."
        )
    if kind == "not_found" and gone == "account":
        return AuthorizationLost(
            f"The account was not found on {host}; it may have been deleted or moved. Reconnect the channel."
        )
    if kind == "busy":
        return TransientError(f"{host} could not handle the request just now; trying again shortly.")
    if kind == "too_large":
        return ContentRejected(f"{software} rejected {what}: the file is too large for {host}.")
    return ContentRejected(f"{software} rejected {what}: {reason or f'HTTP error {status}.'}")


def connect_error(exc: Exception, host: str) -> ConnectError | None:
    """A Mastodon.py error while connecting (checking a token, reading the server) as the connect
    form's message; None when it is not Mastodon.py's."""
    failure = classify(exc)
    if failure is None:
        return None
    if failure.kind == "unauthorized":
        return ConnectError(
            f"{host} did not accept this access token. "
            "Check that you copied all of it and that it was not revoked.",
            field="access_token",
        )
    if failure.kind == "unreachable":
        return ConnectError(
            out_of_time(host) or f"Could not reach {host}. Check the address.", field="instance_url"
        )
    if failure.kind == "rate_limited":
        return ConnectError(f"{host} is limiting requests right now. Try again in a few minutes.")
    if failure.kind == "unreadable_limits":
        return ConnectError(
            f"{host} sent rate-limit information that could not be read. Try again in a few minutes."
        )
    if failure.kind == "server":
        return ConnectError(
            f"{host} had a problem on its side. Try again in a few minutes.", field="instance_url"
        )
    if failure.kind == "forbidden":
        return ConnectError(
            f"{host} refused access with this token: {failure.reason or 'permission denied.'}",
            field="access_token",
        )
    return ConnectError(f"{host} does not look like a Mastodon server.", field="instance_url")
