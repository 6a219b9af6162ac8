"""When a rate-limited request may be tried again, from the answer's headers.

Servers say it differently: Mastodon sends ``X-RateLimit-Reset`` as an ISO time with milliseconds,
GoToSocial as an ISO time truncated to the second, Sharkey as seconds from now (with
``Retry-After``); Akkoma sends no header at all. A time truncated to the second, and clocks that
differ, make a retry at the exact instant come too early, so a margin is added.
"""

from __future__ import annotations

import time
from datetime import datetime
from email.utils import parsedate_to_datetime

SAFETY_MARGIN = 2.0  # seconds added to every reset time
_EPOCH_FROM = 1_000_000_000  # a number this large is a Unix time, a smaller one seconds from now


def retry_after(headers, now: float | None = None) -> float | None:
    """Seconds to wait before trying again, margin included; None when the headers do not say."""
    if not headers:
        return None
    now = time.time() if now is None else now
    for name in ("X-RateLimit-Reset", "Retry-After"):
        value = (headers.get(name) or "").strip()
        if not value:
            continue
        wait = _seconds_until(value, now, headers)
        if wait is not None:
            return max(0.0, wait) + SAFETY_MARGIN
    return None


def _seconds_until(value: str, now: float, headers) -> float | None:
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        return number - _server_now(headers, now) if number >= _EPOCH_FROM else number
    moment = _parse_time(value)
    if moment is None:
        return None
    # Against the server's own clock when it sends one: the reset is in its time.
    return moment.timestamp() - _server_now(headers, now)


def _parse_time(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)  # an HTTP date (Retry-After may be one)
        except (TypeError, ValueError, IndexError):
            return None
    if moment.tzinfo is None:
        return None
    return moment


def _server_now(headers, now: float) -> float:
    """The server's clock per its Date header (one usable header only), else ours."""
    date = headers.get("Date") or ""
    if not date or "," in date.partition(",")[2]:  # two Date headers arrive joined by ", "
        return now
    try:
        return parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError):
        return now
