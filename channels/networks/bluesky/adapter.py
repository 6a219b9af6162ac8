"""Bluesky (AT Protocol, any PDS) through the `atproto` SDK: publishing, finding, metrics, verifying.

The package: `client` (the guarded HTTP client and record keys), `sessions` (the account's session
under a lock), `errors` (what failures mean), `rules` (counting, validation, limits), `records`
(facets, images, link cards and reply refs of a post), `connecting` (signing in a new channel),
`profile` (the display name and avatar, from an AppView when one answers).

Exactly once. A post is created with a record key (a TID) generated once and checkpointed before
createRecord. On a retry the publishing engine first asks find_published(), which reads that key,
and calls publish_part() only when the earlier attempt left no post: publish_part() then creates
the record under the same key, so an earlier request still on its way and this one cannot both
make a post (the second is refused as a duplicate). RemoteRef.id is the post's at:// URI (unique on
its own, and what getPosts takes); the rkey is its last segment.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from atproto import Client, models
from atproto.exceptions import AtProtocolError, BadRequestError

from channels.networks.base import (
    Account,
    Adapter,
    ConnectedAccount,
    Metrics,
    PartContent,
    PartRequest,
    PostOptions,
    RemoteRef,
    Validation,
)
from channels.networks.bluesky import records, rules
from channels.networks.bluesky.client import new_tid, post_url
from channels.networks.bluesky.errors import error_name
from channels.networks.bluesky.profile import appview_unavailable, read_profile
from channels.networks.bluesky.sessions import Sessions

logger = logging.getLogger(__name__)

METRICS_BATCH = 25


class BlueskyAdapter(Adapter):
    network = rules.NETWORK
    default_limits = rules.DEFAULT_LIMITS

    def __init__(self, account: Account):
        super().__init__(account)
        self._sessions = Sessions(account)

    def validate(self, parts: list[PartContent], options: PostOptions) -> Validation:
        return rules.validate(parts, options, self.limits, self.max_image_pixels())

    def read_limits(self) -> dict[str, Any]:
        """Bluesky's limits are the lexicon's, the same for every account: nothing to ask the PDS."""
        return dict(rules.DEFAULT_LIMITS)

    # --- publishing ---

    def publish_part(self, request: PartRequest) -> RemoteRef:
        """Create the post. A record key in `request.state` means an earlier attempt got as far as
        createRecord; the caller has asked find_published() that there is no post under it."""
        text = request.part.text
        rules.check_text(text, self.limits)
        prepared = records.prepare(request, self.limits, self.max_image_pixels())
        with self._sessions.open() as client:
            record = models.AppBskyFeedPost.Record(
                text=text,
                created_at=client.get_current_time_iso(),
                facets=records.facets(self._sessions, client, text) or None,
                embed=records.embed(self._sessions, client, prepared),
                reply=records.reply_ref(request),
                langs=[request.options.language] if request.options.language else None,
            )
            rkey = request.state.get("rkey")
            if not rkey:
                rkey = new_tid()
                request.checkpoint({**request.state, "rkey": rkey})
            did = self._sessions.did
            created = self._sessions.call(
                client.app.bsky.feed.post.create, repo=did, record=record, rkey=rkey
            )
        logger.info("Published Bluesky post %s", created.uri)
        return RemoteRef(id=created.uri, uri=created.uri, cid=created.cid, url=post_url(did, rkey))

    def find_published(self, request: PartRequest) -> RemoteRef | None:
        rkey = request.state.get("rkey")
        if not rkey:
            return None  # createRecord was never attempted
        with self._sessions.open() as client:
            found = self._get_post(client, rkey)
        if found is not None:
            logger.info("Bluesky post %s was already published by an earlier attempt", found.uri)
        return found

    def _get_post(self, client: Client, rkey: str) -> RemoteRef | None:
        did = self._sessions.did
        try:
            found = self._sessions.call(client.app.bsky.feed.post.get, did, rkey)
        except BadRequestError as exc:
            if error_name(exc) == "RecordNotFound":
                return None
            raise
        return RemoteRef(id=found.uri, uri=found.uri, cid=found.cid or "", url=post_url(did, rkey))

    # --- metrics, verify ---

    def fetch_metrics(self, refs: list[RemoteRef]) -> dict[str, Metrics]:
        by_uri = {(ref.uri or ref.id): ref.id for ref in refs}
        uris = list(by_uri)
        result: dict[str, Metrics] = {}
        with self._sessions.open() as client:
            for start in range(0, len(uris), METRICS_BATCH):
                try:
                    response = self._sessions.call(client.get_posts, uris[start : start + METRICS_BATCH])
                except (AtProtocolError, httpx.TransportError) as exc:
                    if not appview_unavailable(exc):
                        raise
                    # Counts come from an AppView; without one there is nothing to read this time.
                    logger.info(
                        "No Bluesky AppView answered for metrics (%s); trying again later", error_name(exc)
                    )
                    return result
                for post in response.posts:
                    if post.uri in by_uri:
                        result[by_uri[post.uri]] = Metrics(
                            likes=post.like_count or 0,
                            reposts=post.repost_count or 0,
                            replies=post.reply_count or 0,
                            quotes=post.quote_count or 0,
                        )
        return result

    def verify(self) -> ConnectedAccount:
        """Ask the PDS for the session (renewed, or signed in again, if it has to be): that is the check.
        The profile comes from an AppView, when one answers; without it the fields stay empty."""
        with self._sessions.open() as client:
            session = self._sessions.call(client.com.atproto.server.get_session)
            profile = read_profile(client, session.did)
            return ConnectedAccount(
                network=rules.NETWORK,
                remote_id=session.did,
                handle=session.handle,
                server_url=self.account.server_url,
                credentials=dict(self._sessions.credentials),
                display_name=(profile.display_name or "") if profile else "",
                avatar_url=(profile.avatar or "") if profile else "",
            )

    def recent_posts(self, since, until, limit: int = 20):
        from channels.networks.bluesky import recent

        return recent.recent_posts(self, since, until, limit)
