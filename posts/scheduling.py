"""Time: local wall times to UTC instants, posting slots, and the queue.

The database stores UTC. A posting slot is (weekday, local time) in the channel's zone and is
resolved per occurrence, so 09:00 stays 09:00 across DST. A wall time that does not exist (spring
forward) moves to the next valid instant; an ambiguous one (fall back) takes the first occurrence.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils.timezone import now

from posts import states
from posts.models import Delivery, PostingSlot

# The times anyone may schedule for, everywhere (composer, queue, calendar, API): from 2000 to five
# years ahead. Outside them a time is a typo, and near the calendar's ends date arithmetic overflows.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=5 * 366)


def latest() -> datetime:
    """The latest instant a post may be scheduled for."""
    return now() + AHEAD


def out_of_range_message() -> str:
    return f"Choose a date between {EARLIEST:%-d %B %Y} and {latest():%-d %B %Y}."


def in_range(value: datetime) -> bool:
    """Whether a time may be scheduled. An aware time is checked to the instant; a naive (wall) time,
    not yet placed in a zone, to the day with a day's margin, so converting it cannot overflow."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        return EARLIEST <= value <= latest()
    margin = timedelta(days=1)
    return (EARLIEST - margin).date() <= value.date() <= (latest() + margin).date()


def check_in_range(value: datetime) -> datetime:
    """`value`, or CannotMove (beside the time field) with a sentence if it is out of range."""
    if not in_range(value):
        raise CannotMove(out_of_range_message(), past=True)
    return value


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def resolve_local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of the wall time `day at` in `tz`."""
    wall = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall(first, tz) == wall:
        return first  # exists; for an ambiguous time fold=0 is the first occurrence
    # In a gap: the next valid instant is the transition itself, which lies between the instants the
    # two fold readings give. Find it to the second (transitions fall on whole seconds).
    low, high = sorted(
        (int(wall.replace(tzinfo=tz, fold=1).timestamp()), int(wall.replace(tzinfo=tz, fold=0).timestamp()))
    )
    while high - low > 1:
        middle = (low + high) // 2
        if _wall(datetime.fromtimestamp(middle, UTC), tz) > wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def local_to_utc(naive: datetime, tz: ZoneInfo) -> datetime:
    """A naive wall datetime typed by a user in `tz` -> aware UTC."""
    return resolve_local(naive.date(), naive.time(), tz)


def slot_times(slots: list[tuple[int, time]], tz: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Every occurrence of the weekly slots strictly after `after`, in time order, as UTC instants."""
    if not slots:
        return
    by_weekday: dict[int, list[time]] = {}
    for weekday, at in slots:
        by_weekday.setdefault(weekday, []).append(at)
    for times in by_weekday.values():
        times.sort()
    day = _wall(after, tz).date() - timedelta(days=1)  # a slot late yesterday can resolve after `after`
    while True:
        for at in by_weekday.get(day.weekday(), ()):
            instant = resolve_local(day, at, tz)
            if instant > after:
                yield instant
        day += timedelta(days=1)


def channel_slots(channel) -> list[tuple[int, time]]:
    return list(PostingSlot.objects.filter(channel=channel).values_list("weekday", "time"))


def next_free_slots(channel, count: int = 1, after: datetime | None = None, exclude_ids=()) -> list[datetime]:
    """The next `count` slot instants of the channel not taken by another active delivery."""
    after = after or now()
    slots = channel_slots(channel)
    if not slots:
        return []
    taken = set(
        Delivery.objects.filter(channel=channel, scheduled_for__gt=after, status__in=states.UPCOMING)
        .exclude(pk__in=exclude_ids)
        .values_list("scheduled_for", flat=True)
    )
    free = []
    for instant in slot_times(slots, channel.tz, after):
        if instant not in taken:
            free.append(instant)
            if len(free) == count:
                break
    return free


class NoSlots(Exception):
    """The channel has no posting schedule, so "add to queue" has nowhere to go."""


def reslot_queue(channel, after: datetime | None = None) -> int:
    """Give the channel's queued posts the next free slots again, keeping their order.

    Only posts placed by the queue and not yet handed to a worker move; published, publishing and
    posts scheduled at a fixed time keep their times. Returns how many moved.
    """
    after = after or now()
    with transaction.atomic():
        queued = list(Delivery.objects.in_queue(channel).select_for_update())
        ids = [d.pk for d in queued]
        times = next_free_slots(channel, len(queued), after=after, exclude_ids=ids) if queued else []
        if queued and len(times) < len(queued):
            raise NoSlots("This channel has no posting times: add some before queueing posts.")
        moved = 0
        for delivery, instant in zip(queued, times, strict=True):
            if delivery.scheduled_for != instant:
                Delivery.objects.filter(
                    pk=delivery.pk, status__in=[Delivery.Status.SCHEDULED, Delivery.Status.HELD]
                ).update(scheduled_for=instant, next_attempt_at=instant, updated=now())
                moved += 1
    return moved


