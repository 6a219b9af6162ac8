"""Every main page on a phone (390 x 844): nothing scrolls sideways, the navigation folds into a menu,
the calendar's chips and headings stay inside their cells, axe finds nothing serious (the page
fixture checks each page), and a full-page screenshot of each lands in test-artifacts/screenshots/.
"""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils.timezone import now

from posts.models import Post
from tests.browser.conftest import log_in
from tests.browser.test_queue_calendar import make_channel
from tests.posts.deliveries import BERLIN, add_slots, make_delivery, upcoming_slots
from tests.posts.engine import compose, dispatch_and_work

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}

# Elements of the calendar grid whose content is wider than they are (it would spill over a neighbour).
OVERFLOWING_CELLS = """() => Array.from(document.querySelectorAll(
    ".calendar-grid th, .calendar-grid td, .calendar-grid .chip, .schedule-grid th, .schedule-grid td"))
  .filter((el) => el.scrollWidth > el.clientWidth + 1)
  .map((el) => el.id || el.textContent.trim().slice(0, 40))"""


def test_every_main_page_fits_a_phone(page, screenshot, cast, mastodon_channel, fake_mastodon, redis_conn):
    slug = cast.workspace.slug
    compose(cast.alice, cast.workspace, [mastodon_channel], ["Out already", "With a reply"])
    fake_mastodon.fail_next(422, count=1, path="/api/v1/statuses", error="Validation failed: Text is spam")
    compose(cast.alice, cast.workspace, [mastodon_channel], ["Refused by the server"])
    dispatch_and_work()
    compose(cast.carol, cast.workspace, [mastodon_channel], ["Waiting for approval"], mode=Post.Mode.NOW)
    post = Post.objects.filter(deliveries__status="published").first()

    bluesky = make_channel(cast.workspace, network="bluesky", tz="Europe/Berlin")
    add_slots(mastodon_channel, time(9, 0), time(15, 30))
    add_slots(bluesky, time(12, 0), weekdays=range(5))
    for n, at in enumerate(upcoming_slots(mastodon_channel, 3)):
        make_delivery(mastodon_channel, at, text=f"Queued post {n} with a longer text to wrap on a phone")
    day = now().astimezone(BERLIN).date() + timedelta(days=2)
    for n in range(7):  # more than a week's hour cell and a month's day cell show
        make_delivery(
            (mastodon_channel, bluesky)[n % 2],
            datetime.combine(day, time(10, n * 8), BERLIN).astimezone(UTC),
            text=f"Busy day post {n}",
        )

    page.set_viewport_size(PHONE)
    log_in(page, "alice", "password-alice-1")
    calendar = reverse("posts:calendar", kwargs={"slug": slug})
    pages = {
        "overview": reverse("workspaces:overview", kwargs={"slug": slug}),
        "compose": reverse("posts:compose", kwargs={"slug": slug}),
        "queue": reverse("posts:queue", kwargs={"slug": slug}),
        "queue-channel": reverse("posts:channel-queue", kwargs={"slug": slug, "code": mastodon_channel.code}),
        "calendar-week": f"{calendar}?view=week&start={day.isoformat()}",
        "calendar-month": f"{calendar}?view=month&start={day.isoformat()}",
        "calendar-day": f"{calendar}?view=day&start={day.isoformat()}",
        "approvals": reverse("posts:approvals", kwargs={"slug": slug}),
        "published": reverse("posts:published", kwargs={"slug": slug}),
        "failed": reverse("posts:failed", kwargs={"slug": slug}),
        "notifications": reverse("posts:notifications", kwargs={"slug": slug}),
        "channels": reverse("channels:list", kwargs={"slug": slug}),
        "schedule": reverse("posts:channel-schedule", kwargs={"slug": slug, "code": mastodon_channel.code}),
        "team": reverse("workspaces:members", kwargs={"slug": slug}),
        "settings": reverse("workspaces:settings", kwargs={"slug": slug}),
        "api-tokens": reverse("api:tokens", kwargs={"slug": slug}),
        "feeds": reverse("api:calendar-feeds", kwargs={"slug": slug}),
        "post": reverse("posts:detail", kwargs={"slug": slug, "code": post.code}),
    }
    for name, url in pages.items():
        response = page.goto(url)
        assert response.status == 200, (name, response.status)
        assert page.locator("h1").first.is_visible(), name
        screenshot(f"phone-{name}")  # first, to see what went wrong
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"{name} scrolls sideways: {width[0]} px wide in a {width[1]} px window"
        assert page.evaluate(OVERFLOWING_CELLS) == [], name

    # The grids keep what makes them readable: weekday headings, every chip's time.
    page.goto(pages["schedule"])
    for weekday in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"):
        assert page.get_by_role("columnheader", name=weekday).is_visible()
    page.goto(pages["calendar-month"])
    assert page.get_by_role("columnheader", name="Wednesday").is_visible()
    assert page.get_by_role("link", name="+3 more").is_visible()


def test_the_menu_folds_and_opens_on_a_phone(page, screenshot, cast):
    page.set_viewport_size(PHONE)
    log_in(page, "alice", "password-alice-1")
    channels = page.get_by_role("link", name="Channels")
    assert not channels.is_visible()
    assert page.locator(".topbar").bounding_box()["height"] < 60  # one row, not six
    page.get_by_text("Menu", exact=True).click()
    channels.wait_for()
    screenshot("phone-menu-open")
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1]
    channels.click()
    page.get_by_role("heading", name="Channels").wait_for()

    # Wider, the links are there without opening anything.
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.get_by_role("link", name="Team").is_visible()
    assert not page.get_by_text("Menu", exact=True).is_visible()
