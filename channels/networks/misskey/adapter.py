"""Publishing to Misskey and its forks: the worker-side adapter.

Its neighbours: client.py makes the calls (the token in the body, never logged), errors.py says what a
failure means, rules.py holds the limits and validation, connecting.py connects accounts and recent.py
lists the account's notes.

Exactly once: Misskey has no idempotency key, so before notes/create the time of the first attempt
(and the ids of the files uploaded for the part) is checkpointed; a retry asks find_published, which
reads the account's notes since then once (users/notes) and matches this part's text, CW, files and
reply target.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    Validation,
)
from channels.networks.misskey import rules
from channels.networks.misskey.client import MisskeyClient, host_of, http_allowed
from channels.networks.misskey.connecting import connected_account

log = logging.getLogger(__name__)

# How far a server's clock may be behind ours when asking for notes since the first attempt.
_CLOCK_MARGIN = timedelta(minutes=10)
_LOOKUP_LIMIT = 100  # users/notes' largest page


class MisskeyAdapter(Adapter):
    network = rules.NETWORK
    default_limits = rules.DEFAULT_LIMITS

    def __init__(self, account: Account):
        super().__init__(account)
        self._client: MisskeyClient | None = None

    @property
    def host(self) -> str:
        return host_of(self.account.server_url)

    @property
    def client(self) -> MisskeyClient:
        if self._client is None:
            if self.account.server_url.startswith("http://") and not http_allowed():
                raise AuthorizationLost(
                    f"{self.host} is connected over plain http, which would expose the access token. "
                    "Reconnect the channel with its https:// address."
                )
            token = (self.account.credentials or {}).get("access_token")
            if not token:
                raise AuthorizationLost("This channel has no access token. Reconnect it.")
            self._client = MisskeyClient(self.account.server_url, token)
        return self._client

    # --- validation ----------------------------------------------------------------------------

    def counter(self, options: PostOptions):
        return rules.length, int(self.limits.get("max_characters") or rules.DEFAULT_MAX_CHARACTERS)

    def validate(self, parts: list[PartContent], options: PostOptions) -> Validation:
        return rules.validate(parts, options, self.limits)

    # --- publishing ----------------------------------------------------------------------------

    def publish_part(self, request: PartRequest) -> RemoteRef:
        state = dict(request.state)
        file_ids = self._upload_files(request, state)
        if not state.get("posting_since"):
            state["posting_since"] = datetime.now(UTC).isoformat()
            request.checkpoint(dict(state))
        answer = self.client.call("notes/create", self._note(request, file_ids), what="the note")
        note = (answer or {}).get("createdNote") if isinstance(answer, dict) else None
        if not isinstance(note, dict) or not note.get("id"):
            raise ContentRejected(f"{self.host} answered the note without saying which note it made.")
        ref = self.ref_for(note)
        log.info("Misskey %s: published part %s as %s", self.host, request.index, ref.id)
        return ref

    def _note(self, request: PartRequest, file_ids: list[str]) -> dict[str, Any]:
        options = request.options
        return {
            "text": request.part.text.strip() or None,
            "cw": (options.misskey_cw or "").strip() or None,
            "visibility": options.misskey_visibility,
            "localOnly": bool(options.misskey_local_only),
            "replyId": request.reply_to.id if request.reply_to else None,
            "fileIds": file_ids or None,
        }

    def _upload_files(self, request: PartRequest, state: dict) -> list[str]:
        """Upload each file to the account's drive (alt text as its `comment`), or reuse an earlier
        attempt's upload. Upload ids are checkpointed as they come."""
        uploaded: dict[str, str] = dict(state.get("files") or {})
        sensitive = bool(request.options.misskey_sensitive)
        ids = []
        for position, item in enumerate(request.part.media):
            alt_digest = hashlib.sha256(item.alt_text.encode()).hexdigest()[:16]
            size = item.size or rules.file_size(item.path)
            fingerprint = f"{position}:{item.mime_type}:{size}:{alt_digest}:{int(sensitive)}"
            if fingerprint not in uploaded:
                name = Path(item.path).name
                fields = {"name": name, "comment": item.alt_text or None, "isSensitive": sensitive}
                drive_file = self.client.upload(item.path, item.mime_type, fields, what=f"the file {name}")
                if not isinstance(drive_file, dict) or not drive_file.get("id"):
                    raise ContentRejected(f"{self.host} did not keep the file {name}.")
                uploaded[fingerprint] = str(drive_file["id"])
                state["files"] = dict(uploaded)
                request.checkpoint(dict(state))
            ids.append(uploaded[fingerprint])
        return ids

    def find_published(self, request: PartRequest) -> RemoteRef | None:
        """Look for this part among the account's notes since the first attempt, in one read.

        A note matches when its text, CW and reply target are this part's and its files are the ones
        uploaded for it. Without a checkpointed first attempt nothing reached the network.
        """
        since = _parse_time(request.state.get("posting_since"))
        if since is None:
            return None
        notes = self.client.call(
            "users/notes",
            {
                "userId": self.account.remote_id,
                "sinceDate": int((since - _CLOCK_MARGIN).timestamp() * 1000),
                "limit": _LOOKUP_LIMIT,
                "withReplies": True,
                "withRenotes": False,
            },
            what="the check for an earlier attempt",
        )
        notes = notes if isinstance(notes, list) else []
        want_files = sorted(str(i) for i in (request.state.get("files") or {}).values())
        want = (
            request.part.text.strip(),
            (request.options.misskey_cw or "").strip(),
            request.reply_to.id if request.reply_to else None,
            want_files,
        )
        for note in notes:
            have = (
                (note.get("text") or "").strip(),
                (note.get("cw") or "").strip(),
                note.get("replyId") or None,
                sorted(str(i) for i in (note.get("fileIds") or [])),
            )
            if have == want:
                log.info(
                    "Misskey %s: part %s was already published as %s", self.host, request.index, note["id"]
                )
                return self.ref_for(note)
        if len(notes) >= _LOOKUP_LIMIT:
            raise OutcomeUnknown(
                f"Could not tell whether {self.host} received this note: the account has posted a lot "
                "since. Check the account and publish again if the note is missing."
            )
        return None

    def ref_for(self, note: dict) -> RemoteRef:
        note_id = str(note["id"])
        url = note.get("url") or f"{self.account.server_url.rstrip('/')}/notes/{note_id}"
        return RemoteRef(id=note_id, url=url, uri=note.get("uri") or "")

    # --- reading -------------------------------------------------------------------------------

    def fetch_metrics(self, refs: list[RemoteRef]) -> dict[str, Metrics]:
        """Reactions, renotes and replies per note (notes/show); notes gone are left out."""
        found = {}
        for ref in refs:
            try:
                note = self.client.call("notes/show", {"noteId": ref.id}, what="the statistics request")
            except ContentRejected:
                continue  # NO_SUCH_NOTE: deleted
            if isinstance(note, dict):
                found[ref.id] = Metrics(
                    likes=int(note.get("reactionCount") or 0),
                    reposts=int(note.get("renoteCount") or 0),
                    replies=int(note.get("repliesCount") or 0),
                )
        return found

    def read_limits(self) -> dict[str, Any]:
        """The server's and the account's limits read again, in the shape stored at connect."""
        me = self.client.call("i", {}, what="the account check")
        meta = self.client.call("meta", {"detail": True}, what="the request for the server's limits")
        return rules.limits_from(meta, me, self.account.server_url)

    def verify(self) -> ConnectedAccount:
        me = self.client.call("i", {}, what="the connection check")
        if not isinstance(me, dict) or not me.get("id"):
            raise AuthorizationLost(f"{self.host} did not say which account this token belongs to.")
        return connected_account(
            me, self.account.server_url, dict(self.account.credentials), dict(self.account.limits or {})
        )

    def recent_posts(self, since, until, limit: int = 20):
        from channels.networks.misskey import recent

        return recent.recent_posts(self, since, until, limit)


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
