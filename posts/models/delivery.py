"""One post on one channel: its state, its attempts and its metrics.

Its statuses, their groups and transitions are declared in posts/states.py.
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Case, F, OuterRef, Q, Subquery, When
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Substr
from django.utils.timezone import now

from channels.models import Channel
from channels.networks.base import PartContent, RemoteRef
from posts import states
from posts.models.post import Media, Post, PostPart


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
            status__in=states.WAITING,
            scheduled_for__lt=at - grace,
        )

    def in_queue(self, channel):
        """The channel's queue: queued posts not yet published or publishing, in slot order."""
        return self.filter(
            channel=channel,
            in_queue=True,
            status__in=states.MOVABLE,
        ).order_by("scheduled_for", "id")

    def for_workspace(self, workspace):
        # Through the channel rather than the post: both are the workspace's (posts are composed for
        # the workspace's own channels), and a workspace has few channels, so the (channel, ...)
        # indexes find its deliveries; through the post, PostgreSQL joins every delivery of the
        # status asked for (the published page counted 60,000 rows to show 50).
        return self.filter(channel__workspace=workspace)

    def needing_action(self):
        """What the failed page lists: rejected, unsure of the outcome, or held for a reconnect."""
        return self.filter(status__in=states.NEEDS_ACTION)

    def with_latest_metric_id(self):
        """Annotate `latest_metric_id` (one index seek per row on metric_latest); see latest_metrics()."""
        latest = MetricSnapshot.objects.filter(delivery=OuterRef("pk")).order_by("-taken", "-id")
        return self.annotate(latest_metric_id=Subquery(latest.values("id")[:1]))

    def upcoming(self):
        """Not out yet: scheduled, held, handed to a worker or publishing, in time order (queue pages)."""
        return self.filter(status__in=states.UPCOMING).order_by("scheduled_for", "id")

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
                status__in=states.ON_CALENDAR,
                scheduled_for__gte=start - self.CALENDAR_LATE_MARGIN,
                scheduled_for__lt=end,
            )
            .annotate(at=at)
            .filter(at__gte=start, at__lt=end)
        )


class Delivery(models.Model):
    """One post on one channel: its own schedule, state, attempts, remote ids and error."""

    # The statuses, their groups and the transitions between them: posts/states.py.
    Status = states.Status

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
                condition=Q(status__in=list(states.GOING_OUT)),
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
                condition=Q(status__in=list(states.UPCOMING)),
            ),
            # Published page and metrics refresh: newest published first.
            models.Index(
                fields=["-published_at"], name="delivery_published", condition=Q(status="published")
            ),
            # Failed page: deliveries needing action, most recently changed first.
            models.Index(
                fields=["-updated"],
                name="delivery_needs_action",
                condition=Q(status__in=list(states.NEEDS_ACTION)),
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

    # The status groups of posts/states.py, for templates and views.
    @property
    def is_going_out(self) -> bool:
        """Handed to a worker or being published: shown as "Publishing…"."""
        return self.status in states.GOING_OUT

    @property
    def is_busy(self) -> bool:
        return self.status in states.BUSY

    @property
    def needs_action(self) -> bool:
        return self.status in states.NEEDS_ACTION

    @property
    def is_movable(self) -> bool:
        return self.status in states.MOVABLE

    @property
    def is_done(self) -> bool:
        return self.status in states.DONE

    @property
    def is_live(self) -> bool:
        return states.is_live(self.status, self.next_attempt_at)


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
