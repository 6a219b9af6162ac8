"""The queue pages: upcoming posts in order with their slot times, reordering, rescheduling, deleting."""

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.timezone import now

from posts.models import Delivery, Post, PostingSlot, PostPart

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def make_delivery(channel, when, *, text="Hello", in_queue=True, status=Delivery.Status.SCHEDULED):
    post = Post.objects.create(
        workspace=channel.workspace,
        status=Post.Status.PUBLISHED if status == Delivery.Status.PUBLISHED else Post.Status.SCHEDULED,
        mode=Post.Mode.QUEUE if in_queue else Post.Mode.AT,
    )
    PostPart.objects.create(post=post, index=0, text=text)
    return Delivery.objects.create(
        post=post,
        channel=channel,
        status=status,
        scheduled_for=when,
        next_attempt_at=when,
        in_queue=in_queue,
        published_at=when if status == Delivery.Status.PUBLISHED else None,
    )


def add_slots(channel, *times, weekdays=range(7)):
    for weekday in weekdays:
        for at in times:
            PostingSlot.objects.create(channel=channel, weekday=weekday, time=at)


def upcoming_slots(channel, count):
    from posts.scheduling import next_free_slots

    return next_free_slots(channel, count)


def next_spring_forward(tz, after: date) -> date:
    """The first day after `after` on which the clocks of `tz` go forward."""
    day = after
    while True:
        before = datetime.combine(day, time(12), tz).utcoffset()
        if datetime.combine(day + timedelta(days=1), time(12), tz).utcoffset() > before:
            return day + timedelta(days=1)
        day += timedelta(days=1)


def html_of(client, name, **kwargs):
    response = client.get(reverse(name, kwargs={"slug": "acme", **kwargs}))
    assert response.status_code == 200
    return response.content.decode()


def channel_queue_url(channel):
    return reverse("posts:channel-queue", kwargs={"slug": "acme", "code": channel.code})


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


def _row(html, delivery):
    match = re.search(rf'<li[^>]*id="delivery-{delivery.code}".*?</li>', html, re.S)
    assert match, f"no row for {delivery}"
    return match.group(0)


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


