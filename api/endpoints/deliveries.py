"""Deliveries (one post on one channel): status, attempts, remote URLs, errors; retry."""

from uuid import UUID

from django.db.models import Prefetch
from ninja import Query, Router
from ninja.decorators import decorate_view

from api.auth import require
from api.endpoints.posts import to_utc
from api.errors import ApiError
from api.idempotency import OPENAPI as IDEMPOTENCY_DOC
from api.idempotency import idempotent
from api.present import delivery_detail_out, delivery_out
from api.schemas import (
    ERRORS,
    POST_ERRORS,
    DeliveryDetailOut,
    DeliveryFilters,
    DeliveryListOut,
    DeliveryOut,
)
from channels.models import Channel
from posts import composing
from posts.models import Delivery, DeliveryAttempt
from workspaces.access import get_for_workspace
from workspaces.models import Perm

router = Router(tags=["deliveries"])


def _deliveries(workspace):
    return Delivery.objects.for_workspace(workspace).select_related("channel", "post")


def _load(request, code) -> Delivery:
    queryset = _deliveries(request.auth.workspace).prefetch_related(
        Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("started", "id"))
    )
    return get_for_workspace(queryset, request.auth.workspace, code=code)


@router.get("/deliveries", response={200: DeliveryListOut, **ERRORS}, summary="List deliveries")
def list_deliveries(request, filters: Query[DeliveryFilters]):
    status, channel, post = filters.status, filters.channel, filters.post
    after, before, limit, offset = filters.after, filters.before, filters.limit, filters.offset
    workspace = request.auth.workspace
    deliveries = _deliveries(workspace)
    if status:
        deliveries = deliveries.filter(status__in=status)
    if channel is not None:
        if not Channel.objects.filter(workspace=workspace, code=channel).exists():
            raise ApiError(
                400, "Unknown channel.", {"channel": ["There is no such channel in this workspace."]}
            )
        deliveries = deliveries.filter(channel__code=channel)
    if post is not None:
        deliveries = deliveries.filter(post__code=post)
    if after is not None:
        deliveries = deliveries.filter(scheduled_for__gte=to_utc(after, "UTC", workspace, "after"))
    if before is not None:
        deliveries = deliveries.filter(scheduled_for__lt=to_utc(before, "UTC", workspace, "before"))
    count = deliveries.count()
    items = deliveries.order_by("scheduled_for", "id")[offset : offset + limit]
    return {
        "count": count,
        "next_offset": offset + limit if offset + limit < count else None,
        "items": [delivery_out(d) for d in items],
    }


@router.get(
    "/deliveries/{code}",
    response={200: DeliveryDetailOut, **ERRORS},
    summary="Get a delivery and its attempts",
)
def get_delivery(request, code: UUID):
    return delivery_detail_out(_load(request, code))


@router.post(
    "/deliveries/{code}/retry",
    response={200: DeliveryOut, **POST_ERRORS},
    summary="Retry a failed delivery",
    description="A failed, held or needs-attention delivery goes out again now.",
    openapi_extra=IDEMPOTENCY_DOC,
)
@decorate_view(idempotent())
def retry_delivery(request, code: UUID):
    require(request, Perm.PUBLISH)
    delivery = _load(request, code)
    try:
        composing.retry(delivery)
    except composing.PostInvalid as exc:
        raise ApiError(409, str(exc), exc.errors) from None
    return delivery_out(_load(request, code))
