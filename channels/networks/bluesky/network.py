"""Bluesky (any PDS): what shared code asks of the network."""

from channels.networks.netspec import NetworkSpec, Option, complete_link


class Bluesky(NetworkSpec):
    name = "bluesky"
    label = "Bluesky"
    adapter_path = "channels.networks.bluesky.adapter.BlueskyAdapter"
    connect_module = "channels.networks.bluesky.connect"
    options = (
        Option(
            "link_card",
            True,
            kind="bool",
            help="Bluesky: a card for the first link when there are no images",
        ),
    )

    def card_url(self, text: str, index: int, options: dict) -> str:
        # Bluesky does not unfurl links: the card is ours to attach, and only when asked for.
        return complete_link(text) if options.get("link_card") else ""

    def api_connect_schema(self):
        from typing import Literal

        from pydantic import BaseModel, ConfigDict, Field

        from channels.networks.fields import text

        class BlueskyConnectIn(BaseModel):
            model_config = ConfigDict(extra="forbid")
            network: Literal["bluesky"]
            handle: text(253, 1)
            app_password: text(100, 1)
            pds_url: text(500) | None = Field(
                None, description="The account's PDS; the default server if omitted."
            )

        return BlueskyConnectIn

    api_connect_help = "Bluesky: handle, app password and PDS URL."

    def api_connect(self, payload):
        from channels.networks.bluesky.connecting import connect

        return connect(payload.handle, payload.app_password, payload.pds_url)


SPEC = Bluesky()