def move_in_queue(delivery, position: int) -> None:
    """Move a queued delivery to `position` (0 = top); the queue's slot times stay, the order changes."""
    with transaction.atomic():
        queued = list(Delivery.objects.in_queue(delivery.channel).select_for_update())
        times = [d.scheduled_for for d in queued]
        order = [d for d in queued if d.pk != delivery.pk]
        position = max(0, min(position, len(order)))
        order.insert(position, next(d for d in queued if d.pk == delivery.pk))
        for item, instant in zip(order, times, strict=True):
            if item.scheduled_for != instant:
                Delivery.objects.filter(pk=item.pk).update(
                    scheduled_for=instant, next_attempt_at=instant, updated=now()
                )


class CannotMove(Exception):
    """A delivery cannot take the time asked for; the message is a sentence for the user."""

    def __init__(self, message: str, *, past: bool = False):
        super().__init__(message)
        self.message = message
        self.past = past  # the time itself was refused (shown beside the time field)


_NOT_MOVABLE = {
    Delivery.Status.PUBLISHED: "This post was already published on {channel}; it can't be moved.",
    Delivery.Status.PUBLISHING: "This post is being published on {channel} right now; it can't be moved.",
    Delivery.Status.QUEUED: "This post is being published on {channel} right now; it can't be moved.",
    Delivery.Status.FAILED: "This post failed on {channel}: retry it instead of moving it.",
    Delivery.Status.NEEDS_ATTENTION: "This post needs attention on {channel}: check it before moving it.",
    Delivery.Status.DRAFT: "This post is not scheduled on {channel}; schedule it from the composer.",
}


def _not_movable(delivery, status) -> str:
    return _NOT_MOVABLE.get(status, "This post can't be moved now.").format(channel=delivery.channel)


def reschedule(delivery, when: datetime) -> None:
    """Give one delivery a fixed time (it leaves the queue); only while it is scheduled or held.

    The update is conditional on the status, so a delivery a dispatcher claims meanwhile is not moved.
    """
    if delivery.status not in states.MOVABLE:
        raise CannotMove(_not_movable(delivery, delivery.status))
    if when < now() - timedelta(minutes=1):
        raise CannotMove("That time has passed: choose a time in the future.", past=True)
    check_in_range(when)
    moved = Delivery.objects.filter(pk=delivery.pk, status__in=states.MOVABLE).update(
        in_queue=False, scheduled_for=when, next_attempt_at=when, updated=now()
    )
    if not moved:
        status = Delivery.objects.filter(pk=delivery.pk).values_list("status", flat=True).first()
        raise CannotMove(_not_movable(delivery, status))
    delivery.in_queue, delivery.scheduled_for, delivery.next_attempt_at = False, when, when


def change_schedule(channel, *, add=(), remove=(), replace: bool = False, timezone: str | None = None) -> int:
    """Add and remove weekly slots (or `replace` them all) and/or change the channel's zone, then
    re-slot its queue.

    One transaction with the channel row locked, so two people editing the schedule at once do not
    lose each other's changes. Raises NoSlots (and changes nothing) if posts are queued and no slot
    would be left. Returns how many queued posts moved.
    """
    from channels.models import Channel

    previous_zone = channel.timezone
    try:
        with transaction.atomic():
            Channel.objects.select_for_update().filter(pk=channel.pk).values_list("pk").first()
            if replace:
                PostingSlot.objects.filter(channel=channel).delete()
            for weekday, at in remove:
                PostingSlot.objects.filter(channel=channel, weekday=weekday, time=at).delete()
            existing = set(channel_slots(channel))
            PostingSlot.objects.bulk_create(
                [PostingSlot(channel=channel, weekday=w, time=t) for w, t in sorted(set(add) - existing)]
            )
            if timezone is not None and timezone != channel.timezone:
                Channel.objects.filter(pk=channel.pk).update(timezone=timezone, updated=now())
                channel.timezone = timezone
            return reslot_queue(channel)
    except BaseException:
        channel.timezone = previous_zone
        raise
