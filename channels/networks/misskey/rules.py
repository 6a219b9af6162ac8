"""Misskey's limits and the offline check of a post against them.

Limits come from `meta` (`maxNoteTextLength`, `maxFileSize`) and the account's role policies in `i`
(`canPublicNote`, `maxFileSizeMb`); the note's CW is at most 100 characters and a note carries at most
16 files (notes/create's parameters). Misskey counts a note's length in code points.
"""

from __future__ import annotations

import os
from typing import Any

from channels.networks.base import PartContent, PostOptions, Problem, Usage, Validation

NETWORK = "misskey"
MB = 1024 * 1024
DEFAULT_MAX_CHARACTERS = 3000
MAX_CW = 100
MAX_FILES = 16
VISIBILITIES = ("public", "home", "followers")
DEFAULT_LIMITS: dict[str, Any] = {
    "max_characters": DEFAULT_MAX_CHARACTERS,
    "max_cw": MAX_CW,
    "max_media": MAX_FILES,
    "max_file_size": 0,  # 0: not known
    "can_public_note": True,
}


def limits_from(meta: Any, me: Any, base_url: str) -> dict[str, Any]:
    """The limits to store on the channel, from the server's `meta` and the account's `i`."""
    meta = meta if isinstance(meta, dict) else {}
    policies = (me or {}).get("policies") if isinstance(me, dict) else None
    policies = policies if isinstance(policies, dict) else {}
    sizes = [int(meta.get("maxFileSize") or 0)]
    if policies.get("maxFileSizeMb"):
        sizes.append(int(float(policies["maxFileSizeMb"]) * MB))
    known = [size for size in sizes if size > 0]
    return {
        **DEFAULT_LIMITS,
        "max_characters": _positive(meta.get("maxNoteTextLength"), DEFAULT_MAX_CHARACTERS),
        "max_file_size": min(known) if known else 0,
        "can_public_note": policies.get("canPublicNote") is not False,
        "server_name": str(meta.get("name") or ""),
        "server_version": str(meta.get("version") or ""),
        "domain": base_url.split("://", 1)[-1],
    }


def _positive(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def length(text: str) -> int:
    """Characters as Misskey counts them: code points of the trimmed text."""
    return len((text or "").strip())


def file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def validate(parts: list[PartContent], options: PostOptions, limits: dict[str, Any]) -> Validation:
    limit = _positive(limits.get("max_characters"), DEFAULT_MAX_CHARACTERS)
    max_files = _positive(limits.get("max_media"), MAX_FILES)
    max_size = int(limits.get("max_file_size") or 0)
    problems: list[Problem] = []
    usage: list[Usage] = []
    cw = options.misskey_cw or ""
    if length(cw) > MAX_CW:
        problems.append(
            Problem(
                f"The content warning is {length(cw)} characters; Misskey allows {MAX_CW}.", field="options"
            )
        )
    visibility = options.misskey_visibility
    if visibility not in VISIBILITIES:
        problems.append(Problem("Choose who can see the note: public, home or followers.", field="options"))
    elif visibility == "public" and limits.get("can_public_note") is False:
        problems.append(
            Problem(
                "This account's role on its server does not allow public notes: choose Home or Followers.",
                field="options",
            )
        )
    for index, part in enumerate(parts):
        used = length(part.text)
        usage.append(Usage(used=used, limit=limit))
        if used > limit:
            problems.append(
                Problem(f"This note is {_characters(used - limit)} over the server's {limit}.", part=index)
            )
        if not used and not part.media:
            problems.append(Problem("A note needs text or an image.", part=index))
        if len(part.media) > max_files:
            problems.append(Problem(f"A note carries at most {max_files} files.", part=index, field="media"))
        for item in part.media:
            size = item.size or file_size(item.path)
            if max_size and size > max_size:
                problems.append(
                    Problem(
                        f"{os.path.basename(item.path)} is {size / MB:.1f} MB; this account may upload "
                        f"files up to {max_size / MB:.1f} MB.",
                        part=index,
                        field="media",
                    )
                )
    return Validation(problems=problems, usage=usage)


def _characters(count: int) -> str:
    return f"{count} character" if count == 1 else f"{count} characters"
