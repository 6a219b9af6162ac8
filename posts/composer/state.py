"""What the composer form holds: ComposerState, read from the submitted form, made for a new post or
from a saved one, and turned into the composing.Draft that posts.composing checks and saves."""

from __future__ import annotations

import uuid
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q
from django.http import QueryDict

from channels import networks
from channels.models import Channel, Network
from posts import composing
from posts.composer.choices import LANGUAGE_CODES, default_language, local_input, parse_local, zone
from posts.models import Media, Post

MAX_PARTS = 50
MAX_ALT_TEXT = 5000
NETWORK_ORDER = {value: index for index, value in enumerate(Network.values)}


@dataclass
class PartState:
    text: str = ""
    media: list[Media] = field(default_factory=list)
    overrides: dict[str, str] = field(default_factory=dict)  # channel code -> its own text


@dataclass
class ComposerState:
    parts: list[PartState]
    chosen: list[str]  # channel codes, in the page's order
    options: dict
    mode: str
    at: str = ""  # as typed: "2026-05-04T09:00"
    zone: str = ""
    numbering: bool = False
    notes: dict[str, list[str]] = field(default_factory=dict)  # "part:<n>" -> neutral remarks


def default_options(request) -> dict:
    return {"language": default_language(request), **networks.option_defaults()}


def workspace_channels(workspace) -> list[Channel]:
    """The workspace's channels in the page's order: by network, then by handle."""
    channels = list(Channel.objects.filter(workspace=workspace))
    for channel in channels:
        channel.workspace = workspace  # Channel.tz reads it; no query per channel
    channels.sort(key=lambda c: (NETWORK_ORDER.get(c.network, 99), c.handle.lower()))
    return channels


def read_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def read_index(value: str, bound: int) -> int | None:
    """A number posted by the page (a part's), if it is one below `bound`."""
    try:
        index = int(value)
    except (TypeError, ValueError):
        return None
    return index if 0 <= index < bound else None


def without_nul(data: QueryDict) -> QueryDict:
    """The form without NUL characters, which no one types and PostgreSQL refuses to store."""
    if not any("\x00" in value for _, values in data.lists() for value in values):
        return data
    clean = QueryDict(mutable=True)
    for key, values in data.lists():
        clean.setlist(key, [value.replace("\x00", "") for value in values])
    return clean


def _usable_media(workspace, codes: list[str], post: Post | None) -> dict[str, Media]:
    """Media of this workspace that this form may attach: fresh uploads, or the edited post's own.

    Codes of other workspaces' media, or of media attached to other posts, are ignored.
    """
    valid = [c for c in (read_uuid(code) for code in codes) if c]
    if not valid:
        return {}
    mine = Q(part=None) | Q(part__post=post) if post is not None else Q(part=None)
    found = Media.objects.filter(workspace=workspace, code__in=valid).filter(mine)
    return {str(m.code): m for m in found}


def read_state(request, by_code: dict[str, Channel], post: Post | None) -> tuple[ComposerState, dict]:
    """The composer as posted. Returns the state and errors about the form itself."""
    data = without_nul(request.POST)
    errors: dict[str, list[str]] = {}
    texts = data.getlist("part") or [""]
    if len(texts) > MAX_PARTS:  # only a form made elsewhere: the page stops adding parts there
        errors["text"] = [
            f"A thread has at most {MAX_PARTS} parts: the parts after part {MAX_PARTS} were left out."
        ]
    texts = texts[:MAX_PARTS]
    parts = [PartState(text=text) for text in texts]
    chosen_set = set(data.getlist("channels"))
    chosen = [code for code in by_code if code in chosen_set]
    for code in by_code:
        for index, part in enumerate(parts):
            value = data.get(f"override-{code}-{index}", "")
            if value.strip():
                part.overrides[code] = value
    _read_media(request.workspace, data, parts, post)

    options = {"language": data.get("language", "").strip().lower()}
    if options["language"] and options["language"] not in LANGUAGE_CODES:
        errors["language"] = ["Choose a language from the list."]
    for spec in networks.specs():
        for option in spec.options:
            options[option.name], problem = option.read(data)
            if problem:
                errors[option.name] = [problem]
    mode = data.get("mode", Post.Mode.QUEUE)
    if mode not in Post.Mode.values and not (mode == composing.KEEP and kept_times(post)):
        mode = Post.Mode.QUEUE
    zone_name = data.get("zone", "").strip()
    if not zone(zone_name):
        if zone_name and mode == Post.Mode.AT:
            errors["zone"] = ["Choose a time zone from the list."]
        zone_name = by_code[chosen[0]].timezone_name if chosen else request.workspace.timezone
    state = ComposerState(
        parts=parts,
        chosen=chosen,
        options=options,
        mode=mode,
        at=data.get("at", "").strip(),
        zone=zone_name,
        numbering=bool(data.get("numbering")),
    )
    return state, errors


