"""The composer: write once for many channels, see each network's verdict as you type, then schedule.

One form serves new posts and edits. Everything it shows is rebuilt from what was posted (parts,
per-channel texts, options, chosen channels, uploaded media and their alt text), never from the
session, so an invalid submit, a new part, a split or an upload without JavaScript loses nothing that
was typed. Posts are written only through posts.composing; the live checks call its validate(), which
asks each channel's adapter offline, so the counters and the final refusal can never disagree.

Buttons in the form carry name="action": without JavaScript they submit the whole form to the page,
which applies the action and renders the page again; with htmx the same buttons post to the same
views (or to the split endpoint) and get back just the parts of the page that changed.
"""

from __future__ import annotations

import hashlib
import re
import uuid
import zoneinfo
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cache, lru_cache
from pathlib import PurePath

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache as django_cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html, format_html_join
from django.utils.timezone import now
from django.utils.translation.trans_real import parse_accept_lang_header
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from channels.adapters.base import Problem
from channels.adapters.linkcard import fetch_preview
from channels.http import FetchError, UnsafeURL
from channels.models import Channel, Network
from posts import composing, previews
from posts.media import UploadRefused, max_upload_bytes, max_upload_pixels, store_upload
from posts.models import Delivery, Media, Post
from posts.previews import VISIBILITIES
from posts.scheduling import local_to_utc
from posts.threading import network_counter, split_for
from workspaces.access import get_for_workspace, workspace_view
from workspaces.forms import timezone_choices
from workspaces.models import Perm

