"""Notices shown in the dashboard and sent by email."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from channels.models import Channel
from posts.models.post import Post
from workspaces.models import Workspace


class Notification(models.Model):
    """Shown in the dashboard (and sent by email): failures, channels to reconnect, approvals."""

    class Kind(models.TextChoices):
        DELIVERY_FAILED = "delivery_failed", "Delivery failed"
        NEEDS_ATTENTION = "needs_attention", "Delivery needs attention"
        CHANNEL_RECONNECT = "channel_reconnect", "Channel needs reconnecting"
        APPROVAL_REQUESTED = "approval_requested", "Approval requested"
        CHANGES_REQUESTED = "changes_requested", "Post sent back"
        APPROVED = "approved", "Post approved"
        COMMENTED = "commented", "New comment"

    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="notifications")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    message = models.CharField(max_length=1000)
    post = models.ForeignKey(Post, models.CASCADE, null=True, blank=True, related_name="+")
    channel = models.ForeignKey(Channel, models.CASCADE, null=True, blank=True, related_name="+")
    created = models.DateTimeField(default=now)
    read = models.DateTimeField(null=True, blank=True)
    # When its cause went away (the post was approved, the delivery went out after all, the channel was
    # reconnected): shown as resolved, and read from then on. See posts.notify.
    resolved = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            # Dashboard badge: a user's unread notifications in a workspace.
            models.Index(fields=["user", "workspace"], name="notification_unread", condition=Q(read=None)),
        ]

    def __str__(self) -> str:
        return self.message
