"""The account's own recent notes (users/notes), for a person to find the one an attempt may have
published."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from channels.networks.base import RecentPost

if TYPE_CHECKING:
    from channels.networks.misskey.adapter import MisskeyAdapter

_MAX = 100  # users/notes' largest page


def recent_posts(
    adapter: MisskeyAdapter, since: datetime, until: datetime, limit: int = 20
) -> list[RecentPost]:
    """Notes created between `since` and `until`, newest first, at most `limit`."""
    notes = adapter.client.call(
        "users/notes",
        {
            "userId": adapter.account.remote_id,
            "sinceDate": int(since.timestamp() * 1000),
            "untilDate": int(until.timestamp() * 1000),
            "limit": max(1, min(limit, _MAX)),
            "withReplies": True,
            "withRenotes": False,
        },
        what="the list of recent notes",
    )
    found = []
    for note in notes if isinstance(notes, list) else []:
        created = _created(note.get("createdAt"))
        found.append(
            RecentPost(
                ref=adapter.ref_for(note),
                text=(note.get("text") or "").strip(),
                created=created,
                media_count=len(note.get("fileIds") or []),
            )
        )
    found.sort(key=lambda post: post.created or since, reverse=True)
    return found[:limit]


def _created(value) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
