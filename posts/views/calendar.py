"""The workspace's calendar: week and month views of scheduled and published posts in the workspace's
zone, filterable by channel, where a post can be dragged (or, from the keyboard, moved with a form) to
another day or hour; and a day view listing every post of one day, where a cell's "+N more" leads.
"""

from datetime import date, datetime, time, timedelta
from urllib.parse import quote, urlencode

from django.contrib import messages
from django.db.models import Count, F, Window
from django.db.models.functions import RowNumber, TruncDate, TruncHour
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils import dateformat
from django.utils.cache import patch_vary_headers
from django.utils.timezone import now
from django.views.decorators.http import require_POST

from posts import scheduling, states
from posts.models import Delivery, excerpt
from posts.views.queue import RescheduleForm, load_delivery, url_maker, workspace_channels
from workspaces.access import get_for_workspace, workspace_view
from workspaces.models import Perm

DAY, WEEK, MONTH = "day", "week", "month"
# Chips shown per hour (week) or per day (month); the rest are counted ("+3 more", a link to the day
# view), so a workspace with hundreds of channels still gets a page of bounded size.
CELL_LIMIT = {WEEK: 2, MONTH: 4}
DAY_LIMIT = 500  # posts listed by the day view; past that, filtering by channel shows the rest
FIRST_HOUR_OF_A_DAY = 9  # a new post from a month's day cell starts at this hour


def _parse_day(value: str | None, default: date) -> date:
    """The day asked for, kept within the days posts can be scheduled (the calendar's ends overflow)."""
    try:
        day = date.fromisoformat(value or "")
    except ValueError:
        return default
    return min(max(day, scheduling.EARLIEST.date()), scheduling.latest().date())


def _period(view: str, anchor: date) -> tuple[date, int, date, date]:
    """First day shown, number of days, and the anchors of the previous and next periods."""
    if view == DAY:
        return anchor, 1, anchor - timedelta(days=1), anchor + timedelta(days=1)
    if view == WEEK:
        first = anchor - timedelta(days=anchor.weekday())
        return first, 7, first - timedelta(days=7), first + timedelta(days=7)
    month = anchor.replace(day=1)
    first = month - timedelta(days=month.weekday())
    previous = (month - timedelta(days=1)).replace(day=1)
    following = (month + timedelta(days=32)).replace(day=1)
    return first, 42, previous, following


def _chips(request, channel, start, end, view, context):
    """The chips of each cell (at most CELL_LIMIT) and each cell's total, in two queries; for the day
    view, every chip of the day (up to DAY_LIMIT), in one.

    Chips are dicts of ready-made strings: a month of a busy workspace has hundreds of them, and
    formatting in Python is several times faster than filters and {% url %} tags in the template.
    """
    workspace = request.workspace
    tz = workspace.tz
    deliveries = Delivery.objects.for_calendar(workspace, start, end)
    if channel is not None:
        deliveries = deliveries.filter(channel=channel)
    if view == DAY:
        totals = {}
        shown = deliveries.order_by("at", "id")
    else:
        cell = TruncHour("at", tzinfo=tz) if view == WEEK else TruncDate("at", tzinfo=tz)
        ranked = (
            deliveries.annotate(cell=cell)
            .annotate(
                rank=Window(RowNumber(), partition_by=[F("cell")], order_by=[F("at").asc(), F("id").asc()]),
                total=Window(Count("id"), partition_by=[F("cell")]),
            )
            .filter(rank__lte=CELL_LIMIT[view])
            .values_list("id", "total")
        )
        totals = dict(ranked)
        if not totals:
            return {}, {}
        shown = Delivery.objects.for_calendar(workspace, start, end).filter(pk__in=list(totals))
        shown = shown.order_by("at", "id")
    length = 200 if view == DAY else 60
    shown = (
        shown.with_excerpt(length + 20)
        .annotate(post_code=F("post__code"))
        .values("id", "code", "channel_id", "status", "next_attempt_at", "at", "excerpt", "post_code")
    )
    if view == DAY:
        shown = shown[:DAY_LIMIT]
    channels = {c.pk: c for c in context["channels"]}
    detail_url = url_maker("posts:detail", workspace.slug)
    move_url = url_maker("posts:calendar-move-delivery", workspace.slug)
    can_move = request.membership.can(Perm.PUBLISH)
    current = now()
    chips: dict[str, list] = {}
    cell_totals: dict[str, int] = {}
    for row in shown:
        chan = channels[row["channel_id"]]
        local = row["at"].astimezone(tz)
        key = local.date().isoformat() if view == MONTH else f"{local.date().isoformat()}-{local.hour:02d}"
        code, status = str(row["code"]), row["status"]
        movable = can_move and status in states.MOVABLE and row["at"] > current
        chips.setdefault(key, []).append(
            {
                "id": f"chip-{code}",
                "css": f"chip net-{chan.network} chip-{status}",
                "iso": row["at"].isoformat(),
                "time": f"{local:%H:%M}",
                "network": chan.get_network_display(),
                "handle": chan.handle,
                "text": excerpt(row["excerpt"], length) or "(no text)",
                "detail_url": detail_url(row["post_code"]),
                "move_url": move_url(code) if movable else "",
                "move_href": f"?{context['query']}&move={code}" if movable else "",
                "published": status == Delivery.Status.PUBLISHED,
                # The live status (posts/_delivery_status.html) polls while it goes out.
                "live": (
                    Delivery(code=row["code"], status=status, next_attempt_at=row["next_attempt_at"])
                    if states.is_live(status, row["next_attempt_at"], current)
                    else None
                ),
            }
        )
        cell_totals[key] = totals.get(row["id"], 0)
    return chips, cell_totals


