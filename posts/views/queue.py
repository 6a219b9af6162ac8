"""The queue: upcoming posts per channel and for all channels, reordering, rescheduling and deleting
(the posting-schedule editor is posts/views/schedule.py; its URL is listed here too).

Times are stored in UTC and shown in each channel's zone; a time typed here is read in the channel's
zone and converted with scheduling.local_to_utc (DST gaps and repeats resolved the usual way).

A little over 400 lines: the rows, the free slots between them and the actions on them are one page.
"""

import heapq
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import groupby
from urllib.parse import quote

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html
from django.utils.timezone import now
from django.views.decorators.http import require_POST

from channels.models import Channel
from posts import composing, scheduling
from posts.models import Delivery, Post, PostingSlot, excerpt
from posts.views import schedule
from posts.views.common import channel_for
from workspaces.access import get_for_workspace, safe_next, workspace_view
from workspaces.models import Perm

UPCOMING_LIMIT = 100  # deliveries listed per page; the rest are a click on a channel away
FREE_SLOT_DAYS = 7  # how far ahead empty posting slots are shown
FREE_SLOT_LIMIT = 100
# Past this many channels the all-channels queue leaves free slots to each channel's own queue: a
# list of hundreds of channels' gaps helps nobody, and computing them would cost more than the page.
FREE_SLOT_CHANNELS = 50


@dataclass
class Row:
    """One line of a queue: a delivery, or a posting slot nobody has taken yet (delivery is None).

    The strings are made here rather than with filters and {% url %} in the template: the queue of
    a workspace has a few hundred lines, and this is several times faster.
    """

    at: datetime
    channel: Channel
    delivery: Delivery | None = None
    position: int | None = None  # place in the channel's queue, for deliveries placed by the queue
    last_in_queue: bool = False
    local: datetime | None = None  # `at` in the channel's zone
    time_label: str = ""
    abbr: str = ""
    input_value: str = ""  # for a datetime-local input
    excerpt: str = ""
    urls: dict = field(default_factory=dict)

    def __post_init__(self):
        try:
            self.local = self.at.astimezone(self.channel.tz)
        except OverflowError:  # stored at the calendar's end before times were kept in range:
            self.local = self.at  # shown in UTC, so it can still be rescheduled or deleted

    @property
    def local_day(self) -> date:
        return self.local.date()

    @property
    def is_late(self) -> bool:
        return self.delivery is not None and self.at < now()


_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def url_maker(name: str, slug: str):
    """code -> URL of view `name`, with one reverse() per page instead of one per row."""
    template = reverse(name, kwargs={"slug": slug, "code": _PLACEHOLDER})
    return lambda code: template.replace(_PLACEHOLDER, str(code))


def workspace_channels(workspace) -> list[Channel]:
    # Not the credentials: decrypting them for every channel would cost more than the whole page.
    fields = ("code", "workspace_id", "network", "handle", "display_name", "status", "timezone")
    channels = list(Channel.objects.filter(workspace=workspace).only(*fields).order_by("network", "handle"))
    for channel in channels:
        channel.workspace = workspace  # channel.tz reads the workspace's zone: no query per channel
    return channels


def _upcoming(workspace, channels: list[Channel], channel: Channel | None = None):
    """The next deliveries (one query), with their channel attached, and whether the list was cut."""
    by_id = {c.pk: c for c in channels}
    deliveries = (
        Delivery.objects.filter(channel__workspace=workspace, scheduled_for__isnull=False)
        .upcoming()
        .with_excerpt()
        .select_related("post")
        .defer("text_overrides", "remote_parts", "part_state", "post__options")
    )
    if channel is not None:
        deliveries = deliveries.filter(channel=channel)
    deliveries = list(deliveries[: UPCOMING_LIMIT + 1])
    cut = len(deliveries) > UPCOMING_LIMIT
    deliveries = deliveries[:UPCOMING_LIMIT]
    for d in deliveries:
        d.channel = by_id[d.channel_id]
    return deliveries, cut


