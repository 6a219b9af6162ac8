"""The workspace overview: what goes out next, what needs someone, and whether the engine is running.

It is the workspace's home page, so its URL keeps its name in the workspaces namespace
("workspaces:overview"): scheduler_project/urls.py serves `urlpatterns` below there, next to the
workspaces app's own pages, which redirect to it by that name.
"""

from datetime import timedelta

import redis
from django.db.models import Count, Q
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.timezone import now

from channels.models import Channel
from posts import liveness, states
from posts.models import Delivery, Notification, Post, PostingSlot
from workspaces.access import workspace_view
from workspaces.models import Membership, Perm, UserProfile

S = Delivery.Status
# Late posts are those due this long ago and still not out.
GRACE = timedelta(minutes=1)


@workspace_view(Perm.VIEW)
def overview(request):
    workspace = request.workspace
    UserProfile.remember_workspace(request.user, workspace)
    at = now()
    midnight = at.astimezone(workspace.tz).replace(hour=0, minute=0, second=0, microsecond=0)
    deliveries = Delivery.objects.for_workspace(workspace)
    counts = deliveries.aggregate(
        scheduled=Count("id", filter=Q(status__in=states.ON_TRACK)),
        published_today=Count("id", filter=Q(status=S.PUBLISHED, published_at__gte=midnight)),
        failed=Count("id", filter=Q(status__in=states.NEEDS_ACTION)),
    )
    counts.update(
        # Both through the post_ws_status index.
        Post.objects.filter(
            workspace=workspace, status__in=[Post.Status.PENDING_APPROVAL, Post.Status.DRAFT]
        ).aggregate(
            pending=Count("id", filter=Q(status=Post.Status.PENDING_APPROVAL)),
            drafts=Count("id", filter=Q(status=Post.Status.DRAFT)),
        )
    )
    counts["unread"] = Notification.objects.filter(workspace=workspace, user=request.user, read=None).count()

    # Late posts that nothing explains: not waiting for a reconnect, a paused queue or a retry's backoff.
    stuck = (
        Delivery.objects.overdue(at, GRACE)
        .for_workspace(workspace)
        .exclude(status=S.HELD)
        .exclude(channel__status=Channel.Status.PAUSED)
        .filter(Q(status=S.QUEUED) | Q(next_attempt_at__lt=at - GRACE))
    )
    overdue = list(
        stuck.select_related("channel__workspace", "post").with_excerpt().order_by("scheduled_for", "id")[:6]
    )

    channels = list(Channel.objects.filter(workspace=workspace).order_by("network", "handle"))
    upcoming = (
        deliveries.filter(status=S.SCHEDULED, scheduled_for__gte=at)
        .select_related("channel", "post")
        .with_excerpt()
        .order_by("scheduled_for", "id")[:25]
    )
    next_posts = {}
    for delivery in upcoming:
        entry = next_posts.setdefault(delivery.post_id, {"delivery": delivery, "channels": []})
        entry["channels"].append(delivery.channel)
    return render(
        request,
        "posts/overview.html",
        {
            "channels": channels,
            "reconnect": [c for c in channels if c.status == Channel.Status.NEEDS_RECONNECT],
            "counts": counts,
            "overdue": overdue[:5],
            "more_overdue": len(overdue) > 5,
            "engine_problems": engine_problems(),
            "next_posts": list(next_posts.values())[:5],
            "first_run": first_run_steps(request.membership, channels),
        },
    )


def engine_problems() -> list[str]:
    """What stops posts from going out, in words for the workspace's members (posts.liveness)."""
    problems = []
    try:
        workers = liveness.workers()
    except redis.exceptions.RedisError:
        problems.append(
            "The job queue (Redis) cannot be reached, so no post can be handed to a worker. "
            "Ask whoever runs this server to check Redis."
        )
    else:
        if not workers.alive:
            problems.append(
                "No publishing worker is running, so scheduled posts will not go out. "
                "Ask whoever runs this server to start the worker process."
            )
    if not liveness.dispatcher().alive:
        problems.append(
            "The dispatcher is not running, so due posts are not handed to the workers. "
            "Ask whoever runs this server to start the dispatcher process."
        )
    return problems


def first_run_steps(membership: Membership, channels: list) -> list[dict] | None:
    """The new workspace's checklist, or None once every step is done (or this member can do none).

    Each step: its label, whether it is done, and a link for members allowed to do it.
    """
    can_connect = membership.can(Perm.MANAGE_CHANNELS)
    can_write = membership.can(Perm.COMPOSE)
    if not (can_connect or can_write):
        return None
    workspace = membership.workspace
    has_slots = bool(channels) and PostingSlot.objects.filter(channel__workspace=workspace).exists()
    has_post = Post.objects.filter(workspace=workspace).exists()
    if channels and has_slots and has_post:
        return None
    slug = workspace.slug
    # Times on any one channel complete the step: the link opens the first channel's schedule.
    schedule_url = (
        reverse("posts:channel-schedule", kwargs={"slug": slug, "code": channels[0].code})
        if channels
        else None
    )
    not_yours = "an owner or admin does this"
    return [
        {
            "label": "Connect a channel",
            "done": bool(channels),
            "url": reverse("channels:list", kwargs={"slug": slug}) if can_connect else None,
            "note": None if can_connect else not_yours,
        },
        {
            "label": "Set posting times",
            "done": has_slots,
            "url": schedule_url if can_connect else None,
            "note": (None if channels else "once a channel is connected") if can_connect else not_yours,
        },
        {
            "label": "Write your first post",
            "done": has_post,
            "url": reverse("posts:compose", kwargs={"slug": slug}) if can_write else None,
            "note": None,
        },
    ]


urlpatterns = [
    path("w/<slug:slug>/", overview, name="overview"),
]
