"""Changing the queue: reordering, rescheduling, deleting and unscheduling posts, and who may."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils.timezone import now

from posts.models import Delivery, Post
from tests.posts.deliveries import (
    NEW_YORK,
    _row,
    add_slots,
    channel_queue_url,
    html_of,
    make_delivery,
    next_spring_forward,
    upcoming_slots,
)


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
