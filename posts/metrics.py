"""Likes, reposts, replies and quotes of recently published posts, stored as snapshots."""

import logging
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.utils.timezone import now

from channels.networks.base import AdapterError, AuthorizationLost, RemoteRef
from posts import channel_auth
from posts.models import Delivery, MetricSnapshot

log = logging.getLogger(__name__)


def refresh_recent(days: int | None = None) -> dict:
    days = days or settings.METRICS_DAYS
    since = now() - timedelta(days=days)
    deliveries = (
        Delivery.objects.filter(status=Delivery.Status.PUBLISHED, published_at__gte=since)
        .exclude(remote_parts=[])
        .select_related("channel", "channel__workspace")
    )
    by_channel = defaultdict(list)
    for delivery in deliveries:
        by_channel[delivery.channel].append(delivery)
    counts = {"channels": 0, "snapshots": 0, "errors": 0}
    for channel, items in by_channel.items():
        if channel.status != "active":
            continue
        refs = {RemoteRef.from_dict(d.remote_parts[0]).id: d for d in items}
        try:
            found = channel.adapter().fetch_metrics([RemoteRef.from_dict(d.remote_parts[0]) for d in items])
        except AuthorizationLost as exc:
            channel_auth.authorisation_lost(channel, exc.message)
            counts["errors"] += 1
            continue
        except AdapterError as exc:
            log.warning("metrics for channel %s failed: %s", channel.pk, exc.message)
            counts["errors"] += 1
            continue
        snapshots = [
            MetricSnapshot(
                delivery=refs[rid],
                likes=m.likes,
                reposts=m.reposts,
                replies=m.replies,
                quotes=m.quotes,
                views=m.views,
            )
            for rid, m in found.items()
            if rid in refs
        ]
        MetricSnapshot.objects.bulk_create(snapshots)
        counts["channels"] += 1
        counts["snapshots"] += len(snapshots)
    return counts
