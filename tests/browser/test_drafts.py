"""Drafts and edits in a real browser: a draft is found again and scheduled, a post moved in the calendar
keeps its new time and its delivery through an edit, and an unscheduled post waits under Drafts."""

from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils.timezone import now
from playwright.sync_api import expect

from posts.models import Delivery, Post
from tests.browser.conftest import log_in
from tests.posts.deliveries import BERLIN, add_slots
from tests.posts.engine import compose

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DRAFTS = reverse("posts:drafts", kwargs={"slug": "acme"})


def test_a_draft_is_found_again_and_scheduled(page, screenshot, cast, mastodon_channel, fake_mastodon):
    log_in(page, "alice", "password-alice-1")
    page.goto(reverse("posts:compose", kwargs={"slug": "acme"}))
    page.locator(f"label[for='ch-{mastodon_channel.code}']").click()
    page.locator("#text-0").fill("Our summer opening hours, to be decided")
    page.locator("label[for='mode-draft']").click()
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(lambda url: "/posts/" in url and "/compose" not in url)
    post = Post.objects.get()
    assert post.status == Post.Status.DRAFT

    # The message says where the draft went, and the way there is one click.
    message = page.get_by_role("status").filter(has_text="Saved as a draft")
    message.get_by_role("link", name="Drafts").click()
    page.wait_for_url(f"**{DRAFTS}")
    item = page.locator(f"#draft-{post.code}")
    expect(item.get_by_role("heading")).to_have_text("Our summer opening hours, to be decided")
    expect(item).to_contain_text(mastodon_channel.handle)
    expect(item).to_contain_text("By alice")
    screenshot("drafts")

    item.get_by_role("link", name="Edit").click()
    page.wait_for_url(lambda url: url.endswith("/edit/"))
    expect(page.locator("#text-0")).to_have_value("Our summer opening hours, to be decided")
    page.locator("label[for='mode-at']").click()
    day = (now() + timedelta(days=3)).astimezone(BERLIN).date()
    page.locator("#at").fill(f"{day.isoformat()}T10:30")
    page.locator("#zone").select_option("Europe/Berlin")
    submit = page.locator("#submit-button")
    expect(submit).to_have_text("Schedule")
    submit.click()
    page.wait_for_url(lambda url: "/posts/" in url and "/edit" not in url)
    page.get_by_role("status").filter(has_text="Scheduled for").wait_for()

    post.refresh_from_db()
    delivery = post.deliveries.get()
    assert post.status == Post.Status.SCHEDULED
    assert delivery.status == Delivery.Status.SCHEDULED
    assert delivery.scheduled_for == datetime.combine(day, time(10, 30), BERLIN)

    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Queue").click()
    page.locator(f"#delivery-{delivery.code}").get_by_text("Our summer opening hours").wait_for()
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Drafts").click()
    page.get_by_text("No drafts.").wait_for()
    assert page.locator(f"#draft-{post.code}").count() == 0


def test_an_edit_keeps_the_time_a_post_was_dragged_to(page, cast, mastodon_channel, fake_mastodon):
    add_slots(mastodon_channel, time(9, 0), weekdays=[2])  # Wednesdays: the next day is in the same week
    post = compose(
        cast.alice, cast.workspace, [mastodon_channel], ["Wednesday is market day"], mode=Post.Mode.QUEUE
    )
    delivery = post.deliveries.get()
    code = delivery.code
    slot_day = delivery.scheduled_for.astimezone(BERLIN).date()
    target = slot_day + timedelta(days=1)
    calendar = reverse("posts:calendar", kwargs={"slug": "acme"}) + f"?view=week&start={slot_day.isoformat()}"
    log_in(page, "alice", "password-alice-1")

    # Drag it in the calendar to Thursday, 15:00.
    page.goto(calendar)
    page.locator(f"#c-{slot_day.isoformat()}-09 #chip-{code}").wait_for()
    page.locator(f"#chip-{code}").drag_to(page.locator(f"#c-{target.isoformat()}-15"))
    page.get_by_role("status").filter(has_text="Moved to").wait_for()
    dragged = datetime.combine(target, time(15, 0), BERLIN)
    delivery.refresh_from_db()
    assert delivery.scheduled_for == dragged and not delivery.in_queue

    # Change one word; "Keep its time" is what the edit page proposes.
    page.goto(reverse("posts:edit", kwargs={"slug": "acme", "code": post.code}))
    expect(page.locator("#mode-keep")).to_be_checked()
    expect(page.locator("#kept-times")).to_contain_text(f"{dragged:%a} {dragged.day} {dragged:%b %Y, %H:%M}")
    page.locator("#text-0").fill("Thursday is market day")
    submit = page.locator("#submit-button")
    expect(submit).to_have_text("Save changes")
    submit.click()
    page.wait_for_url(lambda url: "/posts/" in url and "/edit" not in url)

    delivery = Delivery.objects.get(post=post)
    assert delivery.code == code
    assert delivery.scheduled_for == dragged and delivery.next_attempt_at == dragged
    assert delivery.status == Delivery.Status.SCHEDULED and not delivery.in_queue
    assert post.parts.get().text == "Thursday is market day"

    page.goto(calendar)
    chip = page.locator(f"#c-{target.isoformat()}-15 #chip-{code}")
    expect(chip).to_contain_text("Thursday is market day")
    expect(chip.locator("time")).to_have_text("15:00")
    assert page.locator(f"#c-{slot_day.isoformat()}-09 .chip").count() == 0


def test_an_unscheduled_post_waits_under_drafts(page, screenshot, cast, mastodon_channel, fake_mastodon):
    post = compose(
        cast.alice,
        cast.workspace,
        [mastodon_channel],
        ["Flash sale at noon"],
        mode=Post.Mode.AT,
        scheduled_at=now() + timedelta(days=2),
    )
    delivery = post.deliveries.get()
    log_in(page, "bob", "password-bob-1")
    # Each channel's queue has the row actions.
    page.goto(reverse("posts:channel-queue", kwargs={"slug": "acme", "code": mastodon_channel.code}))

    page.locator(f"#delivery-{delivery.code}").get_by_role("button", name="Unschedule").click()
    message = page.get_by_role("status").filter(has_text="Unscheduled: the post is a draft again")
    message.wait_for()
    assert page.locator(f"#delivery-{delivery.code}").count() == 0
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DRAFT and delivery.scheduled_for is None

    message.get_by_role("link", name="Drafts").click()
    page.wait_for_url(f"**{DRAFTS}")
    item = page.locator(f"#draft-{post.code}")
    expect(item.get_by_role("heading")).to_have_text("Flash sale at noon")
    expect(item).to_contain_text("By alice")
    # An editor may change anyone's draft.
    expect(item.get_by_role("link", name="Edit")).to_be_visible()
    expect(item.get_by_role("button", name="Delete")).to_be_visible()

    # On a phone the page fits without sideways scrolling.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("phone-drafts")

    item.get_by_role("link", name="Open").click()
    page.wait_for_url(lambda url: str(post.code) in url)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Draft")
