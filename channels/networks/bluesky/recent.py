"""The account's own recent posts, read from its repository on the PDS (com.atproto.repo.listRecords of
app.bsky.feed.post): works without an AppView. For a person to find the post an attempt may have
published."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from atproto import models

from channels.networks.base import RecentPost, RemoteRef
from channels.networks.bluesky.client import post_url

if TYPE_CHECKING:
    from channels.networks.bluesky.adapter import BlueskyAdapter

COLLECTION = "app.bsky.feed.post"
_PAGE = 50
_PAGES = 3


def recent_posts(
    adapter: BlueskyAdapter, since: datetime, until: datetime, limit: int = 20
) -> list[RecentPost]:
    """Posts created between `since` and `until`, newest first. The repository lists records newest
    key first, and a post's key is the time it was made, so the pages stop at the first older one."""
    sessions = adapter._sessions
    found: list[RecentPost] = []
    cursor = None
    with sessions.open() as client:
        did = sessions.did
        for _ in range(_PAGES):
            params = models.ComAtprotoRepoListRecords.Params(
                repo=did, collection=COLLECTION, limit=_PAGE, cursor=cursor
            )
            page = sessions.call(client.com.atproto.repo.list_records, params)
            for record in page.records:
                post = _recent(did, record)
                if post.created is not None and post.created < since:
                    return found
                if post.created is not None and post.created > until:
                    continue
                found.append(post)
                if len(found) >= limit:
                    return found
            cursor = page.cursor
            if not cursor or len(page.records) < _PAGE:
                return found
    return found


def _recent(did: str, record) -> RecentPost:
    value = record.value
    rkey = record.uri.rsplit("/", 1)[-1]
    return RecentPost(
        ref=RemoteRef(id=record.uri, uri=record.uri, cid=record.cid or "", url=post_url(did, rkey)),
        text=_get(value, "text") or "",
        created=_time(_get(value, "created_at", "createdAt")),
        media_count=len(_get(_get(value, "embed"), "images") or []),
    )


def _get(value: Any, *names: str) -> Any:
    """A field of a record (a model, or a plain dict for a type the SDK does not know)."""
    for name in names:
        found = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
        if found is not None:
            return found
    return None


def _time(value) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