def _read_media(workspace, data: QueryDict, parts: list[PartState], post: Post | None) -> None:
    """Each part's images as posted (each at most once), with the alt text typed for them."""
    media_codes = {index: data.getlist(f"media-{index}") for index in range(len(parts))}
    usable = _usable_media(workspace, [c for codes in media_codes.values() for c in codes], post)
    seen: set[str] = set()
    for index, codes in media_codes.items():
        for code in codes:
            media = usable.get(read_uuid(code) or "")
            if media is None or str(media.code) in seen:
                continue
            seen.add(str(media.code))
            alt = data.get(f"alt-{media.code}")
            if alt is not None:
                media.alt_text = alt.strip()[:MAX_ALT_TEXT]  # saved only with the post
            parts[index].media.append(media)


def initial_state(request, by_code: dict[str, Channel]) -> ComposerState:
    """A new post, prefilled from the calendar: ?at=<local ISO time>&channel=<code>&zone=<name>."""
    chosen = []
    wanted = read_uuid(request.GET.get("channel", "")) or ""
    if wanted in by_code and by_code[wanted].status != Channel.Status.NEEDS_RECONNECT:
        chosen = [wanted]
    zone_name = request.GET.get("zone", "")
    if not zone(zone_name):
        zone_name = by_code[chosen[0]].timezone_name if chosen else request.workspace.timezone
    at = ""
    mode = Post.Mode.QUEUE
    if request.GET.get("at"):
        instant = parse_local(request.GET["at"], zoneinfo.ZoneInfo(zone_name))
        if instant is not None:
            at = local_input(instant, zoneinfo.ZoneInfo(zone_name))
            mode = Post.Mode.AT
    return ComposerState(
        parts=[PartState()], chosen=chosen, options=default_options(request), mode=mode, at=at, zone=zone_name
    )


def state_from_post(request, post: Post, channels: list[Channel]) -> ComposerState:
    """A saved post as the composer shows it for an edit."""
    by_id = {c.pk: c for c in channels}
    parts = [
        PartState(text=part.text, media=list(part.media.all()))
        for part in post.parts.prefetch_related("media").order_by("index")
    ] or [PartState()]
    chosen_ids = set()
    for delivery in post.deliveries.all():
        channel = by_id.get(delivery.channel_id)
        if channel is None:
            continue
        chosen_ids.add(channel.pk)
        for index, text in enumerate(delivery.text_overrides or []):
            if text is not None and index < len(parts):
                parts[index].overrides[str(channel.code)] = text
    chosen = [str(c.code) for c in channels if c.pk in chosen_ids]
    first = next((c for c in channels if c.pk in chosen_ids), None)
    zone_name = first.timezone_name if first else request.workspace.timezone
    options = {**default_options(request), "language": ""}
    options.update({k: v for k, v in (post.options or {}).items() if k in options})
    # An edit keeps each delivery's own time (moved in the calendar or the queue) unless the user picks
    # another; "at a date and time" is offered with the earliest of them.
    kept = kept_times(post)
    fixed = [when for _, when, in_queue in kept if not in_queue]
    at = local_input(min(fixed), zoneinfo.ZoneInfo(zone_name)) if fixed else ""
    mode = composing.KEEP if kept else post.mode
    return ComposerState(parts=parts, chosen=chosen, options=options, mode=mode, at=at, zone=zone_name)


def kept_times(post: Post | None) -> list[tuple[Channel, datetime, bool]]:
    """(channel, time, in the queue) of each delivery an edit can keep at its time, in time order."""
    if post is None or post.mode == Post.Mode.DRAFT:
        return []
    deliveries = post.deliveries.filter(scheduled_for__isnull=False).select_related(
        "channel", "channel__workspace"
    )
    return [(d.channel, d.scheduled_for, d.in_queue) for d in deliveries.order_by("scheduled_for", "id")]


def to_draft(state: ComposerState, by_code: dict[str, Channel]) -> tuple[composing.Draft, dict]:
    """The Draft that posts.composing validates and saves, and errors about the typed time."""
    errors: dict[str, list[str]] = {}
    scheduled_at = None
    if state.mode == Post.Mode.AT:
        tz = zone(state.zone)
        if state.at and tz is not None:
            scheduled_at = parse_local(state.at, tz)
            if scheduled_at is None:
                errors["scheduled_at"] = ["Enter a date and time, such as 2026-05-04 09:00."]
    overrides = {}
    for code in state.chosen:
        texts = [part.overrides.get(code) for part in state.parts]
        if any(t is not None for t in texts):
            overrides[code] = texts
    draft = composing.Draft(
        parts=[part.text for part in state.parts],
        channels=[by_code[code] for code in state.chosen],
        mode=state.mode,
        scheduled_at=scheduled_at,
        options=dict(state.options),
        overrides=overrides,
        media={index: part.media for index, part in enumerate(state.parts) if part.media},
    )
    return draft, errors
