"""The two journeys that matter most, in a real browser against the fake networks.

Marketer: log in, connect Mastodon and Bluesky, set posting times, compose a two-part thread with an
image and alt text, add it to the queue, find it in the calendar, drag it to the next day, let the
worker run, see it published with links. Team: a contributor submits, an editor approves, it is
scheduled.
"""

import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils.timezone import now
from PIL import Image

from channels.models import Channel
from posts.models import Delivery, Post
from tests.browser.conftest import log_in
from tests.networks.bluesky.fake import ALICE, APP_PASSWORD
from tests.posts.engine import dispatch_and_work

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def png(tmp_path, name="photo.png"):
    path = tmp_path / name
    image = Image.new("RGB", (640, 480), (30, 120, 200))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


def test_the_marketers_journey(
    page, screenshot, cast, fake_mastodon, fake_bluesky, tmp_path, settings, redis_conn
):
    settings.MEDIA_ROOT = tmp_path / "media"
    log_in(page, "alice", "password-alice-1")

    # Connect a Mastodon account with a token, and a Bluesky account with an app password.
    page.goto(reverse("channels:list", kwargs={"slug": "acme"}))
    page.get_by_role("link", name="Connect Mastodon").click()
    token_form = page.locator("#token")
    token_form.get_by_label("Your server").fill(fake_mastodon.url)
    token_form.get_by_label("Access token").fill(fake_mastodon.token)
    token_form.get_by_role("button", name="Connect with this token").click()
    page.get_by_role("heading", name="Channels").wait_for()
    page.get_by_role("link", name="Connect Bluesky").click()
    page.get_by_label("Handle").fill(ALICE)
    page.get_by_label("App password").fill(APP_PASSWORD)
    page.get_by_label("Server (PDS)").fill(fake_bluesky.url)
    page.get_by_role("button", name="Connect Bluesky").click()
    page.get_by_role("heading", name="Channels").wait_for()
    mastodon = Channel.objects.get(network="mastodon")
    bluesky = Channel.objects.get(network="bluesky")
    screenshot("journey-channels")

    # Posting times: every day at 09:00 in each channel's zone.
    for channel in (mastodon, bluesky):
        page.goto(reverse("posts:channel-schedule", kwargs={"slug": "acme", "code": channel.code}))
        page.get_by_label(f"Time ({channel.timezone_name})").fill("09:00")
        page.get_by_role("button", name="Every day").click()
        page.get_by_role("button", name="Add time").click()
        page.get_by_role("status").filter(has_text="09:00").wait_for()
    assert mastodon.slots.count() == 7 and bluesky.slots.count() == 7

    # Compose a two-part thread with an image and alt text, for both channels, into the queue.
    page.goto(reverse("posts:compose", kwargs={"slug": "acme"}))
    page.locator(f"label[for='ch-{mastodon.code}']").click()
    page.locator(f"label[for='ch-{bluesky.code}']").click()
    page.locator("#text-0").fill("Our spring collection is here 🌷 https://example.org/spring")
    page.locator("#upload-0").set_input_files(str(png(tmp_path)))
    alt = page.get_by_label("Alt text: describe the image for people who cannot see it")
    alt.wait_for()
    alt.fill("Tulips in a blue vase on a wooden table")
    page.get_by_role("button", name="Add a part (make a thread)").click()
    page.locator("#text-1").wait_for()
    page.locator("#text-1").fill("Free shipping until Sunday. #spring")
    page.locator("label[for='mode-queue']").click()
    page.locator(f"#panel-{bluesky.code}").get_by_text("/ 300").first.wait_for()
    screenshot("journey-compose")
    page.locator("#submit-button").click()
    page.wait_for_url(lambda url: "/posts/" in url and "/compose" not in url)

    post = Post.objects.get()
    assert [p.text for p in post.parts.all()] == [
        "Our spring collection is here 🌷 https://example.org/spring",
        "Free shipping until Sunday. #spring",
    ]
    deliveries = {d.channel.network: d for d in post.deliveries.select_related("channel")}
    assert all(d.status == Delivery.Status.SCHEDULED and d.in_queue for d in deliveries.values())
    slot = deliveries["mastodon"].scheduled_for
    assert slot.astimezone(mastodon.tz).strftime("%H:%M") == "09:00"

    # The calendar shows it on its day; drag it to the next day.
    local_day = slot.astimezone(cast.workspace.tz).date()
    page.goto(
        reverse("posts:calendar", kwargs={"slug": "acme"}) + f"?view=week&start={local_day.isoformat()}"
    )
    chip = page.locator(f"#chip-{deliveries['mastodon'].code}")
    chip.wait_for()
    screenshot("journey-calendar")
    next_day = local_day + timedelta(days=1)
    target = page.locator(f"#c-{next_day.isoformat()}-{slot.astimezone(cast.workspace.tz).hour:02d}")
    if target.count() == 0:
        # The slot is on a Sunday: the week view ends there, so drag in the month view (a day drop keeps
        # the time of day).
        page.goto(
            reverse("posts:calendar", kwargs={"slug": "acme"}) + f"?view=month&start={local_day.isoformat()}"
        )
        chip.wait_for()
        target = page.locator(f"#c-{next_day.isoformat()}")
    chip.drag_to(target)
    page.get_by_role("status").filter(has_text="Moved to").wait_for()
    moved = Delivery.objects.get(pk=deliveries["mastodon"].pk)
    moved_local = moved.scheduled_for.astimezone(mastodon.tz)
    assert moved_local.date() == slot.astimezone(mastodon.tz).date() + timedelta(days=1)
    assert moved_local.strftime("%H:%M") == "09:00"
    assert not moved.in_queue

    # Time passes: the worker publishes both deliveries.
    Delivery.objects.filter(post=post).update(scheduled_for=now(), next_attempt_at=now())
    dispatch_and_work()
    assert [s["text"] for s in fake_mastodon.statuses] == [p.text for p in post.parts.all()]
    assert fake_mastodon.statuses[0]["media"][0]["description"] == "Tulips in a blue vase on a wooden table"
    bsky = fake_bluesky.posts()
    assert len(bsky) == 2
    assert bsky[0]["value"]["embed"]["images"][0]["alt"] == "Tulips in a blue vase on a wooden table"

    page.goto(reverse("posts:detail", kwargs={"slug": "acme", "code": post.code}))
    page.get_by_role("link", name="View on Mastodon").wait_for()
    page.get_by_role("link", name="View on Bluesky").wait_for()
    href = page.get_by_role("link", name="View on Mastodon").get_attribute("href")
    assert href == Delivery.objects.get(post=post, channel=mastodon).remote_url
    assert href.startswith(fake_mastodon.url) and fake_mastodon.statuses[0]["id"] in href
    screenshot("journey-published")


