"""API tokens, idempotency records and calendar feed tokens.

An API token belongs to one user in one workspace and acts with that user's *current* role there:
the membership is read on every request, so a removed member's tokens stop working at once and a
changed role applies to the next call. Only a SHA-256 of the token is stored; the token itself is
shown once, when it is created.
"""

import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from channels.models import Channel
from workspaces.models import Workspace

TOKEN_PREFIX = "osk_"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class APITokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked=None)


class APIToken(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="api_tokens")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # sha256 hex of the whole token ("osk_..."); the token itself is never stored.
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters of the token, so people can tell their tokens apart.
    hint = models.CharField(max_length=16, editable=False)
    created = models.DateTimeField(default=now)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    objects = APITokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        indexes = [
            # Token page: a workspace's (or one user's) tokens.
            models.Index(fields=["workspace", "user"], name="apitoken_ws_user"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @classmethod
    def issue(cls, *, workspace, user, name: str) -> tuple["APIToken", str]:
        """Create a token; returns the row and the secret, which exists nowhere else afterwards."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            workspace=workspace,
            user=user,
            name=name,
            secret_hash=hash_secret(secret),
            hint=secret[: len(TOKEN_PREFIX) + 6],
        )
        return token, secret

    def revoke(self) -> None:
        APIToken.objects.filter(pk=self.pk, revoked=None).update(revoked=now())
        self.revoked = self.revoked or now()


class IdempotencyRecord(models.Model):
    """The first answer to a POST sent with an Idempotency-Key, replayed for repeats of that key."""

    token = models.ForeignKey(APIToken, models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # sha256 of method, path and request body: the same key with another request is refused.
    fingerprint = models.CharField(max_length=64)
    # Null while the first request is still being handled.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.TextField(blank=True)
    created = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="idempotency_unique_key"),
        ]
        indexes = [
            # Expiry: api.idempotency deletes a token's records older than a day.
            models.Index(fields=["token", "created"], name="idempotency_token_age"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code or 'in progress'})"


def _feed_token() -> str:
    return secrets.token_urlsafe(32)


class CalendarFeedQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked=None)


class CalendarFeed(models.Model):
    """A secret iCal URL of a workspace's schedule (or one channel's), for calendar apps."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="calendar_feeds")
    # None: the whole workspace.
    channel = models.ForeignKey(Channel, models.CASCADE, null=True, blank=True, related_name="+")
    # Kept readable (not hashed): members with the view right copy the URL from the feeds page.
    token = models.CharField(max_length=64, unique=True, default=_feed_token, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(default=now)
    revoked = models.DateTimeField(null=True, blank=True)

    objects = CalendarFeedQuerySet.as_manager()

    class Meta:
        ordering = ["created"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace"],
                condition=Q(channel=None, revoked=None),
                name="calendarfeed_one_per_workspace",
            ),
            models.UniqueConstraint(
                fields=["channel"],
                condition=Q(channel__isnull=False, revoked=None),
                name="calendarfeed_one_per_channel",
            ),
        ]

    def __str__(self) -> str:
        return f"Calendar feed of {self.channel or self.workspace}"


def revoke_departed_member(*, workspace, user) -> int:
    """Called when `user` leaves `workspace` (removed or leaving): close every door they held.

    Their API tokens of the workspace are revoked for good (not merely refused while they are away,
    so being invited back does not revive them). Calendar feeds belong to the workspace and every
    member could copy their URLs, so each active feed gets a new URL and the old one answers 404.
    Returns how many feeds got a new URL.
    """
    moment = now()
    APIToken.objects.active().filter(workspace=workspace, user=user).update(revoked=moment)
    renewed = 0
    for feed in CalendarFeed.objects.active().select_for_update().filter(workspace=workspace):
        feed.revoked = moment
        feed.save(update_fields=["revoked"])
        CalendarFeed.objects.create(workspace=workspace, channel=feed.channel, created_by=feed.created_by)
        renewed += 1
    return renewed


def on_member_left(sender, *, workspace, user, **kwargs) -> str | None:
    """workspaces.signals.member_left: close the member's doors, and say so when feed URLs changed."""
    if revoke_departed_member(workspace=workspace, user=user):
        return (
            "The workspace's calendar feeds have new URLs, so the removed member's copies no longer work: "
            "members subscribed in a calendar app copy the new URL from the Calendar feeds page."
        )
    return None
