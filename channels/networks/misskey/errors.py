"""What a Misskey error means: the one table from an answer to the three error kinds.

Misskey answers failures as `{"error": {"message", "code", "id", "kind", "info"}}` with an HTTP status
(ApiCallService). The sentences here never quote the request (its body carries the token, field `i`).
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

from channels.networks.base import AdapterError, AuthorizationLost, ContentRejected, TransientError

# Codes that mean the token no longer works for what we do.
AUTH_CODES = {"CREDENTIAL_REQUIRED", "AUTHENTICATION_FAILED", "PERMISSION_DENIED", "ACCESS_DENIED"}
# Content the server refused, with what to tell the person.
REJECTED = {
    "NO_SUCH_FILE": "one of its files is no longer in the account's drive",
    "NO_SUCH_REPLY_TARGET": "the note it answers (the previous part of the thread) is gone",
    "CANNOT_REPLY_TO_AN_INVISIBLE_NOTE": "the note it answers is not visible to the account",
    "CANNOT_REPLY_TO_A_PURE_RENOTE": "the note it answers is a renote",
    "CANNOT_REPLY_TO_SPECIFIED_VISIBILITY_NOTE_WITH_EXTENDED_VISIBILITY": "a reply cannot be more visible",
    "YOU_HAVE_BEEN_BLOCKED": "the author of the note it answers has blocked the account",
    "CONTAINS_PROHIBITED_WORDS": "it contains words the server does not allow",
    "CONTAINS_TOO_MANY_MENTIONS": "it mentions more people than the server allows",
    "CONTENT_REQUIRED": "a note needs text or a file",
    "INVALID_PARAM": "a field is not as the server accepts it (the text may be too long)",
    "MAX_FILE_SIZE_EXCEEDED": "a file is bigger than the account may upload",
    "UNALLOWED_FILE_TYPE": "the account may not upload a file of this type",
    "NO_FREE_SPACE": "the account's drive is full",
}
# Seconds to wait on a 429 that says nothing about when to come back.
DEFAULT_RATE_WAIT = 60.0


def envelope(payload: Any) -> dict[str, Any]:
    """The `error` object of an answer, or {} when there is none."""
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return payload["error"]
    return {}


def retry_after(headers, now: float) -> float | None:
    """Seconds to wait from Retry-After (seconds or a date) or X-RateLimit-Reset (Sharkey, when blocked:
    seconds such as "12.000"; a number past 1e9 is read as a Unix time). Upstream Misskey sends neither."""
    value = (headers or {}).get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = (headers or {}).get("X-RateLimit-Reset")
    if reset:
        try:
            number = float(reset)
        except ValueError:
            return None
        return max(0.0, number - now if number > 1e9 else number)
    return None


def error_for(status: int, payload: Any, headers, host: str, what: str, now: float) -> AdapterError:
    """The error kind for a failed call (`what` names the thing acted on, "the post")."""
    error = envelope(payload)
    code = str(error.get("code") or "")
    if status == 429 or code == "RATE_LIMIT_EXCEEDED":
        wait = retry_after(headers, now)
        return TransientError(
            f"{host} is limiting how fast this account posts; trying {what} again later.",
            retry_after=wait if wait is not None else DEFAULT_RATE_WAIT,
        )
    if status in (401, 403) or code in AUTH_CODES:
        if code == "PERMISSION_DENIED":
            return AuthorizationLost(
                f"The access token for {host} does not allow publishing notes and uploading files. "
                "Reconnect the channel and allow both."
            )
        return AuthorizationLost(f"{host} no longer accepts this channel's access token. Reconnect it.")
    if status >= 500 or status == 408:
        return TransientError(f"{host} had a problem with {what} (HTTP {status}); trying again later.")
    if code == "NO_SUCH_ENDPOINT" or (status == 404 and not code):
        return ContentRejected(f"{host} does not offer this part of Misskey's API, so {what} cannot go out.")
    reason = REJECTED.get(code)
    if reason is None:
        detail = " ".join(str(error.get("message") or "").split())[:200]
        reason = f"it said: {detail}" if detail else f"HTTP {status}"
    return ContentRejected(f"{host} refused {what}: {reason}.")
