"""Channels: list, connect (each network by its own credentials), queue and schedule."""

import zoneinfo
from uuid import UUID

from django.utils.timezone import now
from ninja import Router, Status
from ninja.decorators import decorate_view

from api.auth import require
from api.errors import ApiError
from api.idempotency import OPENAPI as IDEMPOTENCY_DOC
from api.idempotency import idempotent
from api.present import channel_out
from api.schemas import (
    ERRORS,
    POST_ERRORS,
    ChannelConnectIn,
    ChannelOut,
    QueueMoveIn,
    QueueOut,
    ScheduleIn,
    ScheduleOut,
)
from channels import networks
from channels.deadline import web_deadline
from channels.models import Channel
from channels.networks.base import ConnectError
from posts import scheduling
from posts.models import Delivery, PostingSlot, excerpt
from workspaces.access import get_for_workspace
from workspaces.models import Perm

router = Router(tags=["channels"])


def _channel(request, code: UUID) -> Channel:
    return get_for_workspace(Channel.objects.select_related("workspace"), request.auth.workspace, code=code)


@router.get("/channels", response={200: list[ChannelOut], **ERRORS}, summary="List channels")
def list_channels(request):
    channels = Channel.objects.filter(workspace=request.auth.workspace).select_related("workspace")
    return [channel_out(c) for c in channels.order_by("network", "handle")]


@router.get("/channels/{code}", response={200: ChannelOut, **ERRORS}, summary="Get a channel")
def get_channel(request, code: UUID):
    return channel_out(_channel(request, code))


def _connect(payload):
    return networks.spec(payload.network).api_connect(payload)


@router.post(
    "/channels",
    response={200: ChannelOut, 201: ChannelOut, **POST_ERRORS},
    summary="Connect a channel",
    description=" ".join(spec.api_connect_help for spec in networks.specs())
    + " Connecting an account that is already a channel reconnects it (200) instead of adding it (201).",
    openapi_extra=IDEMPOTENCY_DOC,
)
@decorate_view(idempotent(atomic=False))
def connect_channel(request, payload: ChannelConnectIn):
    require(request, Perm.MANAGE_CHANNELS)
    try:
        with web_deadline():  # a request, like the dashboard's: answered before the web worker's timeout
            account = _connect(payload)
    except ConnectError as exc:
        raise ApiError(400, exc.message, {exc.field: [exc.message]} if exc.field else None) from None
    workspace = request.auth.workspace
    existed = Channel.objects.filter(
        workspace=workspace,
        network=account.network,
        server_url=account.server_url,
        remote_id=account.remote_id,
    ).exists()
    channel = Channel.objects.save_connected(workspace, account)
    channel.workspace = workspace
    return Status(200 if existed else 201, channel_out(channel))


def _slots_out(channel) -> list[dict]:
    slots = PostingSlot.objects.filter(channel=channel).order_by("weekday", "time")
    return [{"weekday": s.weekday, "time": s.time.strftime("%H:%M")} for s in slots]


@router.get("/channels/{code}/schedule", response={200: ScheduleOut, **ERRORS}, summary="Posting schedule")
def get_schedule(request, code: UUID):
    channel = _channel(request, code)
    return {"channel": channel.code, "timezone": channel.timezone_name, "slots": _slots_out(channel)}


@router.put(
    "/channels/{code}/schedule",
    response={200: ScheduleOut, **ERRORS},
    summary="Replace the posting schedule",
    description="Queued posts that are not yet published move to the new slots, keeping their order.",
)
def put_schedule(request, code: UUID, payload: ScheduleIn):
    require(request, Perm.MANAGE_CHANNELS)
    channel = _channel(request, code)
    if payload.timezone:
        if payload.timezone not in zoneinfo.available_timezones():
            raise ApiError(
                400,
                "Unknown time zone.",
                {"timezone": [f"{payload.timezone!r} is not a known IANA time zone, such as Europe/Berlin."]},
            )
    wanted = [(s.weekday, s.time.replace(second=0, microsecond=0, tzinfo=None)) for s in payload.slots]
    try:
        scheduling.change_schedule(channel, add=wanted, replace=True, timezone=payload.timezone)
    except scheduling.NoSlots:
        raise ApiError(
            400,
            "This channel has queued posts: keep at least one posting time, or reschedule those posts first.",
            {"slots": ["At least one posting time is needed while posts are queued."]},
        ) from None
    return {"channel": channel.code, "timezone": channel.timezone_name, "slots": _slots_out(channel)}


def _queue_out(channel) -> dict:
    queued = list(
        Delivery.objects.in_queue(channel)
        .select_related("post")
        .prefetch_related("post__parts")
        .only("code", "status", "scheduled_for", "post__code", "post__id")
    )
    items = []
    for position, delivery in enumerate(queued):
        parts = list(delivery.post.parts.all())
        first = parts[0].text if parts else ""
        items.append(
            {
                "position": position,
                "delivery": delivery.code,
                "post": delivery.post.code,
                "status": delivery.status,
                "scheduled_for": delivery.scheduled_for,
                "excerpt": excerpt(first),
            }
        )
    return {
        "channel": channel.code,
        "timezone": channel.timezone_name,
        "paused": channel.status == Channel.Status.PAUSED,
        "items": items,
        "next_free_slots": scheduling.next_free_slots(channel, 3, after=now()),
    }


@router.get("/channels/{code}/queue", response={200: QueueOut, **ERRORS}, summary="The channel's queue")
def get_queue(request, code: UUID):
    return _queue_out(_channel(request, code))


@router.post(
    "/channels/{code}/queue/move",
    response={200: QueueOut, **POST_ERRORS},
    summary="Move a queued post",
    description="The queue's times stay where they are; the post takes the position given (0 = next).",
    openapi_extra=IDEMPOTENCY_DOC,
)
@decorate_view(idempotent())
def move_in_queue(request, code: UUID, payload: QueueMoveIn):
    require(request, Perm.PUBLISH)
    channel = _channel(request, code)
    delivery = Delivery.objects.in_queue(channel).filter(code=payload.delivery).first()
    if delivery is None:
        raise ApiError(
            400, "That delivery is not in this channel's queue.", {"delivery": ["Not in the queue."]}
        )
    scheduling.move_in_queue(delivery, payload.position)
    return _queue_out(channel)
