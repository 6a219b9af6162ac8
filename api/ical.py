"""The iCal feed of a workspace's (or one channel's) schedule, at a secret, revocable URL.

Calendar apps fetch it without logging in: the token in the URL is the only key, so a revoked or
regenerated token answers 404 at once. One event per delivery, scheduled or published, starting at
its time in UTC.
"""

from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.utils.timezone import now
from django.views.decorators.http import require_safe
from icalendar import Calendar, Event

from api.models import CalendarFeed
from api.present import post_url
from posts import states
from posts.models import Delivery, excerpt

EVENT_DURATION = timedelta(minutes=15)
# What calendar apps are sent: recent history and the coming year, at most this many events.
PAST = timedelta(days=90)
FUTURE = timedelta(days=400)
MAX_EVENTS = 5000


def delivery_text(delivery: Delivery) -> list[str]:
    """The text of each part as it goes out on this channel (overrides applied)."""
    texts = []
    overrides = delivery.text_overrides or []
    for part in delivery.post.parts.all():
        override = overrides[part.index] if part.index < len(overrides) else None
        texts.append(part.text if override is None else override)
    return texts


def feed_deliveries(feed: CalendarFeed):
    moment = now()
    deliveries = (
        Delivery.objects.for_workspace(feed.workspace)
        .filter(status__in=states.ON_CALENDAR)
        .filter(
            Q(scheduled_for__gte=moment - PAST) | Q(published_at__gte=moment - PAST),
            scheduled_for__lte=moment + FUTURE,
        )
    )
    if feed.channel_id:
        deliveries = deliveries.filter(channel_id=feed.channel_id)
    return (
        deliveries.select_related("channel", "post")
        .prefetch_related("post__parts")
        .order_by("scheduled_for", "id")[:MAX_EVENTS]
    )


def build_calendar(feed: CalendarFeed) -> Calendar:
    workspace = feed.workspace
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    name = f"{workspace.name}: {feed.channel}" if feed.channel_id else workspace.name
    calendar = Calendar()
    calendar.add("prodid", "-//Open Scheduler//Schedule feed//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"{name} (scheduled posts)")
    calendar.add("x-published-ttl", "PT15M")
    calendar.add("refresh-interval", timedelta(minutes=15), parameters={"VALUE": "DURATION"})
    for delivery in feed_deliveries(feed):
        published = delivery.status == Delivery.Status.PUBLISHED
        start = (delivery.published_at if published else None) or delivery.scheduled_for
        if start is None:
            continue
        delivery.post.workspace = workspace  # for post_url, without a query per event
        texts = delivery_text(delivery)
        network = delivery.channel.get_network_display()
        link = post_url(delivery.post)
        description = "\n\n".join(t for t in texts if t) or "(no text)"
        description += f"\n\n{network} {delivery.channel.handle} · {delivery.get_status_display()}\n{link}"
        event = Event()
        event.add("uid", f"delivery-{delivery.code}@{host}")
        event.add("dtstamp", delivery.updated)
        event.add("last-modified", delivery.updated)
        event.add("dtstart", start)
        event.add("duration", EVENT_DURATION)
        event.add("summary", f"[{network}] {excerpt(texts[0] if texts else '', 60) or '(image)'}")
        event.add("description", description)
        event.add("categories", [network])
        event.add("status", "CONFIRMED" if published else "TENTATIVE")
        event.add("transp", "TRANSPARENT")
        if published and delivery.remote_url:
            event.add("url", delivery.remote_url)
        calendar.add_component(event)
    return calendar


@require_safe
def feed(request, token: str):
    feed = CalendarFeed.objects.active().select_related("workspace", "channel").filter(token=token).first()
    if feed is None:
        raise Http404("No such calendar feed (it may have been revoked).")
    response = HttpResponse(build_calendar(feed).to_ical(), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{feed.workspace.slug}.ics"'
    response["Cache-Control"] = "private, no-cache"
    response["X-Robots-Tag"] = "noindex"
    return response
