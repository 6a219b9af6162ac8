"""The queue, posting-schedule and calendar pages in a real browser: htmx swaps, drag and drop, no
script or Content-Security-Policy errors."""

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils.timezone import now
from playwright.sync_api import expect

from channels.models import Channel
from posts.models import Delivery
from tests.browser.conftest import log_in
from tests.posts.calendar_page import a_future_wednesday
from tests.posts.deliveries import BERLIN, add_slots, channel_queue_url, make_delivery, upcoming_slots

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def make_channel(workspace, network="mastodon", tz=""):
    return Channel.objects.create(
        workspace=workspace,
        network=network,
        remote_id=str(uuid.uuid4()),
        handle=f"@{network}@example.org",
        server_url="https://example.org",
        timezone=tz,
    )


def test_it_reorders_and_reschedules_in_a_browser(page, screenshot, cast):
    channel = make_channel(cast.workspace, tz="America/New_York")
    other = make_channel(cast.workspace, network="bluesky", tz="Europe/Berlin")
    add_slots(channel, time(9, 0), time(15, 30))
    add_slots(other, time(12, 0), weekdays=range(5))
    times = upcoming_slots(channel, 3)
    a, b, c = (make_delivery(channel, t, text=f"Queued post {n}") for n, t in enumerate(times))
    make_delivery(other, now() + timedelta(days=1, hours=3), text="Fixed on Bluesky", in_queue=False)
    log_in(page, "alice", "password-alice-1")
    page.goto(reverse("posts:queue", kwargs={"slug": "acme"}))
    screenshot("queue-all")

    page.goto(channel_queue_url(channel))
    page.locator(f"#delivery-{c.code}").get_by_role("button", name="Move to top").click()
    page.get_by_role("status").filter(has_text="Queue reordered").wait_for()
    assert list(Delivery.objects.in_queue(channel).values_list("pk", flat=True)) == [c.pk, a.pk, b.pk]

    row = page.locator(f"#delivery-{a.code}")
    row.get_by_text("Reschedule").click()
    row.get_by_label("New date and time (America/New_York)").fill("2020-01-06T09:00")
    row.get_by_role("button", name="Save time").click()
    alert = page.locator(f"#delivery-{a.code}").get_by_role("alert")
    alert.wait_for()
    assert "That time has passed" in alert.inner_text()
    screenshot("queue-channel")

    page.goto(reverse("posts:channel-schedule", kwargs={"slug": "acme", "code": channel.code}))
    page.get_by_label("Time (America/New_York)").fill("18:00")
    page.get_by_role("button", name="Add time").click()
    page.get_by_role("status").filter(has_text="Posting time 18:00 added").wait_for()
    screenshot("schedule")


def test_it_moves_a_post_by_drag_and_drop_in_a_browser(page, screenshot, cast):
    channel = make_channel(cast.workspace, tz="America/New_York")
    day = a_future_wednesday()
    delivery = make_delivery(
        channel, datetime.combine(day, time(10, 20), BERLIN).astimezone(UTC), text="Drag me"
    )
    log_in(page, "alice", "password-alice-1")
    page.goto(reverse("posts:calendar", kwargs={"slug": "acme"}) + f"?view=week&start={day.isoformat()}")
    screenshot("calendar-week")

    target = day + timedelta(days=1)
    page.locator(f"#chip-{delivery.code}").drag_to(page.locator(f"#c-{target.isoformat()}-15"))
    page.get_by_role("status").filter(has_text="Moved to").wait_for()
    page.locator(f"#c-{target.isoformat()}-15 #chip-{delivery.code}").wait_for()

    delivery.refresh_from_db()
    assert delivery.scheduled_for == datetime.combine(target, time(15, 20), BERLIN)
    page.get_by_role("link", name="Month").click()
    page.locator(f"#c-{target.isoformat()} #chip-{delivery.code}").wait_for()
    screenshot("calendar-month")


def test_the_keyboard_stays_on_the_moved_post(page, cast):
    channel = make_channel(cast.workspace, tz="America/New_York")
    add_slots(channel, time(9, 0), time(15, 30))
    a, b, c = (
        make_delivery(channel, t, text=f"Queued post {n}") for n, t in enumerate(upcoming_slots(channel, 3))
    )
    log_in(page, "alice", "password-alice-1")
    page.goto(channel_queue_url(channel))

    def order():
        return list(Delivery.objects.in_queue(channel).values_list("pk", flat=True))

    page.locator(f"#delivery-{a.code}").get_by_role("button", name="Move down").focus()
    page.keyboard.press("Enter")
    page.get_by_role("status").filter(has_text="Queue reordered").wait_for()
    rows = page.locator(".queue-row[id]")  # not the free slots
    expect(rows.nth(1)).to_have_id(f"delivery-{a.code}")
    assert order() == [b.pk, a.pk, c.pk]
    expect(page.locator(f"#delivery-{a.code}").get_by_role("button", name="Move down")).to_be_focused()

    # The keyboard goes on from there: the same post moves again.
    page.keyboard.press("Enter")
    expect(rows.last).to_have_id(f"delivery-{a.code}")
    assert order() == [b.pk, c.pk, a.pk]
    # It is last now: no "Move down" any more, so the keyboard is on another of its buttons.
    expect(page.locator(f"#delivery-{a.code}").get_by_role("button", name="Move to top")).to_be_focused()

    page.locator(f"#delivery-{a.code}").get_by_role("button", name="Move up").focus()
    page.keyboard.press("Enter")
    expect(rows.last).to_have_id(f"delivery-{c.code}")
    assert order() == [b.pk, a.pk, c.pk]
    expect(page.locator(f"#delivery-{a.code}").get_by_role("button", name="Move up")).to_be_focused()


def test_more_posts_than_a_cell_shows_are_one_click_away(page, screenshot, cast):
    mastodon = make_channel(cast.workspace, tz="Europe/Berlin")
    bluesky = make_channel(cast.workspace, network="bluesky", tz="Europe/Berlin")
    day = a_future_wednesday()
    posts = [
        make_delivery(
            (mastodon, bluesky)[n % 2],
            datetime.combine(day, time(10, n * 7), BERLIN).astimezone(UTC),
            text=f"Busy morning post {n}",
        )
        for n in range(6)
    ]
    log_in(page, "alice", "password-alice-1")
    calendar_url = reverse("posts:calendar", kwargs={"slug": "acme"})

    for view, hidden in (("week", 4), ("month", 2)):
        page.goto(f"{calendar_url}?view={view}&start={day.isoformat()}")
        shown = page.locator(".chip-text").filter(has_text="Busy morning post")
        assert shown.count() == 6 - hidden
        page.get_by_role("link", name=f"+{hidden} more").click()
        page.get_by_role("heading", name=day.strftime("%A %-d %B %Y")).wait_for()
        for delivery in posts:
            chip = page.locator(f"#chip-{delivery.code}")
            assert chip.is_visible()
            assert chip.locator(".chip-link").get_attribute("href") == reverse(
                "posts:detail", kwargs={"slug": "acme", "code": delivery.post.code}
            )
        if view == "week":
            assert page.url.endswith("#h-10")
            screenshot("calendar-day")

    page.locator(f"#chip-{posts[3].code} .chip-link").click()
    page.wait_for_url(lambda url: str(posts[3].post.code) in url)
