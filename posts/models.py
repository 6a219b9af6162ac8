import re
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Case, Count, F, OuterRef, Q, Subquery, When
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Substr
from django.utils.timezone import now

from channels.adapters.base import MediaItem, PartContent, PostOptions, RemoteRef
from channels.models import Channel
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
        d = Delivery.Status
        published = counts.get(d.PUBLISHED, 0)
        failed = counts.get(d.FAILED, 0) + counts.get(d.NEEDS_ATTENTION, 0)
        if total == 0:
            status = Post.Status.DRAFT
        elif published == total:
            status = Post.Status.PUBLISHED
        elif counts.get(d.PUBLISHING, 0) or counts.get(d.QUEUED, 0):
            status = Post.Status.PUBLISHING
        elif failed and published + failed == total:
            status = Post.Status.FAILED if not published else Post.Status.PARTLY_FAILED
        elif failed or (
            published and published < total and not counts.get(d.SCHEDULED) and not counts.get(d.HELD)
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


class DeliveryQuerySet(models.QuerySet):
    def due(self, at=None):
        """Deliveries the dispatcher may hand to a worker now: scheduled, due, on a usable channel."""
        at = at or now()
        return self.filter(
            status=Delivery.Status.SCHEDULED,
            next_attempt_at__lte=at,
            channel__status=Channel.Status.ACTIVE,
        ).filter(Q(channel__rate_limited_until__isnull=True) | Q(channel__rate_limited_until__lte=at))

    def overdue(self, at=None, grace=timedelta(minutes=1)):
        """Due more than a minute ago and not published (health and dashboard)."""
        at = at or now()
        return self.filter(
            status__in=[Delivery.Status.SCHEDULED, Delivery.Status.QUEUED, Delivery.Status.HELD],
            scheduled_for__lt=at - grace,
        )

    def in_queue(self, channel):
        """The channel's queue: queued posts not yet published or publishing, in slot order."""
        return self.filter(
            channel=channel,
            in_queue=True,
            status__in=[Delivery.Status.SCHEDULED, Delivery.Status.HELD],
        ).order_by("scheduled_for", "id")

    def for_workspace(self, workspace):
        # Through the channel rather than the post: both are the workspace's (posts are composed for
        # the workspace's own channels), and a workspace has few channels, so the (channel, ...)
        # indexes find its deliveries; through the post, PostgreSQL joins every delivery of the
        # status asked for (the published page counted 60,000 rows to show 50).
        return self.filter(channel__workspace=workspace)

    def needing_action(self):
        """What the failed page lists: rejected, unsure of the outcome, or held for a reconnect."""
        return self.filter(
            status__in=[Delivery.Status.FAILED, Delivery.Status.NEEDS_ATTENTION, Delivery.Status.HELD]
        )

    def with_latest_metric_id(self):
        """Annotate `latest_metric_id` (one index seek per row on metric_latest); see latest_metrics()."""
        latest = MetricSnapshot.objects.filter(delivery=OuterRef("pk")).order_by("-taken", "-id")
        return self.annotate(latest_metric_id=Subquery(latest.values("id")[:1]))

    def upcoming(self):
        """Not out yet: scheduled, held, handed to a worker or publishing, in time order (queue pages)."""
        return self.filter(status__in=Delivery.ACTIVE_STATUSES).order_by("scheduled_for", "id")

    def with_excerpt(self, length: int = 140):
        """Annotate `excerpt`: the start of this channel's text of part 1, read in the same query.

        One character more than `length` is read, so that excerpt() can cut it at a word boundary
        (`{{ d.excerpt|excerpt:90 }}` in templates, with {% load excerpts %}).
        """
        first_part = PostPart.objects.filter(post=OuterRef("post_id"), index=0).values("text")[:1]
        return self.annotate(
            excerpt=Substr(Coalesce(KT("text_overrides__0"), Subquery(first_part)), 1, length + 1)
        )

    # A published delivery is shown at its publish time, which is later than its scheduled time by at
    # most the retries' backoff (or a held channel's reconnection). Bounding scheduled_for as well lets
    # the calendar's range use the delivery_time index; deliveries published later than this after
    # their scheduled time are left off the calendar.
    CALENDAR_LATE_MARGIN = timedelta(days=14)

    def for_calendar(self, workspace, start, end):
        """Scheduled and published deliveries of the workspace whose time falls in [start, end).

        Annotated `at`: the publish time once published, else the scheduled time.
        """
        published = Delivery.Status.PUBLISHED
        at = Case(
            When(status=published, published_at__isnull=False, then=F("published_at")),
            default=F("scheduled_for"),
        )
        return (
            self.filter(
                channel__workspace=workspace,
                status__in=[*Delivery.ACTIVE_STATUSES, published],
                scheduled_for__gte=start - self.CALENDAR_LATE_MARGIN,
                scheduled_for__lt=end,
            )
            .annotate(at=at)
            .filter(at__gte=start, at__lt=end)
        )


class Delivery(models.Model):
    """One post on one channel: its own schedule, state, attempts, remote ids and error."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Not scheduled"  # the post is a draft or waits for approval
        SCHEDULED = "scheduled", "Scheduled"
        QUEUED = "queued", "Queued"  # handed to a worker
        PUBLISHING = "publishing", "Publishing"
        PUBLISHED = "published", "Published"
        FAILED = "failed", "Failed"
        HELD = "held", "Held: channel needs reconnecting"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"

    ACTIVE_STATUSES = (Status.SCHEDULED, Status.QUEUED, Status.PUBLISHING, Status.HELD)
    # Out or going out: its post can no longer be changed, unscheduled or deleted.
    BUSY_STATUSES = (Status.QUEUED, Status.PUBLISHING, Status.PUBLISHED)
    # Its time has come at least once (an edit that keeps the time sends these out at once if it passed).
    WAS_DUE_STATUSES = (Status.SCHEDULED, Status.HELD, Status.FAILED, Status.NEEDS_ATTENTION)

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    post = models.ForeignKey(Post, models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(Channel, models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    # When it is meant to go out (UTC); the user-visible time.
    scheduled_for = models.DateTimeField(null=True, blank=True)
    # When the dispatcher may next hand it out: scheduled_for at first, later pushed by retries.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Placed by "add to queue": its time is a posting slot and moves when slots change.
    in_queue = models.BooleanField(default=False)
    # Per-channel text of each part, or None/absent to use the post's text.
    text_overrides = models.JSONField(default=list, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # One RemoteRef dict per published part, in order: a retry resumes after the last one.
    remote_parts = models.JSONField(default=list, blank=True)
    # What each part's adapter checkpointed ({"<index>": {...}}): rkeys, container ids, start times.
    part_state = models.JSONField(default=dict, blank=True)
    remote_url = models.URLField(max_length=1000, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim = models.UUIDField(null=True, blank=True)
    # The worker process holding the claim (its Heartbeat name), when it beats; see posts.dispatch.sweep.
    claimed_by = models.CharField(max_length=200, blank=True, default="")
    created = models.DateTimeField(default=now)
    updated = models.DateTimeField(auto_now=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["scheduled_for", "id"]
        constraints = [
            models.UniqueConstraint(fields=["post", "channel"], name="delivery_unique_channel"),
        ]
        indexes = [
            # Dispatcher: Delivery.objects.due() -- scheduled rows by next attempt time.
            models.Index(fields=["next_attempt_at"], name="delivery_due", condition=Q(status="scheduled")),
            # Sweeper: rows handed out or in flight for too long.
            models.Index(
                fields=["status", "dispatched_at"],
                name="delivery_inflight",
                condition=Q(status__in=["queued", "publishing"]),
            ),
            # Queue and slot computation: a channel's deliveries by time.
            models.Index(fields=["channel", "scheduled_for"], name="delivery_channel_time"),
            # Published and failed pages, the overview's counts and the API's delivery list: a
            # workspace's deliveries by status, found through its channels (for_workspace()).
            models.Index(fields=["channel", "status"], name="delivery_channel_status"),
            # Calendar: deliveries in a time range.
            models.Index(fields=["scheduled_for"], name="delivery_time"),
            # Queue pages and the overview: upcoming deliveries of a workspace in time order.
            models.Index(
                fields=["scheduled_for"],
                name="delivery_upcoming",
                condition=Q(status__in=["scheduled", "queued", "publishing", "held"]),
            ),
            # Published page and metrics refresh: newest published first.
            models.Index(
                fields=["-published_at"], name="delivery_published", condition=Q(status="published")
            ),
            # Failed page: deliveries needing action, most recently changed first.
            models.Index(
                fields=["-updated"],
                name="delivery_needs_action",
                condition=Q(status__in=["failed", "needs_attention", "held"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.post} on {self.channel}"

    def part_contents(self) -> list[PartContent]:
        """The post's parts with this channel's text overrides applied, media attached."""
        parts = []
        for part in self.post.parts.all():
            text = part.text
            if part.index < len(self.text_overrides) and self.text_overrides[part.index] is not None:
                text = self.text_overrides[part.index]
            parts.append(
                PartContent(text=text, media=[m.as_item(media_public_url(m)) for m in part.media.all()])
            )
        return parts

    def published_refs(self) -> list[RemoteRef]:
        return [RemoteRef.from_dict(d) for d in self.remote_parts]


def media_public_url(media: Media) -> str:
    """A signed, expiring URL under SITE_URL for networks that fetch media themselves (Threads)."""
    from django.core import signing
    from django.urls import reverse

    token = signing.dumps(str(media.code), salt="media")
    return settings.SITE_URL + reverse("posts:public-media", args=[token])


def latest_metrics(deliveries) -> list["Delivery"]:
    """Set `latest_metrics` (a MetricSnapshot or None) on deliveries loaded with_latest_metric_id(),
    with one query for the whole list."""
    deliveries = list(deliveries)
    ids = [d.latest_metric_id for d in deliveries if getattr(d, "latest_metric_id", None)]
    snapshots = MetricSnapshot.objects.in_bulk(ids) if ids else {}
    for delivery in deliveries:
        delivery.latest_metrics = snapshots.get(getattr(delivery, "latest_metric_id", None))
    return deliveries


class DeliveryAttempt(models.Model):
    """The log of every publish attempt, shown per delivery."""

    class Outcome(models.TextChoices):
        PUBLISHED = "published", "Published"
        RETRY = "retry", "Will retry"
        REJECTED = "rejected", "Rejected"
        AUTH_LOST = "auth_lost", "Channel needs reconnecting"
        UNKNOWN = "unknown", "Outcome unknown"
        GAVE_UP = "gave_up", "Gave up"
        ERROR = "error", "Unexpected error"
        RECOVERED = "recovered", "Recovered after a stopped worker"

    delivery = models.ForeignKey(Delivery, models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started = models.DateTimeField(default=now)
    finished = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    message = models.CharField(max_length=1000, blank=True)
    part = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["started", "id"]

    def __str__(self) -> str:
        return f"Attempt {self.number} of {self.delivery_id}: {self.outcome}"


class PostingSlot(models.Model):
    """A weekly posting time of a channel, in the channel's time zone."""

    channel = models.ForeignKey(Channel, models.CASCADE, related_name="slots")
    weekday = models.PositiveSmallIntegerField()  # 0 = Monday
    time = models.TimeField()

    class Meta:
        ordering = ["weekday", "time"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "weekday", "time"], name="slot_unique_time"),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="slot_weekday_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.time:%H:%M}"

    WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

    def get_weekday_display(self) -> str:
        return self.WEEKDAYS[self.weekday]


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


class MetricSnapshot(models.Model):
    delivery = models.ForeignKey(Delivery, models.CASCADE, related_name="metrics")
    taken = models.DateTimeField(default=now)
    likes = models.PositiveIntegerField(default=0)
    reposts = models.PositiveIntegerField(default=0)
    replies = models.PositiveIntegerField(default=0)
    quotes = models.PositiveIntegerField(default=0)
    views = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-taken"]
        indexes = [models.Index(fields=["delivery", "-taken"], name="metric_latest")]

    def __str__(self) -> str:
        return f"Metrics of {self.delivery_id} at {self.taken}"


class Heartbeat(models.Model):
    """The pulse of each dispatcher and worker process, for /healthz, the dashboard and the sweeper."""

    name = models.CharField(max_length=200, unique=True)  # "dispatcher@host:pid", "worker@host.pid"
    kind = models.CharField(max_length=30)
    beat = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.name


class PeriodicRun(models.Model):
    """When a periodic task last ran; claimed with a conditional update so two dispatchers run it once."""

    name = models.CharField(max_length=100, unique=True)
    last_run = models.DateTimeField()

    def __str__(self) -> str:
        return self.name
