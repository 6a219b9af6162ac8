"""Mastodon, and every server that speaks its API: what shared code asks of the network."""

import re

from channels.networks.mastodon.profiles import profile_for
from channels.networks.netspec import NetworkSpec, Option

VISIBILITIES = (
    ("public", "Public"),
    ("unlisted", "Quiet public (unlisted)"),
    ("private", "Followers only"),
    ("direct", "Mentioned people only"),
)
VISIBILITY_ICONS = {"public": "🌐", "unlisted": "🔓", "private": "🔒", "direct": "✉"}


class Mastodon(NetworkSpec):
    name = "mastodon"
    label = "Mastodon"
    adapter_path = "channels.networks.mastodon.adapter.MastodonAdapter"
    connect_module = "channels.networks.mastodon.connect"
    shows_server = True
    options = (
        Option("content_warning", "", max_length=1000, help="Mastodon: shown before the post (spoiler text)"),
        Option(
            "visibility",
            "public",
            kind="choice",
            choices=VISIBILITIES,
            help="Mastodon: who can see the post",
            invalid="Choose who can see the post.",
        ),
        Option("sensitive", False, kind="bool", help="Mastodon: media marked sensitive"),
    )

    def label_for(self, channel) -> str:
        # The server software read at connect ("GoToSocial", "Akkoma"); Mastodon when not recognised.
        return profile_for(channel.limits or {}).label

    def reconnect_query(self, channel) -> dict[str, str]:
        # A new sign-in on the same server; the server's own page asks who.
        return {"server": channel.server_url}

    def shown_link(self, url: str) -> str:
        # Mastodon shows links without the scheme, cut after 30 characters.
        bare = re.sub(r"^https?://(www\.)?", "", url, flags=re.IGNORECASE)
        return bare if len(bare) <= 30 else bare[:30] + "…"

    def preview_extras(self, options: dict) -> dict[str, str]:
        visibility = options.get("visibility", "")
        return {
            "visibility_icon": VISIBILITY_ICONS.get(visibility, ""),
            "visibility_label": dict(VISIBILITIES).get(visibility, ""),
        }

    def api_connect_schema(self):
        from typing import Literal

        from pydantic import BaseModel, ConfigDict, Field

        from channels.networks.fields import text

        class MastodonConnectIn(BaseModel):
            model_config = ConfigDict(extra="forbid")
            network: Literal["mastodon"]
            instance_url: text(255, 1) = Field(description="e.g. mastodon.social")
            access_token: text(500, 1)

        return MastodonConnectIn

    api_connect_help = (
        "Mastodon: instance URL and an access token made in the account's settings "
        "(Preferences > Development)."
    )

    def api_connect(self, payload):
        from channels.networks.mastodon.connecting import connect_with_token

        return connect_with_token(payload.instance_url, payload.access_token)


SPEC = Mastodon()
