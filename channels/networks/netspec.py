"""What shared code may ask of a network, beyond publishing: one `NetworkSpec` per network package.

Each package under `channels/networks/<name>/` has a `network.py` whose `SPEC` subclasses this with
its label, its adapter, its connect views, its post options and the hooks below. Shared code (the
composer, previews, the API, periodic jobs) asks the spec and never names a network; the defaults
here are what a network that does nothing special gets.

Kept free of heavy imports: the settings module reads `settings_from_env` of every package, and the
adapter (with its network's client library) is imported only when first used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from typing import Any, ClassVar

_LINK = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
TRAILING = ".,;:!?)]}'\""


def complete_link(text: str) -> str:
    """The first link that is finished (followed by more text): half-typed addresses are not fetched."""
    for match in _LINK.finditer(text):
        if match.end() < len(text):
            return match.group().rstrip(TRAILING)
    return ""


@dataclass(frozen=True)
class Option:
    """One per-network option of a post, as the composer's form, the API and adapters know it.

    `kind` is "text", "bool", "choice" (one of `choices`) or "url" (an http(s) address or empty).
    """

    name: str
    default: Any
    kind: str = "text"
    choices: tuple[tuple[str, str], ...] = ()
    max_length: int = 1000
    help: str = ""  # the API's description of the field
    invalid: str = ""  # the sentence for a value that is not one of the choices / not an address

    def read(self, data) -> tuple[Any, str]:
        """The option's value from a submitted form (a QueryDict), and a sentence if it is wrong."""
        if self.kind == "bool":
            return bool(data.get(self.name)), ""
        value = data.get(self.name, self.default if self.kind == "choice" else "").strip()
        if self.kind == "choice" and value not in dict(self.choices):
            return self.default, self.invalid or "Choose one of the values offered."
        if self.kind == "url" and value and not re.match(r"https?://\S+\.\S+$", value, re.IGNORECASE):
            return value, self.invalid or "Enter a full web address starting with https://."
        return value[: self.max_length], ""


class NetworkSpec:
    """A network as shared code sees it. Subclass per network; override only what differs."""

    name: ClassVar[str]  # the value stored in Channel.network
    label: ClassVar[str]  # how people call it ("Mastodon")
    adapter_path: ClassVar[str]  # "channels.networks.<name>.adapter.<Class>"
    connect_module: ClassVar[str]  # a module with `urlpatterns` for the connect pages
    options: ClassVar[tuple[Option, ...]] = ()
    # The channel list shows "on <server>" (networks on many servers).
    shows_server: ClassVar[bool] = False
    # Whether refresh_credentials() below has anything to do (tokens that expire unless renewed).
    renews_credentials: ClassVar[bool] = False
    # The REST API's description of what connecting needs.
    api_connect_help: ClassVar[str] = ""

    # --- templates (under the package's templates/networks/<name>/) -----------------------------

    @property
    def connect_link_template(self) -> str:
        return f"networks/{self.name}/_connect_link.html"

    @property
    def preview_template(self) -> str:
        return f"networks/{self.name}/_preview.html"

    @property
    def stylesheet(self) -> str:
        """Its colour (`--net` on `.net-<name>`) and its preview's look, linked on every page."""
        return f"networks/{self.name}.css"

    @property
    def options_template(self) -> str:
        return f"networks/{self.name}/_options.html" if self.options else ""

    # --- publishing -------------------------------------------------------------------------------

    def adapter_class(self):
        module_name, _, class_name = self.adapter_path.rpartition(".")
        return getattr(import_module(module_name), class_name)

    def daily_posts(self, limits: dict) -> int | None:
        """How many posts the network takes from one account in 24 hours; None when it sets no quota."""
        return None

    # --- connecting -------------------------------------------------------------------------------

    def label_for(self, channel) -> str:
        """What to call the channel's server in messages and links ("View on …"): the network's label,
        or the server software's name where a network spans several (read at connect, in its limits)."""
        return self.label

    def reconnect_query(self, channel) -> dict[str, str]:
        """What the connect page is filled in with to reconnect `channel` (empty values are dropped)."""
        return {"server": channel.server_url, "handle": channel.handle.removeprefix("@")}

    def refresh_due(self, channel, now: datetime) -> bool:
        """Whether the periodic credentials refresh should renew this channel's tokens now."""
        return False

    def refresh_candidates(self, channels, now: datetime):
        """Narrow a queryset of this network's channels to those refresh_due() may accept."""
        return channels

    def refreshed(self, channel, credentials: dict[str, Any] | None) -> dict[str, Any]:
        """Fields of the channel to update after its adapter renewed its credentials."""
        return {}

    # --- the composer's preview -------------------------------------------------------------------

    def shown_link(self, url: str) -> str:
        """A link as the network displays it in a post."""
        return url

    def card_url(self, text: str, index: int, options: dict) -> str:
        """The link whose card the network would show under part `index` (posts without images)."""
        return complete_link(text)

    def preview_extras(self, options: dict) -> dict[str, str]:
        """Anything else the network's preview template shows around the post (e.g. who can see it)."""
        return {}

    # --- the REST API -----------------------------------------------------------------------------

    def api_connect_schema(self):
        """The pydantic model of POST /channels for this network (its `network` field a Literal)."""
        raise NotImplementedError

    def api_connect(self, payload):
        """Connect from the API's payload; returns a ConnectedAccount or raises ConnectError."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<NetworkSpec {self.name}>"
