"""A channel's limits (characters, images, sizes), read again from its network.

Read at connect, then again by "Check connection" and by a daily periodic job, so a server that
changes its limits (an admin raises the character count, a network lowers an image size) is followed
without reconnecting. Each network's adapter says how (`Adapter.read_limits`); a network whose limits
are fixed returns its defaults.
"""

import logging

from django.utils.timezone import now

from channels.models import Channel
from channels.networks.base import AdapterError, AuthorizationLost

logger = logging.getLogger(__name__)


def refresh(channel: Channel) -> bool:
    """Read the channel's limits from its network and store them; True if they changed.

    Raises the adapter's errors (AuthorizationLost, TransientError...) for the caller to handle; the
    stored limits stay as they were then.
    """
    limits = channel.adapter().read_limits()
    if not limits or limits == channel.limits:
        return False
    Channel.objects.filter(pk=channel.pk).update(limits=limits, updated=now())
    channel.limits = limits
    return True


def refresh_all() -> dict[str, int]:
    """The periodic job: every channel that is not waiting for a reconnect. Returns counts."""
    from posts import channel_auth

    summary = {"changed": 0, "unchanged": 0, "needs_reconnect": 0, "failed": 0}
    channels = Channel.objects.exclude(status=Channel.Status.NEEDS_RECONNECT).select_related("workspace")
    for channel in channels.order_by("pk"):
        try:
            changed = refresh(channel)
        except AuthorizationLost as exc:
            channel_auth.authorisation_lost(channel, exc.message)
            summary["needs_reconnect"] += 1
            continue
        except AdapterError as exc:
            summary["failed"] += 1
            logger.warning("Reading the limits of channel %s failed: %s", channel.code, exc.message)
            continue
        summary["changed" if changed else "unchanged"] += 1
    return summary
