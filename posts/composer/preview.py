"""How each chosen channel will show the post, as the author types: its preview panel (the rows of
posts.previews with their counters and problems), and the link card shown under a link."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import PurePath

from django.conf import settings
from django.core.cache import cache

from channels.guard import UnsafeURL
from channels.http import FetchError
from channels.models import Channel
from channels.networks.base import Problem, Validation
from channels.networks.linkcard import LinkPreview, fetch_preview
from posts import previews
from posts.composer.state import ComposerState

LINK_CARD_CACHE_SECONDS = 600


def channel_panel(
    channel: Channel,
    *,
    state: ComposerState,
    texts: list[str],
    counters: list[dict],
    result: Validation,
    options: dict,
    names: dict[str, str],
    first_of_network: bool,
) -> dict:
    """The channel's preview panel: each part's text (`texts`, as sent to this channel) with its
    counter and problems, the problems about the whole post, and how many errors and warnings.
    The first panel of each network starts open."""
    code = str(channel.code)
    rows = []
    for index, (text, counter) in enumerate(zip(texts, counters, strict=True)):
        row = previews.row(
            key=code,
            index=index,
            text=text,
            network=channel.network,
            options=options,
            media=state.parts[index].media,
        )
        problems = [readable(p, names) for p in result.problems if p.part == index]
        rows.append({**row, "counter": counter, "problems": problems})
    return {
        **previews.panel(channel, options, rows),
        "code": code,
        "general": [readable(p, names) for p in result.problems if p.part is None],
        "errors": len(result.errors),
        "warnings": len(result.warnings),
        "open": first_of_network,
    }


def media_names(state: ComposerState) -> dict[str, str]:
    """Stored file names (which adapters quote in their messages) -> what the author sees."""
    several = len(state.parts) > 1
    names = {}
    for index, part in enumerate(state.parts):
        for number, media in enumerate(part.media, start=1):
            label = f"Image {number}" + (f" of part {index + 1}" if several else "")
            names[PurePath(media.file.name).name] = label
    return names


def readable(problem: Problem, names: dict[str, str]) -> Problem:
    """The problem with stored file names replaced by what the author sees ("Image 2 of part 1")."""
    message = problem.message
    for stored, label in names.items():
        message = message.replace(stored, label)
    return replace(problem, message=message) if message != problem.message else problem


def link_card(url: str) -> LinkPreview | None:
    """The card for a link, fetched once per link every few minutes; None if it can't be read."""
    if not url.lower().startswith(("http://", "https://")):
        return None
    key = "compose:linkcard:" + hashlib.sha256(url.encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return cached or None
    try:
        card = fetch_preview(url, timeout=min(5.0, settings.NETWORK_TIMEOUT))
    except (FetchError, UnsafeURL):
        card = None
    cache.set(key, card or False, LINK_CARD_CACHE_SECONDS)
    return card