def _free_slots(channels, slots_by_channel, taken, start, end) -> tuple[list[Row], bool]:
    """Posting slots in (start, end) that no delivery takes, earliest first, at most FREE_SLOT_LIMIT."""

    def stream(channel, slots):
        for instant in scheduling.slot_times(slots, channel.tz, start):
            yield instant, channel.pk, channel

    streams = []
    windows_by_zone: dict[str, dict] = {}
    for channel in channels:
        if channel.status != Channel.Status.ACTIVE or channel.pk not in slots_by_channel:
            continue
        zone = channel.timezone_name
        if zone not in windows_by_zone:
            windows_by_zone[zone] = _wall_windows(channel.tz, start, end)
        windows = windows_by_zone[zone]
        slots = [
            (weekday, at)
            for weekday, at in slots_by_channel[channel.pk]
            if any(first <= at <= last for first, last in windows.get(weekday, ()))
        ]
        if slots:
            streams.append(stream(channel, slots))
    rows = []
    for instant, channel_id, channel in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
        if instant >= end:
            break
        if (channel_id, instant) in taken:
            continue
        if len(rows) == FREE_SLOT_LIMIT:
            return rows, True
        rows.append(Row(at=instant, channel=channel))
    return rows, False


def _wall_windows(tz, start, end, margin=timedelta(hours=3)) -> dict[int, list[tuple[time, time]]]:
    """The wall-clock times of `tz` between `start` and `end`, as (from, to) times per weekday.

    With a margin for the hour a DST gap can move a slot: slots outside these windows cannot occur
    in the period, so only the few inside need their exact instants resolved.
    """
    low = (start.astimezone(tz) - margin).replace(tzinfo=None)
    high = (end.astimezone(tz) + margin).replace(tzinfo=None)
    windows: dict[int, list[tuple[time, time]]] = {}
    day = low.date()
    while day <= high.date():
        first = low.time() if day == low.date() else time.min
        last = high.time() if day == high.date() else time.max
        windows.setdefault(day.weekday(), []).append((first, last))
        day += timedelta(days=1)
    return windows


def _queue_rows(workspace, channels, channel=None):
    """Deliveries and free slots, grouped by day in each channel's zone."""
    deliveries, cut = _upcoming(workspace, channels, channel)
    start = now()
    end = start + timedelta(days=FREE_SLOT_DAYS)
    if cut:
        # Past the last delivery listed, a slot may be taken by one that is not: show no gaps there.
        end = min(end, deliveries[-1].scheduled_for)
    free_hidden = channel is None and len(channels) > FREE_SLOT_CHANNELS
    slots = PostingSlot.objects.filter(channel__workspace=workspace)
    if free_hidden:
        slots = slots.none()
    elif channel is not None:
        slots = slots.filter(channel=channel)
    if end - start < timedelta(days=5):
        # A busy queue lists only hours ahead: the slots of the weekdays they span (a day either side
        # for the zones) are enough, and far fewer rows for a workspace of hundreds of channels.
        days = (end.date() - start.date()).days
        slots = slots.filter(weekday__in={(start + timedelta(days=n)).weekday() for n in range(-1, days + 2)})
    slots_by_channel: dict[int, list] = {}
    for channel_id, weekday, at in slots.values_list("channel_id", "weekday", "time"):
        slots_by_channel.setdefault(channel_id, []).append((weekday, at))

    taken = {(d.channel_id, d.scheduled_for) for d in deliveries}
    if free_hidden:
        free, more_free = [], False
    else:
        free, more_free = _free_slots([channel] if channel else channels, slots_by_channel, taken, start, end)

    rows = []
    positions: dict[int, int] = {}
    for d in deliveries:
        row = Row(at=d.scheduled_for, channel=d.channel, delivery=d)
        if d.in_queue and d.is_movable:
            row.position = positions.get(d.channel_id, 0)
            positions[d.channel_id] = row.position + 1
        rows.append(row)
    if not cut:
        # Without a cut list the last queued row shown is the last in its channel's queue.
        last = {r.channel.pk: r for r in rows if r.position is not None}
        for row in last.values():
            row.last_in_queue = True
    rows.extend(free)
    rows.sort(key=lambda r: (r.local_day, r.at, r.channel.handle, r.delivery is None))
    _label(rows, workspace)
    days = [(day, list(items)) for day, items in groupby(rows, key=lambda r: r.local_day)]
    return {
        "days": days,
        "cut": cut,
        "more_free": more_free,
        "free_hidden": free_hidden,
        "limit": UPCOMING_LIMIT,
    }


