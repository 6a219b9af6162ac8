"""The small interface every network adapter implements, its data types and its three error kinds.

Adapters are the only code that knows a network. They never touch the database or templates: they
receive plain data (an `Account` built from a Channel, a `PartRequest` built from a delivery) and
return plain results or raise one of the three errors below. Whatever an adapter must remember
between attempts (a Bluesky rkey, Threads container ids, a refreshed session) it hands to the
callbacks it was given, which the caller persists before the adapter goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

# --- errors ------------------------------------------------------------------------------------


class AdapterError(Exception):
    """Base of the three error kinds. `message` is a sentence a marketer can read, without secrets."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TransientError(AdapterError):
    """Try again later: network trouble, 5xx, rate limits. `retry_after` in seconds when known."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ContentRejected(AdapterError):
    """The network refused this post (too long, bad media...): retrying will not help."""


class AuthorizationLost(AdapterError):
    """The token was revoked or expired: the channel must be reconnected."""


class OutcomeUnknown(AdapterError):
    """An earlier attempt may or may not have published, and the network gives no way to tell.

    The delivery stops in "needs attention" rather than risking a duplicate.
    """


class ConnectError(Exception):
    """A connect flow failed: wrong password, unreachable server, not a Mastodon server...

    `message` is shown on the connect form next to the field named by `field` (or at the top).
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


# --- data in -----------------------------------------------------------------------------------


@dataclass
class Account:
    """What an adapter knows of one connected account (built from a Channel)."""

    network: str
    remote_id: str
    handle: str
    server_url: str
    credentials: dict[str, Any]
    limits: dict[str, Any] = field(default_factory=dict)
    # Called with the full new credentials whenever they change (refresh, new session).
    save_credentials: Callable[[dict[str, Any]], None] = lambda values: None
    # Re-read the stored credentials (another worker may have refreshed them meanwhile).
    load_credentials: Callable[[], dict[str, Any]] | None = None
    # Stable key for per-account locks (serialising Bluesky session use across workers).
    lock_key: str = ""


@dataclass
class MediaItem:
    path: str  # local file path readable by the worker
    mime_type: str
    alt_text: str = ""
    width: int | None = None
    height: int | None = None
    size: int = 0
    # A public, signed, expiring URL for networks that fetch media themselves (Threads); "" if none.
    public_url: str = ""


class PostOptions:
    """A post's options: `language` (ISO 639-1, e.g. "en") and each network's own, as its spec declares
    them (`NetworkSpec.options`). Read as attributes; one not given has its declared default. Adapters
    ignore what does not apply to them."""

    def __init__(self, **values: Any):
        unknown = set(values) - set(option_defaults())
        if unknown:
            raise TypeError(f"Not post options: {', '.join(sorted(unknown))}")
        self._values = values

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._values:
            return self._values[name]
        try:
            return option_defaults()[name]
        except KeyError:
            raise AttributeError(name) from None

    def __eq__(self, other) -> bool:
        return isinstance(other, PostOptions) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"PostOptions({self._values!r})"

    def as_dict(self) -> dict[str, Any]:
        return {**option_defaults(), **self._values}

    @classmethod
    def known(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Only the keys that are options (stored posts and API input may carry others)."""
        defaults = option_defaults()
        return {k: v for k, v in (values or {}).items() if k in defaults}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PostOptions:
        return cls(**cls.known(values))


def option_defaults() -> dict[str, Any]:
    """Every post option and its default: `language`, then each network's, in registry order."""
    from channels import networks

    return {"language": "", **networks.option_defaults()}


@dataclass
class PartContent:
    """One part of a post (a post of one part is not a thread) as the composer sees it."""

    text: str
    media: list[MediaItem] = field(default_factory=list)


@dataclass
class RemoteRef:
    """A published part on the network. Bluesky needs uri and cid to reply; others use id."""

    id: str
    url: str = ""
    uri: str = ""
    cid: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "url": self.url, "uri": self.uri, "cid": self.cid}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> RemoteRef:
        return cls(id=data["id"], url=data.get("url", ""), uri=data.get("uri", ""), cid=data.get("cid", ""))


