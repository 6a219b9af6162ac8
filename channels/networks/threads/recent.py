"""The account's own recent threads (GET /me/threads), for a person to find the one an attempt may have
published."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from channels.networks.base import RecentPost, RemoteRef
from channels.networks.threads.client import parse_time

if TYPE_CHECKING:
    from channels.networks.threads.adapter import ThreadsAdapter

# How many attachments a media type stands for; a carousel has at least two (the list does not say more).
_MEDIA = {"IMAGE": 1, "VIDEO": 1, "CAROUSEL_ALBUM": 2}


def recent_posts(
    adapter: ThreadsAdapter, since: datetime, until: datetime, limit: int = 20
) -> list[RecentPost]:
    """Threads created between `since` and `until`, newest first (one page: Threads filters by time)."""
    answer = adapter._call(
        "GET",
        "me/threads",
        params={
            "fields": "id,permalink,text,timestamp,media_type",
            "since": int(since.timestamp()),
            "until": int(until.timestamp()) + 1,
            "limit": limit,
        },
    )
    found = []
    for media in answer.get("data") or []:
        created = parse_time(media.get("timestamp", ""))
        if created is not None and not since <= created <= until:
            continue
        found.append(
            RecentPost(
                ref=RemoteRef(id=str(media["id"]), url=media.get("permalink") or ""),
                text=media.get("text") or "",
                created=created,
                media_count=_MEDIA.get(media.get("media_type") or "", 0),
            )
        )
    found.sort(key=lambda post: post.created or since, reverse=True)
    return found[:limit]
