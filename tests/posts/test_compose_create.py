"""Creating a post in the composer: now, in the queue, at a time in any zone, as a draft, for approval."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils.timezone import now

from channels.models import Channel
from posts.models import Delivery, Post, PostingSlot
from posts.scheduling import resolve_local
from tests.posts.compose_form import checked_channels, element, form, url

pytestmark = pytest.mark.usefixtures("media_root")


def test_it_shares_now_on_two_channels(client, cast, two):
    client.force_login(cast.alice)
    response = client.post(url("compose"), form(two, "Hello #fediverse", content_warning="launch"))
    post = Post.objects.get()
    assert response.status_code == 302
    assert response.url == url("detail", code=post.code)
    assert post.status == Post.Status.SCHEDULED
    assert list(post.parts.values_list("text", flat=True)) == ["Hello #fediverse"]
    assert post.options["content_warning"] == "launch" and post.options["language"] == "en"
    deliveries = list(post.deliveries.all())
    assert {d.channel_id for d in deliveries} == {c.pk for c in two}
    for delivery in deliveries:
        assert delivery.status == Delivery.Status.SCHEDULED
        assert abs(delivery.scheduled_for - now()) < timedelta(seconds=30)
    assert "Sharing now." in client.get(response.url).content.decode()


def test_it_adds_to_the_queue_at_the_next_posting_slot(client, cast, mastodon_channel):
    for weekday in range(7):
        PostingSlot.objects.create(channel=mastodon_channel, weekday=weekday, time=time(9, 0))
    berlin = ZoneInfo("Europe/Berlin")
    today = now().astimezone(berlin).date()
    expected = resolve_local(today, time(9, 0), berlin)
    if expected <= now():
        expected = resolve_local(today + timedelta(days=1), time(9, 0), berlin)
    client.force_login(cast.alice)
    response = client.post(url("compose"), form([mastodon_channel], "Queued", mode="queue"))
    assert response.status_code == 302
    delivery = Delivery.objects.get()
    assert delivery.in_queue and delivery.status == Delivery.Status.SCHEDULED
    assert delivery.scheduled_for == expected
    assert "Added to the queue" in client.get(response.url).content.decode()


def test_it_schedules_a_time_typed_in_new_york_across_the_dst_change(client, cast, mastodon_channel):
    client.force_login(cast.alice)
    # New York moves its clocks forward on 10 March 2030; Berlin only on 31 March.
    before = client.post(
        url("compose"),
        form([mastodon_channel], "Before", mode="at", at="2030-03-09T09:00", zone="America/New_York"),
    )
    after = client.post(
        url("compose"),
        form([mastodon_channel], "After", mode="at", at="2030-03-11T09:00", zone="America/New_York"),
    )
    gap = client.post(
        url("compose"),
        form([mastodon_channel], "In the gap", mode="at", at="2030-03-10T02:30", zone="America/New_York"),
    )
    assert before.status_code == after.status_code == gap.status_code == 302
    times = {d.post.parts.get().text: d.scheduled_for for d in Delivery.objects.select_related("post")}
    assert times["Before"] == datetime(2030, 3, 9, 14, 0, tzinfo=UTC)
    assert times["After"] == datetime(2030, 3, 11, 13, 0, tzinfo=UTC)
    assert times["In the gap"] == datetime(2030, 3, 10, 7, 0, tzinfo=UTC)  # 03:00 EDT, the next valid minute


def test_it_tells_the_time_in_every_chosen_channels_zone(client, cast, mastodon_channel, bluesky_channel):
    Channel.objects.filter(pk=bluesky_channel.pk).update(timezone="Asia/Tokyo")
    client.force_login(cast.alice)
    response = client.post(
        url("compose-validate"),
        form(
            [mastodon_channel, bluesky_channel],
            "Hi",
            mode="at",
            at="2030-03-11T12:00",
            zone="America/New_York",
        ),
        HTTP_HX_REQUEST="true",
    )
    note = element(response.content.decode(), "schedule-note")
    assert "That is Mon 11 Mar 2030, 12:00 in America/New_York, 17:00 in Europe/Berlin" in note
    assert "Tue 12 Mar 2030, 01:00 in Asia/Tokyo" in note  # another day there, so the date is told


def test_it_saves_a_draft_even_when_too_long(client, cast, two):
    client.force_login(cast.alice)
    response = client.post(url("compose"), form(two, "x" * 400, mode="draft"))
    assert response.status_code == 302
    post = Post.objects.get()
    assert post.status == Post.Status.DRAFT
    assert set(post.deliveries.values_list("status", flat=True)) == {Delivery.Status.DRAFT}
    assert "Saved as a draft." in client.get(response.url).content.decode()


def test_it_sends_a_contributors_post_for_approval(client, cast, two):
    client.force_login(cast.carol)
    page = client.get(url("compose")).content.decode()
    assert element(page, "submit-button").endswith(">Submit for approval</button>")
    response = client.post(url("compose"), form(two, "Please approve me"))
    assert response.status_code == 302
    post = Post.objects.get()
    assert post.status == Post.Status.PENDING_APPROVAL
    assert set(post.deliveries.values_list("status", flat=True)) == {Delivery.Status.DRAFT}
    assert "Submitted for approval" in client.get(response.url).content.decode()


def test_it_keeps_per_channel_texts(client, cast, two):
    mastodon, bluesky = two
    client.force_login(cast.alice)
    data = form(two, "x" * 400)
    data[f"override-{bluesky.code}-0"] = "Short for Bluesky"
    response = client.post(url("compose"), data)
    assert response.status_code == 302
    deliveries = {d.channel_id: d for d in Delivery.objects.all()}
    assert deliveries[bluesky.pk].text_overrides == ["Short for Bluesky"]
    assert deliveries[mastodon.pk].text_overrides == []


def test_it_picks_the_language_from_the_browser(client, cast):
    client.force_login(cast.alice)
    page = client.get(url("compose"), HTTP_ACCEPT_LANGUAGE="de-AT,de;q=0.9,en;q=0.5").content.decode()
    assert '<option value="de" selected>German (de)</option>' in page


def test_it_prefills_a_time_and_channel_from_the_calendar(client, cast, two):
    mastodon, _ = two
    Channel.objects.filter(pk=mastodon.pk).update(timezone="America/New_York")
    client.force_login(cast.alice)
    page = client.get(
        url("compose"), {"at": "2030-03-11T09:00", "channel": str(mastodon.code)}
    ).content.decode()
    assert checked_channels(page) == {str(mastodon.code)}
    assert 'value="2030-03-11T09:00"' in page
    assert 'value="at" id="mode-at" checked' in page
    assert "<option selected>America/New_York</option>" in page
    assert "Mon 11 Mar 2030, 09:00 in America/New_York" in element(page, "schedule-note")