def _label(rows: list[Row], workspace) -> None:
    """Times, text and links of each row, ready for the template."""
    slug = workspace.slug
    channel_url = url_maker("posts:channel-queue", slug)
    detail_url = url_maker("posts:detail", slug)
    action_urls = {
        "move": url_maker("posts:queue-move-delivery", slug),
        "reschedule": url_maker("posts:reschedule-delivery", slug),
    }
    post_urls = {
        "unschedule": url_maker("posts:unschedule-post", slug),
        "delete": url_maker("posts:delete-post", slug),
    }
    edit_url = _optional_url_maker("posts:edit", slug)
    compose = _optional_url("posts:compose", slug)
    channel_urls = {}
    for row in rows:
        row.time_label = f"{row.local:%H:%M}"
        row.abbr = row.local.tzname() or ""
        row.input_value = f"{row.local:%Y-%m-%dT%H:%M}"
        if row.channel.pk not in channel_urls:
            channel_urls[row.channel.pk] = channel_url(row.channel.code)
        row.urls["channel"] = channel_urls[row.channel.pk]
        d = row.delivery
        if d is None:
            if compose:
                zone = quote(row.channel.timezone_name)
                row.urls["compose"] = f"{compose}?at={row.input_value}&zone={zone}&channel={row.channel.code}"
            continue
        row.excerpt = excerpt(d.excerpt, 120) or "(no text)"
        row.urls["detail"] = detail_url(d.post.code)
        row.urls.update({name: make(d.code) for name, make in action_urls.items()})
        row.urls.update({name: make(d.post.code) for name, make in post_urls.items()})
        if edit_url:
            row.urls["edit"] = edit_url(d.post.code)


def _optional_url(name: str, slug: str) -> str:
    """The URL of a page another part of the dashboard may not have yet, or ""."""
    try:
        return reverse(name, kwargs={"slug": slug})
    except NoReverseMatch:
        return ""


def _optional_url_maker(name: str, slug: str):
    try:
        return url_maker(name, slug)
    except NoReverseMatch:
        return None


def _render_queue(request, context):
    template = "posts/queue.html#queue-list" if request.htmx else "posts/queue.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@workspace_view(Perm.VIEW)
def queue(request):
    channels = workspace_channels(request.workspace)
    wanted = request.GET.get("channel")
    if wanted:  # the "queue of one channel" picker
        for channel in channels:
            if str(channel.code) == wanted:
                return redirect(_queue_url(request, channel))
    page_url = reverse("posts:queue", kwargs={"slug": request.workspace.slug})
    rows = _queue_rows(request.workspace, channels)
    return _render_queue(request, {"channel": None, "channels": channels, "page_url": page_url, **rows})


def _channel_queue_response(request, channel, **extra):
    rows = _queue_rows(request.workspace, [channel], channel)
    page_url = _queue_url(request, channel)
    context = {"channel": channel, "channels": [channel], "page_url": page_url, **rows, **extra}
    return _render_queue(request, context)


@workspace_view(Perm.VIEW)
def channel_queue(request, code):
    return _channel_queue_response(request, channel_for(request, code))


def load_delivery(request, code) -> Delivery:
    delivery = get_for_workspace(
        Delivery.objects.select_related("post", "channel"), request.workspace, code=code
    )
    delivery.channel.workspace = request.workspace
    return delivery


def _queue_url(request, channel) -> str:
    return reverse("posts:channel-queue", kwargs={"slug": request.workspace.slug, "code": channel.code})


@workspace_view(Perm.PUBLISH)
@require_POST
def move_delivery(request, code):
    """Move a queued post to another place in its channel's queue; the set of slot times stays."""
    delivery = load_delivery(request, code)
    try:
        position = int(request.POST.get("position", ""))
    except ValueError:
        position = None
    if position is None or position < 0:
        messages.error(request, "Choose where in the queue the post should go.")
    elif not delivery.in_queue or not delivery.is_movable:
        messages.error(request, "Only posts waiting in the queue can be reordered.")
    else:
        scheduling.move_in_queue(delivery, position)
        messages.success(request, "Queue reordered: the posts take the queue's times in their new order.")
    return redirect(safe_next(request, _queue_url(request, delivery.channel)))


