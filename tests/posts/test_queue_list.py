"""The queue pages: upcoming posts in time order at their local slot times, free slots, live rows, the
pause link, and a constant number of queries."""

import re
from datetime import UTC, datetime, time, timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.timezone import now

from posts.models import Delivery, Post, PostPart
from tests.posts.deliveries import (
    BERLIN,
    NEW_YORK,
    _row,
    add_slots,
    channel_queue_url,
    html_of,
    make_delivery,
    upcoming_slots,
)


def test_it_lists_two_channels_in_time_order_with_local_slot_times(client, cast, make_channel):
    berlin = make_channel(tz="Europe/Berlin")
    new_york = make_channel(network="bluesky", tz="America/New_York")
    day = now().date() + timedelta(days=3)
    first = make_delivery(berlin, datetime.combine(day, time(8, 0), UTC), text="Berlin goes first")
    second = make_delivery(new_york, datetime.combine(day, time(13, 0), UTC), text="New York second")
    third = make_delivery(
        berlin, datetime.combine(day, time(15, 0), UTC), text="Berlin third", in_queue=False
    )
    client.force_login(cast.victor)

    html = html_of(client, "posts:queue")

    positions = [html.index(t) for t in ("Berlin goes first", "New York second", "Berlin third")]
    assert positions == sorted(positions)
    for delivery, tz in ((first, BERLIN), (second, NEW_YORK), (third, BERLIN)):
        row = _row(html, delivery)
        local = delivery.scheduled_for.astimezone(tz)
        assert f">{local:%H:%M}</time>" in row
        assert tz.key in row  # the zone is named
    assert "queue slot" in _row(html, first) and "fixed time" in _row(html, third)
    assert "Bluesky" in _row(html, second)


def test_it_shows_free_slots_of_the_next_week(client, cast, make_channel):
    channel = make_channel(tz="America/New_York")
    add_slots(channel, time(9, 0))
    slots = upcoming_slots(channel, 7)
    taken = make_delivery(channel, slots[1], text="Takes the second slot")
    client.force_login(cast.alice)

    for html in (html_of(client, "posts:queue"), html_of(client, "posts:channel-queue", code=channel.code)):
        free_rows = re.findall(r'<li class="queue-row[^"]*free-slot.*?</li>', html, re.S)
        assert len(free_rows) == 6  # seven days of a daily slot, one of them taken
        free_times = {re.search(r'datetime="([^"]+)"', row).group(1) for row in free_rows}
        assert taken.scheduled_for.isoformat() not in free_times
        assert slots[0].isoformat() in free_times
        assert "09:00" in free_rows[0] and "America/New_York" in free_rows[0]
    compose = reverse("posts:compose", kwargs={"slug": "acme"})
    first_local = slots[0].astimezone(NEW_YORK)
    link = f"{compose}?at={first_local:%Y-%m-%dT%H:%M}&amp;zone=America/New_York&amp;channel={channel.code}"
    assert link in html
    composer = client.get(link.replace("&amp;", "&"))
    assert composer.status_code == 200 and f"{first_local:%Y-%m-%dT%H:%M}" in composer.content.decode()


def test_it_shows_pause_and_resume_to_channel_managers(client, cast, make_channel):
    channel = make_channel()
    client.force_login(cast.alice)
    html = html_of(client, "posts:channel-queue", code=channel.code)
    assert reverse("channels:pause", kwargs={"slug": "acme", "code": channel.code}) in html
    client.post(reverse("channels:pause", kwargs={"slug": "acme", "code": channel.code}))
    html = html_of(client, "posts:channel-queue", code=channel.code)
    assert "queue is paused" in html
    assert reverse("channels:resume", kwargs={"slug": "acme", "code": channel.code}) in html


def test_it_polls_a_publishing_post_until_it_is_done(client, cast, make_channel):
    channel = make_channel()
    delivery = make_delivery(channel, now(), status=Delivery.Status.PUBLISHING)
    client.force_login(cast.victor)
    # The post page's live-status endpoint, in its brief form: the same fragment and interval.
    status_url = reverse("posts:delivery-status", kwargs={"slug": "acme", "code": delivery.code}) + "?brief=1"

    row = _row(html_of(client, "posts:queue"), delivery)
    assert f'hx-get="{status_url}" hx-trigger="every 3s"' in row and "Publishing…" in row

    htmx = {"HX-Request": "true"}
    polled = client.get(status_url, headers=htmx)
    assert polled.status_code == 200 and 'hx-trigger="every 3s"' in polled.content.decode()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.PUBLISHED, remote_url="https://example.social/@alice/1"
    )
    done = client.get(status_url, headers=htmx)
    assert done.status_code == 286  # htmx stops polling
    html = done.content.decode()
    assert "Published" in html and "hx-trigger" not in html
    assert 'href="https://example.social/@alice/1"' in html


def test_a_queue_row_about_to_go_out_polls_and_a_later_one_does_not(client, cast, make_channel):
    channel = make_channel()
    soon = make_delivery(channel, now() + timedelta(seconds=30), text="Going out in a moment")
    later = make_delivery(channel, now() + timedelta(hours=2), text="Later today")
    client.force_login(cast.victor)
    html = html_of(client, "posts:queue")
    assert 'hx-trigger="every 3s"' in _row(html, soon) and "Scheduled" in _row(html, soon)
    assert "hx-trigger" not in _row(html, later)


def test_it_answers_htmx_with_the_list_only(client, cast, make_channel):
    channel = make_channel()
    make_delivery(channel, now() + timedelta(days=1), text="In the list")
    client.force_login(cast.alice)
    response = client.get(channel_queue_url(channel), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="queue-list"') and "In the list" in html
    assert "<html" not in html and "HX-Request" in response["Vary"]


def _fill(channels, count):
    """`count` upcoming posts spread over the channels: queued, fixed-time, held and publishing."""
    posts = Post.objects.bulk_create(
        [Post(workspace=channels[0].workspace, status=Post.Status.SCHEDULED) for _ in range(count)]
    )
    PostPart.objects.bulk_create(
        [PostPart(post=p, index=0, text=f"Post number {n}") for n, p in enumerate(posts)]
    )
    start = now() + timedelta(hours=1)
    statuses = [Delivery.Status.SCHEDULED, Delivery.Status.HELD, Delivery.Status.PUBLISHING]
    Delivery.objects.bulk_create(
        [
            Delivery(
                post=p,
                channel=channels[n % len(channels)],
                status=statuses[n % 3],
                scheduled_for=start + timedelta(minutes=37 * n),
                next_attempt_at=start + timedelta(minutes=37 * n),
                in_queue=n % 2 == 0,
                text_overrides=["Override"] if n % 5 == 0 else [],
            )
            for n, p in enumerate(posts)
        ]
    )


def _queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_it_renders_the_queues_with_a_constant_number_of_queries(client, cast, make_channel):
    channels = [make_channel(tz="Europe/Berlin"), make_channel(network="bluesky", tz="America/New_York")]
    for channel in channels:
        add_slots(channel, time(9, 0), time(18, 0))
    client.force_login(cast.bob)
    urls = [reverse("posts:queue", kwargs={"slug": "acme"}), channel_queue_url(channels[0])]

    _fill(channels, 10)
    small = [_queries(client, url) for url in urls]
    _fill(channels, 190)
    large = [_queries(client, url) for url in urls]

    assert small == large, (small, large)
    assert max(large) <= 10, large  # session, user, membership, channel(s), posts, slots, switcher
    html = html_of(client, "posts:queue")
    assert "Showing the next 100 posts" in html and html.count('class="queue-row') >= 100
