"""The web request's deadline: all the network calls of one request bounded together.

The HTTP clients in channels.transport honour it (`timeout_for`), so a slow or trickling server
cannot keep a web request past gunicorn's timeout.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings


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


def current() -> Deadline | None:
    """The deadline of the block being run, or None outside web_deadline (in workers)."""
    return _deadline.get()


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