def _query(view, start, channel, **extra) -> str:
    params = {"view": view, "start": start.isoformat()}
    if channel is not None:
        params["channel"] = str(channel.code)
    params.update(extra)
    return urlencode(params)


def _calendar_context(request) -> dict:
    workspace = request.workspace
    tz = workspace.tz
    view = request.GET.get("view") if request.GET.get("view") in (DAY, WEEK, MONTH) else WEEK
    current = now()
    today = current.astimezone(tz).date()
    anchor = _parse_day(request.GET.get("start"), today)
    channels = workspace_channels(workspace)
    wanted = request.GET.get("channel", "")
    channel = next((c for c in channels if str(c.code) == wanted), None)

    first, count, previous, following = _period(view, anchor)
    days = [first + timedelta(days=n) for n in range(count)]
    start = scheduling.local_to_utc(datetime.combine(first, time()), tz)
    end = scheduling.local_to_utc(datetime.combine(days[-1] + timedelta(days=1), time()), tz)
    title_day = anchor.replace(day=1) if view == MONTH else first
    try:
        compose_url = reverse("posts:compose", kwargs={"slug": workspace.slug})
    except NoReverseMatch:  # the composer is optional for this page
        compose_url = ""
    if not request.membership.can(Perm.COMPOSE):
        compose_url = ""
    context = {
        "view": view,
        "days": days[:7],
        "today": today,
        "title_day": title_day,
        "last_day": days[-1],
        "channels": channels,
        "channel": channel,
        "channel_options": [
            (str(c.code), f"{c.get_network_display()} {c.handle}", c == channel) for c in channels
        ],
        "tzname": workspace.timezone,
        "query": _query(view, title_day, channel),
        "prev_query": _query(view, previous, channel),
        "next_query": _query(view, following, channel),
        "today_query": _query(view, today, channel),
        "day_query": _query(DAY, today if first <= today <= days[-1] else title_day, channel),
        "week_query": _query(WEEK, title_day, channel),
        # From a week, the month holding most of its days (its Thursday's).
        "month_query": _query(
            MONTH, title_day if view == MONTH else first + timedelta(days=3 if view == WEEK else 0), channel
        ),
        "can_move": request.membership.can(Perm.PUBLISH),
    }
    chips, totals = _chips(request, channel, start, end, view, context)

    # A new post from an empty hour (or day) starts there; only in the future.
    compose_query = f"&zone={quote(workspace.timezone)}" + (f"&channel={channel.code}" if channel else "")
    now_local = current.astimezone(tz).replace(tzinfo=None)
    day_labels = {day: dateformat.format(day, "l j F") for day in days}
    month_names = {day: dateformat.format(day, "F") for day in days} if view == MONTH else {}

    def make_cell(day, hour):
        key = day.isoformat() if hour is None else f"{day.isoformat()}-{hour:02d}"
        cell_chips = chips.get(key, [])
        css = "cal-cell"
        if hour is None and day.month != anchor.month:
            css += " out-of-month"
        if day == today:
            css += " today"
        if hour is not None:
            at = datetime.combine(day, time(hour)) if datetime.combine(day, time(hour)) > now_local else None
        elif day > today:
            at = datetime.combine(day, time(FIRST_HOUR_OF_A_DAY))
        elif day == today and now_local.hour < 23:
            at = datetime.combine(day, time(now_local.hour + 1))
        else:
            at = None
        more = totals.get(key, 0) - len(cell_chips)
        return {
            "id": f"c-{key}",
            "css": css,
            "day": day.isoformat(),
            "hour": "" if hour is None else str(hour),
            "daynum": str(day.day),
            "month": month_names.get(day, ""),
            "chips": cell_chips,
            "more": more,
            "label": day_labels[day] + ("" if hour is None else f" at {hour:02d}:00"),
            # Every post of the day, at this cell's hour in the week view.
            "more_href": f"?{_query(DAY, day, channel)}" + ("" if hour is None else f"#h-{hour:02d}")
            if more > 0
            else "",
            "compose_href": f"{compose_url}?at={at:%Y-%m-%dT%H:%M}{compose_query}"
            if at and compose_url
            else "",
            "compose_label": f"New post on {day_labels[day]} at {at:%H:%M}" if at else "",
        }

    if view == DAY:
        context["hours"] = [
            {"id": f"h-{key[-2:]}", "label": f"{key[-2:]}:00", "chips": day_chips}
            for key, day_chips in sorted(chips.items())
        ]
        context["cut"] = sum(len(c) for c in chips.values()) >= DAY_LIMIT
        context["day_limit"] = DAY_LIMIT
        context["day_compose"] = make_cell(first, None)["compose_href"]
    elif view == WEEK:
        context["rows"] = [(f"{hour:02d}:00", [make_cell(day, hour) for day in days]) for hour in range(24)]
    else:
        cells = [make_cell(day, None) for day in days]
        context["rows"] = [("", cells[n : n + 7]) for n in range(0, 42, 7)]
    return context


