"""The live panel, refreshed as the author types: each chosen channel's counters, problems and
preview (by the adapters' own validation, through composing.validate), notices about the media,
and the note that says when a typed date and time is in each chosen channel's zone."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

from django.utils.timezone import now

from channels.models import Channel
from posts import composing
from posts.composer.choices import local_input, parse_local, zone
from posts.composer.preview import channel_panel, media_names
from posts.composer.state import ComposerState, to_draft
from posts.models import Post


def live(request, state: ComposerState, by_code: dict[str, Channel]) -> dict:
    """Counters (per part, one per chosen channel), preview panels, notices and the schedule note."""
    draft, _ = to_draft(state, by_code)
    counters: list[list[dict]] = [[] for _ in state.parts]
    panels = []
    notices: list[str] = []
    if draft.channels:
        service_errors, results = composing.validate(draft, request.workspace)
        notices = service_errors.get("media", [])
        seen_networks: set[str] = set()
        names = media_names(state)
        for channel in draft.channels:
            code = str(channel.code)
            result = results[code]
            contents = composing.part_contents(draft, channel)
            channel_counters = []
            for index in range(len(contents)):
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
                channel_counters.append(counter)
            panels.append(
                channel_panel(
                    channel,
                    state=state,
                    texts=[content.text for content in contents],
                    counters=channel_counters,
                    result=result,
                    options=draft.options,
                    names=names,
                    first_of_network=channel.network not in seen_networks,
                )
            )
            seen_networks.add(channel.network)
    return {
        "panels": panels,
        "notices": notices,
        "counters": counters,
        "schedule_note": schedule_note(state, draft.channels),
    }


def schedule_note(state: ComposerState, channels: list[Channel]) -> dict | None:
    """ "That is Mon 4 May 2026, 09:00 in Europe/Berlin, 03:00 in America/New_York"."""
    if state.mode != Post.Mode.AT or not state.at:
        return None
    tz = zone(state.zone)
    if tz is None:
        return None
    instant = parse_local(state.at, tz)
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
        "moved": local_input(instant, tz) != _normal_input(state.at),
    }


def _normal_input(value: str) -> str:
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%dT%H:%M")
    except ValueError:
        return value
