"""Posts: create, list, get, update while not published, delete. All through posts.composing."""

import functools
import zoneinfo
from datetime import UTC, datetime
from uuid import UUID

from django.db import transaction
from django.db.models import Exists, OuterRef
from ninja import Query, Router, Status
from ninja.decorators import decorate_view

from api.auth import require
from api.errors import ApiError
from api.idempotency import OPENAPI as IDEMPOTENCY_DOC
from api.idempotency import idempotent
from api.present import POST_PREFETCH, POST_RELATED, post_out
from api.schemas import ERRORS, POST_ERRORS, ErrorOut, PostFilters, PostIn, PostListOut, PostOut, PostPatch
from channels.models import Channel
from posts import composing, scheduling
from posts.models import Delivery, Media, Post
from workspaces.access import get_for_workspace
from workspaces.models import Perm

router = Router(tags=["posts"])

# Times outside these years are typos (or attempts to overflow date arithmetic). A post's time must
# also be within scheduling's range (from 2000 to five years ahead), as everywhere else.
FIRST_YEAR, LAST_YEAR = scheduling.EARLIEST.year, 2100


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_year(value: datetime | None, field: str) -> None:
    if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ApiError(
            400,
            "That date is out of range.",
            {field: [f"Choose a date between {FIRST_YEAR} and {LAST_YEAR}."]},
        )


def to_utc(value: datetime | None, zone_name: str | None, workspace, field: str) -> datetime | None:
    """Aware times as given; naive ones are local times in `zone_name` (default: the workspace's)."""
    if value is None:
        return None
    check_year(value, field)
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    if zone_name and zone_name not in _zones():
        raise ApiError(
            400,
            "Unknown time zone.",
            {"timezone": [f"{zone_name!r} is not an IANA zone such as Europe/Berlin."]},
        )
    tz = zoneinfo.ZoneInfo(zone_name) if zone_name else workspace.tz
    return scheduling.local_to_utc(value, tz)


def _posts(workspace):
    return (
        Post.objects.filter(workspace=workspace)
        .select_related(*POST_RELATED)
        .prefetch_related(*POST_PREFETCH)
    )


def _load(request, code) -> Post:
    return get_for_workspace(_posts(request.auth.workspace), request.auth.workspace, code=code)


def _draft(request, data: dict, post: Post | None = None) -> tuple[composing.Draft, list[Media]]:
    """The composer's Draft from API data, with unknown codes refused field by field."""
    workspace = request.auth.workspace
    errors: dict[str, list[str]] = {}
    codes = list(dict.fromkeys(data["channels"]))
    found = {
        c.code: c
        for c in Channel.objects.filter(workspace=workspace, code__in=codes).select_related("workspace")
    }
    for code in codes:
        if code not in found:
            errors.setdefault("channels", []).append(f"There is no channel {code} in this workspace.")
    channels = [found[code] for code in codes if code in found]

    parts = data["parts"]
    wanted = [ref["code"] for part in parts for ref in part["media"]]
    uploads = {
        m.code: m for m in Media.objects.filter(workspace=workspace, code__in=wanted).select_related("part")
    }
    media: dict[int, list[Media]] = {}
    seen = set()
    for index, part in enumerate(parts):
        for position, ref in enumerate(part["media"]):
            field = f"parts.{index}.media.{position}"
            item = uploads.get(ref["code"])
            if item is None:
                errors.setdefault(field, []).append(
                    "There is no such image in this workspace: upload it with POST /api/v1/media first."
                )
                continue
            if ref["code"] in seen:
                errors.setdefault(field, []).append("This image is attached twice.")
                continue
            seen.add(ref["code"])
            if item.part_id is not None and (post is None or item.part.post_id != post.pk):
                errors.setdefault(field, []).append(
                    "This image belongs to another post: upload it again to use it here."
                )
                continue
            if ref.get("alt_text") is not None:
                item.alt_text = ref["alt_text"]
            media.setdefault(index, []).append(item)

    overrides: dict[str, list[str | None]] = {}
    for code, texts in (data.get("overrides") or {}).items():
        field = f"overrides.{code}"
        if code not in codes:
            errors.setdefault(field, []).append("This channel is not one of the post's channels.")
        elif len(texts) > len(parts):
            errors.setdefault(field, []).append("There are more texts here than the post has parts.")
        else:
            overrides[str(code)] = list(texts)

    scheduled_at = None
    if data["mode"] == Post.Mode.AT:
        scheduled_at = to_utc(data.get("scheduled_at"), data.get("timezone"), workspace, "scheduled_at")
        if scheduled_at and not scheduling.in_range(scheduled_at):
            errors.setdefault("scheduled_at", []).append(scheduling.out_of_range_message())
    if errors:
        raise composing.PostInvalid(errors)
    draft = composing.Draft(
        parts=[part["text"] for part in parts],
        channels=channels,
        mode=data["mode"],
        scheduled_at=scheduled_at,
        options=dict(data.get("options") or {}),
        overrides=overrides,
        media=media,
    )
    return draft, [item for items in media.values() for item in items]


def _save(request, draft, media, post=None) -> Post:
    with transaction.atomic():
        post = composing.compose(
            workspace=request.auth.workspace, membership=request.auth.membership, draft=draft, post=post
        )
        for item in media:
            Media.objects.filter(pk=item.pk).update(alt_text=item.alt_text)
    return post