def test_it_moves_a_post_to_the_top_keeping_the_slot_times(client, cast, make_channel):
    channel = make_channel(tz="Europe/Berlin")
    add_slots(channel, time(9, 0), time(17, 0))
    times = upcoming_slots(channel, 3)
    a, b, c = (make_delivery(channel, t, text=f"Post {n}") for n, t in enumerate(times))
    client.force_login(cast.bob)

    html = html_of(client, "posts:channel-queue", code=channel.code)
    assert "Move to top" not in _row(html, a) and "Move to top" in _row(html, c)
    assert "Move down" not in _row(html, c)  # already last
    response = client.post(
        reverse("posts:queue-move-delivery", kwargs={"slug": "acme", "code": c.code}),
        {"position": "0", "next": channel_queue_url(channel)},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == channel_queue_url(channel)
    order = list(Delivery.objects.in_queue(channel).values_list("pk", "scheduled_for"))
    assert order == [(c.pk, times[0]), (a.pk, times[1]), (b.pk, times[2])]
    html = response.content.decode()
    assert html.index("Post 2") < html.index("Post 0") < html.index("Post 1")


def test_it_moves_a_post_down_one_place(client, cast, make_channel):
    channel = make_channel(tz="UTC")
    add_slots(channel, time(10, 0))
    times = upcoming_slots(channel, 3)
    a, b, c = (make_delivery(channel, t) for t in times)
    client.force_login(cast.alice)
    client.post(
        reverse("posts:queue-move-delivery", kwargs={"slug": "acme", "code": a.code}), {"position": "1"}
    )
    assert list(Delivery.objects.in_queue(channel).values_list("pk", flat=True)) == [b.pk, a.pk, c.pk]
    assert sorted(Delivery.objects.in_queue(channel).values_list("scheduled_for", flat=True)) == times


def test_it_reschedules_across_a_dst_change_in_new_york(client, cast, make_channel):
    channel = make_channel(tz="America/New_York")
    change = next_spring_forward(NEW_YORK, now().date() + timedelta(days=2))
    before = datetime.combine(change - timedelta(days=1), time(9, 0), NEW_YORK).astimezone(UTC)
    delivery = make_delivery(channel, before)
    client.force_login(cast.bob)
    url = reverse("posts:reschedule-delivery", kwargs={"slug": "acme", "code": delivery.code})

    response = client.post(url, {"at": f"{change.isoformat()}T09:00", "next": channel_queue_url(channel)})

    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.scheduled_for == datetime.combine(change, time(13, 0), UTC)  # 09:00 EDT, not EST
    assert delivery.next_attempt_at == delivery.scheduled_for
    assert delivery.in_queue is False
    html = client.get(channel_queue_url(channel)).content.decode()
    assert "fixed time" in _row(html, delivery) and ">09:00</time>" in _row(html, delivery)

    # A wall time the clocks skip moves to the first instant after the gap (03:00 EDT).
    client.post(url, {"at": f"{change.isoformat()}T02:30"})
    delivery.refresh_from_db()
    assert delivery.scheduled_for == datetime.combine(change, time(7, 0), UTC)


def test_it_refuses_a_past_time_beside_the_field(client, cast, make_channel):
    channel = make_channel(tz="America/New_York")
    when = now() + timedelta(days=2)
    delivery = make_delivery(channel, when)
    client.force_login(cast.bob)

    response = client.post(
        reverse("posts:reschedule-delivery", kwargs={"slug": "acme", "code": delivery.code}),
        {"at": "2020-01-06T09:00"},
    )

    assert response.status_code == 200
    row = _row(response.content.decode(), delivery)
    assert re.search(
        r'value="2020-01-06T09:00"[^>]*aria-invalid="true".*?role="alert"[^>]*>That time has passed',
        row,
        re.S,
    )
    assert '<details class="reschedule" open>' in row
    delivery.refresh_from_db()
    assert delivery.scheduled_for == when and delivery.in_queue


def test_it_refuses_to_reschedule_a_published_post(client, cast, make_channel):
    channel = make_channel()
    delivery = make_delivery(channel, now() - timedelta(hours=1), status=Delivery.Status.PUBLISHED)
    client.force_login(cast.alice)
    response = client.post(
        reverse("posts:reschedule-delivery", kwargs={"slug": "acme", "code": delivery.code}),
        {"at": (now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")},
        follow=True,
    )
    assert "already published" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.scheduled_for < now()


def test_it_deletes_a_post_that_is_not_out(client, cast, make_channel):
    channel, other = make_channel(), make_channel(network="bluesky")
    delivery = make_delivery(channel, now() + timedelta(days=1), text="Delete me")
    Delivery.objects.create(post=delivery.post, channel=other, status=Delivery.Status.SCHEDULED)
    client.force_login(cast.bob)
    response = client.post(
        reverse("posts:delete-post", kwargs={"slug": "acme", "code": delivery.post.code}),
        {"next": channel_queue_url(channel)},
        follow=True,
    )
    assert not Post.objects.filter(pk=delivery.post_id).exists()
    assert not Delivery.objects.filter(post_id=delivery.post_id).exists()
    assert "Post deleted." in response.content.decode()


@pytest.mark.parametrize(
    "busy", [Delivery.Status.PUBLISHED, Delivery.Status.PUBLISHING, Delivery.Status.QUEUED]
)
def test_it_refuses_to_delete_a_post_out_or_going_out(client, cast, make_channel, busy):
    channel, other = make_channel(), make_channel(network="bluesky")
    delivery = make_delivery(channel, now() + timedelta(days=1))
    Delivery.objects.create(post=delivery.post, channel=other, status=busy, scheduled_for=now())
    client.force_login(cast.alice)
    response = client.post(
        reverse("posts:delete-post", kwargs={"slug": "acme", "code": delivery.post.code}), follow=True
    )
    assert "it can&#x27;t be deleted" in response.content.decode()
    assert Delivery.objects.filter(post_id=delivery.post_id).count() == 2


def test_it_unschedules_a_post_back_to_draft(client, cast, make_channel):
    channel = make_channel()
    delivery = make_delivery(channel, now() + timedelta(days=1), text="Not yet")
    client.force_login(cast.bob)
    response = client.post(
        reverse("posts:unschedule-post", kwargs={"slug": "acme", "code": delivery.post.code}),
        {"next": channel_queue_url(channel)},
        follow=True,
    )
    delivery.refresh_from_db(), delivery.post.refresh_from_db()
    assert delivery.status == Delivery.Status.DRAFT and not delivery.in_queue
    assert delivery.post.status == Post.Status.DRAFT
    html = response.content.decode()
    assert "draft again" in html and "Not yet" not in html  # gone from the queue


def test_it_refuses_to_unschedule_a_post_being_published(client, cast, make_channel):
    channel, other = make_channel(), make_channel(network="bluesky")
    delivery = make_delivery(channel, now() + timedelta(days=1))
    Delivery.objects.create(
        post=delivery.post, channel=other, status=Delivery.Status.PUBLISHING, scheduled_for=now()
    )
    client.force_login(cast.bob)
    response = client.post(
        reverse("posts:unschedule-post", kwargs={"slug": "acme", "code": delivery.post.code}), follow=True
    )
    assert "can&#x27;t be unscheduled" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SCHEDULED


def test_it_lets_viewers_and_contributors_see_but_not_change_the_queue(client, cast, make_channel):
    channel = make_channel()
    add_slots(channel, time(9, 0))
    times = upcoming_slots(channel, 2)
    first, second = make_delivery(channel, times[0]), make_delivery(channel, times[1])
    for user in (cast.victor, cast.carol):
        client.force_login(user)
        html = html_of(client, "posts:channel-queue", code=channel.code)
        assert "Hello" in html and "Move to top" not in html and "Reschedule" not in html
        assert "Pause queue" not in html
        kw = {"slug": "acme", "code": second.code}
        assert (
            client.post(reverse("posts:queue-move-delivery", kwargs=kw), {"position": 0}).status_code == 403
        )
        assert (
            client.post(
                reverse("posts:reschedule-delivery", kwargs=kw), {"at": "2030-01-01T09:00"}
            ).status_code
            == 403
        )
        post_kw = {"slug": "acme", "code": second.post.code}
        assert client.post(reverse("posts:delete-post", kwargs=post_kw)).status_code == 403
        assert client.post(reverse("posts:unschedule-post", kwargs=post_kw)).status_code == 403
    assert list(Delivery.objects.in_queue(channel)) == [first, second]
    assert Delivery.objects.get(pk=second.pk).scheduled_for == times[1]


def test_it_gives_404_for_another_workspaces_queue_and_deliveries(client, cast, make_channel):
    foreign = make_channel(workspace=cast.other)
    delivery = make_delivery(foreign, now() + timedelta(days=1))
    client.force_login(cast.alice)
    assert client.get(channel_queue_url(foreign)).status_code == 404
    url = reverse("posts:queue-move-delivery", kwargs={"slug": "acme", "code": delivery.code})
    assert client.post(url, {"position": 0}).status_code == 404
    url = reverse("posts:delete-post", kwargs={"slug": "acme", "code": delivery.post.code})
    assert client.post(url).status_code == 404
    assert Post.objects.filter(pk=delivery.post_id).exists()


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
    status_url = reverse("posts:queue-delivery-status", kwargs={"slug": "acme", "code": delivery.code})

    row = _row(html_of(client, "posts:queue"), delivery)
    assert f'hx-get="{status_url}" hx-trigger="every 5s"' in row

    assert 'hx-trigger="every 5s"' in client.get(status_url).content.decode()
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.PUBLISHED)
    done = client.get(status_url).content.decode()
    assert "Published" in done and "hx-trigger" not in done


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
