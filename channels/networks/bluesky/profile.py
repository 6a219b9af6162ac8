"""The account's Bluesky profile (display name, avatar), which the PDS passes on from an AppView.

A PDS answers app.bsky.* reads by proxying them to the AppView it is configured with. Without one
it refuses them (400 "No service configured for …", or 404/501 from other servers); a brand-new
account is not indexed yet for a second or two (400 "Profile not found"); the AppView may be down
(502). None of these says anything about the credentials, which the PDS has already accepted: the
profile is a nicety, read when it can be and left empty when it cannot (the next "Check connection"
fills it in).
"""

from __future__ import annotations

import logging

import httpx
from atproto import Client, models
from atproto.exceptions import AtProtocolError

from channels.guard import UnsafeURL
from channels.networks.bluesky.errors import error_name

logger = logging.getLogger(__name__)


def appview_unavailable(exc: Exception) -> bool:
    """Whether `exc` is the PDS saying no AppView answers (none configured, not served, unreachable),
    rather than anything about the account or the request."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status in (501, 502, 503, 504):
        return True
    content = getattr(response, "content", None)
    message = str(getattr(content, "message", "") or "")
    return status == 400 and message.startswith("No service configured")


def read_profile(client: Client, did: str) -> models.AppBskyActorDefs.ProfileViewDetailed | None:
    """The profile of `did` through the signed-in `client`, or None when no AppView answers for it."""
    try:
        return client.get_profile(did)
    except (AtProtocolError, httpx.TransportError, UnsafeURL) as exc:
        response = getattr(exc, "response", None)
        logger.info(
            "The Bluesky profile of %s could not be read (%s %s); going on without it",
            did,
            getattr(response, "status_code", None) or type(exc).__name__,
            error_name(exc) if response is not None else "",
        )
        return None