@dataclass
class PartRequest:
    """Publish one part of a delivery.

    `key` is stable for this delivery part across every retry (Mastodon's Idempotency-Key is derived
    from it). `state` is what earlier attempts checkpointed; `checkpoint(state)` must be called with
    anything needed to detect an earlier success *before* the network call that could create the post,
    and the caller persists it before returning.
    """

    key: str
    index: int
    part: PartContent
    options: PostOptions
    reply_to: RemoteRef | None = None  # the previous part of the thread
    root: RemoteRef | None = None  # the first part of the thread
    state: dict[str, Any] = field(default_factory=dict)
    checkpoint: Callable[[dict[str, Any]], None] = lambda state: None


# --- data out ----------------------------------------------------------------------------------


@dataclass
class Problem:
    """A validation finding. `level` is "error" (cannot publish) or "warning" (can, but look)."""

    message: str
    level: str = "error"
    part: int | None = None  # index of the part it concerns, None for the whole post
    field: str = "text"  # text, media, options


@dataclass
class Usage:
    """The live counter of one part: characters (by the network's rules) used and allowed."""

    used: int
    limit: int
    unit: str = "characters"


@dataclass
class Validation:
    problems: list[Problem] = field(default_factory=list)
    usage: list[Usage] = field(default_factory=list)  # one per part

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class Metrics:
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    views: int | None = None


@dataclass
class RecentPost:
    """One of the account's own posts as the network lists it: enough for a person to recognise it."""

    ref: RemoteRef
    text: str
    created: datetime | None = None
    media_count: int = 0


@dataclass
class ConnectedAccount:
    """What a connect flow returns; the view turns it into a Channel."""

    network: str
    remote_id: str
    handle: str
    server_url: str
    credentials: dict[str, Any]
    display_name: str = ""
    avatar_url: str = ""
    limits: dict[str, Any] = field(default_factory=dict)
    token_expires: datetime | None = None


# --- the interface -----------------------------------------------------------------------------


class Adapter:
    """One network. Built for one account; reuse it for many publishes within one job or worker."""

    network: ClassVar[str]
    # Limits used when the account has none cached; validate() must not call the network.
    default_limits: ClassVar[dict[str, Any]] = {}

    def __init__(self, account: Account):
        self.account = account

    @property
    def limits(self) -> dict[str, Any]:
        return {**self.default_limits, **(self.account.limits or {})}

    def validate(self, parts: list[PartContent], options: PostOptions) -> Validation:
        """Offline check of a whole post (all parts) for this account, by the network's own rules."""
        raise NotImplementedError

    def counter(self, options: PostOptions) -> tuple[Callable[[str], int], int] | None:
        """A fast count of one part's text by the network's rules, and the limit for one part.

        Used to split a long text into a thread. None (the default) makes the splitter measure with
        validate(), which is slower but knows every rule.
        """
        return None

    def max_image_pixels(self) -> int | None:
        """The most pixels (width x height) an image may have on this account; None when unlimited."""
        return int(self.limits.get("max_image_pixels") or 0) or None

    def publish_part(self, request: PartRequest) -> RemoteRef:
        """Publish one part.

        When `request.state` holds what an earlier attempt checkpointed, the caller (the publishing
        engine) has already asked `find_published()` and found nothing: do not ask the network again.
        """
        raise NotImplementedError

    def find_published(self, request: PartRequest) -> RemoteRef | None:
        """Whether an earlier attempt of this part reached the network, without publishing.

        Used by the engine before retrying a part with checkpointed state (once per retry), and by
        the sweeper for deliveries left "publishing" by a dead worker. Raises OutcomeUnknown when the
        network gives no way to tell.
        """
        raise NotImplementedError

    def fetch_metrics(self, refs: list[RemoteRef]) -> dict[str, Metrics]:
        """Metrics keyed by RemoteRef.id; batched where the network allows."""
        raise NotImplementedError

    def refresh_credentials(self) -> dict[str, Any] | None:
        """Refresh tokens if the network needs it; returns new credentials (also saved) or None."""
        return None

    def read_limits(self) -> dict[str, Any]:
        """Read the account's limits from the network (e.g. Mastodon instance configuration)."""
        return dict(self.default_limits)

    def verify(self) -> ConnectedAccount:
        """Check the credentials still work and return fresh profile data."""
        raise NotImplementedError

    def recent_posts(self, since: datetime, until: datetime, limit: int = 20) -> list[RecentPost]:
        """The account's own posts created between `since` and `until`, newest first, at most `limit`.

        Shown when the outcome of an attempt is unknown, so a person can say which post (if any) is
        the one that went out. NotImplementedError when the network cannot list them.
        """
        raise NotImplementedError
