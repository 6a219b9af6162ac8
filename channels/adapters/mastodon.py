"""Mastodon, and the servers that speak its client API (Pleroma/Akkoma, GoToSocial, Pixelfed, Friendica).

Everything that knows Mastodon lives here: the worker-side adapter and the connect functions the
views (and the REST API) call. Mastodon.py does the HTTP; this module decides timeouts, which
endpoints to use, how to count characters, and which failures are transient, rejected content or a
lost authorisation.

Limits (stored in Channel.limits by the connect flow and by read_limits(); validate() reads them):

- ``max_characters``: characters per status, content warning included (500 on stock Mastodon).
- ``characters_reserved_per_url``: what every URL counts as (23); ``None`` means the server counts the
  text as typed, URLs and ``@user@domain`` mentions at full length (Pleroma, Akkoma).
- ``max_media_attachments``: media per status (4).
- ``supported_mime_types``: media types the server accepts (empty list: not announced, not checked).
- ``image_size_limit``, ``video_size_limit``: bytes (16 MB, 99 MB); audio uses the video limit.
- ``description_limit``: alt-text length (1500).
- ``image_matrix_limit``: Mastodon refuses an image of this many pixels (width x height) or more;
  ``None`` when the server does not announce it (not checked).
- ``server_software``: nodeinfo's software name (mastodon, pleroma, akkoma, gotosocial, ...).
- ``server_version``: the Mastodon API level the server claims, as "x.y.z". It picks endpoints
  (``/api/v2/media`` from 3.1.4, batched status reads from 4.3.0).
- ``domain``: the domain in the account's handle (``@user@domain``), which may differ from the
  server's web address.

Exactly once: every part is posted with an Idempotency-Key derived from the delivery part's key, so
a retry within Mastodon's memory of it (about an hour) gets the first status back. Forks may ignore
the key and Mastodon forgets it, so before a retry posts again it looks for the status among the
account's recent posts (see find_published). The time of the first attempt is checkpointed before
the status is sent; the search stops at posts older than that, so "not found" means absent.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grapheme
import requests
from django.conf import settings
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)
from mastodon._url_regex import url_regex  # the pattern Mastodon.get_status_length counts URLs with
from mastodon.versions import parse_version_string

from channels.adapters.base import (
    Account,
    Adapter,
    AdapterError,
    AuthorizationLost,
    ConnectedAccount,
    ConnectError,
    ContentRejected,
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
from channels.http import (
    NO_COOKIES,
    START_AGAIN,
    UnsafeURL,
    check_url,
    guarded_adapter,
    normalise_base_url,
    out_of_time,
    thread_client,
)

log = logging.getLogger(__name__)

NETWORK = "mastodon"
# The same scopes for create_app, auth_request_url and log_in; plain read/write work on every fork.
SCOPES = ["read", "write"]
VISIBILITIES = ("public", "unlisted", "private", "direct")
# Assumed when a server's version string cannot be parsed (some Pixelfed builds send a name).
DEFAULT_VERSION = "4.0.0"
MB = 1024 * 1024

DEFAULT_LIMITS: dict[str, Any] = {
    "max_characters": 500,
    "characters_reserved_per_url": 23,
    "max_media_attachments": 4,
    "supported_mime_types": [
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/heic",
        "image/heif",
        "image/webp",
        "image/avif",
        "video/webm",
        "video/mp4",
        "video/quicktime",
        "video/ogg",
        "audio/wave",
        "audio/wav",
        "audio/x-wav",
        "audio/ogg",
        "audio/mpeg",
        "audio/mp3",
        "audio/webm",
        "audio/flac",
        "audio/aac",
        "audio/m4a",
        "audio/x-m4a",
        "audio/mp4",
    ],
    "image_size_limit": 16 * MB,
    "video_size_limit": 99 * MB,
    "description_limit": 1500,
    "server_software": "mastodon",
    "server_version": DEFAULT_VERSION,
    "domain": "",
}

# Mastodon counts a remote mention as its local part only.
_MENTION_RE = re.compile(r"(^|[^/\w])@(([a-z0-9_]+)@[a-z0-9.\-]+[a-z0-9]+)", re.IGNORECASE)
_LANGUAGE_RE = re.compile(r"[a-z]{2}")
# RFC 6750 b64token. Anything else (spaces, a pasted URL, a file path) is not a token.
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# How far a server's clock may be behind ours when comparing created_at with our first attempt.
_CLOCK_MARGIN = timedelta(minutes=10)
_LOOKUP_PAGE = 40
_LOOKUP_PAGES = 3
_BATCH = 20  # ids per GET /api/v1/statuses


# --- HTTP client -------------------------------------------------------------------------------


def http_allowed() -> bool:
    """Plain-http instances only in development and tests (local fakes); tokens never go out in clear."""
    return bool(settings.SSRF_ALLOW_PRIVATE or settings.DEBUG)


def _user_agent() -> str:
    return f"{settings.SITE_NAME} (+{settings.SITE_URL})"


class _GuardedSession(requests.Session):
    """Sends nothing to a private address: every request and redirect goes through the SSRF guard.

    Instance addresses are user-supplied, and servers hand out further URLs themselves (nodeinfo
    links, the OAuth token endpoint, redirects), which Mastodon.py follows. A host found public is
    trusted for CHECK_TTL seconds, so a worker reusing its session (channels.http.thread_client)
    looks each server up about once a minute, not once per request. Cookies are never kept.
    """

    CHECK_TTL = 60.0

    def __init__(self):
        super().__init__()
        self.cookies.set_policy(NO_COOKIES)
        self._checked: dict[str, float] = {}
        guarded_adapter(self)  # connects only to the address that was checked (no DNS rebinding)

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if self._checked.get(origin, 0.0) < time.monotonic():
            check_url(origin)  # raises UnsafeURL; Mastodon.py reports it as a MastodonNetworkError
            if not settings.SSRF_ALLOW_PRIVATE:  # only a real lookup is worth remembering
                self._checked[origin] = time.monotonic() + self.CHECK_TTL
        return super().send(request, **kwargs)


def _client(
    base_url: str,
    access_token: str | None = None,
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    version: str = DEFAULT_VERSION,
) -> Mastodon:
    client = Mastodon(
        api_base_url=base_url,
        ratelimit_method="throw",  # the default "wait" sleeps up to 5 minutes inside a call
        request_timeout=settings.NETWORK_TIMEOUT,
        user_agent=_user_agent(),
        # Given a version, Mastodon.py never asks the server for one. Asking goes wrong on some
        # servers: when /api/v1/instance fails it retries until RecursionError (Mastodon.py issue
        # #450), and a version it cannot parse raises ValueError from inside any call. With version
        # checks off it does not parse the given version, so the API level is set below; it only
        # picks endpoints (v1 or v2 media).
        mastodon_version=version,
        version_check_mode="none",
        session=thread_client("mastodon", _GuardedSession),
    )
    client.mastodon_major, client.mastodon_minor, client.mastodon_patch = _version_tuple(version)
    # Set after construction: the constructor reads a token or client id that names an existing
    # file from that file, and these strings come from users and servers.
    client.access_token = access_token
    client.client_id = client_id
    client.client_secret = client_secret
    return client


def _version_tuple(version: str) -> tuple[int, int, int]:
    try:
        return parse_version_string(version)
    except (ValueError, IndexError, AttributeError):
        return parse_version_string(DEFAULT_VERSION)


def api_level(version_string: str) -> str:
    """The Mastodon API level in a server's version string, as Mastodon.py reads it.

    "4.3.0" -> "4.3.0"; "2.7.2 (compatible; Pleroma 2.6.0)" -> "2.7.2"; "4.2.0+glitch" -> "4.2.0";
    Hometown's "1.1.1+4.0.0" -> "4.0.0"; GoToSocial's "3.5.3+0.16.0" -> "3.5.3";
    unparseable (e.g. "Pixelfed") -> DEFAULT_VERSION.
    """
    version = (version_string or "").split(" ")[0]
    head, _, tail = version.partition("+")
    # After the "+": Hometown puts the Mastodon version there, GoToSocial its own 0.x version.
    candidates = [tail, head] if _parses(tail) and _version_tuple(tail)[0] >= 1 else [head]
    for candidate in candidates:
        if _parses(candidate):
            return "{}.{}.{}".format(*parse_version_string(candidate))
    return DEFAULT_VERSION


def _parses(version: str) -> bool:
    try:
        parse_version_string(version)
    except (ValueError, IndexError, AttributeError):
        return False
    return True


def _host(base_url: str) -> str:
    return urlsplit(base_url).netloc or base_url


# --- counting and comparing text ---------------------------------------------------------------


def status_length(text: str, spoiler_text: str = "", reserved_per_url: int | None = 23) -> int:
    """Characters a status counts as against the limit, by Mastodon's rules.

    Graphemes; every URL counts as `reserved_per_url`; `@user@domain` counts as `@user`; the content
    warning counts too. With `reserved_per_url=None` the text counts as typed (Pleroma, Akkoma).
    For 23 this equals Mastodon.get_status_length.
    """
    if reserved_per_url is None:
        return grapheme.length(text) + grapheme.length(spoiler_text)
    counted = url_regex.sub(lambda m: m.group(2) + "x" * reserved_per_url, text)
    counted = _MENTION_RE.sub(r"\1@\3", counted)
    return grapheme.length(counted) + grapheme.length(spoiler_text)


def _html_to_text(content: str) -> str:
    content = re.sub(r"<br\s*/?>", "\n", content, flags=re.IGNORECASE)
    content = re.sub(r"</p>\s*<p[^>]*>", "\n\n", content, flags=re.IGNORECASE)
    return html.unescape(re.sub(r"<[^>]+>", "", content))


def _comparable(text: str) -> str:
    """Text reduced to what survives Mastodon's HTML rendering: mentions lose their domain, and
    paragraphs and line breaks are not told apart from spaces."""
    text = _MENTION_RE.sub(r"\1@\3", text)
    return " ".join(text.split())


# --- error translation -------------------------------------------------------------------------


def _api_status(exc: MastodonAPIError) -> tuple[int | None, str]:
    """(HTTP status, the server's own message) from Mastodon.py's error args."""
    args = exc.args
    if len(args) >= 4 and isinstance(args[1], int):
        message = args[3] if isinstance(args[3], str) else ""
        return args[1], message
    return None, ""


def _plain(message: str) -> str:
    """The server's message as a sentence: without Rails' "Validation failed: " prefix, bounded."""
    message = " ".join((message or "").split()).removeprefix("Validation failed: ")
    if len(message) > 300:
        message = message[:297] + "..."
    return message.rstrip(".") + "." if message else ""


_AUTH_WORDS = (
    "token",
    "scope",
    "login",
    "log in",
    "disabled",
    "suspended",
    "approved",
    "confirm",
    "authoriz",
    "authentic",
    "forbidden for this account",
)


class MastodonAdapter(Adapter):
    network = NETWORK
    default_limits = DEFAULT_LIMITS
    # Waiting for media processing, per attempt. A retry resumes polling the same upload.
    media_wait_seconds = 60.0
    media_poll_interval = 1.0

    def __init__(self, account: Account):
        super().__init__(account)
        self._client: Mastodon | None = None

    # --- plumbing ------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return _host(self.account.server_url)

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
            self._client = _client(
                base_url, token, version=str(self.limits.get("server_version") or DEFAULT_VERSION)
            )
        return self._client

    @contextmanager
    def _errors(
        self, what: str = "the post", *, replying: bool = False, gone: str = "account"
    ) -> Iterator[None]:
        """Turn Mastodon.py's errors into the three kinds. Anything else (a bug) passes through.

        `gone` says what a 404/410 means here: "account" (the account is gone: reconnect) or
        "content" (the thing acted on is missing: rejected).
        """
        try:
            yield
        except MastodonRatelimitError as exc:
            reset = self._client.ratelimit_reset if self._client else None
            retry_after = max(1.0, reset - time.time()) if reset else None
            log.warning("Mastodon %s rate limit hit (reset in %s s)", self.host, retry_after)
            raise TransientError(
                f"{self.host} is limiting how many requests this account can make; "
                "trying again when the limit resets.",
                retry_after=retry_after,
            ) from exc
        except MastodonNetworkError as exc:
            log.warning("Mastodon %s unreachable: %s", self.host, exc)
            raise TransientError(
                out_of_time(self.host) or f"Could not reach {self.host}; trying again shortly."
            ) from exc
        except MastodonServerError as exc:
            status, _ = _api_status(exc)
            log.warning("Mastodon %s server error %s", self.host, status)
            raise TransientError(
                f"{self.host} had a problem on its side (HTTP {status}); trying again shortly."
            ) from exc
        except MastodonAPIError as exc:
            raise self._api_error(exc, what, replying=replying, gone=gone) from exc

    def _api_error(self, exc: MastodonAPIError, what: str, *, replying: bool, gone: str) -> AdapterError:
        status, message = _api_status(exc)
        log.warning("Mastodon %s answered %s for %s: %s", self.host, status, what, message)
        reason = _plain(message)
        if status is None:
            # A 2xx/3xx that was not JSON: a maintenance page, a captive proxy.
            return TransientError(f"{self.host} sent an answer that could not be read; trying again shortly.")
        if status == 401 or (status == 403 and any(word in message.lower() for word in _AUTH_WORDS)):
            detail = f" ({reason})" if reason else ""
            return AuthorizationLost(
                f"{self.host} no longer accepts this channel's access{detail}. Reconnect the channel."
            )
        if status == 404 and replying:
            return ContentRejected(
                "The post this replies to was deleted, so this part of the thread cannot be published."
            )
        if status in (404, 410) and gone == "account":
            return AuthorizationLost(
                f"The account was not found on {self.host}; it may have been deleted or moved. "
                "Reconnect the channel."
            )
        if status in (408, 409, 425):
            return TransientError(f"{self.host} could not handle the request just now; trying again shortly.")
        if status == 413:
            return ContentRejected(f"Mastodon rejected {what}: the file is too large for {self.host}.")
        return ContentRejected(f"Mastodon rejected {what}: {reason or f'HTTP error {status}.'}")

    # --- validation ----------------------------------------------------------------------------

    def count(self, text: str, content_warning: str = "") -> int:
        return status_length(text, content_warning, self.limits.get("characters_reserved_per_url"))

    def validate(self, parts: list[PartContent], options: PostOptions) -> Validation:
        """Offline, by this server's cached limits.

        The content warning is sent with every part of a thread (as Mastodon's own reply box copies
        it), so it counts towards every part's limit.
        """
        limits = self.limits
        result = Validation()
        max_chars = int(limits["max_characters"])
        warning = options.content_warning or ""
        several = len(parts) > 1
        for index, part in enumerate(parts):
            label = f"Part {index + 1}" if several else "The post"
            used = self.count(part.text, warning)
            result.usage.append(Usage(used=used, limit=max_chars))
            if not part.text.strip() and not part.media:
                result.problems.append(
                    Problem(f"{label} is empty: write some text or add media.", part=index)
                )
            if used > max_chars:
                cw_note = " (the content warning counts too)" if warning else ""
                result.problems.append(
                    Problem(
                        f"{label} is {used - max_chars} character{'s' if used - max_chars > 1 else ''} over "
                        f"this server's limit of "
                        f"{max_chars}{cw_note}.",
                        part=index,
                    )
                )
            result.problems.extend(self._media_problems(part, index, label))
        if options.visibility not in VISIBILITIES:
            result.problems.append(
                Problem(
                    f"Unknown visibility {options.visibility!r}: choose public, unlisted, private or direct.",
                    field="options",
                )
            )
        if options.language and not _LANGUAGE_RE.fullmatch(options.language.lower()):
            result.problems.append(
                Problem(
                    f"The language must be a two-letter code such as en or de, not {options.language!r}.",
                    field="options",
                )
            )
        return result

    def max_image_pixels(self) -> int | None:
        matrix = int(self.limits.get("image_matrix_limit") or 0)
        return matrix - 1 if matrix else None  # Mastodon refuses width x height >= the limit

    def _media_problems(self, part: PartContent, index: int, label: str) -> list[Problem]:
        limits = self.limits
        problems: list[Problem] = []
        media = part.media
        most = int(limits["max_media_attachments"])
        if len(media) > most:
            problems.append(
                Problem(
                    f"{label} has {len(media)} attachments; this server allows at most {most}.",
                    part=index,
                    field="media",
                )
            )
        kinds = [item.mime_type.split("/")[0] for item in media]
        if len(media) > 1 and any(kind in ("video", "audio") for kind in kinds):
            problems.append(
                Problem(
                    f"{label}: a video or audio file cannot be combined with other attachments on Mastodon.",
                    part=index,
                    field="media",
                )
            )
        supported = limits.get("supported_mime_types") or []
        for item, kind in zip(media, kinds, strict=True):
            name = Path(item.path).name or "An attachment"
            if supported and item.mime_type not in supported:
                problems.append(
                    Problem(
                        f"{name} is a {item.mime_type} file, which this server does not accept.",
                        part=index,
                        field="media",
                    )
                )
            size = item.size or _file_size(item.path)
            limit = int(limits["image_size_limit"] if kind == "image" else limits["video_size_limit"])
            if size > limit:
                noun = "images" if kind == "image" else "videos and audio"
                problems.append(
                    Problem(
                        f"{name} is {size / MB:.1f} MB; this server accepts {noun} up to {limit / MB:g} MB.",
                        part=index,
                        field="media",
                    )
                )
            most = self.max_image_pixels()
            if kind == "image" and most and item.width and item.height and item.width * item.height > most:
                problems.append(
                    Problem(
                        f"{name} is {item.width}×{item.height} pixels; this server accepts images of up to "
                        f"{most / 1_000_000:.1f} megapixels.",
                        part=index,
                        field="media",
                    )
                )
            description_limit = int(limits.get("description_limit") or 0)
            if not item.alt_text.strip():
                problems.append(
                    Problem(
                        f"{name} has no alt text: describe it for people who cannot see it.",
                        level="warning",
                        part=index,
                        field="media",
                    )
                )
            elif description_limit and len(item.alt_text) > description_limit:
                problems.append(
                    Problem(
                        f"The alt text of {name} is {len(item.alt_text)} characters; this server allows "
                        f"{description_limit}.",
                        part=index,
                        field="media",
                    )
                )
        return problems

    # --- publishing ----------------------------------------------------------------------------

    @staticmethod
    def idempotency_key(request: PartRequest) -> str:
        """Stable for this delivery part across every retry, and says nothing about our ids."""
        return hashlib.sha256(f"mastodon-part:{request.key}".encode()).hexdigest()[:40]

    def publish_part(self, request: PartRequest) -> RemoteRef:
        state = dict(request.state)
        if state.get("posting_since"):
            # An earlier attempt sent the status and may have lost the answer.
            found = self.find_published(request)
            if found is not None:
                log.info(
                    "Mastodon %s: part %s was already published as %s", self.host, request.index, found.id
                )
                return found

        media_ids = self._upload_media(request, state)

        if not state.get("posting_since"):
            state["posting_since"] = datetime.now(UTC).isoformat()
            request.checkpoint(dict(state))

        options = request.options
        with self._errors("the post", replying=request.reply_to is not None):
            status = self.client.status_post(
                request.part.text,
                in_reply_to_id=request.reply_to.id if request.reply_to else None,
                media_ids=media_ids or None,
                sensitive=bool(options.sensitive),
                visibility=options.visibility or None,
                spoiler_text=options.content_warning or None,
                language=options.language.lower() if options.language else None,
                idempotency_key=self.idempotency_key(request),
            )
        ref = _ref(status)
        log.info("Mastodon %s: published part %s as %s", self.host, request.index, ref.id)
        return ref

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
            fingerprint = f"{position}:{item.mime_type}:{item.size or _file_size(item.path)}:{alt_digest}"
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
                    f"Mastodon is still processing the {noun} {name}; trying again shortly.", retry_after=30
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
        into text, or the plain `text` some servers add), content warning, reply target and number
        of attachments are this part's. Reaching statuses older than the first attempt, or the end
        of the account's history, without a match means the part is absent. If the account posted
        more than a few pages since, the answer is unknown.
        """
        since = _parse_time(request.state.get("posting_since"))
        if since is None:
            return None
        oldest_wanted = since - _CLOCK_MARGIN
        want_text = _comparable(request.part.text)
        want_reply = request.reply_to.id if request.reply_to else None
        want_warning = (request.options.content_warning or "").strip()
        want_media = len(request.part.media)
        account_id = self.account.remote_id
        max_id = None
        for _ in range(_LOOKUP_PAGES):
            with self._errors("the check for an earlier attempt"):
                page = self.client.account_statuses(account_id, limit=_LOOKUP_PAGE, max_id=max_id)
            for status in page:
                created = status.get("created_at")
                if isinstance(created, datetime) and created < oldest_wanted:
                    return None
                if (
                    _str_or_none(status.get("in_reply_to_id")) == want_reply
                    and (status.get("spoiler_text") or "").strip() == want_warning
                    and len(status.get("media_attachments") or []) == want_media
                    and _comparable(_status_text(status)) == want_text
                ):
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
        if _version_tuple(str(self.limits.get("server_version") or "")) >= (4, 3, 0):
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
        with self._errors("the request for the server's limits"):
            return read_server_limits(self.client, self.account.server_url)

    def verify(self) -> ConnectedAccount:
        with self._errors("the connection check"):
            me = self.client.account_verify_credentials()
        domain = self.limits.get("domain") or self.host
        return ConnectedAccount(
            network=NETWORK,
            remote_id=str(me["id"]),
            handle=_handle(me, domain),
            server_url=self.account.server_url,
            credentials=dict(self.account.credentials),
            display_name=me.get("display_name") or me.get("username") or "",
            avatar_url=me.get("avatar") or "",
            limits=dict(self.account.limits or {}),
        )


def _ref(status) -> RemoteRef:
    return RemoteRef(
        id=str(status["id"]), url=status.get("url") or status.get("uri") or "", uri=status.get("uri") or ""
    )


def _str_or_none(value) -> str | None:
    return None if value is None else str(value)


def _status_text(status) -> str:
    return status.get("text") or _html_to_text(status.get("content") or "")


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _file_size(path: str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0  # not on this machine (the composer may run elsewhere): the server will judge


def _handle(me, domain: str) -> str:
    acct = me.get("acct") or me.get("username") or ""
    return f"@{acct}" if "@" in acct else f"@{acct}@{domain}"


# --- limits ------------------------------------------------------------------------------------


def _positive_int(value, default):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def _missing(exc: MastodonAPIError) -> bool:
    """The endpoint is not there (or not JSON): fall back, rather than fail."""
    if isinstance(exc, MastodonNotFoundError):
        return True
    if isinstance(exc, (MastodonServerError, MastodonUnauthorizedError)):
        return False
    status, _ = _api_status(exc)
    return status is None or status in (400, 403, 405, 406, 410)


def read_server_limits(client: Mastodon, base_url: str) -> dict[str, Any]:
    """The server's limits as the flat dict described in the module docstring.

    /api/v2/instance (Mastodon 4+), else /api/v1/instance (older Mastodon, Pleroma/Akkoma's
    max_toot_chars), nodeinfo for the software's name. Network trouble raises Mastodon.py's errors;
    missing endpoints fall back to defaults.
    """
    limits = dict(DEFAULT_LIMITS)
    # Without the token: nodeinfo documents may live on other hosts, which have no business seeing it.
    software = _software(_client(base_url, version=_version_of(client)))
    statuses: dict = {}
    media: dict = {}
    try:
        info = client.instance_v2()
        config = info.get("configuration") or {}
        statuses, media = config.get("statuses") or {}, config.get("media_attachments") or {}
        domain = info.get("domain") or ""
    except MastodonAPIError as exc:
        if not _missing(exc):
            raise
        try:
            info = client.instance_v1()
        except MastodonAPIError as exc_v1:
            if not _missing(exc_v1):
                raise
            info = {}
        config = info.get("configuration") or {}
        statuses, media = config.get("statuses") or {}, config.get("media_attachments") or {}
        domain = urlsplit(info["uri"]).netloc if "://" in (info.get("uri") or "") else (info.get("uri") or "")
        upload_limit = _positive_int(info.get("upload_limit"), None)
        if upload_limit:
            limits["image_size_limit"] = limits["video_size_limit"] = upload_limit
        limits["max_characters"] = _positive_int(info.get("max_toot_chars"), limits["max_characters"])
        limits["max_media_attachments"] = _positive_int(
            info.get("max_media_attachments"), limits["max_media_attachments"]
        )
        limits["description_limit"] = _positive_int(
            info.get("description_limit"), limits["description_limit"]
        )
        if not software:
            software = _software_from_version(info.get("version") or "")
    version = info.get("version") or ""
    software = software or _software_from_version(version) or "mastodon"

    limits["max_characters"] = _positive_int(statuses.get("max_characters"), limits["max_characters"])
    limits["max_media_attachments"] = _positive_int(
        statuses.get("max_media_attachments"), limits["max_media_attachments"]
    )
    if "characters_reserved_per_url" in statuses:
        limits["characters_reserved_per_url"] = _positive_int(statuses["characters_reserved_per_url"], 23)
    elif software in ("pleroma", "akkoma"):
        limits["characters_reserved_per_url"] = None  # they count URLs and mentions as typed
    mime_types = media.get("supported_mime_types")
    if isinstance(mime_types, list) and all(isinstance(t, str) for t in mime_types):
        limits["supported_mime_types"] = mime_types
    limits["image_size_limit"] = _positive_int(media.get("image_size_limit"), limits["image_size_limit"])
    # Mastodon refuses an image of this many pixels or more; servers that do not announce it are not checked.
    limits["image_matrix_limit"] = _positive_int(media.get("image_matrix_limit"), None)
    limits["video_size_limit"] = _positive_int(media.get("video_size_limit"), limits["video_size_limit"])
    limits["description_limit"] = _positive_int(media.get("description_limit"), limits["description_limit"])
    limits["server_software"] = software
    limits["server_version"] = api_level(version)
    limits["domain"] = (domain or _host(base_url)).lower()
    return limits


def _version_of(client: Mastodon) -> str:
    return f"{client.mastodon_major}.{client.mastodon_minor}.{client.mastodon_patch}"


def _software(client: Mastodon) -> str:
    """nodeinfo's software name, or "" when the server has no usable nodeinfo."""
    try:
        nodeinfo = client.instance_nodeinfo()
        name = (nodeinfo.get("software") or {}).get("name") or ""
    except MastodonAPIError as exc:
        if not _missing(exc):
            raise
        return ""
    except (MastodonIllegalArgumentError, KeyError, TypeError, AttributeError):
        return ""  # no nodeinfo 2.0 link, or a document of another shape
    return str(name).lower()


def _software_from_version(version: str) -> str:
    match = re.search(r"compatible; (\w+)", version)
    return match.group(1).lower() if match else ""


# --- connecting --------------------------------------------------------------------------------


def instance_base_url(instance_url: str) -> str:
    """The user's "mastodon.social" as a checked base URL, or ConnectError on field instance_url."""
    try:
        base_url = normalise_base_url(instance_url)
    except UnsafeURL as exc:
        raise ConnectError(str(exc), field="instance_url") from None
    if base_url.startswith("http://") and not http_allowed():
        raise ConnectError("Use the server's https:// address.", field="instance_url")
    return base_url


def connect_with_token(instance_url: str, access_token: str) -> ConnectedAccount:
    """Connect with a token the user created on their server (Preferences > Development)."""
    base_url = instance_base_url(instance_url)
    token = (access_token or "").strip()
    if not _TOKEN_RE.fullmatch(token):
        raise ConnectError(
            'This does not look like an access token: copy the value shown as "Your access token".',
            field="access_token",
        )
    return _connected(base_url, token)


def register_app(base_url: str, redirect_uri: str) -> tuple[str, str]:
    """Register this site as an OAuth app on the server; returns (client_id, client_secret)."""
    base_url = instance_base_url(base_url)
    host = _host(base_url)
    try:
        client_id, client_secret = Mastodon.create_app(
            settings.SITE_NAME,
            scopes=SCOPES,
            redirect_uris=redirect_uri,
            website=settings.SITE_URL,
            api_base_url=base_url,
            request_timeout=settings.NETWORK_TIMEOUT,
            session=_GuardedSession(),
            user_agent=_user_agent(),
        )
    except MastodonNetworkError:
        # create_app also reports a non-JSON answer this way.
        raise ConnectError(
            out_of_time(host)
            or f"Could not register with {host}: it is unreachable or does not look like a Mastodon server.",
            field="instance_url",
        ) from None
    except (MastodonError, KeyError, TypeError):
        # A JSON error body (422, 429) surfaces as a missing client_id.
        raise ConnectError(
            f"{host} did not let this site register for sign-in. Try pasting an access token instead.",
            field="instance_url",
        ) from None
    if not (isinstance(client_id, str) and isinstance(client_secret, str)):
        raise ConnectError(
            f"{host} answered the app registration in an unexpected way.", field="instance_url"
        )
    return client_id, client_secret


def authorization_url(
    base_url: str, client_id: str, client_secret: str, redirect_uri: str, state: str
) -> str:
    """Where to send the user's browser to sign in on their server and allow this site."""
    client = _client(instance_base_url(base_url), client_id=client_id, client_secret=client_secret)
    try:
        return client.auth_request_url(
            redirect_uris=redirect_uri, scopes=SCOPES, state=state, allow_http=http_allowed()
        )
    except MastodonError:
        raise ConnectError(
            out_of_time(_host(base_url))
            or f"{_host(base_url)} did not offer a usable sign-in page. Try pasting an access token instead.",
            field="instance_url",
        ) from None


def exchange_code(
    base_url: str, client_id: str, client_secret: str, redirect_uri: str, code: str
) -> ConnectedAccount:
    """Finish the sign-in: trade the code from the callback for a token, then read the account."""
    base_url = instance_base_url(base_url)
    host = _host(base_url)
    client = _client(base_url, client_id=client_id, client_secret=client_secret)
    try:
        token = client.log_in(code=code, redirect_uri=redirect_uri, scopes=SCOPES, allow_http=http_allowed())
    except MastodonIllegalArgumentError:
        # log_in reports every failure of the exchange this way (expired code, unreachable server).
        raise ConnectError(
            out_of_time(host, START_AGAIN)
            or f"{host} did not complete the sign-in (the link may have expired). Please try again."
        ) from None
    except MastodonAPIError:
        raise ConnectError(
            f"{host} did not grant permission to read and publish posts. Please try again."
        ) from None
    except MastodonError:
        raise ConnectError(
            out_of_time(host, START_AGAIN)
            or f"{host} could not complete the sign-in just now. Please try again."
        ) from None
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        raise ConnectError(f"{host} sent back an access token this site cannot use.")
    try:
        return _connected(base_url, token)
    except ConnectError as exc:
        # The code is spent on a token already: only a new sign-in gives another.
        raise ConnectError(out_of_time(host, START_AGAIN) or exc.message, exc.field) from None


def _connected(base_url: str, token: str) -> ConnectedAccount:
    host = _host(base_url)
    client = _client(base_url, token)
    try:
        me = client.account_verify_credentials()
        limits = read_server_limits(client, base_url)
    except MastodonUnauthorizedError:
        raise ConnectError(
            f"{host} did not accept this access token. "
            "Check that you copied all of it and that it was not revoked.",
            field="access_token",
        ) from None
    except MastodonNetworkError:
        raise ConnectError(
            out_of_time(host) or f"Could not reach {host}. Check the address.", field="instance_url"
        ) from None
    except MastodonRatelimitError:
        raise ConnectError(f"{host} is limiting requests right now. Try again in a few minutes.") from None
    except MastodonServerError:
        raise ConnectError(
            f"{host} had a problem on its side. Try again in a few minutes.", field="instance_url"
        ) from None
    except MastodonAPIError as exc:
        status, message = _api_status(exc)
        if status == 403:
            raise ConnectError(
                f"{host} refused access with this token: {_plain(message) or 'permission denied.'}",
                field="access_token",
            ) from None
        raise ConnectError(f"{host} does not look like a Mastodon server.", field="instance_url") from None
    if not isinstance(me, dict) or not me.get("id"):
        raise ConnectError(f"{host} does not look like a Mastodon server.", field="instance_url")
    return ConnectedAccount(
        network=NETWORK,
        remote_id=str(me["id"]),
        handle=_handle(me, limits["domain"]),
        server_url=base_url,
        credentials={"access_token": token},
        display_name=me.get("display_name") or me.get("username") or "",
        avatar_url=me.get("avatar") or "",
        limits=limits,
    )