def test_the_team_journey(page, screenshot, cast, mastodon_channel, fake_mastodon, browser, live_server):
    # Carol (contributor) writes a post and submits it for approval.
    log_in(page, "carol", "password-carol-1")
    page.goto(reverse("posts:compose", kwargs={"slug": "acme"}))
    page.locator(f"label[for='ch-{mastodon_channel.code}']").click()
    page.locator("#text-0").fill("New opening hours from Monday: 8 to 18.")
    page.locator("label[for='mode-now']").click()
    submit = page.locator("#submit-button")
    assert submit.inner_text().strip() == "Submit for approval"
    screenshot("team-compose-contributor")
    submit.click()
    page.wait_for_url(lambda url: "/posts/" in url and "/compose" not in url)
    post = Post.objects.get()
    assert post.status == Post.Status.PENDING_APPROVAL

    # Bob (editor) sees it among the approvals and approves it.
    context = browser.new_context(base_url=live_server.url)
    editor = context.new_page()
    try:
        log_in(editor, "bob", "password-bob-1")
        editor.get_by_role("link", name="Approvals").click()
        editor.get_by_text("New opening hours from Monday").first.wait_for()
        editor.screenshot(
            path=str(screenshot("team-compose-contributor").parent / "team-approvals.png"), full_page=True
        )
        editor.get_by_role("button", name="Approve").first.click()
        editor.get_by_role("status").first.wait_for()
    finally:
        context.close()
    post.refresh_from_db()
    assert post.status == Post.Status.SCHEDULED
    assert post.approved_by == cast.bob
    assert post.deliveries.get().status == Delivery.Status.SCHEDULED
    dispatch_and_work()
    assert [s["text"] for s in fake_mastodon.statuses] == ["New opening hours from Monday: 8 to 18."]
