import json
import uuid
import zoneinfo

from django.db import models
from django.utils.timezone import now

from channels import networks
from channels.crypto import EncryptedTextField
from workspaces.models import Workspace, validate_timezone

# One member per network in the registry (Network.MASTODON == "mastodon"), labelled by its package.
Network = models.TextChoices(
    "Network", {spec.name.upper(): (spec.name, spec.label) for spec in networks.specs()}
)


class ChannelQuerySet(models.QuerySet):
    def save_connected(self, workspace, account) -> "Channel":
        """Create the channel for a freshly connected account, or reconnect the existing one.

        `account` is a channels.networks.base.ConnectedAccount. Reconnecting replaces the
        credentials (never with empty ones), clears the error and makes the channel active again.
        """
        if not account.credentials:
            raise ValueError("A connected account must come with credentials.")
        channel = self.filter(
            workspace=workspace,
            network=account.network,
            server_url=account.server_url,
            remote_id=account.remote_id,
        ).first()
        if channel is None:
            channel = Channel(
                workspace=workspace,
                network=account.network,
                server_url=account.server_url,
                remote_id=account.remote_id,
            )
        channel.handle = account.handle
        channel.display_name = account.display_name or channel.display_name
        channel.avatar_url = account.avatar_url or channel.avatar_url
        channel.set_credentials(account.credentials)
        channel.token_expires = account.token_expires
        if account.limits:
            channel.limits = account.limits
            channel.limits_read = now()
        was_lost = channel.status == Channel.Status.NEEDS_RECONNECT
        if was_lost or channel.pk is None:
            channel.status = Channel.Status.ACTIVE
        channel.last_error = ""
        channel.save()
        if was_lost:
            from posts import channel_auth  # here, not at the top: posts.models imports this module

            channel_auth.reconnected(channel)
        return channel


class Channel(models.Model):
    """One connected account on one network, owned by a workspace."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        PAUSED = "paused", "Paused"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="channels")
    network = models.CharField(max_length=20, choices=Network.choices)
    # The account's id on its network: Mastodon account id, Bluesky DID, Threads user id.
    remote_id = models.CharField(max_length=255)
    handle = models.CharField(max_length=255)
    display_name = models.CharField(max_length=255, blank=True)
    avatar_url = models.URLField(max_length=1000, blank=True)
    # Mastodon instance or Bluesky PDS base URL; empty for Threads (settings.THREADS_GRAPH_URL).
    server_url = models.URLField(max_length=500, blank=True)
    # JSON, encrypted: access tokens, Bluesky app password and session, Threads token.
    credentials = EncryptedTextField(blank=True, default="")
    token_expires = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
    # The network's limits as read from the server (Mastodon instance configuration etc.).
    limits = models.JSONField(default=dict, blank=True)
    limits_read = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # After a rate limit: the dispatcher hands out nothing for this channel before this time.
    rate_limited_until = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=now)
    updated = models.DateTimeField(auto_now=True)

    objects = ChannelQuerySet.as_manager()

    class Meta:
        ordering = ["network", "handle"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "network", "server_url", "remote_id"], name="channel_unique_account"
            ),
            models.CheckConstraint(
                condition=models.Q(network__in=Network.values), name="channel_network_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.network_label} {self.handle}"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone or self.workspace.timezone)

    @property
    def timezone_name(self) -> str:
        return self.timezone or self.workspace.timezone

    def get_credentials(self) -> dict:
        return json.loads(self.credentials) if self.credentials else {}

    def set_credentials(self, values: dict) -> None:
        self.credentials = json.dumps(values)

    @property
    def spec(self):
        """Its network's NetworkSpec (label, options, hooks)."""
        return networks.spec(self.network)

    @property
    def network_label(self) -> str:
        """The network or server software it is on, for messages and links ("View on GoToSocial")."""
        return self.spec.label_for(self)

    def adapter(self):
        """The network adapter for this channel, wired to persist refreshed credentials."""
        from channels.networks import adapter_for

        return adapter_for(self)

    def save_credentials(self, values: dict) -> None:
        """Persist refreshed credentials at once (Bluesky sessions rotate their refresh token)."""
        if not values:
            return  # never blank a stored token
        self.set_credentials(values)
        Channel.objects.filter(pk=self.pk).update(credentials=self.credentials, updated=now())

    def load_credentials(self) -> dict:
        """The credentials as stored now (fresher than this instance's copy)."""
        stored = Channel.objects.filter(pk=self.pk).values_list("credentials", flat=True).first()
        return json.loads(stored) if stored else {}

    def reconnect_url(self) -> str:
        """The connect page of its network, filled in for this account (sign in again or a new token)."""
        from urllib.parse import urlencode

        from django.urls import reverse

        url = reverse(f"channels:connect-{self.network}", kwargs={"slug": self.workspace.slug})
        query = urlencode({k: v for k, v in self.spec.reconnect_query(self).items() if v})
        return f"{url}?{query}" if query else url

    def mark_needs_reconnect(self, reason: str) -> bool:
        """Returns True if this call changed the status (so the caller notifies once)."""
        changed = (
            Channel.objects.filter(pk=self.pk)
            .exclude(status=Channel.Status.NEEDS_RECONNECT)
            .update(status=Channel.Status.NEEDS_RECONNECT, last_error=reason[:500], updated=now())
        )
        self.status = Channel.Status.NEEDS_RECONNECT
        self.last_error = reason[:500]
        return bool(changed)


class ServerApp(models.Model):
    """The OAuth app registered on one server of a network, kept and reused for every connect."""

    network = models.CharField(max_length=20, choices=Network.choices)
    domain = models.CharField(max_length=255)
    base_url = models.URLField(max_length=500)
    redirect_uri = models.URLField(max_length=500)
    client_id = models.CharField(max_length=255)
    client_secret = EncryptedTextField()
    created = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["network", "domain", "redirect_uri"], name="serverapp_unique_domain"
            ),
        ]

    def __str__(self) -> str:
        return self.domain
