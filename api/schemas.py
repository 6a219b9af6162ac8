"""Request and response shapes. They are the OpenAPI schema too, so bounds here are documentation."""

from datetime import datetime
from datetime import time as Time
from typing import Annotated, Any, Literal, Union
from uuid import UUID

from ninja import Schema
from pydantic import ConfigDict, Field, create_model

from channels import networks
from channels.models import Channel
from channels.networks.fields import text
from posts.models import Delivery, Post

PartText = text(20_000)
Network = Literal[networks.NETWORKS]
Mode = Literal["now", "at", "queue", "draft"]
# The models' statuses (posts.states for a delivery's), so a new one cannot be left out here.
PostStatus = Literal[tuple(Post.Status.values)]
DeliveryStatus = Literal[tuple(Delivery.Status.values)]
ChannelStatus = Literal[tuple(Channel.Status.values)]


class In(Schema):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(Schema):
    error: str = Field(description="A sentence saying what went wrong.")
    fields: dict[str, list[str]] | None = Field(
        None, description="Reasons per field, e.g. {'parts.0.text': ['...'], 'channel:<code>': ['...']}."
    )


# --- workspace ---------------------------------------------------------------------------------


class WorkspaceOut(Schema):
    code: UUID
    name: str
    slug: str
    timezone: str


class MeOut(Schema):
    workspace: WorkspaceOut
    username: str
    role: str
    permissions: list[str]
    token_name: str
    rate_limit_per_minute: int


# --- channels ----------------------------------------------------------------------------------


class ChannelOut(Schema):
    code: UUID
    network: Network
    handle: str
    display_name: str
    avatar_url: str
    server_url: str = Field(description="The account's server; empty for networks on one server.")
    status: ChannelStatus
    timezone: str = Field(
        description="The zone its posting schedule is in (the channel's or the workspace's)."
    )
    last_error: str
    limits: dict[str, Any] = Field(description="The network's limits for this account, as last read.")
    token_expires: datetime | None
    created: datetime


# One shape per network, each from its package; the `network` field tells them apart.
ChannelConnectIn = Annotated[
    Union[tuple(spec.api_connect_schema() for spec in networks.specs())],  # noqa: UP007
    Field(discriminator="network"),
]


class SlotIn(In):
    weekday: int = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday")
    time: Time = Field(description="Local time in the channel's zone, HH:MM")


class SlotOut(Schema):
    weekday: int
    time: str


class ScheduleIn(In):
    slots: list[SlotIn] = Field(max_length=7 * 48)
    timezone: text(64) | None = Field(
        None, description="IANA zone for the schedule; '' for the workspace's; omit to keep the current one."
    )


class ScheduleOut(Schema):
    channel: UUID
    timezone: str
    slots: list[SlotOut]


class QueueItemOut(Schema):
    position: int
    delivery: UUID
    post: UUID
    status: DeliveryStatus
    scheduled_for: datetime
    excerpt: str


class QueueOut(Schema):
    channel: UUID
    timezone: str
    paused: bool
    items: list[QueueItemOut]
    next_free_slots: list[datetime]


class QueueMoveIn(In):
    delivery: UUID
    position: int = Field(ge=0, le=10_000, description="0 = the top of the queue")


# --- media -------------------------------------------------------------------------------------


class MediaForm(Schema):
    alt_text: text(1500) = Field("", description="Describes the image for people who cannot see it")


class MediaOut(Schema):
    code: UUID
    mime_type: str
    size: int
    width: int | None
    height: int | None
    alt_text: str
    created: datetime


# --- posts -------------------------------------------------------------------------------------


class MediaRefIn(In):
    code: UUID = Field(description="A code returned by POST /media")
    alt_text: text(1500) | None = Field(None, description="Replaces the image's alt text if given.")


class PartIn(In):
    text: PartText = ""
    media: list[MediaRefIn] = Field(default_factory=list, max_length=10)


def _option_field(option) -> tuple:
    """A network's post option (channels.networks.netspec.Option) as a field of OptionsIn."""
    if option.kind == "bool":
        kind = bool
    elif option.kind == "choice":
        kind = Literal[tuple(value for value, _label in option.choices)]
    else:
        kind = text(option.max_length)
    return kind, Field(option.default, description=option.help)


