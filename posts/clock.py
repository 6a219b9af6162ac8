"""One clock for times that other processes compare: the database's.

Heartbeats, claims, periodic runs, what is due and the sweeper's thresholds are written by one process
and read by another, often on another machine. Each machine's clock can be off by seconds or minutes
(a stopped NTP daemon, a paused VM), so these times come from now() here: this process's clock
corrected by its offset from the database's clock, measured with one query and measured again every
SYNC_SECONDS (setting CLOCK_SYNC_SECONDS). Between measurements now() costs no query: the dispatcher
calls it several times a second.

Times only people read (a comment's date, the composer's "now") keep django.utils.timezone.now().

skew_process_clock() puts this process's own clock (django.utils.timezone.now()) off, for tests of
processes whose clock is wrong (tests/posts/test_clock.py).
"""

import logging
import threading
import time
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import Error, connection, transaction
from django.utils import timezone

log = logging.getLogger(__name__)

SYNC_SECONDS = 60.0
# An offset smaller than this is the measurement's own noise (half the query's round trip, SQLite's
# milliseconds) and is taken as 0: on a synchronised machine, this process's clock as it is.
NOISE = timedelta(milliseconds=100)
# After a failed measurement (database away), the last offset is kept and measured again this soon.
RETRY_SECONDS = 5.0

_offset = timedelta(0)
_next_sync = 0.0  # time.monotonic() at which to measure again
_measuring = threading.Lock()


def now() -> datetime:
    """The database's clock, as read from this process: an aware UTC datetime."""
    if time.monotonic() >= _next_sync:
        _sync()
    return timezone.now() + _offset


def resync() -> None:
    """Measure again at the next now() (after this process's clock was changed)."""
    global _next_sync
    _next_sync = 0.0


def _sync() -> None:
    global _offset, _next_sync
    # One thread measures; the others go on with the offset they have instead of waiting on the query.
    if not _measuring.acquire(blocking=False):
        return
    try:
        if time.monotonic() < _next_sync:
            return  # another thread has just measured
        try:
            measured = measure()
        except Error as exc:  # lost connection, database restarting
            log.warning("could not read the database's clock: %s", exc.__class__.__name__)
            _next_sync = time.monotonic() + RETRY_SECONDS
            return
        _offset = measured if abs(measured) >= NOISE else timedelta(0)
        _next_sync = time.monotonic() + getattr(settings, "CLOCK_SYNC_SECONDS", SYNC_SECONDS)
    finally:
        _measuring.release()


def measure() -> timedelta:
    """The database's clock minus this process's, read halfway through one query."""
    if connection.vendor == "postgresql":
        # clock_timestamp(), not now(): now() is the time the transaction started.
        sql, params = "SELECT clock_timestamp()", None
    elif connection.vendor == "sqlite":
        # The same machine, but its clock as the C library reads it, not as this process's Python does.
        sql, params = "SELECT strftime(%s, 'now')", ["%Y-%m-%d %H:%M:%f"]
    else:
        return timedelta(0)
    connection.ensure_connection()
    # In a transaction, a savepoint keeps a failed measurement from breaking the caller's transaction.
    with transaction.atomic() if connection.in_atomic_block else nullcontext():
        with connection.cursor() as cursor:
            before = timezone.now()
            cursor.execute(sql, params)
            after = timezone.now()
            value = cursor.fetchone()[0]
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value - (before + (after - before) / 2)


# --- A wrong clock, for tests ---------------------------------------------------------------------

_real_datetime = timezone.datetime


class _SkewedClockType(type):
    # django.utils.timezone checks isinstance(value, datetime) with the name replaced below.
    def __instancecheck__(cls, instance):
        return isinstance(instance, _real_datetime)

    def __subclasscheck__(cls, subclass):
        return issubclass(subclass, _real_datetime)


def skew_process_clock(seconds: float) -> None:
    """Make django.utils.timezone.now() in this process run `seconds` ahead (negative: behind).

    Every module that imported now() by name reads it through the `datetime` name of
    django.utils.timezone, which is swapped for a class whose now() adds the skew. 0 restores it.
    """
    skew = timedelta(seconds=seconds)
    if not skew:
        timezone.datetime = _real_datetime
    else:

        class SkewedDatetime(_real_datetime, metaclass=_SkewedClockType):
            @classmethod
            def now(cls, tz=None):
                return _real_datetime.now(tz) + skew

        timezone.datetime = SkewedDatetime
    resync()
