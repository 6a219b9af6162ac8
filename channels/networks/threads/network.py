"""Threads (Meta's Graph API): what shared code asks of the network."""

from datetime import datetime, timedelta

from channels.networks.netspec import NetworkSpec, Option

# Meta allows 250 published posts per profile in any 24 hours (the account's own figure when read).
DAILY_POSTS = 250
# Long-lived tokens last 60 days; renew them a week before, and Meta renews one only once it is a
# day old.
REFRESH_BEFORE = timedelta(days=7)
MIN_TOKEN_AGE = timedelta(hours=24)
REPLY_CONTROLS = (
    ("", "Account default"),
    ("everyone", "Everyone"),
    ("accounts_you_follow", "Accounts you follow"),
    ("mentioned_only", "Mentioned accounts only"),
)


class Threads(NetworkSpec):
    name = "threads"
    label = "Threads"
    adapter_path = "channels.networks.threads.adapter.ThreadsAdapter"
    connect_module = "channels.networks.threads.connect"
    renews_credentials = True
    options = (
        Option("topic_tag", "", max_length=100, help="Threads: the post's topic tag"),
        Option("link_attachment", "", kind="url", max_length=2000, help="Threads: URL for the link preview"),
        Option(
            "reply_control",
            "",
            kind="choice",
            choices=REPLY_CONTROLS,
            help="Threads: who can reply",
            invalid="Choose who can reply.",
        ),
    )

    def daily_posts(self, limits: dict) -> int | None:
        return int((limits or {}).get("daily_posts") or DAILY_POSTS)

    def reconnect_query(self, channel) -> dict[str, str]:
        return {}  # Meta's sign-in asks for everything

    def card_url(self, text: str, index: int, options: dict) -> str:
        # Threads shows a card only for the link attached to the first post.
        return options.get("link_attachment", "") if index == 0 else ""

    # --- tokens ---------------------------------------------------------------------------------

    def refresh_candidates(self, channels, now: datetime):
        from django.db.models import Q

        return channels.filter(Q(token_expires__lte=now + REFRESH_BEFORE) | Q(token_expires=None))

    def refresh_due(self, channel, now: datetime) -> bool:
        """Expiring within a week, or of unknown expiry (a pasted token) and more than a day old."""
        if channel.token_expires is not None:
            return channel.token_expires <= now + REFRESH_BEFORE
        obtained = channel.get_credentials().get("obtained_at", "")
        try:
            obtained_at = datetime.fromisoformat(obtained) if obtained else None
        except ValueError:
            obtained_at = None
        return obtained_at is None or obtained_at <= now - MIN_TOKEN_AGE

    def refreshed(self, channel, credentials) -> dict:
        from django.utils import timezone

        expires_in = int((credentials or {}).get("expires_in") or 0)
        # From the real clock: the refresh run may be for a simulated day, the new token's life
        # starts today.
        return {"token_expires": timezone.now() + timedelta(seconds=expires_in) if expires_in else None}

    # --- the REST API ---------------------------------------------------------------------------

    def api_connect_schema(self):
        from typing import Literal

        from pydantic import BaseModel, ConfigDict, Field

        from channels.networks.fields import text

        class ThreadsConnectIn(BaseModel):
            model_config = ConfigDict(extra="forbid")
            network: Literal["threads"]
            access_token: text(1000, 1) = Field(description="A long-lived Threads access token.")

        return ThreadsConnectIn

    api_connect_help = "Threads: a long-lived access token."

    def api_connect(self, payload):
        from channels.networks.threads.connecting import connect_with_token

        return connect_with_token(payload.access_token)


SPEC = Threads()
