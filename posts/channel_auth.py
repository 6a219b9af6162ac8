"""A channel's authorisation: lost (a revoked or expired token, a deleted app password) and regained.

One path for every caller that finds a token refused (publishing, the metrics job, the Threads token
refresh, "Check connection"): the channel is marked "needs reconnect", its posts that are due are held
(not left to look overdue) and the workspace is told once. A reconnect (any connect flow, or a check
that works again) releases the held posts at once and resolves the notices.
"""

from django.db import transaction

from channels.models import Channel
from posts import clock, notify, states
from posts.models import Delivery, Post

HELD_REASON = "The channel needs reconnecting before this can go out."


def authorisation_lost(channel: Channel, reason: str) -> bool:
    """Mark the channel, hold its due posts, notify once. True if this call changed the channel."""
    with transaction.atomic():
        changed = channel.mark_needs_reconnect(reason)
        hold_due(channel=channel)
    if changed:
        notify.channel_needs_reconnect(channel)
    return changed


def hold_due(*, channel: Channel | None = None, at=None) -> int:
    """Due deliveries of channels waiting for a reconnect become "held" (the sweeper calls this for
    every channel, so posts that come due later are held too). Their posts stay "scheduled"."""
    at = at or clock.now()  # what is due is compared across processes: the database's clock
    due = Delivery.objects.filter(next_attempt_at__lte=at, channel__status=Channel.Status.NEEDS_RECONNECT)
    if channel is not None:
        due = due.filter(channel=channel)
    return states.apply("hold", due, last_error=HELD_REASON, updated=at)


def reconnected(channel: Channel) -> int:
    """The channel works again: its held posts go out now and the reconnect notices are resolved.
    Returns how many deliveries were released."""
    at = clock.now()
    with transaction.atomic():
        held = Delivery.objects.filter(channel=channel, status=Delivery.Status.HELD)
        post_ids = list(held.values_list("post_id", flat=True))
        released = states.apply("release", held, next_attempt_at=at, last_error="", updated=at)
        for post in Post.objects.filter(pk__in=post_ids):
            post.refresh_status()
    notify.channel_reconnected(channel)
    return released