def _move_panel(request, delivery=None, failed=None):
    """The keyboard way to move a post: a form for one delivery (?move=<code>)."""
    if delivery is None:
        code = request.GET.get("move")
        if not code or not request.membership.can(Perm.PUBLISH):
            return None
        try:
            delivery = get_for_workspace(
                Delivery.objects.select_related("post", "channel").with_excerpt(80),
                request.workspace,
                code=code,
            )
        except ValueError:  # not a UUID
            return None
        delivery.channel.workspace = request.workspace
    return {"delivery": delivery, "failed": failed}


def _render(request, status=200, **extra):
    context = {**_calendar_context(request), **extra}
    template = "posts/calendar.html#calendar-body" if request.htmx else "posts/calendar.html"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@workspace_view(Perm.VIEW)
def calendar(request):
    return _render(request, move=_move_panel(request))


def _target_time(request, delivery, workspace_tz) -> datetime:
    """Where a drop (day, optional hour, in the calendar's zone) or the form (a wall time in the
    channel's zone) sends the delivery."""
    channel_tz = delivery.channel.tz
    if "at" in request.POST:
        form = RescheduleForm(request.POST)
        if not form.is_valid():
            raise scheduling.CannotMove(form.errors["at"][0], past=True)
        return scheduling.local_to_utc(form.cleaned_data["at"], channel_tz)
    try:
        day = date.fromisoformat(request.POST.get("day", ""))
        hour = int(request.POST["hour"]) if request.POST.get("hour", "") != "" else None
    except ValueError:
        raise scheduling.CannotMove("Drop the post on a day of the calendar.") from None
    scheduling.check_in_range(datetime.combine(day, time()))  # before any arithmetic on it
    if hour is not None and not 0 <= hour <= 23:
        raise scheduling.CannotMove("Drop the post on an hour of the calendar.")
    current = delivery.scheduled_for
    if hour is not None:
        # Dropped on an hour of the week view: that hour, same minutes, in the calendar's zone.
        minute = current.astimezone(workspace_tz).minute
        return scheduling.local_to_utc(datetime.combine(day, time(hour, minute)), workspace_tz)
    # Dropped on a day: as many days later (or earlier) as the drop moved it on the calendar, at the
    # same time of day in the channel's zone (09:00 in New York stays 09:00 in New York).
    shift = day - current.astimezone(workspace_tz).date()
    local = current.astimezone(channel_tz)
    return scheduling.local_to_utc(datetime.combine(local.date() + shift, local.time()), channel_tz)


@workspace_view(Perm.PUBLISH)
@require_POST
def move_delivery(request, code):
    """Move one delivery to another day or time; it becomes a fixed-time delivery (leaves the queue).

    Answers JSON to the calendar's script (Accept: application/json); otherwise redirects back to the
    calendar, or shows the move form again with the error beside the field.
    """
    delivery = load_delivery(request, code)
    wants_json = "application/json" in request.headers.get("Accept", "")
    calendar_url = reverse("posts:calendar", kwargs={"slug": request.workspace.slug})
    back = calendar_url + (f"?{request.GET.urlencode()}" if request.GET else "")
    try:
        when = _target_time(request, delivery, request.workspace.tz)
        scheduling.reschedule(delivery, when)
    except scheduling.CannotMove as exc:
        if wants_json:
            return JsonResponse({"error": exc.message}, status=400)
        if exc.past and "at" in request.POST:
            failed = {"value": request.POST.get("at", ""), "error": exc.message}
            return _render(request, move=_move_panel(request, delivery, failed))
        messages.error(request, exc.message)
        return redirect(back)
    channel = delivery.channel
    local = when.astimezone(channel.tz)
    message = f"Moved to {local:%a %-d %b, %H:%M} ({channel.timezone_name}) on {channel}."
    if wants_json:
        return JsonResponse({"message": message, "at": when.isoformat()})
    messages.success(request, message)
    return redirect(back)


urlpatterns = [
    path("w/<slug:slug>/calendar/", calendar, name="calendar"),
    path(
        "w/<slug:slug>/deliveries/<uuid:code>/calendar-move/",
        move_delivery,
        name="calendar-move-delivery",
    ),
]
