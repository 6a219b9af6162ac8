"""Bluesky's rules for a post: how text is counted, what media it takes, and the limits behind them.

Text is counted in graphemes (what a person sees as one character: "👍🏽" is one) and in UTF-8
bytes, both limited by the app.bsky.feed.post lexicon. The limits are the network's, the same for
every account and server, so reading them asks nobody (`DEFAULT_LIMITS`); the pixel cap is ours:
what a worker can re-encode to fit the blob limit.
"""

from __future__ import annotations

import re
from typing import Any

import grapheme
from atproto import models
from atproto_client.utils import facet_detection

from channels.networks.base import ContentRejected, PartContent, PostOptions, Problem, Usage, Validation
from channels.networks.images import MAX_SOURCE_PIXELS

NETWORK = "bluesky"
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
DEFAULT_LIMITS: dict[str, Any] = {
    "max_graphemes": 300,
    "max_bytes": 3000,
    "max_images": 4,
    "max_image_pixels": MAX_SOURCE_PIXELS,
}
_LANGUAGE_RE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$")


def count(text: str) -> tuple[int, int]:
    """Graphemes and UTF-8 bytes."""
    return grapheme.length(text), len(text.encode("utf-8"))


def links(text: str) -> list[str]:
    """The full URLs of the links in the text, in order (offline, as the post's link facets)."""
    return [
        feature.uri
        for facet in facet_detection.detect_facets(text)
        for feature in facet.features
        if isinstance(feature, models.AppBskyRichtextFacet.Link)
    ]


def check_text(text: str, limits: dict[str, Any]) -> None:
    """Raise ContentRejected for text over the limits (publishing, after validate() was skipped)."""
    used, size = count(text)
    if used > limits["max_graphemes"] or size > limits["max_bytes"]:
        raise ContentRejected(f"The text is too long for Bluesky ({used} characters, {size} bytes).")


def validate(
    parts: list[PartContent], options: PostOptions, limits: dict[str, Any], max_pixels: int | None
) -> Validation:
    """The offline check of a whole post (Adapter.validate)."""
    max_graphemes, max_bytes, max_images = (
        limits["max_graphemes"],
        limits["max_bytes"],
        limits["max_images"],
    )
    result = Validation()
    for index, part in enumerate(parts):
        used, size = count(part.text)
        result.usage.append(Usage(used=used, limit=max_graphemes, unit="graphemes"))
        if used > max_graphemes:
            result.problems.append(
                Problem(f"Bluesky allows {max_graphemes} characters; this part has {used}.", part=index)
            )
        elif size > max_bytes:
            result.problems.append(
                Problem(
                    f"This part is too long for Bluesky: emoji and accented letters take more room, "
                    f"and it uses {size} of {max_bytes} bytes.",
                    part=index,
                )
            )
        if not part.text.strip() and not part.media:
            result.problems.append(Problem("A Bluesky post needs text or an image.", part=index))
        result.problems.extend(_media_problems(part, index, max_images, max_pixels))
        if part.media and options.link_card and links(part.text):
            result.problems.append(
                Problem(
                    "Bluesky shows either images or a link preview: this part gets no link preview.",
                    level="warning",
                    part=index,
                    field="options",
                )
            )
    if options.language and not _LANGUAGE_RE.match(options.language):
        result.problems.append(
            Problem(f"“{options.language}” is not a language code such as en or pt-BR.", field="options")
        )
    return result


def _media_problems(part: PartContent, index: int, max_images: int, most: int | None) -> list[Problem]:
    problems = []
    videos = [m for m in part.media if m.mime_type.startswith("video/")]
    images = [m for m in part.media if m.mime_type in IMAGE_TYPES]
    others = [m for m in part.media if m not in videos and m not in images]
    if videos:
        problems.append(
            Problem(
                "Videos cannot be posted to Bluesky yet: remove the video or post it elsewhere.",
                part=index,
                field="media",
            )
        )
    if others:
        problems.append(
            Problem("Bluesky accepts JPEG, PNG, WebP and GIF images only.", part=index, field="media")
        )
    if len(images) > max_images:
        problems.append(
            Problem(
                f"Bluesky allows {max_images} images per post; this part has {len(images)}.",
                part=index,
                field="media",
            )
        )
    for number, item in enumerate(images, start=1):
        if most and item.width and item.height and item.width * item.height > most:
            name = f"Image {number}" if len(images) > 1 else "The image"
            problems.append(
                Problem(
                    f"{name} is {item.width}×{item.height} pixels; Bluesky images can have at most "
                    f"{most / 1_000_000:g} megapixels here. Make it smaller.",
                    part=index,
                    field="media",
                )
            )
    missing_alt = sum(1 for m in images if not m.alt_text.strip())
    if missing_alt:
        which = "every image" if missing_alt > 1 else "the image"
        problems.append(
            Problem(
                f"Add a description (alt text) to {which} so people using screen readers can follow.",
                level="warning",
                part=index,
                field="media",
            )
        )
    return problems
