"""What the author writes: a post, its parts and media, and the comments on it."""

import re
import uuid

from django.conf import settings
from django.db import models, transaction
from django.db.models import Count
from django.utils.timezone import now

from channels.networks.base import MediaItem, PostOptions
from posts import states
from workspaces.models import Perm, Workspace


def excerpt(text: str | None, length: int = 80) -> str:
    """The start of `text` in at most `length` characters, cut after a whole word and ended with "…".

    A first word longer than half the room (a long link) is cut where the room ends. Lines are joined
    with spaces. Text read with DeliveryQuerySet.with_excerpt(n) can be cut here at any length <= n.
    """
    text = (text or "").strip()
    if len(text) <= length:
        return " ".join(text.split())
    # One character more than the room: if it is a space, the word before it ends within the room.
    head = text[:length]
    cut = re.sub(r"\s+\S*$", "", head) if re.search(r"\s", head) else ""
    if len(cut) < length // 2:
        cut = head[: length - 1]
    return " ".join(cut.rstrip(" ,;:-–—").split()) + "…"


class Post(models.Model):
    """What the author wrote: one or more parts (a thread), for one or more channels (deliveries)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING_APPROVAL = "pending_approval", "Waiting for approval"
        SCHEDULED = "scheduled", "Scheduled"
        PUBLISHING = "publishing", "Publishing"
        PUBLISHED = "published", "Published"
        PARTLY_FAILED = "partly_failed", "Partly failed"
        FAILED = "failed", "Failed"

    class Mode(models.TextChoices):
        NOW = "now", "Share now"
        AT = "at", "At a date and time"
        QUEUE = "queue", "Add to queue"
        DRAFT = "draft", "Save as draft"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="posts")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="posts")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.DRAFT)
    # When it goes out lives on each delivery only (Delivery.scheduled_for): see first_time().
    # PostOptions fields (language, content_warning, visibility, sensitive, link_card, topic_tag, ...).
    options = models.JSONField(default=dict, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=now)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            # Approvals page and status filters of the dashboard and API: posts of a workspace by status.
            models.Index(fields=["workspace", "status", "-created"], name="post_ws_status"),
            # API post list: a workspace's posts, newest first (without it, a sort of all of them).
            models.Index(fields=["workspace", "-created", "-id"], name="post_ws_created"),
        ]

    def __str__(self) -> str:
        first = self.parts.first() if self.pk else None
        return excerpt(first.text if first else "", 40) or f"Post {self.code}"

    # One rule for the composer, the Drafts page, the delete buttons and the API.
    def may_change(self, membership) -> bool:
        """Editors and up change any post; a contributor only their own."""
        return membership.can(Perm.PUBLISH) or (
            membership.can(Perm.COMPOSE) and self.author_id == membership.user_id
        )

    def may_delete(self, membership) -> bool:
        """Editors and up delete any unsent post; a contributor their own that is not approved yet."""
        if membership.can(Perm.PUBLISH):
            return True
        return self.may_change(membership) and self.status in (
            Post.Status.DRAFT,
            Post.Status.PENDING_APPROVAL,
        )

    def first_time(self):
        """When the first of its deliveries goes out, or None (reads prefetched deliveries if any)."""
        return min((d.scheduled_for for d in self.deliveries.all() if d.scheduled_for), default=None)

    def post_options(self) -> PostOptions:
        return PostOptions.from_dict(self.options)

    def refresh_status(self) -> str:
        """Derive the post's status from its deliveries (called after every delivery change).

        The post's row is locked before its deliveries are counted, so deliveries finishing at the
        same moment take turns: the last to count sees every other one's outcome and writes last.
        Call it in the transaction that changed the delivery (it joins it; alone, it makes one).
        """
        with transaction.atomic(savepoint=False):
            current = Post.objects.select_for_update().filter(pk=self.pk).values_list("status", flat=True)
            self.status = next(iter(current), self.status)
            return self._refresh_status()

    def _refresh_status(self) -> str:
        if self.status in (Post.Status.DRAFT, Post.Status.PENDING_APPROVAL):
            return self.status
        counts = dict(
            self.deliveries.values_list("status").annotate(n=Count("id")).values_list("status", "n")
        )
        total = sum(counts.values())
        published = counts.get(states.Status.PUBLISHED, 0)
        failed = sum(counts.get(s, 0) for s in states.STOPPED)
        if total == 0:
            status = Post.Status.DRAFT
        elif published == total:
            status = Post.Status.PUBLISHED
        elif any(counts.get(s) for s in states.GOING_OUT):
            status = Post.Status.PUBLISHING
        elif failed and published + failed == total:
            status = Post.Status.FAILED if not published else Post.Status.PARTLY_FAILED
        elif failed or (
            # Some went out and none of the others waits for its time (scheduled or held) any more.
            published and published < total and not any(counts.get(s) for s in states.MOVABLE)
        ):
            status = Post.Status.PARTLY_FAILED
        else:
            status = Post.Status.SCHEDULED
        if status != self.status:
            Post.objects.filter(pk=self.pk).update(status=status, updated=now())
            self.status = status
        return status


class PostPart(models.Model):
    post = models.ForeignKey(Post, models.CASCADE, related_name="parts")
    index = models.PositiveSmallIntegerField()
    text = models.TextField(blank=True)

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["post", "index"], name="postpart_unique_index")]

    def __str__(self) -> str:
        return f"Part {self.index + 1} of {self.post_id}"


def media_upload_to(instance, filename: str) -> str:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"uploads/{instance.workspace_id}/{instance.code}.{extension}"


class Media(models.Model):
    """An uploaded image or video; attached to one part of a post (or not yet, right after upload)."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="media")
    part = models.ForeignKey(PostPart, models.SET_NULL, null=True, blank=True, related_name="media")
    position = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(upload_to=media_upload_to)
    mime_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(default=0)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    alt_text = models.TextField(blank=True)
    created = models.DateTimeField(default=now)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.file.name

    def as_item(self, public_url: str = "") -> MediaItem:
        return MediaItem(
            path=self.file.path,
            mime_type=self.mime_type,
            alt_text=self.alt_text,
            width=self.width,
            height=self.height,
            size=self.size,
            public_url=public_url,
        )


class Comment(models.Model):
    class Kind(models.TextChoices):
        COMMENT = "comment", "Comment"
        CHANGES_REQUESTED = "changes_requested", "Sent back"
        APPROVED = "approved", "Approved"

    post = models.ForeignKey(Post, models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.COMMENT)
    text = models.TextField(blank=True)
    created = models.DateTimeField(default=now)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.post_id}"
