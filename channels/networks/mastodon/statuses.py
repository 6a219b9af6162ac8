"""A status going out (POST /api/v1/statuses as the server's software needs it) and a status read back
(whether one of the account's statuses is a part an earlier attempt sent)."""

from __future__ import annotations

from dataclasses import dataclass

from mastodon import Mastodon

from channels.networks.base import PartRequest
from channels.networks.mastodon import rules
from channels.networks.mastodon.profiles import Profile


def post(client: Mastodon, request: PartRequest, media_ids: list[str], key: str, profile: Profile):
    """Post the part's status with the given media and Idempotency-Key; Mastodon.py's errors pass."""
    options = request.options
    visibility = options.visibility or None
    language = options.language.lower() if options.language else None
    if profile.warning_as_title and options.content_warning and request.reply_to is None:
        # Friendica makes a top-level status's content warning its title unless a title is sent.
        params = {
            "status": request.part.text,
            "media_ids[]": media_ids,
            "sensitive": "true" if options.sensitive else "false",
            "visibility": visibility,
            "spoiler_text": options.content_warning,
            "language": language,
            "friendica.title": "",
        }
        params = {name: value for name, value in params.items() if value is not None}
        return client._Mastodon__api_request(
            "POST", "/api/v1/statuses", params, headers={"Idempotency-Key": key}
        )
    return client.status_post(
        request.part.text,
        in_reply_to_id=request.reply_to.id if request.reply_to else None,
        media_ids=media_ids or None,
        sensitive=bool(options.sensitive),
        visibility=visibility,
        spoiler_text=options.content_warning or None,
        language=language,
        idempotency_key=key,
    )


@dataclass(frozen=True)
class Wanted:
    """What a status must have to be this part: read back from servers that render it their own way."""

    text: str  # rules.comparable of the part's text
    reply: str | None
    warning: str
    media: int
    media_ids: frozenset[str]  # the uploads of earlier attempts (some may not have been attached)

    def matches(self, status) -> bool:
        attached = [str(m.get("id")) for m in status.get("media_attachments") or []]
        reply = status.get("in_reply_to_id")
        if (None if reply is None else str(reply)) != self.reply or len(attached) != self.media:
            return False
        if " ".join((status.get("spoiler_text") or "").split()) != self.warning:
            return False
        if any(rules.comparable(text) == self.text for text in rules.status_texts(status)):
            return True
        # The server rewrote the text beyond recognition, but the media are the very uploads.
        return bool(attached) and set(attached) <= self.media_ids
