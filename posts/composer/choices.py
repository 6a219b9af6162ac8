"""What the composer offers to choose from: languages, modes and time zones, and reading a wall time
typed in one of those zones."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from functools import cache, lru_cache

from django.conf import settings
from django.utils.html import format_html_join
from django.utils.translation.trans_real import parse_accept_lang_header

from posts.models import Post
from posts.scheduling import local_to_utc
from workspaces.forms import timezone_choices

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


def default_language(request) -> str:
    """The first of the browser's languages that the list has, else the site's, else none."""
    for code, _quality in parse_accept_lang_header(request.headers.get("Accept-Language", "")):
        primary = code.split("-")[0].lower()
        if primary in LANGUAGE_CODES:
            return primary
    fallback = settings.LANGUAGE_CODE.split("-")[0].lower()
    return fallback if fallback in LANGUAGE_CODES else ""


@cache
def zone_names() -> tuple[str, ...]:
    # available_timezones() reads the zone database from disk on every call.
    return tuple(name for name, _ in timezone_choices())


@lru_cache(maxsize=64)
def zone_options(selected: str) -> str:
    # Four hundred options: built once per selected zone instead of through the template each time.
    return format_html_join(
        "",
        "<option{}>{}</option>",
        ((" selected" if name == selected else "", name) for name in zone_names()),
    )


def zone(name: str) -> zoneinfo.ZoneInfo | None:
    """The zone of that name if the list offers it, else None."""
    if name not in zone_names():
        return None
    return zoneinfo.ZoneInfo(name)


def local_input(instant: datetime, tz: zoneinfo.ZoneInfo) -> str:
    """An instant as the date-and-time field shows it in `tz`: "2026-05-04T09:00"."""
    return instant.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


def parse_local(value: str, tz: zoneinfo.ZoneInfo) -> datetime | None:
    """A wall time typed in `tz` -> aware UTC (an ISO time with an offset is kept as it is); None if
    unreadable."""
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