def _not_busy(post: Post) -> None:
    if any(d.is_busy for d in post.deliveries.all()):
        raise ApiError(409, "This post is being published or was published: it can't be changed.")


@router.post(
    "/posts",
    response={201: PostOut, **POST_ERRORS},
    summary="Create a post",
    description=(
        "Validated for every channel by the network's own rules, like the composer. `mode`: now, at "
        "(with scheduled_at), queue (the channel's next free posting slot) or draft. Posts by "
        "contributors (or by editors when the workspace requires approval) wait for approval."
    ),
    openapi_extra=IDEMPOTENCY_DOC,
)
@decorate_view(idempotent())
def create_post(request, payload: PostIn):
    require(request, Perm.COMPOSE)
    draft, media = _draft(request, payload.model_dump())
    post = _save(request, draft, media)
    return Status(201, post_out(_load(request, post.code)))


@router.get("/posts", response={200: PostListOut, **ERRORS}, summary="List posts")
def list_posts(request, filters: Query[PostFilters]):
    status, channel, after, before = filters.status, filters.channel, filters.after, filters.before
    limit, offset = filters.limit, filters.offset
    workspace = request.auth.workspace
    posts = _posts(workspace)
    if status:
        posts = posts.filter(status__in=status)
    deliveries = Delivery.objects.filter(post=OuterRef("pk"))
    if channel is not None:
        if not Channel.objects.filter(workspace=workspace, code=channel).exists():
            raise ApiError(
                400, "Unknown channel.", {"channel": ["There is no such channel in this workspace."]}
            )
        deliveries = deliveries.filter(channel__code=channel)
    if after is not None:
        deliveries = deliveries.filter(scheduled_for__gte=to_utc(after, "UTC", workspace, "after"))
    if before is not None:
        deliveries = deliveries.filter(scheduled_for__lt=to_utc(before, "UTC", workspace, "before"))
    if channel is not None or after is not None or before is not None:
        posts = posts.filter(Exists(deliveries))
    count = posts.count()
    items = list(posts.order_by("-created", "-id")[offset : offset + limit])
    return {
        "count": count,
        "next_offset": offset + limit if offset + limit < count else None,
        "items": [post_out(p) for p in items],
    }


@router.get("/posts/{code}", response={200: PostOut, **ERRORS}, summary="Get a post")
def get_post(request, code: UUID):
    return post_out(_load(request, code))


def _current(post: Post) -> dict:
    deliveries = list(post.deliveries.all())
    return {
        "channels": [d.channel.code for d in deliveries],
        "parts": [
            {"text": p.text, "media": [{"code": m.code, "alt_text": None} for m in p.media.all()]}
            for p in post.parts.all()
        ],
        "overrides": {d.channel.code: list(d.text_overrides) for d in deliveries if d.text_overrides},
        "options": post.options or {},
        # Left out of a change, the post keeps each delivery's own time (moved in the calendar or queue).
        "mode": composing.KEEP
        if post.mode != Post.Mode.DRAFT and any(d.scheduled_for for d in deliveries)
        else post.mode,
        "scheduled_at": None,
        "timezone": None,
    }


@router.patch(
    "/posts/{code}",
    response={200: PostOut, **ERRORS, 409: ErrorOut},
    summary="Change a post",
    description=(
        "Fields left out keep their values (`options` and `parts` are replaced whole when given). "
        "Without `mode`, each delivery keeps its own time (as moved in the calendar or queue) and its "
        "code, attempts and published parts; a channel added gets a new delivery. Giving `mode` "
        "reschedules every delivery (or unschedules the post, with draft). Refused once any delivery "
        "is being published or published."
    ),
)
def update_post(request, code: UUID, payload: PostPatch):
    require(request, Perm.COMPOSE)
    post = _load(request, code)
    if not post.may_change(request.auth.membership):
        raise ApiError(403, "You can change your own posts; an editor can change this one.")
    _not_busy(post)
    given = payload.model_dump()  # nested defaults filled in (a part without media has media [])
    changes = {k: given[k] for k in payload.model_fields_set if given[k] is not None or k == "scheduled_at"}
    data = {**_current(post), **changes}
    if "parts" in changes and "overrides" not in changes:
        data["overrides"] = {c: texts[: len(data["parts"])] for c, texts in data["overrides"].items()}
    if "channels" in changes and "overrides" not in changes:
        data["overrides"] = {c: t for c, t in data["overrides"].items() if c in data["channels"]}
    draft, media = _draft(request, data, post=post)
    _save(request, draft, media, post=post)
    return post_out(_load(request, code))


@router.delete(
    "/posts/{code}",
    response={204: None, **ERRORS, 409: ErrorOut},
    summary="Delete a post",
    description=(
        "Editors and up delete any post; contributors their own drafts and posts waiting for approval, "
        "as in the dashboard. Refused once a delivery is out or going out."
    ),
)
def delete_post(request, code: UUID):
    require(request, Perm.COMPOSE)
    post = _load(request, code)
    if not post.may_delete(request.auth.membership):
        raise ApiError(403, "You can delete your own drafts and posts waiting for approval; ask an editor.")
    _not_busy(post)
    try:
        composing.delete_post_if_unsent(post)
    except composing.PostInvalid as exc:
        raise ApiError(409, str(exc)) from None
    return Status(204, None)
