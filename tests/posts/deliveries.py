"""What the queue and calendar tests share: upcoming deliveries, posting slots, and the queue pages' rows."""

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.urls import reverse

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


def _row(html, delivery):
    match = re.search(rf'<li[^>]*id="delivery-{delivery.code}".*?</li>', html, re.S)
    assert match, f"no row for {delivery}"
    return match.group(0)