class WallTimeField(forms.Field):
    """A date and time as typed in a stated zone (no zone attached): a naive datetime."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"})
    default_error_messages = {"invalid": "Enter a date and time, such as 2026-05-04 09:30."}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if parsed.tzinfo is not None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if not scheduling.in_range(parsed):
            raise forms.ValidationError(scheduling.out_of_range_message(), code="out_of_range")
        return parsed.replace(second=0, microsecond=0)


class RescheduleForm(forms.Form):
    at = WallTimeField(error_messages={"required": "Choose a date and time."})


@workspace_view(Perm.PUBLISH)
@require_POST
def reschedule_delivery(request, code):
    """Give one delivery a fixed date and time typed in its channel's zone; it leaves the queue."""
    delivery = load_delivery(request, code)
    channel = delivery.channel
    form = RescheduleForm(request.POST)
    error = None
    if not form.is_valid():
        error = form.errors["at"][0]
    else:
        when = scheduling.local_to_utc(form.cleaned_data["at"], channel.tz)
        try:
            scheduling.reschedule(delivery, when)
        except scheduling.CannotMove as exc:
            if not exc.past:
                messages.error(request, exc.message)
                return redirect(safe_next(request, _queue_url(request, channel)))
            error = exc.message
        else:
            messages.success(
                request,
                f"Rescheduled on {channel} for "
                f"{when.astimezone(channel.tz):%a %-d %b %Y, %H:%M} ({channel.timezone_name}).",
            )
            return redirect(safe_next(request, _queue_url(request, channel)))
    # The error goes beside the field of this row, with what was typed kept.
    failed = {"code": delivery.code, "value": request.POST.get("at", ""), "error": error}
    return _channel_queue_response(request, channel, reschedule_failed=failed)


@workspace_view(Perm.COMPOSE)
@require_POST
def delete_post(request, code):
    post = get_for_workspace(Post, request.workspace, code=code)
    if not post.may_delete(request.membership):
        raise PermissionDenied(
            "You can delete your own drafts and posts waiting for approval; ask an editor."
        )
    queue_url = reverse("posts:queue", kwargs={"slug": request.workspace.slug})
    back = safe_next(request, queue_url)
    try:
        composing.delete_post_if_unsent(post)
    except composing.PostInvalid as exc:
        messages.error(request, str(exc))
        return redirect(back)
    messages.success(request, "Post deleted.")
    detail_url = reverse("posts:detail", kwargs={"slug": request.workspace.slug, "code": code})
    return redirect(queue_url if back.startswith(detail_url) else back)  # its own page is gone


@workspace_view(Perm.PUBLISH)
@require_POST
def unschedule_post(request, code):
    post = get_for_workspace(Post, request.workspace, code=code)
    try:
        composing.cancel(post)
    except composing.PostInvalid as exc:
        messages.error(request, str(exc))
    else:
        drafts = reverse("posts:drafts", kwargs={"slug": request.workspace.slug})
        messages.success(
            request,
            format_html(
                "Unscheduled: the post is a draft again, on every channel. "
                'Find it under <a href="{}">Drafts</a>.',
                drafts,
            ),
        )
    return redirect(safe_next(request, reverse("posts:queue", kwargs={"slug": request.workspace.slug})))


urlpatterns = [
    path("w/<slug:slug>/queue/", queue, name="queue"),
    path("w/<slug:slug>/channels/<uuid:code>/queue/", channel_queue, name="channel-queue"),
    path("w/<slug:slug>/deliveries/<uuid:code>/move/", move_delivery, name="queue-move-delivery"),
    path("w/<slug:slug>/deliveries/<uuid:code>/reschedule/", reschedule_delivery, name="reschedule-delivery"),
    path("w/<slug:slug>/posts/<uuid:code>/delete/", delete_post, name="delete-post"),
    path("w/<slug:slug>/posts/<uuid:code>/unschedule/", unschedule_post, name="unschedule-post"),
    *schedule.urlpatterns,
]
