"""The posts app's models, one module per subject; imported from here (`from posts.models import Post`)."""

from posts.models.delivery import (
    Delivery,
    DeliveryAttempt,
    DeliveryQuerySet,
    MetricSnapshot,
    latest_metrics,
    media_public_url,
)
from posts.models.notification import Notification
from posts.models.post import Comment, Media, Post, PostPart, excerpt, media_upload_to
from posts.models.processes import Heartbeat, PeriodicRun
from posts.models.slots import PostingSlot

__all__ = [
    "Comment",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryQuerySet",
    "Heartbeat",
    "Media",
    "MetricSnapshot",
    "Notification",
    "PeriodicRun",
    "Post",
    "PostPart",
    "PostingSlot",
    "excerpt",
    "latest_metrics",
    "media_public_url",
    "media_upload_to",
]
