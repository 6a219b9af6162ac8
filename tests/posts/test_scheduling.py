"""Slots resolve per occurrence in the channel's zone: 09:00 stays 09:00 across DST."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from posts.models import Delivery, Post, PostingSlot
from posts.scheduling import move_in_queue, next_free_slots, reslot_queue, resolve_local, slot_times

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")  # +05:30, no DST
ADELAIDE = ZoneInfo("Australia/Adelaide")  # +09:30 / +10:30, DST in the southern summer
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # a 30-minute DST shift


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "at", "tz", "expected"),
    [
        # Spring forward: the wall time does not exist -> the next valid instant (the transition).
        (date(2026, 3, 29), time(2, 30), BERLIN, utc(2026, 3, 29, 1, 0)),
        (date(2026, 3, 8), time(2, 15), NEW_YORK, utc(2026, 3, 8, 7, 0)),
        (date(2026, 10, 4), time(2, 15), ADELAIDE, utc(2026, 10, 3, 16, 30)),
        (date(2026, 10, 4), time(2, 10), LORD_HOWE, utc(2026, 10, 3, 15, 30)),
        # Fall back: the wall time happens twice -> the first occurrence.
        (date(2026, 10, 25), time(2, 30), BERLIN, utc(2026, 10, 25, 0, 30)),
        (date(2026, 11, 1), time(1, 30), NEW_YORK, utc(2026, 11, 1, 5, 30)),
        (date(2026, 4, 5), time(2, 30), ADELAIDE, utc(2026, 4, 4, 16, 0)),  # ACDT, not ACST
        # Ordinary times on either side of the change keep their wall time.
        (date(2026, 3, 28), time(9, 0), BERLIN, utc(2026, 3, 28, 8, 0)),
        (date(2026, 3, 30), time(9, 0), BERLIN, utc(2026, 3, 30, 7, 0)),
        (date(2026, 6, 1), time(9, 0), KOLKATA, utc(2026, 6, 1, 3, 30)),
    ],
)
def test_it_resolves_wall_times(day, at, tz, expected):
    assert resolve_local(day, at, tz) == expected


def test_it_keeps_a_nine_oclock_slot_at_nine_across_dst():
    after = utc(2026, 3, 26, 12, 0)  # Thursday before Berlin's spring forward
    times = list(_take(slot_times([(d, time(9, 0)) for d in range(7)], BERLIN, after), 6))
    assert [t.astimezone(BERLIN).time() for t in times] == [time(9, 0)] * 6
    assert times[0] == utc(2026, 3, 27, 8, 0)  # CET
    assert times[3] == utc(2026, 3, 30, 7, 0)  # CEST


def test_it_keeps_slots_in_new_york_across_fall_back():
    after = utc(2026, 10, 30, 0, 0)
    times = list(_take(slot_times([(d, time(8, 30)) for d in range(7)], NEW_YORK, after), 4))
    assert [t.astimezone(NEW_YORK).strftime("%a %H:%M") for t in times] == [
        "Fri 08:30",
        "Sat 08:30",
        "Sun 08:30",
        "Mon 08:30",
    ]
    assert times[1] - times[0] == timedelta(hours=24)
    assert times[2] - times[1] == timedelta(hours=25)  # the day has 25 hours


def test_it_uses_half_hour_offsets():
    after = utc(2026, 6, 1, 0, 0)
    first = next(slot_times([(0, time(10, 0))], KOLKATA, after))  # Mondays 10:00
    assert first == utc(2026, 6, 1, 4, 30)


def _take(iterator, n):
    for _, item in zip(range(n), iterator, strict=False):
        yield item


def add_slots(channel, *times, weekdays=range(7)):
    for weekday in weekdays:
        for t in times:
            PostingSlot.objects.create(channel=channel, weekday=weekday, time=t)


def queued_delivery(channel, when, author=None):
    post = Post.objects.create(
        workspace=channel.workspace, author=author, status=Post.Status.SCHEDULED, mode=Post.Mode.QUEUE
    )
    return Delivery.objects.create(
        post=post,
        channel=channel,
        status=Delivery.Status.SCHEDULED,
        scheduled_for=when,
        next_attempt_at=when,
        in_queue=True,
    )


def test_it_skips_taken_slots(make_channel):
    channel = make_channel(tz="Europe/Berlin")
    add_slots(channel, time(9, 0), time(17, 0))
    after = utc(2026, 5, 4, 6, 0)  # Monday 08:00 Berlin
    queued_delivery(channel, utc(2026, 5, 4, 7, 0))
    assert next_free_slots(channel, 2, after=after) == [utc(2026, 5, 4, 15, 0), utc(2026, 5, 5, 7, 0)]


def test_it_reslots_only_queued_unpublished_posts(make_channel):
    channel = make_channel(tz="America/New_York")
    add_slots(channel, time(9, 0))
    after = utc(2026, 5, 4, 12, 0)  # Monday 08:00 New York
    first = queued_delivery(channel, utc(2026, 5, 4, 13, 0))
    second = queued_delivery(channel, utc(2026, 5, 5, 13, 0))
    fixed = queued_delivery(channel, utc(2026, 5, 6, 15, 0))
    Delivery.objects.filter(pk=fixed.pk).update(in_queue=False)
    published = queued_delivery(channel, utc(2026, 5, 1, 13, 0))
    Delivery.objects.filter(pk=published.pk).update(status=Delivery.Status.PUBLISHED)

    PostingSlot.objects.filter(channel=channel).delete()
    add_slots(channel, time(12, 0))
    assert reslot_queue(channel, after=after) == 2
    first.refresh_from_db(), second.refresh_from_db(), fixed.refresh_from_db(), published.refresh_from_db()
    assert first.scheduled_for == utc(2026, 5, 4, 16, 0)
    assert second.scheduled_for == utc(2026, 5, 5, 16, 0)
    assert first.next_attempt_at == first.scheduled_for
    assert fixed.scheduled_for == utc(2026, 5, 6, 15, 0)
    assert published.scheduled_for == utc(2026, 5, 1, 13, 0)


def test_it_moves_a_post_to_the_top_of_the_queue(make_channel):
    channel = make_channel(tz="UTC")
    times = [utc(2026, 5, 4, 9), utc(2026, 5, 5, 9), utc(2026, 5, 6, 9)]
    a, b, c = (queued_delivery(channel, t) for t in times)
    move_in_queue(c, 0)
    order = list(Delivery.objects.in_queue(channel).values_list("pk", "scheduled_for"))
    assert order == [(c.pk, times[0]), (a.pk, times[1]), (b.pk, times[2])]
    move_in_queue(c, 2)
    assert list(Delivery.objects.in_queue(channel).values_list("pk", flat=True)) == [a.pk, b.pk, c.pk]