# `language`, then each network's own options as its package declares them.
OptionsIn = create_model(
    "OptionsIn",
    __base__=In,
    language=(text(10), Field("", description="ISO 639-1 code, e.g. 'en'")),
    **{option.name: _option_field(option) for spec in networks.specs() for option in spec.options},
)


Overrides = dict[UUID, Annotated[list[PartText | None], Field(max_length=50)]]


class PostIn(In):
    channels: list[UUID] = Field(max_length=100, description="Channel codes")
    parts: list[PartIn] = Field(min_length=1, max_length=50, description="More than one part is a thread")
    overrides: Overrides = Field(
        default_factory=dict, description="Channel code -> text per part (null keeps the part's text)"
    )
    options: OptionsIn = Field(default_factory=OptionsIn)
    mode: Mode = Field("draft", description="now · at (scheduled_at) · queue (next free slot) · draft")
    scheduled_at: datetime | None = Field(
        None,
        description="For mode 'at'. With an offset, or local time in `timezone` (default: the workspace's).",
    )
    timezone: text(64) | None = Field(None, description="IANA zone of a scheduled_at without offset")


class PostPatch(In):
    channels: list[UUID] | None = Field(None, max_length=100)
    parts: list[PartIn] | None = Field(None, min_length=1, max_length=50)
    overrides: Overrides | None = None
    options: OptionsIn | None = None
    mode: Mode | None = None
    scheduled_at: datetime | None = None
    timezone: text(64) | None = None


class AttemptOut(Schema):
    number: int
    started: datetime
    finished: datetime | None
    outcome: str
    message: str
    part: int | None


class DeliveryOut(Schema):
    code: UUID
    post: UUID
    channel: UUID
    network: Network
    status: DeliveryStatus
    scheduled_for: datetime | None
    in_queue: bool
    attempts: int
    next_attempt_at: datetime | None
    published_at: datetime | None
    remote_url: str = Field(description="The published post (the first part of a thread)")
    remote_urls: list[str] = Field(description="One per published part")
    last_error: str
    text_overrides: list[str | None]
    updated: datetime


class DeliveryDetailOut(DeliveryOut):
    attempt_log: list[AttemptOut]


class PartOut(Schema):
    index: int
    text: str
    media: list[MediaOut]


class PostOut(Schema):
    code: UUID
    status: PostStatus
    mode: Mode
    scheduled_at: datetime | None = Field(
        description="When its first delivery goes out (each delivery has its own scheduled_for)"
    )
    author: str | None
    approved_by: str | None
    created: datetime
    updated: datetime
    options: dict[str, Any]
    parts: list[PartOut]
    channels: list[UUID]
    deliveries: list[DeliveryOut]
    dashboard_url: str


class PostListOut(Schema):
    count: int
    next_offset: int | None
    items: list[PostOut]


class DeliveryListOut(Schema):
    count: int
    next_offset: int | None
    items: list[DeliveryOut]


# The error answers every authenticated operation may give.
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 429: ErrorOut}
# ... and those of a POST, which takes an Idempotency-Key.
POST_ERRORS = {**ERRORS, 409: ErrorOut, 413: ErrorOut, 422: ErrorOut}


# --- list filters (query strings) --------------------------------------------------------------


class Page(Schema):
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


class PostFilters(Page):
    status: list[PostStatus] | None = Field(None, description="One or more statuses")
    channel: UUID | None = Field(None, description="Posts with a delivery on this channel")
    after: datetime | None = Field(None, description="A delivery scheduled at or after this time")
    before: datetime | None = Field(None, description="A delivery scheduled before this time")


class DeliveryFilters(Page):
    status: list[DeliveryStatus] | None = Field(None, description="One or more statuses")
    channel: UUID | None = None
    post: UUID | None = None
    after: datetime | None = Field(None, description="Scheduled at or after this time")
    before: datetime | None = Field(None, description="Scheduled before this time")
