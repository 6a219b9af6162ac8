"""The posting-schedule editor: weekdays x times in the channel's zone; saving re-slots the queue."""

import re
from datetime import UTC, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils.timezone import now

from posts.models import Delivery, PostingSlot
from posts.scheduling import slot_times
from tests.posts.deliveries import add_slots, make_delivery, upcoming_slots

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def schedule_url(channel):
    return reverse("posts:channel-schedule", kwargs={"slug": "acme", "code": channel.code})


def slots_of(channel):
    return set(PostingSlot.objects.filter(channel=channel).values_list("weekday", "time"))


def test_it_shows_the_grid_of_weekdays_and_times(client, cast, make_channel):
    channel = make_channel(tz="America/New_York")
    add_slots(channel, time(9, 0), weekdays=range(5))
    add_slots(channel, time(18, 30), weekdays=[5])
    client.force_login(cast.alice)
    html = client.get(schedule_url(channel)).content.decode()
    assert "America/New_York" in html
    assert 'aria-label="Remove the 09:00 slot on Monday"' in html
    assert 'aria-label="Add a 09:00 slot on Saturday"' in html
    assert 'aria-label="Remove the 18:30 slot on Saturday"' in html
    assert 'aria-label="Add a 18:30 slot on Monday"' in html


def test_it_adds_a_time_to_the_chosen_weekdays(client, cast, make_channel):
    channel = make_channel()
    client.force_login(cast.alice)
    response = client.post(
        schedule_url(channel),
        {"action": "add", "add-time": "09:30", "add-weekdays": ["0", "2", "4"]},
        follow=True,
    )
    assert slots_of(channel) == {(0, time(9, 30)), (2, time(9, 30)), (4, time(9, 30))}
    html = response.content.decode()
    assert "Posting time 09:30 added Monday, Wednesday, Friday." in html
    assert 'aria-label="Remove the 09:30 slot on Wednesday"' in html


