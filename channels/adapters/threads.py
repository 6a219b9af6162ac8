"""Threads (Meta) through the Threads Graph API, with plain `requests` (Meta ships no Python SDK).

Endpoints come from settings.THREADS_GRAPH_URL (e.g. https://graph.threads.net/v1.0) and
settings.THREADS_OAUTH_URL; the app from THREADS_APP_ID / THREADS_APP_SECRET.

Credentials: {"access_token", "user_id", "obtained_at", "expires_at"} (the last two ISO 8601, "expires_at"
empty when unknown). Account.remote_id is the Threads user id, a string.

Tokens travel as the `access_token` parameter (query string for GET, form body for POST), as Meta
documents. Because requests' exception texts contain the full URL, no exception text from requests is
ever logged or re-raised: errors carry our own sentences, logs name only the path.

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
On a retry the stored container is asked for its status first: PUBLISHED means an earlier attempt went
through. The container status does not say which media it became (published media have other ids, and
`status` is not a field of a published media object), so the media is found by listing the account's
recent posts (GET /{user}/threads, or /{user}/replies for a reply part) created since the container and
matching the text (and the replied-to post when the API tells it). If nothing matches, the adapter raises
OutcomeUnknown instead of guessing. FINISHED -> publish it; IN_PROGRESS -> poll; ERROR/EXPIRED -> a new
container (checkpointed).

The daily publishing quota (250 posts in a rolling 24 h window) is read before creating a container for the
first part of a post. A full quota is a TransientError, not ContentRejected: the post itself is fine and
can go out once older posts leave the window. Meta does not tell when that is, so retry_after is one hour.
Reply parts (the later parts of a thread) count against Meta's separate reply quota, whose reading needs a
permission this app does not ask for, so they are not pre-checked; the publish call still enforces it.

Text length: Threads counts 500 "characters", and its documentation says emoji count as their UTF-8
bytes; peers found in production that accented letters and curly quotes do too (498 code points, 504
bytes: refused). validate() therefore counts UTF-8 bytes, which never accepts a text Threads refuses.
Links: distinct URLs written with http(s):// or www. in the text, plus the link attachment; at most 5.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings

from channels.adapters.base import (
    Account,
    Adapter,
    AdapterError,
    AuthorizationLost,
    ConnectedAccount,
    ConnectError,
    ContentRejected,
    MediaItem,
    Metrics,
    OutcomeUnknown,
    PartContent,
    PartRequest,
    PostOptions,
    Problem,
    RemoteRef,
    TransientError,
    Usage,
    Validation,
)
from channels.http import NO_COOKIES, START_AGAIN, deadline_adapter, out_of_time, thread_client

logger = logging.getLogger(__name__)

SCOPES = ["threads_basic", "threads_content_publish", "threads_manage_insights", "threads_read_replies"]
IMAGE_TYPES = ("image/jpeg", "image/png")
VIDEO_TYPES = ("video/mp4", "video/quicktime")
INSIGHT_METRICS = "views,likes,replies,reposts,quotes"

NO_PUBLIC_ADDRESS = (
    "Threads fetches images from a public address; this installation has none (SITE_URL), "
    "so Threads posts can be text only."
)

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

THROTTLE_CODES = {4, 17, 32, 613}
MEDIA_NOT_FOUND = (24, 4279009)
LINK_LIMIT_MARKER = "THREADS_API__LINK_LIMIT_EXCEEDED"

_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


class _MediaNotFound(TransientError):
    """Threads answered "Media Not Found" for a container it just called FINISHED (handled inside)."""


# --- helpers -------------------------------------------------------------------------------------


def text_length(text: str) -> int:
    """Length as Threads counts it (see the module docstring): UTF-8 bytes."""
    return len((text or "").encode("utf-8"))


def links_in(text: str) -> set[str]:
    """Distinct links written in the text, normalised so that the same address counts once."""
    found = set()
    for match in _URL_RE.finditer(text or ""):
        found.add(_normalise_link(match.group(0)))
    return found


def _normalise_link(url: str) -> str:
    url = url.rstrip(_TRAILING).lower()
    url = re.sub(r"^https?://", "", url)
    return url.removeprefix("www.").rstrip("/")


def _public_host(url: str) -> bool:
    """Whether Meta's servers could reach this URL's host; offline (no DNS), so by name and address."""
    host = (urlsplit(url or "").hostname or "").lower()
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        pass
    private_suffixes = (
        ".localhost",
        ".local",
        ".internal",
        ".lan",
        ".home.arpa",
        ".test",
        ".example",
        ".invalid",
    )
    return "." in host and host != "localhost" and not host.endswith(private_suffixes)


def media_public_url_available() -> bool:
    """Whether this installation can give Threads media addresses it can fetch.

    THREADS_MEDIA_REQUIRE_PUBLIC_URL=False turns the SITE_URL check off (tests, or an operator whose
    media URLs are public although SITE_URL is not).
    """
    if not getattr(settings, "THREADS_MEDIA_REQUIRE_PUBLIC_URL", True):
        return True
    return _public_host(settings.SITE_URL)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _parse_time(value: str) -> datetime | None:
    """Threads timestamps look like 2024-07-01T12:34:56+0000; ours are isoformat()."""
    if not value:
        return None
    for parse in (datetime.fromisoformat, lambda v: datetime.strptime(v, "%Y-%m-%dT%H:%M:%S%z")):
        try:
            parsed = parse(value)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _plain(message: Any, limit: int = 240) -> str:
    text = " ".join(str(message or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(response: requests.Response, default: float) -> float:
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


# --- the HTTP client ------------------------------------------------------------------------------


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = f"{settings.SITE_NAME} (+{settings.SITE_URL})"
    session.cookies.set_policy(NO_COOKIES)
    return deadline_adapter(session)


class GraphClient:
    """One requests.Session against the Threads Graph API; maps failures to the adapter error kinds."""

    throttle_retry_after = 300.0
    blocked_retry_after = 3600.0

    def __init__(self, base_url: str | None = None, timeout: float | None = None):
        self.base_url = (base_url or settings.THREADS_GRAPH_URL).rstrip("/")
        self.timeout = timeout or settings.NETWORK_TIMEOUT
        self.session = thread_client("threads", _session)

    def call(self, method: str, path: str, *, token: str = "", params=None, data=None) -> dict[str, Any]:
        path = path.lstrip("/")
        params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        data = {k: v for k, v in (data or {}).items() if v not in (None, "")} if method != "GET" else None
        if token:
            if method == "GET":
                params["access_token"] = token
            else:
                data["access_token"] = token
        started = time.monotonic()
        try:
            response = self.session.request(
                method, f"{self.base_url}/{path}", params=params, data=data, timeout=self.timeout
            )
        except requests.Timeout:
            logger.warning("Threads %s /%s timed out after %.1fs", method, path, time.monotonic() - started)
            raise TransientError(out_of_time("Threads") or "Threads did not answer in time.") from None
        except requests.RequestException as exc:
            # str(exc) holds the URL, and with it the token: log the class only.
            logger.warning("Threads %s /%s failed: %s", method, path, type(exc).__name__)
            raise TransientError(out_of_time("Threads") or "Threads could not be reached.") from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code >= 400 or not isinstance(payload, dict) or "error" in payload:
            error = self.error_for(response, payload)
            logger.info(
                "Threads %s /%s answered HTTP %s (%s): %s",
                method,
                path,
                response.status_code,
                type(error).__name__,
                error.message,
            )
            raise error
        return payload

    def error_for(self, response: requests.Response, payload: Any) -> AdapterError:
        """The error kind for a failed answer, with a sentence a marketer can read."""
        status = response.status_code
        error = payload.get("error") if isinstance(payload, dict) else None
        if not isinstance(error, dict):
            if status == 429:
                return TransientError(
                    "Threads is limiting requests right now; trying again later.",
                    retry_after=_retry_after(response, self.throttle_retry_after),
                )
            if status >= 500:
                return TransientError(f"Threads had a server problem (HTTP {status}).")
            if status == 401:
                return AuthorizationLost(
                    "Threads no longer accepts this channel's login. Reconnect the channel."
                )
            if status < 400:
                return TransientError("Threads gave an answer that could not be read.")
            return ContentRejected(f"Threads refused the request (HTTP {status}).")
        code = error.get("code")
        code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
        subcode = error.get("error_subcode")
        said = _plain(error.get("error_user_msg") or error.get("message") or "")
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
            return _MediaNotFound("Threads could not find the prepared post yet.", retry_after=30)
        if code in THROTTLE_CODES or status == 429:
            return TransientError(
                "Threads is limiting how often this account can post; trying again later.",
                retry_after=_retry_after(response, self.throttle_retry_after),
            )
        if code == 368:
            return TransientError(
                "Threads has temporarily blocked this account from posting; trying again later.",
                retry_after=_retry_after(response, self.blocked_retry_after),
            )
        if code in (1, 2) or status >= 500 or error.get("is_transient") is True:
            return TransientError("Threads had a temporary problem; trying again.")
        if code == 506:
            return ContentRejected("Threads refused the post because it duplicates a recent post.")
        if LINK_LIMIT_MARKER in everything:
            return ContentRejected(
                "Threads allows at most 5 links in a post. Remove some links and try again."
            )
        return ContentRejected(
            f"Threads refused it: {said}" if said else f"Threads refused it (HTTP {status})."
        )


# --- the adapter ----------------------------------------------------------------------------------


class ThreadsAdapter(Adapter):
    network = "threads"
    default_limits = {
        "max_characters": 500,
        "max_links": 5,
        "max_media": 20,
        "image_types": list(IMAGE_TYPES),
        "video_types": list(VIDEO_TYPES),
        "image_max_bytes": 8 * 1024 * 1024,
        # Meta's image requirements: aspect ratio limit 10:1 (wider ones are refused, larger ones scaled).
        "image_max_aspect_ratio": 10,
        "video_max_bytes": 1024 * 1024 * 1024,
        "topic_tag_max": 50,
    }

    def __init__(self, account: Account):
        super().__init__(account)
        self.client = GraphClient()
        self.container_wait = float(getattr(settings, "THREADS_CONTAINER_WAIT_SECONDS", 60.0))
        self.poll_first_delay = float(getattr(settings, "THREADS_POLL_FIRST_DELAY", 1.0))
        self.poll_max_delay = float(getattr(settings, "THREADS_POLL_MAX_DELAY", 10.0))
        self.not_found_delay = float(getattr(settings, "THREADS_MEDIA_NOT_FOUND_DELAY", 2.0))
        self.not_found_tries = int(getattr(settings, "THREADS_MEDIA_NOT_FOUND_TRIES", 3))
        self.sleep = time.sleep

    # -- plumbing

    @property
    def user_id(self) -> str:
        return str(self.account.remote_id or self.account.credentials.get("user_id", ""))

    def _call(self, method: str, path: str, **kwargs) -> dict[str, Any]:
        return self.client.call(
            method, path, token=self.account.credentials.get("access_token", ""), **kwargs
        )

    # -- validate (offline)

    def validate(self, parts: list[PartContent], options: PostOptions) -> Validation:
        limits = self.limits
        result = Validation()
        problems = result.problems
        max_chars = int(limits["max_characters"])
        max_links = int(limits["max_links"])
        max_media = int(limits["max_media"])
        public_problem_reported = False
        for index, part in enumerate(parts):
            used = text_length(part.text)
            result.usage.append(Usage(used=used, limit=max_chars))
            if used > max_chars:
                extra = (
                    " Accented letters and emoji count as 2 to 4 each, as Threads counts them."
                    if used != len(part.text)
                    else ""
                )
                problems.append(
                    Problem(
                        f"Threads allows {max_chars} characters; this part has {used}.{extra}", part=index
                    )
                )
            if not part.text.strip() and not part.media:
                problems.append(
                    Problem("A Threads post needs text or at least one image or video.", part=index)
                )
            links = links_in(part.text)
            if index == 0 and options.link_attachment:
                links.add(_normalise_link(options.link_attachment))
            if len(links) > max_links:
                problems.append(
                    Problem(
                        f"Threads allows at most {max_links} different links in a post; this part has "
                        f"{len(links)}.",
                        part=index,
                    )
                )
            if len(part.media) > max_media:
                problems.append(
                    Problem(
                        f"Threads allows at most {max_media} images or videos in a post; this part has "
                        f"{len(part.media)}.",
                        part=index,
                        field="media",
                    )
                )
            for item in part.media:
                problems.extend(self._media_problems(item, index, limits))
            if part.media and not public_problem_reported:
                hosting = self._hosting_problem(part.media, index)
                if hosting:
                    problems.append(hosting)
                    public_problem_reported = True
            if index == 0 and options.link_attachment and part.media:
                problems.append(
                    Problem(
                        "Threads shows a link preview only on posts without images or videos; "
                        "it will be left out.",
                        level="warning",
                        part=index,
                        field="options",
                    )
                )
        tag = options.topic_tag.strip()
        if tag:
            if len(tag) > int(limits["topic_tag_max"]):
                problems.append(
                    Problem(
                        f"A Threads topic can have at most {limits['topic_tag_max']} characters.",
                        field="options",
                    )
                )
            if "." in tag or "&" in tag:
                problems.append(
                    Problem("A Threads topic cannot contain periods (.) or ampersands (&).", field="options")
                )
        return result

    def _media_problems(self, item: MediaItem, index: int, limits: dict[str, Any]) -> list[Problem]:
        problems = []
        if item.mime_type in limits["image_types"]:
            kind, cap = "image", int(limits["image_max_bytes"])
        elif item.mime_type in limits["video_types"]:
            kind, cap = "video", int(limits["video_max_bytes"])
        else:
            return [
                Problem(
                    "Threads accepts JPEG and PNG images and MP4 or MOV videos only.",
                    part=index,
                    field="media",
                )
            ]
        if item.size and item.size > cap:
            problems.append(
                Problem(
                    f"This {kind} is larger than Threads accepts ({cap // (1024 * 1024)} MB).",
                    part=index,
                    field="media",
                )
            )
        ratio = int(limits.get("image_max_aspect_ratio") or 0)
        if kind == "image" and ratio and item.width and item.height:
            if max(item.width, item.height) > ratio * min(item.width, item.height):
                problems.append(
                    Problem(
                        f"This image is {item.width}×{item.height} pixels; Threads accepts images at most "
                        f"{ratio} times as wide as tall (or tall as wide).",
                        part=index,
                        field="media",
                    )
                )
        if not item.alt_text.strip():
            problems.append(
                Problem(
                    f"This {kind} has no alt text: people using screen readers will not know what it shows.",
                    level="warning",
                    part=index,
                    field="media",
                )
            )
        return problems

    def _hosting_problem(self, media: list[MediaItem], index: int) -> Problem | None:
        public_site = media_public_url_available()
        for item in media:
            own_public = bool(item.public_url) and _public_host(item.public_url)
            if not public_site and not own_public:
                return Problem(NO_PUBLIC_ADDRESS, part=index, field="media")
            if not item.public_url:
                return Problem(
                    "This file has no public address for Threads to fetch it from yet. Save the post again, "
                    "or ask the operator to check media storage.",
                    part=index,
                    field="media",
                )
        return None

    # -- publishing

    def publish_part(self, request: PartRequest) -> RemoteRef:
        state = dict(request.state or {})
        if state.get("media_id"):
            return self._ref(state["media_id"])
        deadline = time.monotonic() + self.container_wait
        container_id = state.get("container_id")
        if container_id:
            status = self._status(container_id)
            if status["status"] == "PUBLISHED":
                return self._found(request, state, self._find_media(request, state))
            if status["status"] in ("ERROR", "EXPIRED"):
                logger.info("Threads container %s is %s; creating a new one", container_id, status["status"])
                container_id = None
        if not container_id:
            if request.reply_to is None:
                self._check_quota()
            container_id = self._create(request, state, deadline)
        for recreated in (False, True):
            self._wait_finished([container_id], deadline)
            media_id = self._publish(container_id)
            if media_id:
                return self._found(request, state, media_id)
            # Repeated "Media Not Found": the container may be broken, but make sure it did not publish.
            if self._status(container_id)["status"] == "PUBLISHED":
                return self._found(request, state, self._find_media(request, state))
            if not recreated:
                container_id = self._create(request, state, deadline)
        raise TransientError(
            "Threads could not find the prepared post when publishing it; trying again later.", 60
        )

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
        state.update(container_id=container_id, created_at=_iso(_now()))
        request.checkpoint(dict(state))
        return container_id

    def _media_params(self, item: MediaItem, carousel_item: bool = False) -> dict[str, Any]:
        if not item.public_url:
            raise ContentRejected(NO_PUBLIC_ADDRESS)
        is_video = item.mime_type in VIDEO_TYPES
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
                    raise ContentRejected(
                        CONTAINER_ERRORS.get(
                            reason, f"Threads could not prepare the media ({_plain(reason, 80)})."
                        )
                    )
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
            self.sleep(min(delay, remaining))
            delay = min(delay * 2, self.poll_max_delay)

    def _publish(self, container_id: str) -> str | None:
        """The media id, or None when Threads kept answering "Media Not Found"."""
        for attempt in range(self.not_found_tries):
            try:
                return str(
                    self._call("POST", f"{self.user_id}/threads_publish", data={"creation_id": container_id})[
                        "id"
                    ]
                )
            except _MediaNotFound:
                logger.info(
                    "Threads answered Media Not Found for container %s (try %s)", container_id, attempt + 1
                )
                if attempt + 1 < self.not_found_tries:
                    self.sleep(self.not_found_delay)
        return None

    def _find_media(self, request: PartRequest, state: dict[str, Any]) -> str:
        """The media an earlier attempt published from our container (see the module docstring)."""
        created = _parse_time(state.get("created_at", "")) or (_now() - timedelta(days=1))
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
            published = _parse_time(media.get("timestamp", ""))
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

    def find_published(self, request: PartRequest) -> RemoteRef | None:
        state = dict(request.state or {})
        if state.get("media_id"):
            return self._ref(state["media_id"])
        if not state.get("container_id"):
            return None
        if self._status(state["container_id"]).get("status") != "PUBLISHED":
            return None
        return self._found(request, state, self._find_media(request, state))

    # -- quota, metrics, credentials, profile

    def publishing_quota(self) -> tuple[int, int]:
        """(posts published in the last 24 h, posts allowed) for this profile."""
        answer = self._call(
            "GET", f"{self.user_id}/threads_publishing_limit", params={"fields": "quota_usage,config"}
        )
        row = (answer.get("data") or [{}])[0]
        return int(row.get("quota_usage") or 0), int((row.get("config") or {}).get("quota_total") or 250)

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
        Channel.token_expires; "expires_at" carries the same instant as ISO 8601.
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
        now = _now()
        credentials = {
            "access_token": new_token,
            "user_id": str(current.get("user_id") or self.user_id),
            "obtained_at": _iso(now),
            "expires_at": _iso(now + timedelta(seconds=expires_in)) if expires_in else "",
        }
        self.account.save_credentials(credentials)
        self.account.credentials = credentials
        return {**credentials, "expires_in": expires_in}

    def read_limits(self) -> dict[str, Any]:
        return dict(self.default_limits)

    def verify(self) -> ConnectedAccount:
        return _profile(
            self.client, self.account.credentials.get("access_token", ""), dict(self.account.credentials)
        )


# --- connecting (used by channels/connect/threads.py and the REST API) ---------------------------------


def _profile(client: GraphClient, token: str, credentials: dict[str, Any], expires=None) -> ConnectedAccount:
    me = client.call(
        "GET", "me", token=token, params={"fields": "id,username,name,threads_profile_picture_url"}
    )
    user_id = str(me["id"])
    username = me.get("username") or user_id
    return ConnectedAccount(
        network="threads",
        remote_id=user_id,
        handle=f"@{username}",
        server_url="",
        credentials={**credentials, "user_id": user_id},
        display_name=me.get("name") or username,
        avatar_url=me.get("threads_profile_picture_url") or "",
        limits=dict(ThreadsAdapter.default_limits),
        token_expires=expires,
    )


def _require_app() -> tuple[str, str]:
    app_id, secret = settings.THREADS_APP_ID, settings.THREADS_APP_SECRET
    if not app_id or not secret:
        raise ConnectError(
            "Connecting with Threads is not set up on this installation: the operator must create a Meta app "
            "with the Threads use case and set THREADS_APP_ID and THREADS_APP_SECRET."
        )
    return app_id, secret


def authorization_url(redirect_uri: str, state: str) -> str:
    """Where to send the browser to ask the person for access."""
    app_id, _ = _require_app()
    query = urlencode(
        {
            "client_id": app_id,
            "redirect_uri": redirect_uri,
            "scope": ",".join(SCOPES),
            "response_type": "code",
            "state": state,
        }
    )
    return f"{settings.THREADS_OAUTH_URL}?{query}"


def connect_with_code(code: str, redirect_uri: str) -> ConnectedAccount:
    """Authorisation code -> short-lived token (1 h) -> long-lived token (60 days) -> profile."""
    app_id, secret = _require_app()
    if not code:
        raise ConnectError("Threads did not send an authorisation code. Start connecting again.")
    client = GraphClient()
    try:
        short = client.call(
            "POST",
            "oauth/access_token",
            data={
                "client_id": app_id,
                "client_secret": secret,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
                "code": code,
            },
        )
    except TransientError:
        raise ConnectError(
            out_of_time("Threads", START_AGAIN) or "Threads could not be reached. Try again in a moment."
        ) from None
    except AdapterError:
        raise ConnectError(
            "Threads did not accept the authorisation (it may have expired, or the app's settings do not "
            "match). Start connecting again."
        ) from None
    try:
        long = client.call(
            "GET",
            "access_token",
            token=short.get("access_token", ""),
            params={"grant_type": "th_exchange_token", "client_secret": secret},
        )
        token = long.get("access_token")
        if not token:
            raise ConnectError("Threads did not hand out a lasting login. Start connecting again.")
        now = _now()
        expires_in = int(long.get("expires_in") or 0)
        expires = now + timedelta(seconds=expires_in) if expires_in else None
        credentials = {
            "access_token": token,
            "user_id": str(short.get("user_id", "")),
            "obtained_at": _iso(now),
            "expires_at": _iso(expires),
        }
        return _profile(client, token, credentials, expires)
    except TransientError:
        raise ConnectError(
            out_of_time("Threads", START_AGAIN) or "Threads could not be reached. Try again in a moment."
        ) from None
    except AuthorizationLost:
        raise ConnectError(
            "Threads did not hand out a lasting login. Check the app's settings (THREADS_APP_SECRET) and "
            "start connecting again."
        ) from None
    except ContentRejected as exc:
        raise ConnectError(f"Threads refused the connection. {exc.message}") from None


def connect_with_token(access_token: str) -> ConnectedAccount:
    """A long-lived token pasted by the person (e.g. made in Meta's developer dashboard).

    Its expiry is unknown here (asking Meta's debug endpoint would need the app's credentials, which a
    pasted-token installation may not have), so token_expires is None; the refresh job refreshes such
    tokens once they are a day old, and from then on the expiry is known.
    """
    token = (access_token or "").strip()
    if not token:
        raise ConnectError("Paste a Threads access token.", field="access_token")
    client = GraphClient()
    try:
        return _profile(
            client,
            token,
            {"access_token": token, "user_id": "", "obtained_at": _iso(_now()), "expires_at": ""},
        )
    except AuthorizationLost:
        raise ConnectError(
            "Threads did not accept this token: it may be mistyped, expired or revoked, or lack the "
            "threads_basic permission.",
            field="access_token",
        ) from None
    except TransientError:
        raise ConnectError(
            out_of_time("Threads") or "Threads could not be reached. Try again in a moment.",
            field="access_token",
        ) from None
    except AdapterError as exc:
        raise ConnectError(f"Threads refused the token: {exc.message}", field="access_token") from None