MB = 1024 * 1024
MAX_PARTS = 50
MAX_ALT_TEXT = 5000
LINK_CARD_CACHE_SECONDS = 600
LANGUAGES = [
    ("ar", "Arabic"),
    ("bg", "Bulgarian"),
    ("bn", "Bengali"),
    ("ca", "Catalan"),
    ("cs", "Czech"),
    ("cy", "Welsh"),
    ("da", "Danish"),
    ("de", "German"),
    ("el", "Greek"),
    ("en", "English"),
    ("eo", "Esperanto"),
    ("es", "Spanish"),
    ("et", "Estonian"),
    ("eu", "Basque"),
    ("fa", "Persian"),
    ("fi", "Finnish"),
    ("fr", "French"),
    ("ga", "Irish"),
    ("gl", "Galician"),
    ("he", "Hebrew"),
    ("hi", "Hindi"),
    ("hr", "Croatian"),
    ("hu", "Hungarian"),
    ("id", "Indonesian"),
    ("is", "Icelandic"),
    ("it", "Italian"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("lt", "Lithuanian"),
    ("lv", "Latvian"),
    ("ms", "Malay"),
    ("nl", "Dutch"),
    ("no", "Norwegian"),
    ("pl", "Polish"),
    ("pt", "Portuguese"),
    ("ro", "Romanian"),
    ("ru", "Russian"),
    ("sk", "Slovak"),
    ("sl", "Slovenian"),
    ("sr", "Serbian"),
    ("sv", "Swedish"),
    ("sw", "Swahili"),
    ("th", "Thai"),
    ("tl", "Tagalog"),
    ("tr", "Turkish"),
    ("uk", "Ukrainian"),
    ("ur", "Urdu"),
    ("vi", "Vietnamese"),
    ("zh", "Chinese"),
]
LANGUAGE_CODES = {code for code, _ in LANGUAGES}
MODES = [
    (Post.Mode.NOW, "Share now"),
    (Post.Mode.QUEUE, "Add to queue"),
    (Post.Mode.AT, "At a date and time"),
    (Post.Mode.DRAFT, "Save as draft"),
]
NETWORK_ORDER = {value: index for index, value in enumerate(Network.values)}


@cache
def _zone_names() -> tuple[str, ...]:
    # available_timezones() reads the zone database from disk on every call.
    return tuple(name for name, _ in timezone_choices())


@lru_cache(maxsize=64)
def _zone_options(selected: str) -> str:
    # Four hundred options: built once per selected zone instead of through the template each time.
    return format_html_join(
        "",
        "<option{}>{}</option>",
        ((" selected" if name == selected else "", name) for name in _zone_names()),
    )


def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    if name not in _zone_names():
        return None
    return zoneinfo.ZoneInfo(name)


# --- what the form holds -------------------------------------------------------------------------


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


def _default_options(request) -> dict:
    return {
        "content_warning": "",
        "visibility": "public",
        "language": _default_language(request),
        "sensitive": False,
        "link_card": True,
        "topic_tag": "",
        "link_attachment": "",
    }


def _default_language(request) -> str:
    for code, _quality in parse_accept_lang_header(request.headers.get("Accept-Language", "")):
        primary = code.split("-")[0].lower()
        if primary in LANGUAGE_CODES:
            return primary
    fallback = settings.LANGUAGE_CODE.split("-")[0].lower()
    return fallback if fallback in LANGUAGE_CODES else ""


def _workspace_channels(workspace) -> list[Channel]:
    channels = list(Channel.objects.filter(workspace=workspace))
    for channel in channels:
        channel.workspace = workspace  # Channel.tz reads it; no query per channel
    channels.sort(key=lambda c: (NETWORK_ORDER.get(c.network, 99), c.handle.lower()))
    return channels


def _uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def _usable_media(workspace, codes: list[str], post: Post | None) -> dict[str, Media]:
    """Media of this workspace that this form may attach: fresh uploads, or the edited post's own.

    Codes of other workspaces' media, or of media attached to other posts, are ignored.
    """
    valid = [c for c in (_uuid(code) for code in codes) if c]
    if not valid:
        return {}
    mine = Q(part=None) | Q(part__post=post) if post is not None else Q(part=None)
    found = Media.objects.filter(workspace=workspace, code__in=valid).filter(mine)
    return {str(m.code): m for m in found}


def _local_input(instant: datetime, tz: zoneinfo.ZoneInfo) -> str:
    return instant.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


def _parse_local(value: str, tz: zoneinfo.ZoneInfo) -> datetime | None:
    """A wall time typed in `tz` (or an ISO time with an offset) -> aware UTC; None if unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if not 2 <= parsed.year <= 9998:
        return None  # a day from the calendar's edge: converting it between zones would overflow
    if parsed.tzinfo is not None:
        return parsed
    return local_to_utc(parsed, tz)


def _without_nul(data: QueryDict) -> QueryDict:
    """The form without NUL characters, which no one types and PostgreSQL refuses to store."""
    if not any("\x00" in value for _, values in data.lists() for value in values):
        return data
    clean = QueryDict(mutable=True)
    for key, values in data.lists():
        clean.setlist(key, [value.replace("\x00", "") for value in values])
    return clean


def read_state(request, by_code: dict[str, Channel], post: Post | None) -> tuple[ComposerState, dict]:
    """The composer as posted. Returns the state and errors about the form itself."""
    data = _without_nul(request.POST)
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
    media_codes = {index: data.getlist(f"media-{index}") for index in range(len(parts))}
    usable = _usable_media(request.workspace, [c for codes in media_codes.values() for c in codes], post)
    seen: set[str] = set()
    for index, codes in media_codes.items():
        for code in codes:
            media = usable.get(_uuid(code) or "")
            if media is None or str(media.code) in seen:
                continue
            seen.add(str(media.code))
            alt = data.get(f"alt-{media.code}")
            if alt is not None:
                media.alt_text = alt.strip()[:MAX_ALT_TEXT]  # saved only with the post
            parts[index].media.append(media)

    options = {
        "content_warning": data.get("content_warning", "").strip(),
        "visibility": data.get("visibility", "public"),
        "language": data.get("language", "").strip().lower(),
        "sensitive": bool(data.get("sensitive")),
        "link_card": bool(data.get("link_card")),
        "topic_tag": data.get("topic_tag", "").strip(),
        "link_attachment": data.get("link_attachment", "").strip(),
    }
    if options["visibility"] not in dict(VISIBILITIES):
        errors["visibility"] = ["Choose who can see the post."]
        options["visibility"] = "public"
    if options["language"] and options["language"] not in LANGUAGE_CODES:
        errors["language"] = ["Choose a language from the list."]
    link = options["link_attachment"]
    if link and not re.match(r"https?://\S+\.\S+$", link, re.IGNORECASE):
        errors["link_attachment"] = ["Enter a full web address starting with https://."]
    mode = data.get("mode", Post.Mode.QUEUE)
    if mode not in Post.Mode.values and not (mode == composing.KEEP and _kept_times(post)):
        mode = Post.Mode.QUEUE
    zone = data.get("zone", "").strip()
    if not _zone(zone):
        if zone and mode == Post.Mode.AT:
            errors["zone"] = ["Choose a time zone from the list."]
        zone = by_code[chosen[0]].timezone_name if chosen else request.workspace.timezone
    state = ComposerState(
        parts=parts,
        chosen=chosen,
        options=options,
        mode=mode,
        at=data.get("at", "").strip(),
        zone=zone,
        numbering=bool(data.get("numbering")),
    )
    return state, errors


def initial_state(request, channels: list[Channel], by_code: dict[str, Channel]) -> ComposerState:
    """A new post, prefilled from the calendar: ?at=<local ISO time>&channel=<code>&zone=<name>."""
    chosen = []
    wanted = _uuid(request.GET.get("channel", "")) or ""
    if wanted in by_code and by_code[wanted].status != Channel.Status.NEEDS_RECONNECT:
        chosen = [wanted]
    zone = request.GET.get("zone", "")
    if not _zone(zone):
        zone = by_code[chosen[0]].timezone_name if chosen else request.workspace.timezone
    at = ""
    mode = Post.Mode.QUEUE
    if request.GET.get("at"):
        instant = _parse_local(request.GET["at"], zoneinfo.ZoneInfo(zone))
        if instant is not None:
            at = _local_input(instant, zoneinfo.ZoneInfo(zone))
            mode = Post.Mode.AT
    return ComposerState(
        parts=[PartState()], chosen=chosen, options=_default_options(request), mode=mode, at=at, zone=zone
    )


def state_from_post(request, post: Post, channels: list[Channel]) -> ComposerState:
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
    zone = first.timezone_name if first else request.workspace.timezone
    options = {**_default_options(request), "language": ""}
    options.update({k: v for k, v in (post.options or {}).items() if k in options})
    # An edit keeps each delivery's own time (moved in the calendar or the queue) unless the user picks
    # another; "at a date and time" is offered with the earliest of them.
    kept = _kept_times(post)
    fixed = [when for _, when, in_queue in kept if not in_queue]
    at = _local_input(min(fixed), zoneinfo.ZoneInfo(zone)) if fixed else ""
    mode = composing.KEEP if kept else post.mode
    return ComposerState(parts=parts, chosen=chosen, options=options, mode=mode, at=at, zone=zone)


def _kept_times(post: Post | None) -> list[tuple[Channel, datetime, bool]]:
    """(channel, time, in the queue) of each delivery an edit can keep at its time, in time order."""
    if post is None or post.mode == Post.Mode.DRAFT:
        return []
    deliveries = post.deliveries.filter(scheduled_for__isnull=False).select_related(
        "channel", "channel__workspace"
    )
    return [(d.channel, d.scheduled_for, d.in_queue) for d in deliveries.order_by("scheduled_for", "id")]


def _keep_label(kept) -> str:
    if not kept:
        return ""
    shown = []
    for channel, when, in_queue in kept:
        local = when.astimezone(channel.tz)
        where = "queue slot, " if in_queue else ""
        shown.append(
            f"{channel}: {local:%a} {local.day} {local:%b %Y, %H:%M} ({where}{channel.timezone_name})"
        )
    return "; ".join(shown)


def to_draft(state: ComposerState, by_code: dict[str, Channel]) -> tuple[composing.Draft, dict]:
    errors: dict[str, list[str]] = {}
    scheduled_at = None
    if state.mode == Post.Mode.AT:
        tz = _zone(state.zone)
        if state.at and tz is not None:
            scheduled_at = _parse_local(state.at, tz)
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


# --- uploads -------------------------------------------------------------------------------------


def _take_uploads(request, state: ComposerState, errors: dict) -> None:
    """Files sent with the whole form (the composer without JavaScript)."""
    for index, part in enumerate(state.parts):
        for upload in request.FILES.getlist(f"upload-{index}"):
            try:
                part.media.append(store_upload(request.workspace, upload))
            except UploadRefused as exc:
                errors.setdefault(f"upload:{index}", []).append(exc.message)


# --- actions (buttons other than the main one) ---------------------------------------------------


def apply_action(
    state: ComposerState, action: str, by_code: dict[str, Channel], errors: dict, *, nparts: str = ""
) -> None:
    parts = state.parts
    if action == "add-part":
        if len(parts) < MAX_PARTS:
            parts.append(PartState())
    elif action.startswith("remove-part-"):
        index = _index(action.removeprefix("remove-part-"), len(parts))
        if index is not None and len(parts) > 1:
            del parts[index]
    elif action == "parts":
        wanted = _index(nparts, MAX_PARTS + 1)
        if wanted:  # the "number of parts" field of the composer without JavaScript
            del parts[wanted:]
            parts.extend(PartState() for _ in range(wanted - len(parts)))
    elif action.startswith("split-"):
        index = _index(action.removeprefix("split-"), len(parts))
        if index is not None:
            split_part(state, index, by_code, errors)
    elif action.startswith("remove-media-"):
        code = action.removeprefix("remove-media-")
        for part in parts:
            part.media = [m for m in part.media if str(m.code) != code]


def _index(value: str, bound: int) -> int | None:
    try:
        index = int(value)
    except (TypeError, ValueError):
        return None
    return index if 0 <= index < bound else None


def split_part(state: ComposerState, index: int, by_code: dict[str, Channel], errors: dict) -> None:
    part = state.parts[index]
    key = f"part:{index}"
    chosen = [by_code[code] for code in state.chosen]
    if not chosen:
        errors.setdefault(key, []).append(
            "Choose the channels first: the split follows the strictest of their limits."
        )
        return
    if not part.text.strip():
        errors.setdefault(key, []).append("Write the text to split first.")
        return
    options = composing.post_options(composing.Draft(parts=[], channels=[], options=state.options))
    counters = [network_counter(channel.adapter(), options) for channel in chosen]
    for channel, (count, limit) in zip(chosen, counters, strict=True):
        if count("x") > limit:  # the splitter would cut the text to single letters, slowly, in vain
            errors.setdefault(key, []).append(
                f"Not even one letter fits in a part on {channel.handle} with these options: "
                "shorten the content warning first."
            )
            return
    pieces = split_for(part.text, counters, numbering=state.numbering)
    if len(pieces) <= 1:
        state.notes.setdefault(key, []).append("This part already fits every chosen channel.")
        return
    if len(state.parts) - 1 + len(pieces) > MAX_PARTS:
        errors.setdefault(key, []).append(f"That would make more than {MAX_PARTS} parts.")
        return
    new = [PartState(text=pieces[0], media=part.media)] + [PartState(text=p) for p in pieces[1:]]
    state.parts[index : index + 1] = new
    note = f"Split into {len(pieces)} parts."
    if part.overrides:
        note += " Its per-channel texts were set aside: write them again for the new parts if needed."
    state.notes.setdefault(key, []).append(note)


# --- what the page shows -------------------------------------------------------------------------


def _media_row(media: Media, index: int) -> dict:
    return {
        **previews.media_item(media),
        "code": str(media.code),
        "index": index,
        "autosave": media.part_id is None,
    }


def _live(request, state: ComposerState, by_code: dict[str, Channel]) -> dict:
    """Counters, problems and a preview for every chosen channel, by the adapters' validation."""
    draft, _ = to_draft(state, by_code)
    counters: list[list[dict]] = [[] for _ in state.parts]
    panels = []
    notices: list[str] = []
    if draft.channels:
        service_errors, results = composing.validate(draft, request.workspace)
        notices = service_errors.get("media", [])
        options = draft.options
        seen_networks: set[str] = set()
        names = _media_names(state)
        for channel in draft.channels:
            code = str(channel.code)
            result = results[code]
            contents = composing.part_contents(draft, channel)
            rows = []
            for index, content in enumerate(contents):
                usage = result.usage[index] if index < len(result.usage) else None
                counter = {
                    "channel": channel,
                    "used": usage.used if usage else 0,
                    "limit": usage.limit if usage else 0,
                    "unit": usage.unit if usage else "",
                    "over": bool(usage and usage.used > usage.limit),
                    "own_text": code in state.parts[index].overrides,
                }
                counters[index].append(counter)
                preview = previews.row(
                    key=code,
                    index=index,
                    text=content.text,
                    network=channel.network,
                    options=options,
                    media=state.parts[index].media,
                )
                rows.append(
                    {
                        **preview,
                        "counter": counter,
                        "problems": [_readable(p, names) for p in result.problems if p.part == index],
                    }
                )
            panels.append(
                {
                    **previews.panel(channel, options, rows),
                    "code": code,
                    "general": [_readable(p, names) for p in result.problems if p.part is None],
                    "errors": len(result.errors),
                    "warnings": len(result.warnings),
                    "open": channel.network not in seen_networks,
                }
            )
            seen_networks.add(channel.network)
    return {
        "panels": panels,
        "notices": notices,
        "counters": counters,
        "schedule_note": _schedule_note(state, draft.channels),
    }


def _media_names(state: ComposerState) -> dict[str, str]:
    """Stored file names (which adapters quote in their messages) -> what the author sees."""
    several = len(state.parts) > 1
    names = {}
    for index, part in enumerate(state.parts):
        for number, media in enumerate(part.media, start=1):
            label = f"Image {number}" + (f" of part {index + 1}" if several else "")
            names[PurePath(media.file.name).name] = label
    return names


def _readable(problem: Problem, names: dict[str, str]) -> Problem:
    message = problem.message
    for stored, label in names.items():
        message = message.replace(stored, label)
    return replace(problem, message=message) if message != problem.message else problem


def _schedule_note(state: ComposerState, channels: list[Channel]) -> dict | None:
    """ "That is Mon 4 May 2026, 09:00 in Europe/Berlin, 03:00 in America/New_York"."""
    if state.mode != Post.Mode.AT or not state.at:
        return None
    tz = _zone(state.zone)
    if tz is None:
        return None
    instant = _parse_local(state.at, tz)
    if instant is None:
        return None
    zones = [state.zone] + [c.timezone_name for c in channels]
    unique = list(dict.fromkeys(zones))
    first_day = instant.astimezone(tz).date()
    shown = []
    for name in unique:
        local = instant.astimezone(zoneinfo.ZoneInfo(name))
        if local.date() == first_day and shown:
            shown.append(f"{local:%H:%M} in {name}")
        else:
            shown.append(f"{local:%a} {local.day} {local:%b %Y, %H:%M} in {name}")
    return {
        "text": "That is " + ", ".join(shown) + ".",
        "past": instant < now() - timedelta(minutes=1),
        "moved": _local_input(instant, tz) != _normal_input(state.at),
    }


def _normal_input(value: str) -> str:
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%dT%H:%M")
    except ValueError:
        return value


def _submit_label(state: ComposerState, needs_approval: bool) -> str:
    if state.mode == Post.Mode.DRAFT:
        return "Save draft"
    if needs_approval:
        return "Submit for approval"
    if state.mode == composing.KEEP:
        return "Save changes"
    return {Post.Mode.NOW: "Share now", Post.Mode.QUEUE: "Add to queue"}.get(state.mode, "Schedule")


def _context(request, state, errors, channels, by_code, post) -> dict:
    chosen = set(state.chosen)
    groups: dict[str, dict] = {}
    for channel in channels:
        code = str(channel.code)
        disabled = channel.status == Channel.Status.NEEDS_RECONNECT and code not in chosen
        group = groups.setdefault(
            channel.network, {"network": channel.network, "label": channel.get_network_display(), "rows": []}
        )
        group["rows"].append(
            {
                "channel": channel,
                "code": code,
                "chosen": code in chosen,
                "disabled": disabled,
                "errors": errors.get(f"channel:{code}", []),
            }
        )
    live = _live(request, state, by_code)
    parts = []
    for index, part in enumerate(state.parts):
        part_errors = list(errors.get(f"part:{index}", []))
        if index == 0:
            part_errors = errors.get("text", []) + part_errors
        parts.append(
            {
                "index": index,
                "number": index + 1,
                "text": part.text,
                "media": [_media_row(m, index) for m in part.media],
                "overrides": [
                    {
                        "channel": channel,
                        "code": str(channel.code),
                        "value": part.overrides.get(str(channel.code), ""),
                        "shown": str(channel.code) in chosen,
                    }
                    # Boxes for the chosen channels (the script adds more as channels are ticked),
                    # and for any channel that has a text, so that unticking one loses nothing.
                    for channel in channels
                    if str(channel.code) in chosen or str(channel.code) in part.overrides
                ],
                "has_overrides": any(code in chosen for code in part.overrides),
                "errors": part_errors,
                "notes": state.notes.get(f"part:{index}", []),
                "upload_errors": errors.get(f"upload:{index}", []),
                "counters": live["counters"][index],
            }
        )
    placed = {
        "text",
        "channels",
        "scheduled_at",
        "media",
        "zone",
        "language",
        "visibility",
        "link_attachment",
    }
    other = [
        message
        for key, messages_ in errors.items()
        if key not in placed and not key.startswith(("channel:", "part:", "upload:"))
        for message in messages_
    ]
    needs_approval = composing.needs_approval(request.membership, request.workspace)
    kept = _kept_times(post)
    zones = list(dict.fromkeys([state.zone] + [by_code[c].timezone_name for c in state.chosen]))
    if post is not None:
        form_action = reverse("posts:edit", kwargs={"slug": request.workspace.slug, "code": post.code})
    else:
        form_action = reverse("posts:compose", kwargs={"slug": request.workspace.slug})
    return {
        "post": post,
        "state": state,
        "options": state.options,
        "groups": list(groups.values()),
        "parts": parts,
        "live": live,
        "oob": False,
        "errors": {key: errors.get(key, []) for key in placed},
        "other_errors": other,
        # The summary says the post was not saved, which is only news after the main button.
        "has_errors": bool(errors) and request.POST.get("action", "submit") in ("", "submit"),
        "modes": [(composing.KEEP, "Keep its time")] + MODES if kept else MODES,
        "kept_times": _keep_label(kept),
        "visibilities": VISIBILITIES,
        "languages": LANGUAGES,
        "zone_options": _zone_options(state.zone),
        "chosen_zones": [z for z in zones if z],
        "needs_approval": needs_approval,
        "submit_label": _submit_label(state, needs_approval),
        "form_action": form_action,
        "max_upload_mb": f"{max_upload_bytes() / MB:g}",
        "max_upload_bytes": max_upload_bytes(),
        "pixel_limit": _pixel_limit([by_code[code] for code in state.chosen]),
        "max_parts": MAX_PARTS,
        "has_network": {channel.network for channel in channels},
        # A network's options show only while one of its channels is chosen (hidden, they keep their values).
        "chosen_networks": {by_code[code].network for code in state.chosen},
        # The form sent back (refused, or after a button without JavaScript) holds what is not saved yet.
        "unsaved": request.method == "POST",
    }


def _pixel_limit(chosen: list[Channel]) -> dict:
    """The strictest pixel limit for uploads: this server's, or the chosen network's that is lower."""
    pixels, network = max_upload_pixels(), ""
    for channel in chosen:
        most = channel.adapter().max_image_pixels()
        if most and most < pixels:
            pixels, network = most, channel.get_network_display()
    return {"megapixels": f"{pixels / 1_000_000:.1f}".removesuffix(".0"), "network": network}


def _page(request, state, errors, channels, by_code, post=None) -> HttpResponse:
    response = render(
        request, "posts/compose.html", _context(request, state, errors, channels, by_code, post)
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


def _parts_fragment(request, state, errors, channels, by_code, post) -> HttpResponse:
    context = _context(request, state, errors, channels, by_code, post)
    response = render(request, "posts/compose.html#parts", context)
    patch_vary_headers(response, ["HX-Request"])
    # After the swap, so the live check reads the new parts: fired on receipt, it would post the old
    # ones and its answer, arriving last, would put their counters back.
    return trigger_client_event(response, "partsChanged", after="swap")


def _editing(request) -> Post | None:
    """The post an edit form belongs to (fragments posted to shared endpoints say it in a field)."""
    code = _uuid(request.POST.get("editing", ""))
    if not code:
        return None
    return Post.objects.filter(workspace=request.workspace, code=code).first()


def _editable(post: Post) -> bool:
    return not post.deliveries.filter(status__in=Delivery.BUSY_STATUSES).exists()


def _saved_message(post: Post) -> str:
    if post.status == Post.Status.PENDING_APPROVAL:
        return "Submitted for approval: an editor will review it."
    if post.mode == Post.Mode.DRAFT:
        drafts = reverse("posts:drafts", kwargs={"slug": post.workspace.slug})
        return format_html('Saved as a draft. Find it under <a href="{}">Drafts</a>.', drafts)
    if post.mode == Post.Mode.NOW:
        return "Sharing now."
    first = post.deliveries.select_related("channel", "channel__workspace").order_by("scheduled_for").first()
    if first is None or first.scheduled_for is None:
        return "Scheduled."
    local = first.scheduled_for.astimezone(first.channel.tz)
    when = f"{local:%a} {local.day} {local:%b %Y, %H:%M} ({first.channel.timezone_name})"
    if post.mode == Post.Mode.QUEUE:
        return f"Added to the queue: first out {when} on {first.channel}."
    return f"Scheduled for {when}."


def _composer(request, post: Post | None):
    channels = _workspace_channels(request.workspace)
    by_code = {str(c.code): c for c in channels}
    if request.method != "POST":
        if post is not None:
            state = state_from_post(request, post, channels)
        else:
            state = initial_state(request, channels, by_code)
        return _page(request, state, {}, channels, by_code, post)

    state, errors = read_state(request, by_code, post)
    _take_uploads(request, state, errors)
    action = request.POST.get("action", "submit") or "submit"
    if action != "submit":
        apply_action(state, action, by_code, errors, nparts=request.POST.get("nparts", ""))
        if request.htmx:
            return _parts_fragment(request, state, errors, channels, by_code, post)
        return _page(request, state, errors, channels, by_code, post)

    draft, draft_errors = to_draft(state, by_code)
    errors.update(draft_errors)
    if not errors:
        try:
            with transaction.atomic():
                for part in state.parts:
                    for media in part.media:
                        Media.objects.filter(pk=media.pk).update(alt_text=media.alt_text)
                saved = composing.compose(
                    workspace=request.workspace, membership=request.membership, draft=draft, post=post
                )
        except composing.PostInvalid as exc:
            for key, messages_ in exc.errors.items():
                errors.setdefault(key, []).extend(messages_)
        else:
            messages.success(request, _saved_message(saved))
            return redirect("posts:detail", slug=request.workspace.slug, code=saved.code)
    return _page(request, state, errors, channels, by_code, post)


# --- views ---------------------------------------------------------------------------------------


@workspace_view(Perm.COMPOSE)
def compose(request):
    return _composer(request, None)


@workspace_view(Perm.COMPOSE)
def edit(request, code):
    post = get_for_workspace(Post, request.workspace, code=code)
    if not post.may_change(request.membership):
        # Otherwise a contributor could pull anyone's approved post back into review by editing it.
        raise PermissionDenied("You can edit your own posts; ask an editor to change this one.")
    if not _editable(post):
        messages.error(request, "This post is being published or was published: it can't be changed.")
        return redirect("posts:detail", slug=request.workspace.slug, code=post.code)
    return _composer(request, post)


@workspace_view(Perm.COMPOSE)
@require_POST
def validate(request):
    """The live panel for the form as it is now: counters, problems, previews. Writes nothing."""
    channels = _workspace_channels(request.workspace)
    by_code = {str(c.code): c for c in channels}
    state, _ = read_state(request, by_code, _editing(request))
    context = {"live": _live(request, state, by_code), "oob": True}
    response = render(request, "posts/compose.html#live", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@workspace_view(Perm.COMPOSE)
@require_POST
def split_thread(request):
    """Split one part (action=split-<n>) so every piece fits the strictest chosen network."""
    channels = _workspace_channels(request.workspace)
    by_code = {str(c.code): c for c in channels}
    post = _editing(request)
    state, errors = read_state(request, by_code, post)
    action = request.POST.get("action", "")
    index = _index(action.removeprefix("split-"), len(state.parts)) if action.startswith("split-") else None
    if index is None:
        index = _index(request.POST.get("index", "0"), len(state.parts)) or 0
    split_part(state, index, by_code, errors)
    return _parts_fragment(request, state, errors, channels, by_code, post)


@workspace_view(Perm.COMPOSE)
@require_POST
def media_upload(request):
    """One image from the drop zone: a thumbnail with its alt-text box, or a message beside the field."""
    index = _index(request.POST.get("part", "0"), MAX_PARTS) or 0
    try:
        media = store_upload(request.workspace, request.FILES.get("file"))
    except UploadRefused as exc:
        return render(request, "posts/compose.html#upload-error", {"e": exc.message})
    return render(request, "posts/compose.html#media-item", {"m": _media_row(media, index)})


@workspace_view(Perm.COMPOSE)
@require_POST
def media_update(request, code):
    """Save alt text as it is typed, for an image not yet part of a post.

    An image already in a post changes with the post (through the composer), so that a contributor's
    change to an approved post goes through approval again.
    """
    media = get_for_workspace(Media, request.workspace, code=code)
    data = _without_nul(request.POST)
    alt = data.get(f"alt-{media.code}", data.get("alt_text", ""))
    if media.part_id is not None:
        return HttpResponse("This image belongs to a post: its alt text is saved with the post.", status=409)
    Media.objects.filter(pk=media.pk).update(alt_text=alt.strip()[:MAX_ALT_TEXT])
    if request.htmx:
        return HttpResponse(status=204)
    messages.success(request, "Alt text saved.")
    return redirect("posts:compose", slug=request.workspace.slug)


@workspace_view(Perm.COMPOSE)
@require_POST
def media_delete(request, code):
    """Remove an image from the composer; the file goes only if no post uses it yet."""
    media = get_for_workspace(Media, request.workspace, code=code)
    if media.part_id is None:
        media.file.delete(save=False)
        media.delete()
    if request.htmx:
        return trigger_client_event(HttpResponse(""), "partsChanged", after="swap")
    return redirect("posts:compose", slug=request.workspace.slug)


@workspace_view(Perm.COMPOSE)
def link_card_preview(request):
    """The card Bluesky (or Mastodon, Threads) would show for a link; quietly nothing on failure."""
    url = (request.GET.get("url") or request.POST.get("url") or "").strip()
    card = _link_preview(url) if url.lower().startswith(("http://", "https://")) else None
    # Only https images: the page's Content Security Policy (and browsers' mixed-content rules) block others.
    image_url = card.image_url if card and card.image_url.startswith("https://") else ""
    context = {"card": card, "url": url, "image_url": image_url}
    response = render(request, "posts/compose.html#link-card", context)
    response["Cache-Control"] = "private, max-age=300"
    return response


def _link_preview(url: str):
    key = "compose:linkcard:" + hashlib.sha256(url.encode()).hexdigest()
    cached = django_cache.get(key)
    if cached is not None:
        return cached or None
    try:
        card = fetch_preview(url, timeout=min(5.0, settings.NETWORK_TIMEOUT))
    except (FetchError, UnsafeURL):
        card = None
    django_cache.set(key, card or False, LINK_CARD_CACHE_SECONDS)
    return card


urlpatterns = [
    path("w/<slug:slug>/compose/", compose, name="compose"),
    path("w/<slug:slug>/compose/validate/", validate, name="compose-validate"),
    path("w/<slug:slug>/compose/split/", split_thread, name="split-thread"),
    path("w/<slug:slug>/compose/link-card/", link_card_preview, name="link-card-preview"),
    path("w/<slug:slug>/posts/<uuid:code>/edit/", edit, name="edit"),
    path("w/<slug:slug>/media/", media_upload, name="media-upload"),
    path("w/<slug:slug>/media/<uuid:code>/", media_update, name="media-update"),
    path("w/<slug:slug>/media/<uuid:code>/delete/", media_delete, name="media-delete"),
]
