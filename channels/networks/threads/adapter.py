"""Threads (Meta): publishing, finding what an earlier attempt published, metrics, limits and tokens.

The HTTP client is in client.py, the meaning of Meta's errors in errors.py, the offline rules and the
default limits in rules.py, connecting in connecting.py. Account.remote_id is the Threads user id;
the credentials are described in connecting.py.

Publishing a part (ARCHITECTURE invariant 3):
  1. create a container (POST /{user}/threads); carousel children first, each checkpointed as created;
     the container id is checkpointed with request.checkpoint() before anything is published;
  2. poll GET /{container}?fields=status,error_message until FINISHED, within a bound
     (THREADS_CONTAINER_WAIT_SECONDS, default 60, sleeps growing from THREADS_POLL_FIRST_DELAY); still
     IN_PROGRESS after it -> TransientError(retry_after=30), and the retry keeps polling the same container;
  3. publish (POST /{user}/threads_publish); "Media Not Found" (code 24 / subcode 4279009) right after
     FINISHED is retried THREADS_MEDIA_NOT_FOUND_TRIES times, THREADS_MEDIA_NOT_FOUND_DELAY seconds apart,
     then the container is recreated once;
  4. the media id is checkpointed, then GET /{media}?fields=permalink gives the URL.
On a retry, find_published() asks the stored container for its status: PUBLISHED means an earlier attempt
went through. The container status does not say which media it became (published media have other ids,
and `status` is not a field of a published media object), so the media is found by listing the account's
recent posts (GET /{user}/threads, or /{user}/replies for a reply part) created since the container and
matching the text (and the replied-to post when the API tells it). If nothing matches, it raises
OutcomeUnknown instead of guessing. When it finds nothing, the engine calls publish_part() with the same
request, which goes on from the status just read rather than asking again: FINISHED -> publish it;
IN_PROGRESS -> poll; ERROR/EXPIRED -> a new container (checkpointed).

The daily publishing quota (250 posts in a rolling 24 h window, or the account's figure) is read before
creating a container for the first part of a post. A full quota is a TransientError, not ContentRejected:
the post itself is fine and can go out once older posts leave the window. Meta does not tell when that is,
so retry_after is one hour. Reply parts (the later parts of a thread) count against Meta's separate reply
quota, whose reading needs a permission this app does not ask for, so they are not pre-checked; the
publish call still enforces it.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings

from channels.networks.base import (
    Account,
    Adapter,
    AdapterError,
    AuthorizationLost,
    ConnectedAccount,
    ContentRejected,
    MediaItem,
    Metrics,
    OutcomeUnknown,
    PartContent,
    PartRequest,
    PostOptions,
    RemoteRef,
    TransientError,
    Validation,
)
from channels.networks.threads import rules
from channels.networks.threads.client import GraphClient, iso, now, parse_time
from channels.networks.threads.connecting import profile
from channels.networks.threads.errors import MediaNotFound, container_error
from channels.networks.threads.network import DAILY_POSTS

logger = logging.getLogger(__name__)

INSIGHT_METRICS = "views,likes,replies,reposts,quotes"


class ThreadsAdapter(Adapter):
    network = "threads"
    default_limits = rules.DEFAULT_LIMITS

    def __init__(self, account: Account):
        super().__init__(account)
        self.client = GraphClient()
        self.container_wait = float(getattr(settings, "THREADS_CONTAINER_WAIT_SECONDS", 60.0))
        self.poll_first_delay = float(getattr(settings, "THREADS_POLL_FIRST_DELAY", 1.0))
        self.poll_max_delay = float(getattr(settings, "THREADS_POLL_MAX_DELAY", 10.0))
        self.not_found_delay = float(getattr(settings, "THREADS_MEDIA_NOT_FOUND_DELAY", 2.0))
        self.not_found_tries = int(getattr(settings, "THREADS_MEDIA_NOT_FOUND_TRIES", 3))
        # (request, container id, status) that find_published() last read, for publish_part() to go on from.
        self._looked: tuple[PartRequest, str, str] | None = None

    @property
    def user_id(self) -> str:
        return str(self.account.remote_id or self.account.credentials.get("user_id", ""))

    def _call(self, method: str, path: str, **kwargs) -> dict[str, Any]:
        return self.client.call(
            method, path, token=self.account.credentials.get("access_token", ""), **kwargs
        )

    def validate(self, parts: list[PartContent], options: PostOptions) -> Validation:
        return rules.validate(parts, options, self.limits)

    # -- has an earlier attempt published it?

    def find_published(self, request: PartRequest) -> RemoteRef | None:
        state = dict(request.state or {})
        self._looked = None
        if state.get("media_id"):
            return self._ref(state["media_id"])
        container_id = state.get("container_id")
        if not container_id:
            return None
        status = self._status(container_id).get("status", "")
        self._looked = (request, container_id, status)
        if status != "PUBLISHED":
            return None
        return self._published(request, state)

    def _published(self, request: PartRequest, state: dict[str, Any]) -> RemoteRef:
        """The part whose container is PUBLISHED (see the module docstring)."""
        return self._found(request, state, self._find_media(request, state))

    def _find_media(self, request: PartRequest, state: dict[str, Any]) -> str:
        created = parse_time(state.get("created_at", "")) or (now() - timedelta(days=1))
        since = created - timedelta(minutes=2)
        edge = "replies" if request.reply_to else "threads"
        fields = "id,text,timestamp,permalink" + (",replied_to" if request.reply_to else "")
        answer = self._call(
            "GET",
            f"{self.user_id}/{edge}",
            params={"fields": fields, "since": int(since.timestamp()), "limit": 50},
        )
        wanted = (request.part.text or "").strip()
        matches = []
        for media in answer.get("data") or []:
            if (media.get("text") or "").strip() != wanted:
                continue
            published = parse_time(media.get("timestamp", ""))
            if published and published < since:
                continue
            replied_to = (media.get("replied_to") or {}).get("id")
            if request.reply_to and replied_to and str(replied_to) != str(request.reply_to.id):
                continue
            matches.append((published or created, str(media["id"])))
        if not matches:
            raise OutcomeUnknown(
                "Threads reports this post as published, but it could not be found among the account's "
                "recent posts. Check the Threads profile before posting it again."
            )
        return min(matches)[1]

    # -- publishing

    def publish_part(self, request: PartRequest) -> RemoteRef:
        """Publish one part. With state from an earlier attempt, the caller has asked find_published()
        first (the engine does); the container status it read is used, not read again."""
        state = dict(request.state or {})
        if state.get("media_id"):  # out already: the caller did not ask find_published()
            return self._ref(state["media_id"])
        deadline = time.monotonic() + self.container_wait
        container_id = state.get("container_id")
        status = self._stored_status(request, container_id) if container_id else ""
        if status == "PUBLISHED":  # the caller did not ask find_published(): the same answer
            return self._published(request, state)
        if status in ("ERROR", "EXPIRED"):
            logger.info("Threads container %s is %s; creating a new one", container_id, status)
            container_id = None
        if not container_id:
            if request.reply_to is None:
                self._check_quota()
            container_id = self._create(request, state, deadline)
            status = ""
        for recreated in (False, True):
            if status != "FINISHED":
                self._wait_finished([container_id], deadline)
            media_id = self._publish(container_id)
            if media_id:
                return self._found(request, state, media_id)
            # Repeated "Media Not Found": the container may be broken, but make sure it did not publish.
            if self._status(container_id)["status"] == "PUBLISHED":
                return self._published(request, state)
            if not recreated:
                container_id = self._create(request, state, deadline)
                status = ""
        raise TransientError(
            "Threads could not find the prepared post when publishing it; trying again later.", 60
        )

    def _stored_status(self, request: PartRequest, container_id: str) -> str:
        """The stored container's status: as find_published() just read it for this request, else asked."""
        looked, self._looked = self._looked, None
        if looked and looked[0] is request and looked[1] == container_id:
            return looked[2]
        return self._status(container_id).get("status", "")

    def _found(self, request: PartRequest, state: dict[str, Any], media_id: str) -> RemoteRef:
        state["media_id"] = media_id
        request.checkpoint(dict(state))
        return self._ref(media_id)

    def _ref(self, media_id: str) -> RemoteRef:
        try:
            permalink = self._call("GET", media_id, params={"fields": "permalink"}).get("permalink", "")
        except AdapterError as exc:
            # The post is out (its id is checkpointed): a missing link must not turn that into a failure.
            logger.info("Threads permalink of %s not read: %s", media_id, exc.message)
            permalink = ""
        return RemoteRef(id=str(media_id), url=permalink or "")

    def _check_quota(self) -> None:
        used, limit = self.publishing_quota()
        if limit and used >= limit:
            raise TransientError(
                f"This Threads profile has published its {limit} posts allowed in 24 hours; the post will go "
                "out when older posts leave that window.",
                retry_after=3600,
            )

    def _base_params(self, request: PartRequest) -> dict[str, Any]:
        options = request.options
        params = {
            "text": request.part.text,
            "reply_to_id": request.reply_to.id if request.reply_to else None,
            "reply_control": options.reply_control or None,
        }
        if request.index == 0:
            # One topic for the whole thread, on its first post (where Threads shows it).
            params["topic_tag"] = options.topic_tag.strip() or None
        return params

    def _create(self, request: PartRequest, state: dict[str, Any], deadline: float) -> str:
        media = request.part.media
        params = self._base_params(request)
        if not media:
            params["media_type"] = "TEXT"
            if request.index == 0 and request.options.link_attachment:
                params["link_attachment"] = request.options.link_attachment
        elif len(media) == 1:
            params.update(self._media_params(media[0]))
        else:
            children = self._children(request, state, deadline)
            params.update(media_type="CAROUSEL", children=",".join(children))
        container_id = str(self._call("POST", f"{self.user_id}/threads", data=params)["id"])
        state.update(container_id=container_id, created_at=iso(now()))
        request.checkpoint(dict(state))
        return container_id

    def _media_params(self, item: MediaItem, carousel_item: bool = False) -> dict[str, Any]:
        if not item.public_url:
            raise ContentRejected(rules.NO_PUBLIC_ADDRESS)
        is_video = item.mime_type in rules.VIDEO_TYPES
        params = {
            "media_type": "VIDEO" if is_video else "IMAGE",
            "video_url" if is_video else "image_url": item.public_url,
            "alt_text": item.alt_text.strip() or None,
        }
        if carousel_item:
            params["is_carousel_item"] = "true"
        return params

    def _children(self, request: PartRequest, state: dict[str, Any], deadline: float) -> list[str]:
        media = request.part.media
        children = list(state.get("children") or [])[: len(media)]
        for position, item in enumerate(media):
            child = children[position] if position < len(children) else None
            # A child from an earlier attempt is reused unless it failed or expired meanwhile.
            if child and self._status(child)["status"] in ("ERROR", "EXPIRED"):
                child = None
            if child:
                continue
            child = str(
                self._call("POST", f"{self.user_id}/threads", data=self._media_params(item, True))["id"]
            )
            if position < len(children):
                children[position] = child
            else:
                children.append(child)
            state["children"] = list(children)
            request.checkpoint(dict(state))
        self._wait_finished(children, deadline)
        return children

    def _status(self, container_id: str) -> dict[str, Any]:
        return self._call("GET", container_id, params={"fields": "status,error_message"})

    def _wait_finished(self, container_ids: list[str], deadline: float) -> None:
        """Poll until every container is FINISHED; ERROR is the post's fault, a timeout is transient."""
        waiting = list(container_ids)
        delay = self.poll_first_delay
        while True:
            still = []
            for container_id in waiting:
                answer = self._status(container_id)
                status = answer.get("status")
                if status == "ERROR":
                    reason = str(answer.get("error_message") or "UNKNOWN")
                    logger.info("Threads container %s failed: %s", container_id, reason)
                    raise container_error(reason)
                if status == "EXPIRED":
                    raise TransientError(
                        "The prepared Threads post expired before it was published; trying again."
                    )
                if status not in ("FINISHED", "PUBLISHED"):
                    still.append(container_id)
            if not still:
                return
            waiting = still
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransientError(
                    "Threads is still processing the media; checking again shortly.", retry_after=30
                )
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, self.poll_max_delay)

    def _publish(self, container_id: str) -> str | None:
        """The media id, or None when Threads kept answering "Media Not Found"."""
        for attempt in range(self.not_found_tries):
            try:
                answer = self._call(
                    "POST", f"{self.user_id}/threads_publish", data={"creation_id": container_id}
                )
                return str(answer["id"])
            except MediaNotFound:
                logger.info(
                    "Threads answered Media Not Found for container %s (try %s)", container_id, attempt + 1
                )
                if attempt + 1 < self.not_found_tries:
                    time.sleep(self.not_found_delay)
        return None

    # -- quota and limits, metrics, credentials, profile

    def publishing_quota(self) -> tuple[int, int]:
        """(posts published in the last 24 h, posts allowed) for this profile."""
        answer = self._call(
            "GET", f"{self.user_id}/threads_publishing_limit", params={"fields": "quota_usage,config"}
        )
        row = (answer.get("data") or [{}])[0]
        allowed = int((row.get("config") or {}).get("quota_total") or DAILY_POSTS)
        return int(row.get("quota_usage") or 0), allowed

    def read_limits(self) -> dict[str, Any]:
        """The fixed limits, with the posts a day Meta allows this profile (its publishing limit)."""
        _, allowed = self.publishing_quota()
        return {**rules.DEFAULT_LIMITS, "daily_posts": allowed}

    def fetch_metrics(self, refs: list[RemoteRef]) -> dict[str, Metrics]:
        results = {}
        for ref in refs:
            try:
                answer = self._call("GET", f"{ref.id}/insights", params={"metric": INSIGHT_METRICS})
            except ContentRejected as exc:
                # A post deleted on Threads has no insights any more; the others still count.
                logger.info("No Threads insights for %s: %s", ref.id, exc.message)
                continue
            values = {}
            for row in answer.get("data") or []:
                total = row.get("total_value") or {}
                value = total.get("value") if total else ((row.get("values") or [{}])[0].get("value"))
                values[row.get("name")] = int(value or 0)
            results[ref.id] = Metrics(
                likes=values.get("likes", 0),
                reposts=values.get("reposts", 0),
                replies=values.get("replies", 0),
                quotes=values.get("quotes", 0),
                views=values.get("views"),
            )
        return results

    def refresh_credentials(self) -> dict[str, Any]:
        """Swap the long-lived token for a new one (60 more days). Never stores an empty token.

        Returns the saved credentials plus "expires_in" (seconds) so the caller can set
        Channel.token_expires (network.py's `refreshed`); "expires_at" carries the same instant as ISO 8601.
        """
        current = dict(self.account.credentials)
        if self.account.load_credentials:
            current = dict(self.account.load_credentials() or current)
        token = current.get("access_token", "")
        if not token:
            raise AuthorizationLost("This Threads channel has no stored login. Reconnect the channel.")
        answer = self.client.call(
            "GET", "refresh_access_token", token=token, params={"grant_type": "th_refresh_token"}
        )
        new_token = answer.get("access_token")
        if not new_token or not isinstance(new_token, str):
            raise TransientError(
                "Threads answered the login refresh without a new login; the current one is kept."
            )
        expires_in = int(answer.get("expires_in") or 0)
        renewed = now()
        credentials = {
            "access_token": new_token,
            "user_id": str(current.get("user_id") or self.user_id),
            "obtained_at": iso(renewed),
            "expires_at": iso(renewed + timedelta(seconds=expires_in)) if expires_in else "",
        }
        self.account.save_credentials(credentials)
        self.account.credentials = credentials
        return {**credentials, "expires_in": expires_in}

    def verify(self) -> ConnectedAccount:
        return profile(
            self.client, self.account.credentials.get("access_token", ""), dict(self.account.credentials)
        )

    def recent_posts(self, since, until, limit: int = 20):
        from channels.networks.threads import recent

        return recent.recent_posts(self, since, until, limit)
