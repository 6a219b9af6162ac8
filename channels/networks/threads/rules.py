"""Threads' rules for a post, checked offline: counting, links, media, topic tags, and the default limits.

Text length: Threads counts 500 "characters", and its documentation says emoji count as their UTF-8
bytes; peers found in production that accented letters and curly quotes do too (498 code points, 504
bytes: refused). validate() therefore counts UTF-8 bytes, which never accepts a text Threads refuses.
Links: distinct URLs written with http(s):// or www. in the text, plus the link attachment; at most 5.

Threads fetches images and videos itself, from a public address: without one (SITE_URL on a private
host, and no public media URL) posts can be text only.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from channels.networks.base import MediaItem, PartContent, PostOptions, Problem, Usage, Validation
from channels.networks.threads.network import DAILY_POSTS

IMAGE_TYPES = ("image/jpeg", "image/png")
VIDEO_TYPES = ("video/mp4", "video/quicktime")

# What Channel.limits holds for a Threads account (stored at connect, refreshed by read_limits()).
DEFAULT_LIMITS = {
    "max_characters": 500,
    "max_links": 5,
    "max_media": 20,
    "image_types": list(IMAGE_TYPES),
    "video_types": list(VIDEO_TYPES),
    "image_max_bytes": 8 * 1024 * 1024,
    # Meta's image requirements: aspect ratio limit 10:1 (wider ones are refused, larger ones scaled).
    "image_max_aspect_ratio": 10,
    "video_max_bytes": 1024 * 1024 * 1024,
    "topic_tag_max": 50,
    # Posts per profile in any 24 hours: the only limit Meta tells per account (its publishing limit).
    "daily_posts": DAILY_POSTS,
}

NO_PUBLIC_ADDRESS = (
    "Threads fetches images from a public address; this installation has none (SITE_URL), "
    "so Threads posts can be text only."
)

_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


def text_length(text: str) -> int:
    """Length as Threads counts it (see the module docstring): UTF-8 bytes."""
    return len((text or "").encode("utf-8"))


def links_in(text: str) -> set[str]:
    """Distinct links written in the text, normalised so that the same address counts once."""
    return {normalise_link(match.group(0)) for match in _URL_RE.finditer(text or "")}


def normalise_link(url: str) -> str:
    url = url.rstrip(_TRAILING).lower()
    url = re.sub(r"^https?://", "", url)
    return url.removeprefix("www.").rstrip("/")


def public_host(url: str) -> bool:
    """Whether Meta's servers could reach this URL's host; offline (no DNS), so by name and address."""
    host = (urlsplit(url or "").hostname or "").lower()
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        pass
    private_suffixes = (
        ".localhost",
        ".local",
        ".internal",
        ".lan",
        ".home.arpa",
        ".test",
        ".example",
        ".invalid",
    )
    return "." in host and host != "localhost" and not host.endswith(private_suffixes)


def media_public_url_available() -> bool:
    """Whether this installation can give Threads media addresses it can fetch.

    THREADS_MEDIA_REQUIRE_PUBLIC_URL=False turns the SITE_URL check off (tests, or an operator whose
    media URLs are public although SITE_URL is not).
    """
    if not getattr(settings, "THREADS_MEDIA_REQUIRE_PUBLIC_URL", True):
        return True
    return public_host(settings.SITE_URL)


def validate(parts: list[PartContent], options: PostOptions, limits: dict[str, Any]) -> Validation:
    """A whole post (all parts) against the account's limits."""
    result = Validation()
    problems = result.problems
    max_chars = int(limits["max_characters"])
    max_links = int(limits["max_links"])
    max_media = int(limits["max_media"])
    public_problem_reported = False
    for index, part in enumerate(parts):
        used = text_length(part.text)
        result.usage.append(Usage(used=used, limit=max_chars))
        if used > max_chars:
            extra = (
                " Accented letters and emoji count as 2 to 4 each, as Threads counts them."
                if used != len(part.text)
                else ""
            )
            problems.append(
                Problem(f"Threads allows {max_chars} characters; this part has {used}.{extra}", part=index)
            )
        if not part.text.strip() and not part.media:
            problems.append(Problem("A Threads post needs text or at least one image or video.", part=index))
        links = links_in(part.text)
        if index == 0 and options.link_attachment:
            links.add(normalise_link(options.link_attachment))
        if len(links) > max_links:
            problems.append(
                Problem(
                    f"Threads allows at most {max_links} different links in a post; this part has "
                    f"{len(links)}.",
                    part=index,
                )
            )
        if len(part.media) > max_media:
            problems.append(
                Problem(
                    f"Threads allows at most {max_media} images or videos in a post; this part has "
                    f"{len(part.media)}.",
                    part=index,
                    field="media",
                )
            )
        for item in part.media:
            problems.extend(_media_problems(item, index, limits))
        if part.media and not public_problem_reported:
            hosting = _hosting_problem(part.media, index)
            if hosting:
                problems.append(hosting)
                public_problem_reported = True
        if index == 0 and options.link_attachment and part.media:
            problems.append(
                Problem(
                    "Threads shows a link preview only on posts without images or videos; "
                    "it will be left out.",
                    level="warning",
                    part=index,
                    field="options",
                )
            )
    problems.extend(_topic_problems(options.topic_tag.strip(), limits))
    return result


def _topic_problems(tag: str, limits: dict[str, Any]) -> list[Problem]:
    problems = []
    if tag and len(tag) > int(limits["topic_tag_max"]):
        problems.append(
            Problem(
                f"A Threads topic can have at most {limits['topic_tag_max']} characters.", field="options"
            )
        )
    if "." in tag or "&" in tag:
        problems.append(
            Problem("A Threads topic cannot contain periods (.) or ampersands (&).", field="options")
        )
    return problems


def _media_problems(item: MediaItem, index: int, limits: dict[str, Any]) -> list[Problem]:
    problems = []
    if item.mime_type in limits["image_types"]:
        kind, cap = "image", int(limits["image_max_bytes"])
    elif item.mime_type in limits["video_types"]:
        kind, cap = "video", int(limits["video_max_bytes"])
    else:
        return [
            Problem(
                "Threads accepts JPEG and PNG images and MP4 or MOV videos only.",
                part=index,
                field="media",
            )
        ]
    if item.size and item.size > cap:
        problems.append(
            Problem(
                f"This {kind} is larger than Threads accepts ({cap // (1024 * 1024)} MB).",
                part=index,
                field="media",
            )
        )
    ratio = int(limits.get("image_max_aspect_ratio") or 0)
    if kind == "image" and ratio and item.width and item.height:
        if max(item.width, item.height) > ratio * min(item.width, item.height):
            problems.append(
                Problem(
                    f"This image is {item.width}×{item.height} pixels; Threads accepts images at most "
                    f"{ratio} times as wide as tall (or tall as wide).",
                    part=index,
                    field="media",
                )
            )
    if not item.alt_text.strip():
        problems.append(
            Problem(
                f"This {kind} has no alt text: people using screen readers will not know what it shows.",
                level="warning",
                part=index,
                field="media",
            )
        )
    return problems


def _hosting_problem(media: list[MediaItem], index: int) -> Problem | None:
    public_site = media_public_url_available()
    for item in media:
        own_public = bool(item.public_url) and public_host(item.public_url)
        if not public_site and not own_public:
            return Problem(NO_PUBLIC_ADDRESS, part=index, field="media")
        if not item.public_url:
            return Problem(
                "This file has no public address for Threads to fetch it from yet. Save the post again, "
                "or ask the operator to check media storage.",
                part=index,
                field="media",
            )
    return None
