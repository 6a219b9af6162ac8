"""Publishing to Mastodon and the servers that speak its client API (Pleroma/Akkoma, GoToSocial,
Pixelfed, Friendica, Takahē, Sharkey): the worker-side adapter.

Its neighbours: client.py builds the guarded Mastodon.py client, errors.py says what a failure
means, profiles.py what differs per server software, rules.py holds the limits, counting and
validation, limits.py reads a server's limits, statuses.py posts a status and recognises one read
back, ratelimit.py reads rate-limit headers, and connecting.py connects accounts.

Exactly once: every part is posted with an Idempotency-Key derived from the delivery part's key, so
a retry within Mastodon's memory of it (about an hour) gets the first status back. Forks may ignore
the key and Mastodon forgets it, so before a retry posts again the publishing engine asks
find_published, which looks for the status among the account's recent posts. An answer to the key
that says nothing about the post (Pixelfed's 400 for a repeated key, Akkoma's replayed 5xx) is a
transient error: the next attempt reads back first, and uses a new key if nothing is there. The time
of the first attempt is checkpointed before the status is sent; the search stops at posts older than
that, so "not found" means absent.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mastodon import Mastodon, MastodonError, MastodonNotFoundError

from channels.networks.base import (
    Account,
    Adapter,
    AuthorizationLost,
    ConnectedAccount,
    ContentRejected,
    Metrics,
    OutcomeUnknown,
    PartContent,
    PartRequest,
    PostOptions,
    RemoteRef,
    TransientError,
    Validation,
)
from channels.networks.mastodon import ratelimit, rules, statuses
from channels.networks.mastodon.client import (
    DEFAULT_VERSION,
    host_of,
    http_allowed,
    last_headers,
    new_client,
    version_tuple,
)
from channels.networks.mastodon.connecting import NETWORK, connected_account
from channels.networks.mastodon.errors import adapter_error, classify
from channels.networks.mastodon.limits import read_server_limits
from channels.networks.mastodon.profiles import Profile, profile_for

log = logging.getLogger(__name__)

# How far a server's clock may be behind ours when comparing created_at with our first attempt.
_CLOCK_MARGIN = timedelta(minutes=10)
_LOOKUP_PAGE = 40
_LOOKUP_PAGES = 3
_BATCH = 20  # ids per GET /api/v1/statuses


class MastodonAdapter(Adapter):
    network = NETWORK
    default_limits = rules.DEFAULT_LIMITS
    # Waiting for media processing, per attempt. A retry resumes polling the same upload.
    media_wait_seconds = 60.0
    media_poll_interval = 1.0

    def __init__(self, account: Account):
        super().__init__(account)
        self._client: Mastodon | None = None

    # --- plumbing ------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return host_of(self.account.server_url)

    @property
    def client(self) -> Mastodon:
        if self._client is None:
            base_url = self.account.server_url
            if base_url.startswith("http://") and not http_allowed():
                raise AuthorizationLost(
                    f"{self.host} is connected over plain http, which would expose the access token. "
                    "Reconnect the channel with its https:// address."
                )
            token = (self.account.credentials or {}).get("access_token")
            if not token:
                raise AuthorizationLost("This channel has no access token. Reconnect it.")
            self._client = new_client(
                base_url, token, version=str(self.limits.get("server_version") or DEFAULT_VERSION)
            )
        return self._client

    @contextmanager
    def _errors(
        self, what: str = "the post", *, replying: bool = False, gone: str = "account"
    ) -> Iterator[None]:
        """Turn Mastodon.py's errors into the three kinds (errors.py). Anything else (a bug) passes through.

        `gone` says what a 404/410 means here: "account" (the account is gone: reconnect) or
        "content" (the thing acted on is missing: rejected).
        """
        try:
            yield
        except MastodonError as exc:
            headers = last_headers(self._client) if self._client else None
            retry_after = ratelimit.retry_after(headers)
            reset = self._client.ratelimit_reset if self._client else None
            if retry_after is None and reset:
                retry_after = max(0.0, reset - time.time()) + ratelimit.SAFETY_MARGIN
            error = adapter_error(
                exc,
                self.host,
                what,
                replying=replying,
                gone=gone,
                retry_after=retry_after,
                software=self.software_label,
            )
            if error is None:
                raise
            raise error from exc

    @property
    def profile(self) -> Profile:
        return profile_for(self.limits)

    @property
    def software_label(self) -> str:
        return self.profile.label

    # --- validation ----------------------------------------------------------------------------

    def count(self, text: str, content_warning: str = "") -> int:
        """Characters `text` counts as on this server (posts.threading splits long texts with it)."""
        return rules.status_length(
            text, content_warning, self.limits.get("characters_reserved_per_url"), self.profile.counting
        )

    def counter(self, options: PostOptions):
        """URLs as the server reserves for them, and the content warning counted with each part."""
        warning = options.content_warning or ""
        return (lambda text: self.count(text, warning)), int(self.limits["max_characters"])

    def validate(self, parts: list[PartContent], options: PostOptions) -> Validation:
        """Offline, by this server's cached limits (rules.validate)."""
        return rules.validate(parts, options, self.limits)

    def max_image_pixels(self) -> int | None:
        return rules.max_image_pixels(self.limits)

    # --- publishing ----------------------------------------------------------------------------

    @staticmethod
    def idempotency_key(request: PartRequest) -> str:
        """Stable for this delivery part across every retry, and says nothing about our ids.

        Unique to the part on every server (Akkoma keeps keys for the whole server, not per account).
        A new round (`key_round` in the part's state) starts after a server answered the key with
        something that says nothing about the post (Pixelfed's "Duplicate idempotency key.", Akkoma's
        replayed 5xx) and the read-back then found no post: the old key would get the same answer.
        """
        round_ = int(request.state.get("key_round") or 0)
        suffix = f":{round_}" if round_ else ""
        return hashlib.sha256(f"mastodon-part:{request.key}{suffix}".encode()).hexdigest()[:40]

    def publish_part(self, request: PartRequest) -> RemoteRef:
        """Upload the media and post the status.

        Whether an earlier attempt already published the part is the engine's question, asked
        through find_published before this is called; a retry here still sends the same
        Idempotency-Key, so a server that remembers it answers with the first status.
        """
        state = dict(request.state)
        media_ids = self._upload_media(request, state)

        if not state.get("posting_since"):
            state["posting_since"] = datetime.now(UTC).isoformat()
            request.checkpoint(dict(state))

        try:
            with self._errors("the post", replying=request.reply_to is not None):
                status = statuses.post(
                    self.client, request, media_ids, self.idempotency_key(request), self.profile
                )
        except (TransientError, ContentRejected) as exc:
            if not self._answer_says_nothing(exc):
                raise
            # The read-back before the next attempt tells; if it finds nothing, a new key.
            state["key_round"] = int(state.get("key_round") or 0) + 1
            request.checkpoint(dict(state))
            raise TransientError(
                f"{self.software_label} at {self.host} did not say whether it published this part; "
                "checking the account's posts before trying again.",
                retry_after=getattr(exc, "retry_after", None),
            ) from exc
        ref = _ref(status)
        log.info("Mastodon %s: published part %s as %s", self.host, request.index, ref.id)
        return ref

    def _answer_says_nothing(self, exc: Exception) -> bool:
        """Pixelfed's 400 for a repeated key, or a 5xx the key would get again (Akkoma replays the first
        answer to a key for hours): a retry with the same key learns nothing about the post."""
        failure = classify(exc.__cause__) if exc.__cause__ is not None else None
        if failure is None:
            return False
        if failure.duplicate_key:
            return True
        if failure.kind != "server":
            return False
        headers = last_headers(self._client) if self._client else None
        replayed = str((headers or {}).get("idempotent-replayed") or "").lower() == "true"
        return replayed or self.profile.idempotency == "replays"

    def _upload_media(self, request: PartRequest, state: dict) -> list[str]:
        """Upload each attachment (or reuse one an earlier attempt uploaded) and wait until processed.

        Upload ids are checkpointed, so a retry after a processing timeout keeps waiting for the same
        upload instead of starting over with a big video.
        """
        uploaded: dict[str, str] = dict(state.get("media") or {})
        ids = []
        for position, item in enumerate(request.part.media):
            # Not the path: workers may fetch media to a different temporary file on each attempt.
            alt_digest = hashlib.sha256(item.alt_text.encode()).hexdigest()[:16]
            fingerprint = (
                f"{position}:{item.mime_type}:{item.size or rules.file_size(item.path)}:{alt_digest}"
            )
            media = None
            if fingerprint in uploaded:
                with self._errors("an attachment", gone="content"):
                    try:
                        media = self.client.media(uploaded[fingerprint])
                    except MastodonNotFoundError:
                        media = None  # expired or already attached: upload again
            if media is None:
                name = Path(item.path).name
                with self._errors(name, gone="content"), open(item.path, "rb") as handle:
                    media = self.client.media_post(
                        handle, mime_type=item.mime_type, description=item.alt_text or None, file_name=name
                    )
                uploaded[fingerprint] = str(media["id"])
                state["media"] = dict(uploaded)
                request.checkpoint(dict(state))
            ids.append(self._wait_until_processed(media, item.mime_type, Path(item.path).name))
        return ids

    def _wait_until_processed(self, media, mime_type: str, name: str) -> str:
        deadline = time.monotonic() + self.media_wait_seconds
        while media.get("url") is None:
            if time.monotonic() >= deadline:
                noun = {"image": "image", "video": "video"}.get(mime_type.split("/")[0], "file")
                raise TransientError(
                    f"{self.software_label} is still processing the {noun} {name}; trying again shortly.",
                    retry_after=30,
                )
            time.sleep(self.media_poll_interval)
            with self._errors(name, gone="content"):
                try:
                    media = self.client.media(media["id"])
                except MastodonNotFoundError:
                    raise TransientError(
                        f"{self.host} lost the upload of {name} while processing it; uploading it again."
                    ) from None
        return str(media["id"])

    def find_published(self, request: PartRequest) -> RemoteRef | None:
        """Look for this part among the account's own recent statuses.

        Mastodon remembers an Idempotency-Key for about an hour and some forks ignore it, so the
        network is asked what it has: the newest statuses of the account, back to the first attempt
        at this part (checkpointed as `posting_since` before the status was sent; without it, no
        attempt reached the network). A status matches when its text (the HTML content turned back
        into text, or the `text` field turned into text: some servers put HTML there too; links and
        whitespace as the server rewrites them), content warning, reply target and number of
        attachments are this part's, or its attachments are this part's own uploads. Reaching
        statuses older than the first attempt, or the end of the account's history, without a match
        means the part is absent. If the account posted more than a few pages since, the answer is
        unknown.
        """
        since = _parse_time(request.state.get("posting_since"))
        if since is None:
            return None
        oldest_wanted = since - _CLOCK_MARGIN
        want = statuses.Wanted(
            text=rules.comparable(request.part.text),
            reply=request.reply_to.id if request.reply_to else None,
            warning=" ".join((request.options.content_warning or "").split()),
            media=len(request.part.media),
            media_ids=frozenset(str(i) for i in (request.state.get("media") or {}).values()),
        )
        account_id = self.account.remote_id
        max_id = None
        for _ in range(_LOOKUP_PAGES):
            with self._errors("the check for an earlier attempt"):
                page = self.client.account_statuses(account_id, limit=_LOOKUP_PAGE, max_id=max_id)
            for status in page:
                created = status.get("created_at")
                if isinstance(created, datetime) and created < oldest_wanted:
                    return None
                if want.matches(status):
                    log.info(
                        "Mastodon %s: part %s was already published as %s",
                        self.host,
                        request.index,
                        status["id"],
                    )
                    return _ref(status)
            if len(page) < _LOOKUP_PAGE:
                return None
            max_id = page[-1]["id"]
        raise OutcomeUnknown(
            f"Could not tell whether {self.host} received this post: the account has posted a lot since. "
            "Check the account and publish again if the post is missing."
        )

    # --- reading -------------------------------------------------------------------------------

    def fetch_metrics(self, refs: list[RemoteRef]) -> dict[str, Metrics]:
        """Counts per status id. Deleted statuses are left out."""
        ids = [ref.id for ref in refs]
        statuses: dict[str, Any] = {}
        remaining = ids
        if version_tuple(str(self.limits.get("server_version") or "")) >= (4, 3, 0):
            remaining = []
            for start in range(0, len(ids), _BATCH):
                chunk = ids[start : start + _BATCH]
                with self._errors("the statistics request", gone="content"):
                    try:
                        for status in self.client.statuses(chunk):
                            statuses[str(status["id"])] = status
                    except MastodonNotFoundError:
                        remaining = ids[start:]  # batched reads are missing after all: one by one
                        break
        for status_id in remaining:
            with self._errors("the statistics request", gone="content"):
                try:
                    statuses[status_id] = self.client.status(status_id)
                except MastodonNotFoundError:
                    continue
        return {
            status_id: Metrics(
                likes=int(status.get("favourites_count") or 0),
                reposts=int(status.get("reblogs_count") or 0),
                replies=int(status.get("replies_count") or 0),
                quotes=int(status.get("quotes_count") or 0),
            )
            for status_id, status in statuses.items()
        }

    def read_limits(self) -> dict[str, Any]:
        """The server's limits read again, in the shape connecting stores in Channel.limits."""
        with self._errors("the request for the server's limits"):
            return read_server_limits(self.client, self.account.server_url)

    def verify(self) -> ConnectedAccount:
        with self._errors("the connection check"):
            me = self.client.account_verify_credentials()
        return connected_account(
            me, self.account.server_url, dict(self.account.credentials), dict(self.account.limits or {})
        )

    def recent_posts(self, since, until, limit: int = 20):
        from channels.networks.mastodon import recent

        return recent.recent_posts(self, since, until, limit)


def _ref(status) -> RemoteRef:
    return RemoteRef(
        id=str(status["id"]), url=status.get("url") or status.get("uri") or "", uri=status.get("uri") or ""
    )


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
