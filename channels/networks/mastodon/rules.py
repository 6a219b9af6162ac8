"""Mastodon's rules, offline: its limits and their defaults, how it counts a status, and the checks
of a post against one server's limits.

Limits (stored in Channel.limits by the connect flow and by read_limits(); validation reads them):

- ``max_characters``: characters per status, content warning included (500 on stock Mastodon).
- ``characters_reserved_per_url``: what every URL counts as (23); ``None`` means the server counts the
  text as typed, URLs and ``@user@domain`` mentions at full length (Pleroma, Akkoma).
- ``max_media_attachments``: media per status (4).
- ``supported_mime_types``: media types the server accepts (empty list: not announced, not checked).
- ``image_size_limit``, ``video_size_limit``: bytes (16 MB, 99 MB); audio uses the video limit.
- ``description_limit``: alt-text length (1500).
- ``image_matrix_limit``: Mastodon refuses an image of this many pixels (width x height) or more;
  ``None`` when the server does not announce it (not checked).
- ``software``: the server program, from nodeinfo or the version string (mastodon, pleroma, akkoma,
  gotosocial, pixelfed, friendica, takahe, sharkey; "" when not recognised). It picks the rules in
  profiles.py. Older channels have ``server_software`` instead.
- ``software_version``: that program's own version, as far as the server tells it.
- ``server_version``: the Mastodon API level the server claims, as "x.y.z". It picks endpoints
  (``/api/v2/media`` from 3.1.4, batched status reads from 4.3.0).
- ``domain``: the domain in the account's handle (``@user@domain``), which may differ from the
  server's web address.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import grapheme
from mastodon._url_regex import url_regex  # the pattern Mastodon.get_status_length counts URLs with

from channels.networks.base import PartContent, PostOptions, Problem, Usage, Validation
from channels.networks.mastodon.client import DEFAULT_VERSION
from channels.networks.mastodon.network import VISIBILITIES
from channels.networks.mastodon.profiles import profile_for

MB = 1024 * 1024

DEFAULT_LIMITS: dict[str, Any] = {
    "max_characters": 500,
    "characters_reserved_per_url": 23,
    "max_media_attachments": 4,
    "supported_mime_types": [
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/heic",
        "image/heif",
        "image/webp",
        "image/avif",
        "video/webm",
        "video/mp4",
        "video/quicktime",
        "video/ogg",
        "audio/wave",
        "audio/wav",
        "audio/x-wav",
        "audio/ogg",
        "audio/mpeg",
        "audio/mp3",
        "audio/webm",
        "audio/flac",
        "audio/aac",
        "audio/m4a",
        "audio/x-m4a",
        "audio/mp4",
    ],
    "image_size_limit": 16 * MB,
    "video_size_limit": 99 * MB,
    "description_limit": 1500,
    "server_version": DEFAULT_VERSION,
    "domain": "",
}

# Mastodon counts a remote mention as its local part only.
_MENTION_RE = re.compile(r"(^|[^/\w])@(([a-z0-9_]+)@[a-z0-9.\-]+[a-z0-9]+)", re.IGNORECASE)
_LANGUAGE_RE = re.compile(r"[a-z]{2}")


# --- counting and comparing text ---------------------------------------------------------------


def status_length(
    text: str, spoiler_text: str = "", reserved_per_url: int | None = 23, counting: str = "mastodon"
) -> int:
    """Characters a status counts as against the limit, by the counting rule of the server's software
    (profiles.py names the rules).

    "mastodon": graphemes; every URL counts as `reserved_per_url`; `@user@domain` counts as `@user`;
    the content warning counts too (for 23 this equals Mastodon.get_status_length). With
    `reserved_per_url=None` (stored for Pleroma and Akkoma before profiles) it is "graphemes".
    """
    if counting == "strictest":
        return max(
            status_length(text, spoiler_text, reserved_per_url, rule)
            for rule in ("mastodon", "codepoints", "graphemes")
        )
    if counting == "codepoints":
        return len(text) + len(spoiler_text)
    if counting == "caption":
        return len(text)
    if counting == "graphemes" or reserved_per_url is None:
        return grapheme.length(text) + grapheme.length(spoiler_text)
    counted = url_regex.sub(lambda m: m.group(2) + "x" * reserved_per_url, text)
    counted = _MENTION_RE.sub(r"\1@\3", counted)
    return grapheme.length(counted) + grapheme.length(spoiler_text)


_ANCHOR_RE = re.compile(r"<a\s[^>]*?href=(\"[^\"]*\"|'[^']*')[^>]*>(.*?)</a>", re.IGNORECASE | re.DOTALL)
_URL_RE = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


def html_to_text(markup: str) -> str:
    """Status HTML as plain text: paragraphs and line breaks kept, tags dropped, entities decoded.

    A link whose shown text is not a mention or hashtag becomes its address (servers shorten or
    rewrite the shown text); plain text passes through unchanged.
    """

    def anchor(match: re.Match) -> str:
        inner = html.unescape(re.sub(r"<[^>]+>", "", match.group(2))).strip()
        return inner if inner[:1] in ("@", "#") else html.unescape(match.group(1)[1:-1])

    text = _ANCHOR_RE.sub(anchor, markup or "")
    text = re.sub(r"<br\s*/?>", "\n", text, flags=re.IGNORECASE)
    text = re.sub(r"</p>\s*<p[^>]*>", "\n\n", text, flags=re.IGNORECASE)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def status_texts(status) -> list[str]:
    """A status's text as the server shows it: its HTML content as text, and its `text` field (plain
    on some servers, the same HTML as the content on others) turned into text the same way."""
    texts = [html_to_text(status.get("content") or "")]
    if status.get("text"):
        texts.append(html_to_text(status["text"]))
    return texts


def status_text(status) -> str:
    return status_texts(status)[0]


def comparable(text: str) -> str:
    """Text reduced to what survives a server's rendering: every link is the same placeholder (servers
    shorten and rewrite them), mentions lose their domain, and paragraphs and line breaks are not told
    apart from spaces."""
    text = _URL_RE.sub("<link>", text)
    text = _MENTION_RE.sub(r"\1@\3", text)
    return " ".join(text.split())


def file_size(path: str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0  # not on this machine (the composer may run elsewhere): the server will judge


# --- validation --------------------------------------------------------------------------------


def max_image_pixels(limits: dict[str, Any]) -> int | None:
    matrix = int(limits.get("image_matrix_limit") or 0)
    return matrix - 1 if matrix else None  # Mastodon refuses width x height >= the limit


def server_name(limits: dict[str, Any]) -> str:
    """The server as messages name it: "GoToSocial at social.example" ("Mastodon at ..." when unknown)."""
    label = profile_for(limits).label
    domain = limits.get("domain") or ""
    return f"{label} at {domain}" if domain else label


def validate(parts: list[PartContent], options: PostOptions, limits: dict[str, Any]) -> Validation:
    """Offline, by one server's limits and its software's rules (profiles.py).

    The content warning is sent with every part of a thread (as Mastodon's own reply box copies
    it), so it counts towards every part's limit where the software counts it.
    """
    result = Validation()
    profile = profile_for(limits)
    server = server_name(limits)
    max_chars = int(limits["max_characters"])
    warning = options.content_warning or ""
    several = len(parts) > 1
    for index, part in enumerate(parts):
        label = f"Part {index + 1}" if several else "The post"
        used = status_length(part.text, warning, limits.get("characters_reserved_per_url"), profile.counting)
        result.usage.append(Usage(used=used, limit=max_chars))
        if not part.text.strip() and not part.media:
            result.problems.append(Problem(f"{label} is empty: write some text or add media.", part=index))
        elif profile.media_required and index == 0 and not part.media:
            result.problems.append(
                Problem(
                    f"{server} only takes posts with an image or video: add one.", part=index, field="media"
                )
            )
        if used > max_chars:
            over = used - max_chars
            counts_warning = warning and profile.counting != "caption"
            cw_note = " (the content warning counts too)" if counts_warning else ""
            result.problems.append(
                Problem(
                    f"{label} is {over} character{'s' if over > 1 else ''} over the limit: "
                    f"{server} allows {max_chars:,} characters{cw_note}.",
                    part=index,
                )
            )
        result.problems.extend(_media_problems(part, index, label, limits))
    if profile.warning_limit and len(warning) > profile.warning_limit:
        result.problems.append(
            Problem(
                f"The content warning is {len(warning)} characters; {server} allows {profile.warning_limit}.",
                field="options",
            )
        )
    if profile.warning_as_title and warning:
        result.problems.append(
            Problem(
                f"{server} shows the content warning of the first part as the post's title.",
                level="warning",
                field="options",
            )
        )
    if options.visibility not in profile.visibilities:
        if options.visibility in dict(VISIBILITIES):
            message = f"{server} does not offer the visibility {options.visibility!r}."
        else:
            message = (
                f"Unknown visibility {options.visibility!r}: choose public, unlisted, private or direct."
            )
        result.problems.append(Problem(message, field="options"))
    if options.language and not _LANGUAGE_RE.fullmatch(options.language.lower()):
        result.problems.append(
            Problem(
                f"The language must be a two-letter code such as en or de, not {options.language!r}.",
                field="options",
            )
        )
    return result


def _media_problems(part: PartContent, index: int, label: str, limits: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    media = part.media
    most = int(limits["max_media_attachments"])
    if len(media) > most:
        problems.append(
            Problem(
                f"{label} has {len(media)} attachments; this server allows at most {most}.",
                part=index,
                field="media",
            )
        )
    kinds = [item.mime_type.split("/")[0] for item in media]
    if len(media) > 1 and any(kind in ("video", "audio") for kind in kinds):
        problems.append(
            Problem(
                f"{label}: a video or audio file cannot be combined with other attachments on "
                f"{profile_for(limits).label}.",
                part=index,
                field="media",
            )
        )
    supported = limits.get("supported_mime_types") or []
    most_pixels = max_image_pixels(limits)
    description_limit = int(limits.get("description_limit") or 0)
    for item, kind in zip(media, kinds, strict=True):
        name = Path(item.path).name or "An attachment"
        if supported and item.mime_type not in supported:
            problems.append(
                Problem(
                    f"{name} is a {item.mime_type} file, which this server does not accept.",
                    part=index,
                    field="media",
                )
            )
        size = item.size or file_size(item.path)
        limit = int(limits["image_size_limit"] if kind == "image" else limits["video_size_limit"])
        if size > limit:
            noun = "images" if kind == "image" else "videos and audio"
            problems.append(
                Problem(
                    f"{name} is {size / MB:.1f} MB; this server accepts {noun} up to {limit / MB:g} MB.",
                    part=index,
                    field="media",
                )
            )
        if (
            kind == "image"
            and most_pixels
            and item.width
            and item.height
            and item.width * item.height > most_pixels
        ):
            problems.append(
                Problem(
                    f"{name} is {item.width}×{item.height} pixels; this server accepts images of up to "
                    f"{most_pixels / 1_000_000:.1f} megapixels.",
                    part=index,
                    field="media",
                )
            )
        if not item.alt_text.strip():
            problems.append(
                Problem(
                    f"{name} has no alt text: describe it for people who cannot see it.",
                    level="warning",
                    part=index,
                    field="media",
                )
            )
        elif description_limit and len(item.alt_text) > description_limit:
            problems.append(
                Problem(
                    f"The alt text of {name} is {len(item.alt_text)} characters; this server allows "
                    f"{description_limit}.",
                    part=index,
                    field="media",
                )
            )
    return problems