def test_it_keeps_what_was_typed_when_no_day_is_chosen(client, cast, make_channel):
    channel = make_channel()
    client.force_login(cast.alice)
    response = client.post(schedule_url(channel), {"action": "add", "add-time": "07:45"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="07:45"' in html
    assert re.search(r'<legend>On these days</legend>.*role="alert">Choose at least one day\.', html, re.S)
    assert not slots_of(channel)


def test_it_removes_a_slot(client, cast, make_channel):
    channel = make_channel()
    add_slots(channel, time(9, 0), weekdays=[0, 1])
    client.force_login(cast.alice)
    client.post(schedule_url(channel), {"action": "remove", "remove-time": "09:00", "remove-weekdays": ["1"]})
    assert slots_of(channel) == {(0, time(9, 0))}


def test_it_reslots_only_queued_unpublished_posts(client, cast, make_channel):
    channel = make_channel(tz="America/New_York")
    add_slots(channel, time(9, 0))
    first_slot, second_slot, third_slot = upcoming_slots(channel, 3)
    first = make_delivery(channel, first_slot, text="first")
    second = make_delivery(channel, second_slot, text="second")
    fixed = make_delivery(channel, third_slot + timedelta(hours=2), in_queue=False, text="fixed")
    published = make_delivery(
        channel, now() - timedelta(hours=2), status=Delivery.Status.PUBLISHED, text="published"
    )
    fixed_at, published_at = fixed.scheduled_for, published.scheduled_for
    client.force_login(cast.alice)

    client.post(schedule_url(channel), {"action": "add", "add-time": "12:00", "add-weekdays": list(range(7))})
    response = client.post(
        schedule_url(channel),
        {"action": "remove", "remove-time": "09:00", "remove-weekdays": list(range(7))},
        follow=True,
    )

    assert slots_of(channel) == {(day, time(12, 0)) for day in range(7)}
    for delivery in (first, second, fixed, published):
        delivery.refresh_from_db()
    assert [d.scheduled_for.astimezone(NEW_YORK).time() for d in (first, second)] == [time(12, 0)] * 2
    assert first.scheduled_for < second.scheduled_for and first.scheduled_for > now()
    assert first.next_attempt_at == first.scheduled_for
    assert fixed.scheduled_for == fixed_at and not fixed.in_queue
    assert published.scheduled_for == published_at
    assert re.search(r"[12] queued posts? moved to", response.content.decode())


def test_it_tells_how_many_posts_moved(client, cast, make_channel):
    channel = make_channel(tz="UTC")
    add_slots(channel, time(9, 0))
    old_times = upcoming_slots(channel, 3)
    for when in old_times:
        make_delivery(channel, when)
    daily = [(day, at) for day in range(7) for at in (time(8, 0), time(9, 0))]
    expected = list(islice(slot_times(daily, UTC, now()), 3))
    moved = sum(1 for old, new in zip(old_times, expected, strict=True) if old != new)
    client.force_login(cast.alice)

    response = client.post(
        schedule_url(channel),
        {"action": "add", "add-time": "08:00", "add-weekdays": list(range(7))},
        follow=True,
    )

    assert [d.scheduled_for for d in Delivery.objects.in_queue(channel)] == expected
    assert moved >= 2
    assert f"{moved} queued posts moved to new times." in response.content.decode()


def test_it_reslots_when_the_time_zone_changes(client, cast, make_channel):
    channel = make_channel()  # the workspace's zone, Europe/Berlin
    add_slots(channel, time(9, 0))
    queued = make_delivery(channel, upcoming_slots(channel, 1)[0])
    fixed_at = now() + timedelta(days=3)
    fixed = make_delivery(channel, fixed_at, in_queue=False)
    assert queued.scheduled_for.astimezone(BERLIN).time() == time(9, 0)
    client.force_login(cast.alice)

    response = client.post(
        schedule_url(channel), {"action": "timezone", "zone-timezone": "America/New_York"}, follow=True
    )

    channel.refresh_from_db()
    assert channel.timezone == "America/New_York"
    queued.refresh_from_db(), fixed.refresh_from_db()
    assert queued.scheduled_for.astimezone(NEW_YORK).time() == time(9, 0)
    assert fixed.scheduled_for == fixed_at
    html = response.content.decode()
    assert "Posting times are now in America/New_York. 1 queued post moved to a new time." in html


def test_it_refuses_to_remove_the_last_slot_while_posts_are_queued(client, cast, make_channel):
    channel = make_channel()
    add_slots(channel, time(9, 0), weekdays=[0])
    queued = make_delivery(channel, upcoming_slots(channel, 1)[0])
    client.force_login(cast.alice)
    response = client.post(
        schedule_url(channel),
        {"action": "remove", "remove-time": "09:00", "remove-weekdays": ["0"]},
        follow=True,
    )
    assert slots_of(channel) == {(0, time(9, 0))}
    assert "need posting times" in response.content.decode()
    queued.refresh_from_db()
    assert queued.in_queue


def test_it_lets_only_channel_managers_edit_the_schedule(client, cast, make_channel):
    channel = make_channel()
    for user in (cast.bob, cast.carol, cast.victor):
        client.force_login(user)
        assert client.get(schedule_url(channel)).status_code == 403
        response = client.post(
            schedule_url(channel), {"action": "add", "add-time": "09:00", "add-weekdays": "0"}
        )
        assert response.status_code == 403
    assert not slots_of(channel)


def test_it_gives_404_for_another_workspaces_channel(client, cast, make_channel):
    foreign = make_channel(workspace=cast.other)
    client.force_login(cast.alice)
    assert client.get(schedule_url(foreign)).status_code == 404
    response = client.post(schedule_url(foreign), {"action": "add", "add-time": "09:00", "add-weekdays": "0"})
    assert response.status_code == 404
    assert not slots_of(foreign)


def test_it_refuses_an_unknown_time_zone_beside_the_field(client, cast, make_channel):
    channel = make_channel(tz="Europe/Berlin")
    client.force_login(cast.alice)
    response = client.post(
        schedule_url(channel), {"action": "timezone", "zone-timezone": "Mars/Olympus_Mons"}
    )
    assert response.status_code == 200
    assert re.search(
        r'id="id_zone-timezone" aria-invalid="true".*?role="alert">Select a valid choice',
        response.content.decode(),
        re.S,
    )
    channel.refresh_from_db()
    assert channel.timezone == "Europe/Berlin"
