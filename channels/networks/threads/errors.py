"""What Threads' refusals mean: a failed Graph API answer, or a container that ended in ERROR, turned into
one of the adapter's error kinds with a sentence a marketer can read (never the raw answer, which may
echo the request and its token).
"""

from __future__ import annotations

import json
from typing import Any

import requests

from channels.networks.base import AdapterError, AuthorizationLost, ContentRejected, TransientError

THROTTLE_CODES = {4, 17, 32, 613}
MEDIA_NOT_FOUND = (24, 4279009)
LINK_LIMIT_MARKER = "THREADS_API__LINK_LIMIT_EXCEEDED"
THROTTLE_RETRY_AFTER = 300.0
BLOCKED_RETRY_AFTER = 3600.0

# Container error_message values (Meta's spelling, INVALID_ASPEC_RATIO included) in words a marketer reads.
CONTAINER_ERRORS = {
    "FAILED_DOWNLOADING_VIDEO": (
        "Threads could not download the media from this installation. Check that media addresses are "
        "publicly reachable, then try again."
    ),
    "FAILED_PROCESSING_VIDEO": (
        "Threads could not process the video. Use an MP4 or MOV file with H.264 or HEVC video, "
        "at most 5 minutes long."
    ),
    "FAILED_PROCESSING_AUDIO": "Threads could not process the video's sound. Export it again with AAC audio.",
    "INVALID_ASPEC_RATIO": (
        "Threads does not accept the shape of this image or video. Crop it to a usual aspect ratio "
        "(for example 1:1, 4:5 or 16:9)."
    ),
    "INVALID_BIT_RATE": "The video's bit rate is too high for Threads. Export it again at a lower quality.",
    "INVALID_DURATION": "The video is too long or too short for Threads (at most 5 minutes).",
    "INVALID_FRAME_RATE": "Threads needs a video frame rate between 23 and 60 frames per second.",
    "INVALID_AUDIO_CHANNELS": "Threads accepts videos with mono or stereo sound only.",
    "INVALID_AUDIO_CHANNEL_LAYOUT": "Threads accepts videos with mono or stereo sound only.",
    "UNKNOWN": (
        "Threads could not prepare the media and gave no reason. Try again later, or with another file."
    ),
}


class MediaNotFound(TransientError):
    """Threads answered "Media Not Found" for a container it just called FINISHED (the adapter retries)."""


def plain(message: Any, limit: int = 240) -> str:
    text = " ".join(str(message or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def container_error(reason: str) -> ContentRejected:
    """A container that ended in ERROR, by its error_message."""
    return ContentRejected(
        CONTAINER_ERRORS.get(reason, f"Threads could not prepare the media ({plain(reason, 80)}).")
    )


def retry_after(response: requests.Response, default: float) -> float:
    header = response.headers.get("Retry-After", "")
    if header.strip().isdigit():
        return float(header.strip())
    # Meta's Business Use Case header: {"<id>": [{"estimated_time_to_regain_access": minutes, ...}]}
    for name in ("X-Business-Use-Case-Usage", "X-Threads-Business-Use-Case-Usage"):
        raw = response.headers.get(name)
        if not raw:
            continue
        try:
            usage = json.loads(raw)
            minutes = max(
                int(entry.get("estimated_time_to_regain_access") or 0)
                for entries in usage.values()
                for entry in entries
            )
        except (ValueError, TypeError, AttributeError):
            continue
        if minutes > 0:
            return minutes * 60.0
    return default


def error_for(response: requests.Response, payload: Any) -> AdapterError:
    """The error kind for a failed answer, with a sentence a marketer can read."""
    status = response.status_code
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return _without_envelope(response)
    code = error.get("code")
    code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
    subcode = error.get("error_subcode")
    said = plain(error.get("error_user_msg") or error.get("message") or "")
    everything = " ".join(str(v) for v in error.values())
    if code == 190:
        return AuthorizationLost(
            "Threads no longer accepts this channel's access (the login expired or was revoked). "
            "Reconnect the channel."
        )
    if code == 10 or (code is not None and 200 <= code <= 299):
        return AuthorizationLost(
            "The Threads connection is missing a permission this needs. Reconnect the channel and allow "
            "every permission asked for."
        )
    if (code, subcode) == MEDIA_NOT_FOUND:
        return MediaNotFound("Threads could not find the prepared post yet.", retry_after=30)
    if code in THROTTLE_CODES or status == 429:
        return TransientError(
            "Threads is limiting how often this account can post; trying again later.",
            retry_after=retry_after(response, THROTTLE_RETRY_AFTER),
        )
    if code == 368:
        return TransientError(
            "Threads has temporarily blocked this account from posting; trying again later.",
            retry_after=retry_after(response, BLOCKED_RETRY_AFTER),
        )
    if code in (1, 2) or status >= 500 or error.get("is_transient") is True:
        return TransientError("Threads had a temporary problem; trying again.")
    if code == 506:
        return ContentRejected("Threads refused the post because it duplicates a recent post.")
    if LINK_LIMIT_MARKER in everything:
        return ContentRejected("Threads allows at most 5 links in a post. Remove some links and try again.")
    return ContentRejected(f"Threads refused it: {said}" if said else f"Threads refused it (HTTP {status}).")


def _without_envelope(response: requests.Response) -> AdapterError:
    """An answer without Meta's error envelope (a proxy's page, an empty body): by its HTTP status."""
    status = response.status_code
    if status == 429:
        return TransientError(
            "Threads is limiting requests right now; trying again later.",
            retry_after=retry_after(response, THROTTLE_RETRY_AFTER),
        )
    if status >= 500:
        return TransientError(f"Threads had a server problem (HTTP {status}).")
    if status == 401:
        return AuthorizationLost("Threads no longer accepts this channel's login. Reconnect the channel.")
    if status < 400:
        return TransientError("Threads gave an answer that could not be read.")
    return ContentRejected(f"Threads refused the request (HTTP {status}).")
