"""Periodic jobs about channels. Plain functions taking no model instances; RQ cron runs them."""

import logging
from datetime import datetime

from django.utils import timezone

from channels import networks
from channels.models import Channel
from channels.networks.base import AdapterError, AuthorizationLost
from posts import channel_auth

logger = logging.getLogger(__name__)


def refresh_credentials(now: datetime | None = None) -> dict[str, int]:
    """Renew the tokens that would otherwise die, on every network whose tokens expire.

    Which channels: each network's spec decides (`refresh_candidates` narrows the query, `refresh_due`
    decides per channel), among its channels not already waiting for a reconnect (paused ones too:
    their token dies all the same). Run it at least daily.

    A refused token (AuthorizationLost) marks the channel "needs reconnect", holds its posts and
    notifies; any other failure leaves it as it is for the next run. The adapter saves the new
    credentials itself (never empty ones); the spec names the channel's fields to update (its
    token's expiry). Returns counts.
    """
    now = now or timezone.now()
    summary = {"refreshed": 0, "needs_reconnect": 0, "failed": 0, "skipped": 0}
    for spec in networks.specs():
        if not spec.renews_credentials:
            continue
        channels = Channel.objects.filter(network=spec.name).exclude(status=Channel.Status.NEEDS_RECONNECT)
        for channel in spec.refresh_candidates(channels, now).order_by("pk"):
            if not spec.refresh_due(channel, now):
                summary["skipped"] += 1
                continue
            try:
                credentials = channel.adapter().refresh_credentials()
            except AuthorizationLost as exc:
                channel_auth.authorisation_lost(channel, exc.message)
                summary["needs_reconnect"] += 1
                logger.info("%s channel %s needs a reconnect: %s", spec.label, channel.code, exc.message)
                continue
            except AdapterError as exc:
                summary["failed"] += 1
                logger.warning(
                    "%s token refresh for channel %s failed: %s", spec.label, channel.code, exc.message
                )
                continue
            fields = spec.refreshed(channel, credentials)
            Channel.objects.filter(pk=channel.pk).update(**fields, updated=timezone.now())
            summary["refreshed"] += 1
    return summary
