"""Misskey and its forks (Sharkey, Firefish, Iceshrimp, CherryPick): what shared code asks of the network."""

from channels.networks.netspec import NetworkSpec, Option

VISIBILITIES = (
    ("public", "Public"),
    ("home", "Home (not on public timelines)"),
    ("followers", "Followers only"),
)
VISIBILITY_ICONS = {"public": "🌐", "home": "🏠", "followers": "🔒"}


class Misskey(NetworkSpec):
    name = "misskey"
    label = "Misskey"
    adapter_path = "channels.networks.misskey.adapter.MisskeyAdapter"
    connect_module = "channels.networks.misskey.connect"
    shows_server = True
    options = (
        Option(
            "misskey_visibility",
            "public",
            kind="choice",
            choices=VISIBILITIES,
            help="Misskey: who can see the note",
            invalid="Choose who can see the note.",
        ),
        # Longer than Misskey's 100, so validation names the excess instead of the form cutting it off.
        Option("misskey_cw", "", max_length=1000, help="Misskey: content warning shown before the note"),
        Option("misskey_sensitive", False, kind="bool", help="Misskey: files marked sensitive"),
        Option("misskey_local_only", False, kind="bool", help="Misskey: only on the account's own server"),
    )
    api_connect_help = (
        "Misskey: server URL and an access token made in the account's settings (Settings > API), "
        "allowed to write notes, write to the drive and read the account."
    )

    def reconnect_query(self, channel) -> dict[str, str]:
        return {"server": channel.server_url}

    def preview_extras(self, options: dict) -> dict[str, str]:
        visibility = options.get("misskey_visibility", "")
        return {
            "visibility_icon": VISIBILITY_ICONS.get(visibility, ""),
            "visibility_label": dict(VISIBILITIES).get(visibility, ""),
        }

    def api_connect_schema(self):
        from typing import Literal

        from pydantic import BaseModel, ConfigDict, Field

        from channels.networks.fields import text

        class MisskeyConnectIn(BaseModel):
            model_config = ConfigDict(extra="forbid")
            network: Literal["misskey"]
            server_url: text(255, 1) = Field(description="e.g. misskey.io")
            access_token: text(500, 1)

        return MisskeyConnectIn

    def api_connect(self, payload):
        from channels.networks.misskey.connecting import connect_with_token

        return connect_with_token(payload.server_url, payload.access_token)


SPEC = Misskey()
