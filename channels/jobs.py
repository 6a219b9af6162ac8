"""Periodic jobs about channels. Plain functions taking no model instances; RQ cron runs them."""

import logging
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from channels.adapters.base import AdapterError, AuthorizationLost
from channels.models import Channel, Network
from posts import channel_auth

logger = logging.getLogger(__name__)

THREADS_REFRESH_BEFORE = timedelta(days=7)
# Meta refreshes a token only once it is a day old.
THREADS_MIN_TOKEN_AGE = timedelta(hours=24)


def refresh_threads_tokens(now: datetime | None = None) -> dict[str, int]:
    """Refresh the long-lived Threads tokens that would otherwise die (they last 60 days).

    Which channels: every Threads channel not already waiting for a reconnect (paused ones too: their
    token dies all the same) whose token expires within 7 days, or whose expiry is unknown (a pasted
    token) and whose token is more than 24 hours old. Run it at least daily.

    A refused token (AuthorizationLost) marks the channel "needs reconnect"; any other failure leaves it
    as it is for the next run. A token is never replaced by an empty one. Returns counts.
    """
    now = now or timezone.now()
    summary = {"refreshed": 0, "needs_reconnect": 0, "failed": 0, "skipped": 0}
    candidates = Channel.objects.filter(network=Network.THREADS).exclude(
        status=Channel.Status.NEEDS_RECONNECT
    )
    candidates = candidates.filter(Q(token_expires__lte=now + THREADS_REFRESH_BEFORE) | Q(token_expires=None))
    for channel in candidates.order_by("pk"):
        if channel.token_expires is None and not _old_enough(channel, now):
            summary["skipped"] += 1
            continue
        try:
            credentials = channel.adapter().refresh_credentials()
        except AuthorizationLost as exc:
            channel_auth.authorisation_lost(channel, exc.message)
            summary["needs_reconnect"] += 1
            logger.info("Threads channel %s needs a reconnect: %s", channel.code, exc.message)
            continue
        except AdapterError as exc:
            summary["failed"] += 1
            logger.warning("Threads token refresh for channel %s failed: %s", channel.code, exc.message)
            continue
        expires_in = int((credentials or {}).get("expires_in") or 0)
        # From the real clock: `now` may be a simulated day, the new token's life starts today.
        expires = timezone.now() + timedelta(seconds=expires_in) if expires_in else None
        # The adapter saved the credentials already; the expiry is the channel's own column.
        Channel.objects.filter(pk=channel.pk).update(token_expires=expires, updated=timezone.now())
        summary["refreshed"] += 1
    return summary


def _old_enough(channel: Channel, now: datetime) -> bool:
    obtained = channel.get_credentials().get("obtained_at", "")
    try:
        obtained_at = datetime.fromisoformat(obtained) if obtained else None
    except ValueError:
        obtained_at = None
    return obtained_at is None or obtained_at <= now - THREADS_MIN_TOKEN_AGE
