"""The account's own recent statuses (GET /api/v1/accounts/:id/statuses), for a person to find the one
an attempt may have published."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from channels.networks.base import RecentPost, RemoteRef
from channels.networks.mastodon import rules

if TYPE_CHECKING:
    from channels.networks.mastodon.adapter import MastodonAdapter

_PAGE = 40
_PAGES = 3


def recent_posts(
    adapter: MastodonAdapter, since: datetime, until: datetime, limit: int = 20
) -> list[RecentPost]:
    """Statuses created between `since` and `until`, newest first: pages back from the newest until one
    is older than `since` (at most a few pages)."""
    found: list[RecentPost] = []
    max_id = None
    for _ in range(_PAGES):
        with adapter._errors("the list of recent posts"):
            page = adapter.client.account_statuses(adapter.account.remote_id, limit=_PAGE, max_id=max_id)
        for status in page:
            created = status.get("created_at")
            if isinstance(created, datetime) and created < since:
                return found
            if isinstance(created, datetime) and created > until:
                continue
            found.append(_recent(status))
            if len(found) >= limit:
                return found
        if len(page) < _PAGE:
            return found
        max_id = page[-1]["id"]
    return found


def _recent(status) -> RecentPost:
    created = status.get("created_at")
    return RecentPost(
        ref=RemoteRef(
            id=str(status["id"]),
            url=status.get("url") or status.get("uri") or "",
            uri=status.get("uri") or "",
        ),
        text=rules.status_text(status),
        created=created if isinstance(created, datetime) else None,
        media_count=len(status.get("media_attachments") or []),
    )
