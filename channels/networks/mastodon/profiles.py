"""What differs between the server programs that speak Mastodon's client API, one row per program.

Read from each program's source (see the fediverse notes of this project): how it counts a status
against its limit, what it does with an Idempotency-Key, whether a top-level status needs media,
which visibilities it takes and what it does with a content warning. The software is detected at
connect (nodeinfo, else the version string) and stored in the channel's limits as ``software``;
software nobody recognised gets ``UNKNOWN``, whose counting rule is the strictest of them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ALL_VISIBILITIES = ("public", "unlisted", "private", "direct")

# Counting rules (rules.status_length applies them):
#   "mastodon"   grapheme clusters; each URL as the advertised characters_reserved_per_url (23);
#                @user@domain as @user; the content warning counts too.
#   "codepoints" code points of text and content warning, URLs and mentions at full length (GoToSocial).
#   "graphemes"  grapheme clusters of text and content warning, URLs at full length (Akkoma, Pleroma:
#                Elixir's String.length of the status and its summary).
#   "caption"    code points of the text only, URLs at full length (Pixelfed's Laravel max: rule on the
#                caption; the content warning has its own limit of 140).
#   "strictest"  the largest of the above, content warning included (software not recognised).


@dataclass(frozen=True)
class Profile:
    software: str  # nodeinfo's software name
    label: str  # how people call it
    counting: str = "mastodon"
    # "honoured" (a repeat gets the first status), "ignored", "rejects_repeat" (400 "Duplicate
    # idempotency key.", recorded before the status is created) or "replays" (the first answer is
    # replayed, errors included; the key is global to the server).
    idempotency: str = "honoured"
    media_required: bool = False  # a top-level status without media is refused
    visibilities: tuple[str, ...] = ALL_VISIBILITIES
    # A top-level status's content warning becomes its title unless friendica.title is sent.
    warning_as_title: bool = False
    warning_limit: int | None = None  # a limit of its own for the content warning


PROFILES = {
    profile.software: profile
    for profile in (
        Profile("mastodon", "Mastodon"),
        # Sharkey's Mastodon API (a Misskey fork's compatibility layer) is treated as Mastodon's: its
        # version string says "compatible; Sharkey", and its Idempotency-Key handling and counting
        # are not documented in the notes this table is read from.
        Profile("sharkey", "Sharkey"),
        Profile("gotosocial", "GoToSocial", counting="codepoints", idempotency="ignored"),
        Profile("akkoma", "Akkoma", counting="graphemes", idempotency="replays"),
        Profile("pleroma", "Pleroma", counting="graphemes", idempotency="replays"),
        Profile(
            "pixelfed",
            "Pixelfed",
            counting="caption",
            idempotency="rejects_repeat",
            media_required=True,
            visibilities=("public", "unlisted", "private"),
            warning_limit=140,
        ),
        Profile(
            "friendica",
            "Friendica",
            counting="strictest",
            idempotency="ignored",
            visibilities=("public", "unlisted", "private"),
            warning_as_title=True,
        ),
        # Takahē counts raw characters with URLs at full length; whether the content warning counts is
        # not documented, so it is counted (a post stopped here cannot fail there).
        Profile("takahe", "Takahē", counting="codepoints", idempotency="ignored"),
    )
}
UNKNOWN = Profile("", "Mastodon", counting="strictest", idempotency="ignored")

_COMPATIBLE = re.compile(r"compatible;\s*([\w.\-]+)", re.IGNORECASE)


def profile_for(limits: dict) -> Profile:
    """The profile of the software stored in a channel's limits: ``software`` ("" when detection
    recognised nothing: UNKNOWN), else ``server_software`` of older channels, else Mastodon (limits
    that were never read from a server are Mastodon's defaults)."""
    if "software" in limits:
        software = limits["software"] or ""
    else:
        software = limits.get("server_software") or "mastodon"
    return PROFILES.get(str(software).lower(), UNKNOWN)


def software_from_version(version: str) -> str:
    """The software a Mastodon-API version string names: "2.7.2 (compatible; Akkoma 3.13)" -> akkoma,
    "3.5.3+0.20.0" -> gotosocial, "takahe/0.11.0" -> takahe, "4.3.0" -> mastodon, else ""."""
    version = (version or "").strip()
    if match := _COMPATIBLE.search(version):
        return match.group(1).lower()
    if re.match(r"takah[eē]/", version, re.IGNORECASE):
        return "takahe"
    if re.fullmatch(r"3\.5\.3\+0\.\d+\.\d+.*", version):
        return "gotosocial"  # GoToSocial claims Mastodon 3.5.3 and appends its own 0.x version
    if re.fullmatch(r"\d+\.\d+\.\d+([+\-~][\w.\-+]*)?", version):
        return "mastodon"  # Mastodon and its forks (glitch-soc, Hometown) count like Mastodon
    return ""


def software_version(version: str) -> str:
    """The software's own version in a version string ("3.13" of "... (compatible; Akkoma 3.13)")."""
    version = (version or "").strip()
    if match := re.search(r"compatible;\s*[\w.\-]+\s+([^\s)]+)", version):
        return match.group(1)
    if "/" in version:
        return version.rpartition("/")[2]
    if "+" in version:
        return version.partition("+")[2]
    return version.split(" ")[0]
