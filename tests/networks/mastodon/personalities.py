"""The server programs the fake Mastodon server can pretend to be: ``fake_mastodon.personality = name``.

Each personality reproduces what the program's source does on the parts of the API this project uses
(the facts are in the project's fediverse notes, sections on Pixelfed, Friendica, GoToSocial, Akkoma,
Mastodon and "Counting and read-back"): its version string and nodeinfo name, which instance
documents it serves, how it counts a status against its limit, what it puts in a status's ``text``,
what it does with an Idempotency-Key, what it refuses, and how it answers when rate limited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grapheme


@dataclass(frozen=True)
class Personality:
    name: str
    version: str
    software: str  # nodeinfo's software name
    max_characters: int = 500
    characters_reserved_per_url: int = 23  # what the instance document advertises
    max_media_attachments: int = 4
    instance_v2: bool = True
    v1_style: str = "mastodon"  # "pleroma": no configuration, limits in max_toot_chars and friends
    instance_trailing_slash: bool = True  # False: /api/v1/instance/ and /api/v2/instance/ answer 404
    # "mastodon" (graphemes, URLs as 23, remote mentions without domain, CW counted), "codepoints"
    # (text and CW, URLs at full length), "graphemes" (text and CW, URLs at full length), "caption"
    # (code points of the text only; the CW has its own limit of 140).
    counting: str = "mastodon"
    text_field: str = "null"  # "null", "plain" (the source text) or "html" (the same HTML as content)
    # "honour" (per account: the first status again), "ignore", "reject_repeat" (400 on a repeat,
    # recorded before the status is created) or "replay" (global to the server: the first answer
    # replayed, errors included, with idempotent-replayed: true).
    idempotency: str = "honour"
    media_required: bool = False  # 403 "Empty statuses are not allowed" for a top-level status
    warning_as_title: bool = False  # a top-level CW becomes the title unless friendica.title is sent
    visibilities: tuple[str, ...] = ("public", "unlisted", "private", "direct")
    # "mastodon" (X-RateLimit-* with an ISO reset time in milliseconds), "iso" (truncated to the
    # second), "epoch" (Unix time, with Retry-After), "seconds" (seconds from now, with Retry-After),
    # "none" (429 without headers).
    rate_limit: str = "mastodon"
    rate_limit_error: str = "Too many requests"


PERSONALITIES = {
    p.name: p
    for p in (
        Personality("mastodon", "4.3.0", "mastodon"),
        # Sharkey's Mastodon API: treated as Mastodon's, with its own version string and nodeinfo name
        # and the rate-limit headers of Sharkey's sendRateLimitHeaders (seconds, Retry-After).
        Personality(
            "sharkey",
            "3.0.0 (compatible; Sharkey 2025.4.3)",
            "sharkey",
            max_characters=3000,
            rate_limit="seconds",
        ),
        Personality(
            "gotosocial",
            "3.5.3+0.20.0",
            "gotosocial",
            max_characters=5000,
            characters_reserved_per_url=25,
            max_media_attachments=6,
            counting="codepoints",
            text_field="plain",
            idempotency="ignore",
            rate_limit="iso",
        ),
        Personality(
            "akkoma",
            "2.7.2 (compatible; Akkoma 3.13.2)",
            "akkoma",
            max_characters=5000,
            instance_v2=False,
            v1_style="pleroma",
            counting="graphemes",
            text_field="plain",
            idempotency="replay",
            rate_limit="none",
            rate_limit_error="Throttled",
        ),
        Personality(
            "pleroma",
            "2.7.2 (compatible; Pleroma 2.6.0)",
            "pleroma",
            max_characters=5000,
            instance_v2=False,
            v1_style="pleroma",
            counting="graphemes",
            text_field="plain",
            idempotency="replay",
            rate_limit="none",
            rate_limit_error="Throttled",
        ),
        Personality(
            "pixelfed",
            "3.5.3 (compatible; Pixelfed 0.11.13)",
            "pixelfed",
            instance_v2=False,
            v1_style="pleroma",
            counting="caption",
            idempotency="reject_repeat",
            media_required=True,
            visibilities=("public", "unlisted", "private"),
            rate_limit="epoch",
        ),
        Personality(
            "friendica",
            "2.8.0 (compatible; Friendica 2024.12)",
            "friendica",
            max_characters=200000,
            idempotency="ignore",
            warning_as_title=True,
            visibilities=("public", "unlisted", "private"),
            rate_limit="none",
            rate_limit_error="Daily posting limit of 10 posts reached. The post was rejected.",
        ),
        Personality(
            "takahe",
            "takahe/0.11.0",
            "takahe",
            instance_trailing_slash=False,
            counting="codepoints",
            text_field="html",
            idempotency="ignore",
            rate_limit="none",
        ),
    )
}
NAMES = tuple(PERSONALITIES)


def count(personality: Personality, text: str, spoiler: str, mastodon_count) -> int:
    """What the personality counts a status as; `mastodon_count(text, spoiler)` is Mastodon's rule."""
    if personality.counting == "codepoints":
        return len(text) + len(spoiler)
    if personality.counting == "graphemes":
        return grapheme.length(text) + grapheme.length(spoiler)
    if personality.counting == "caption":
        return len(text)
    return mastodon_count(text, spoiler)


def rate_limit_headers(style: str, reset_in: float) -> dict[str, str]:
    """The headers of a 429 in one of the styles of Personality.rate_limit."""
    reset = datetime.now(UTC) + timedelta(seconds=reset_in)
    common = {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0"}
    if style == "mastodon":
        return {**common, "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
    if style == "iso":
        return {**common, "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if style == "epoch":
        return {**common, "X-RateLimit-Reset": str(int(reset.timestamp())), "Retry-After": str(int(reset_in))}
    if style == "seconds":
        return {**common, "X-RateLimit-Reset": str(int(reset_in)), "Retry-After": str(int(reset_in))}
    return {}
