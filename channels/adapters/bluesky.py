"""Bluesky (AT Protocol, any PDS) through the `atproto` SDK.

Sessions. Credentials hold {"handle", "app_password", "session"} (the SDK's session string). A
createSession (password login) is rate-limited to a few dozen per day, so the stored session is
resumed for every job and every refresh of it is saved at once (refresh tokens rotate: a used one
is dead). Two workers refreshing one account at the same time would kill each other's refresh
token, so every use of a session happens under a Redis lock per channel, and the credentials are
re-read after taking it. The app password is used again only when the session itself is dead.

Exactly once. A post is created with a record key (a TID) generated once and checkpointed before
createRecord; a retry reads that key first and returns the existing post if the earlier attempt got
through. RemoteRef.id is the post's at:// URI (unique on its own, and what getPosts takes); the
rkey is its last segment.

Where the client goes. The PDS address is user-supplied, and a PDS names further addresses itself:
redirects, and the `serviceEndpoint` of the DID document in every session, which the SDK switches
to. Redirects are never followed (an XRPC server answers directly; a redirect of createSession
would carry the app password elsewhere). An announced endpoint may be another public host (the
bsky.social entryway announces *.host.bsky.network), but one on a private address is refused
before the client or the stored session switch to it. Every connection goes through
channels.http.guarded_transport, which checks the address it connects to.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import grapheme
import httpx
import redis
from atproto import Client, Request, Session, SessionEvent, models
from atproto.exceptions import (
    AtProtocolError,
    BadRequestError,
    ModelError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    RequestException,
    UnauthorizedError,
)
from atproto_client.client.base import is_method_not_served
from atproto_client.client.session import SessionResponse, get_session_pds_endpoint
from atproto_client.models.blob_ref import BlobRef
from atproto_client.request import RequestBase
from atproto_client.utils import facet_detection
from django.conf import settings

from channels.adapters.base import (
    Account,
    Adapter,
    AuthorizationLost,
    ConnectedAccount,
    ConnectError,
    ContentRejected,
    MediaItem,
    Metrics,
    PartContent,
    PartRequest,
    PostOptions,
    Problem,
    RemoteRef,
    TransientError,
    Usage,
    Validation,
)
from channels.adapters.images import MAX_SOURCE_PIXELS, ImageError, PreparedImage, prepare_image
from channels.adapters.linkcard import LinkPreview, fetch_image, fetch_preview
from channels.http import (
    FetchError,
    HostNotFound,
    PrivateAddress,
    UnsafeURL,
    check_url,
    guarded_transport,
    no_cookies,
    normalise_base_url,
    out_of_time,
    thread_client,
    timeout_for,
)

logger = logging.getLogger(__name__)

NETWORK = "bluesky"
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
THUMB_MAX_BYTES = 1_000_000
METRICS_BATCH = 25
# How long a job waits for another one using the same channel before giving up for now.
LOCK_WAIT = 30
SESSION_ERRORS = {"ExpiredToken", "InvalidToken"}
_LANGUAGE_RE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$")

T = TypeVar("T")


# --- record keys -------------------------------------------------------------------------------

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_tid_lock = threading.Lock()
_tid_last_us = 0
# Distinguishes TIDs made in the same microsecond by different processes.
_TID_CLOCK_ID = secrets.randbelow(1024)


def new_tid() -> str:
    """A record key: 53-bit microseconds since the epoch, then a 10-bit clock id, in base32-sortable.

    Strictly increasing within a process, so two posts made in the same microsecond still differ.
    """
    global _tid_last_us
    with _tid_lock:
        now_us = max(time.time_ns() // 1000, _tid_last_us + 1)
        _tid_last_us = now_us
    value = ((now_us & (2**53 - 1)) << 10) | _TID_CLOCK_ID
    chars = []
    for _ in range(13):
        chars.append(_TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def post_url(did: str, rkey: str) -> str:
    return f"https://bsky.app/profile/{did}/post/{rkey}"


# --- helpers -----------------------------------------------------------------------------------


def _error_name(exc: RequestErrorBase) -> str:
    content = exc.response.content if exc.response is not None else None
    return getattr(content, "error", None) or ""


def _error_message(exc: RequestErrorBase) -> str:
    content = exc.response.content if exc.response is not None else None
    return (getattr(content, "message", None) or "").strip()


def _status(exc: RequestErrorBase) -> int | None:
    return exc.response.status_code if exc.response is not None else None


def _retry_after(exc: RateLimitExceededError) -> float | None:
    if exc.retry_after is not None:
        return exc.retry_after
    if exc.reset_at is not None:
        return max((exc.reset_at - datetime.now(UTC)).total_seconds(), 0.0)
    return None


def _sentence(text: str) -> str:
    text = " ".join(text.split())[:200]
    return text if text.endswith((".", "!", "?")) else text + "."


def translate(exc: Exception) -> Exception | None:
    """The error kind for an SDK or transport failure, or None when it is not an expected one (a bug)."""
    if isinstance(exc, RateLimitExceededError):
        return TransientError(
            "Bluesky is limiting how often this account can make requests right now.",
            retry_after=_retry_after(exc),
        )
    if isinstance(exc, NetworkError):  # transport failures, timeouts, and 409/413/502
        if _status(exc) == 413:
            return ContentRejected("Bluesky refused a file of this post as too large.")
        return TransientError("Bluesky could not be reached (network trouble or a timeout).")
    if isinstance(exc, httpx.TransportError):
        return TransientError("The connection to Bluesky broke off before it answered.")
    if isinstance(exc, UnauthorizedError):
        if _error_name(exc) in ("AccountTakedown", "AccountDeactivated"):
            return AuthorizationLost("Bluesky has suspended or deactivated this account.")
        return AuthorizationLost("Bluesky no longer accepts this channel's sign-in: reconnect it.")
    if isinstance(exc, BadRequestError):
        name, message = _error_name(exc), _error_message(exc)
        if name in SESSION_ERRORS:
            return AuthorizationLost("Bluesky no longer accepts this channel's sign-in: reconnect it.")
        if name == "BlobTooLarge":
            return ContentRejected("Bluesky refused an image as too large.")
        if name in ("AccountTakedown", "AccountDeactivated", "RepoDeactivated", "RepoTakendown"):
            return AuthorizationLost("Bluesky has suspended or deactivated this account.")
        if message:
            return ContentRejected(f"Bluesky rejected the post: {_sentence(message)}")
        return ContentRejected("Bluesky rejected the post as invalid.")
    if isinstance(exc, RequestException) and (_status(exc) or 0) >= 500:
        return TransientError("Bluesky had a server problem.")
    return None


class RedirectRefused(UnsafeURL):
    """The server answered with a redirect, which is never followed."""


class EndpointRefused(UnsafeURL):
    """The server announced this account's PDS at an address the guard refuses."""


def _refuse_redirect(response: httpx.Response) -> None:
    if response.is_redirect:
        target = urlsplit(response.headers.get("Location", "")).netloc or "another address"
        raise RedirectRefused(
            f"{response.request.url.netloc.decode()} answered with a redirect to {target}, which is not "
            "followed: a Bluesky server must answer directly."
        )


@contextmanager
def _translated(server: str = "Bluesky") -> Iterator[None]:
    try:
        yield
    except UnsafeURL as exc:
        # The server sent us somewhere we do not go: that needs fixing there, not a retry.
        raise AuthorizationLost(f"{exc} Reconnect this channel once its server is fixed.") from exc
    except (AtProtocolError, httpx.TransportError) as exc:
        mapped = translate(exc)
        if mapped is None:
            raise
        if isinstance(mapped, TransientError) and (late := out_of_time(server)):
            mapped = TransientError(late)
        raise mapped from exc


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~40 ms of CPU, and httpx would do it for every new client (per job).
    return httpx.create_ssl_context()


@functools.cache
def _redis_for(url: str) -> redis.Redis:
    # django_rq.get_connection() builds a new client and pool on every call; keep one per process.
    return redis.Redis.from_url(url)


class _ThreadRequest(Request):
    """atproto's Request over this thread's httpx client (channels.http.thread_client).

    The Request keeps its account's headers (the session's bearer token) to itself; only the
    connection pool is shared, so a worker reuses its connection to a PDS from job to job.
    """

    def __init__(self) -> None:
        RequestBase.__init__(self)
        timeout = settings.NETWORK_TIMEOUT
        self._client_kwargs = {}
        self._client = thread_client(("bluesky", timeout), lambda: _httpx_client(timeout))

    def close(self) -> None:
        pass  # the client belongs to the thread


def _httpx_client(timeout: float) -> httpx.Client:
    return httpx.Client(
        follow_redirects=False,
        event_hooks={"response": [_refuse_redirect]},
        timeout=timeout,
        transport=guarded_transport(verify=_ssl_context()),
        cookies=no_cookies(),
    )


def check_pds_endpoint(endpoint: str) -> None:
    """Raise EndpointRefused if a server-announced PDS address is one the guard refuses.

    A name that does not resolve right now is let through (the connection fails, and is retried).
    """
    try:
        check_url(endpoint.removesuffix("/xrpc"))
    except PrivateAddress:
        host = urlsplit(endpoint).netloc
        raise EndpointRefused(
            f"The Bluesky server named {host} as this account's data server, which points to a private "
            "network and is not allowed."
        ) from None
    except HostNotFound:
        pass
    except UnsafeURL as exc:
        raise EndpointRefused(f"The Bluesky server named an unusable data server: {exc}") from None


class _GuardedClient(Client):
    """atproto's Client that refuses to switch to a PDS endpoint the guard refuses.

    The SDK moves its base URL to the DID document's serviceEndpoint on every session it creates
    or refreshes; the check runs before that, so neither the client nor the stored session (saved
    by the session-change callback) ever points there. A stored session being imported (every job)
    is not looked up again: it was checked when it was stored, and the guarded transport refuses
    to connect to a private address anyway.
    """

    def _set_session(self, event: SessionEvent, session: SessionResponse) -> None:
        endpoint = get_session_pds_endpoint(session)
        if endpoint and event is not SessionEvent.IMPORT:
            check_pds_endpoint(endpoint)
        super()._set_session(event, session)


def _new_client(base_url: str) -> Client:
    return _GuardedClient(base_url=base_url, request=_ThreadRequest())


def _count(text: str) -> tuple[int, int]:
    return grapheme.length(text), len(text.encode("utf-8"))


def _links(text: str) -> list[str]:
    """The full URLs of the links in the text, in order (offline, as the post's link facets)."""
    return [
        feature.uri
        for facet in facet_detection.detect_facets(text)
        for feature in facet.features
        if isinstance(feature, models.AppBskyRichtextFacet.Link)
    ]


@dataclass
class _Prepared:
    """Everything a post needs that does not involve the PDS (done outside the session lock)."""

    images: list[tuple[MediaItem, PreparedImage]]
    card: LinkPreview | None = None
    card_thumb: PreparedImage | None = None


# --- the adapter -------------------------------------------------------------------------------


class BlueskyAdapter(Adapter):
    network = NETWORK
    # Bluesky takes any dimensions; the pixel cap is what a worker can re-encode to fit the blob limit.
    default_limits = {
        "max_graphemes": 300,
        "max_bytes": 3000,
        "max_images": 4,
        "max_image_pixels": MAX_SOURCE_PIXELS,
    }

    def __init__(self, account: Account):
        super().__init__(account)
        self._client: Client | None = None
        self._credentials: dict[str, Any] = dict(account.credentials or {})
        self._redis = None
        self._lock = None
        self._session_info: Session | None = None

    # --- validation (offline) ---

    def validate(self, parts: list[PartContent], options: PostOptions) -> Validation:
        limits = self.limits
        max_graphemes, max_bytes, max_images = (
            limits["max_graphemes"],
            limits["max_bytes"],
            limits["max_images"],
        )
        result = Validation()
        for index, part in enumerate(parts):
            used, size = _count(part.text)
            result.usage.append(Usage(used=used, limit=max_graphemes, unit="graphemes"))
            if used > max_graphemes:
                result.problems.append(
                    Problem(f"Bluesky allows {max_graphemes} characters; this part has {used}.", part=index)
                )
            elif size > max_bytes:
                result.problems.append(
                    Problem(
                        f"This part is too long for Bluesky: emoji and accented letters take more room, "
                        f"and it uses {size} of {max_bytes} bytes.",
                        part=index,
                    )
                )
            if not part.text.strip() and not part.media:
                result.problems.append(Problem("A Bluesky post needs text or an image.", part=index))
            result.problems.extend(self._media_problems(part, index, max_images))
            if part.media and options.link_card and _links(part.text):
                result.problems.append(
                    Problem(
                        "Bluesky shows either images or a link preview: this part gets no link preview.",
                        level="warning",
                        part=index,
                        field="options",
                    )
                )
        if options.language and not _LANGUAGE_RE.match(options.language):
            result.problems.append(
                Problem(f"“{options.language}” is not a language code such as en or pt-BR.", field="options")
            )
        return result

    def _media_problems(self, part: PartContent, index: int, max_images: int) -> list[Problem]:
        problems = []
        videos = [m for m in part.media if m.mime_type.startswith("video/")]
        images = [m for m in part.media if m.mime_type in IMAGE_TYPES]
        others = [m for m in part.media if m not in videos and m not in images]
        if videos:
            problems.append(
                Problem(
                    "Videos cannot be posted to Bluesky yet: remove the video or post it elsewhere.",
                    part=index,
                    field="media",
                )
            )
        if others:
            problems.append(
                Problem("Bluesky accepts JPEG, PNG, WebP and GIF images only.", part=index, field="media")
            )
        if len(images) > max_images:
            problems.append(
                Problem(
                    f"Bluesky allows {max_images} images per post; this part has {len(images)}.",
                    part=index,
                    field="media",
                )
            )
        most = self.max_image_pixels()
        for number, item in enumerate(images, start=1):
            if most and item.width and item.height and item.width * item.height > most:
                name = f"Image {number}" if len(images) > 1 else "The image"
                problems.append(
                    Problem(
                        f"{name} is {item.width}×{item.height} pixels; Bluesky images can have at most "
                        f"{most / 1_000_000:g} megapixels here. Make it smaller.",
                        part=index,
                        field="media",
                    )
                )
        missing_alt = sum(1 for m in images if not m.alt_text.strip())
        if missing_alt:
            which = "every image" if missing_alt > 1 else "the image"
            problems.append(
                Problem(
                    f"Add a description (alt text) to {which} so people using screen readers can follow.",
                    level="warning",
                    part=index,
                    field="media",
                )
            )
        return problems

    # --- publishing ---

    def publish_part(self, request: PartRequest) -> RemoteRef:
        text = request.part.text
        used, size = _count(text)
        if used > self.limits["max_graphemes"] or size > self.limits["max_bytes"]:
            raise ContentRejected(f"The text is too long for Bluesky ({used} characters, {size} bytes).")
        rkey = request.state.get("rkey")
        if rkey:
            # An earlier attempt got as far as createRecord: if the post exists, that attempt worked.
            with self._session() as client:
                existing = self._get_post(client, rkey)
            if existing is not None:
                logger.info("Bluesky post %s was already published by an earlier attempt", existing.uri)
                return existing
        prepared = self._prepare(request)
        with self._session() as client:
            facets = self._facets(client, text) or None
            embed = self._embed(client, prepared)
            reply = None
            if request.reply_to is not None:
                root = request.root or request.reply_to
                reply = models.AppBskyFeedPost.ReplyRef(
                    root=models.ComAtprotoRepoStrongRef.Main(uri=root.uri, cid=root.cid),
                    parent=models.ComAtprotoRepoStrongRef.Main(
                        uri=request.reply_to.uri, cid=request.reply_to.cid
                    ),
                )
            record = models.AppBskyFeedPost.Record(
                text=text,
                created_at=client.get_current_time_iso(),
                facets=facets,
                embed=embed,
                reply=reply,
                langs=[request.options.language] if request.options.language else None,
            )
            if not rkey:
                rkey = new_tid()
                request.checkpoint({**request.state, "rkey": rkey})
            did = self._did()
            created = self._call(client.app.bsky.feed.post.create, repo=did, record=record, rkey=rkey)
        logger.info("Published Bluesky post %s", created.uri)
        return RemoteRef(id=created.uri, uri=created.uri, cid=created.cid, url=post_url(did, rkey))

    def find_published(self, request: PartRequest) -> RemoteRef | None:
        rkey = request.state.get("rkey")
        if not rkey:
            return None  # createRecord was never attempted
        with self._session() as client:
            return self._get_post(client, rkey)

    def _get_post(self, client: Client, rkey: str) -> RemoteRef | None:
        did = self._did()
        try:
            found = self._call(client.app.bsky.feed.post.get, did, rkey)
        except BadRequestError as exc:
            if _error_name(exc) == "RecordNotFound":
                return None
            raise
        return RemoteRef(id=found.uri, uri=found.uri, cid=found.cid or "", url=post_url(did, rkey))

    def _facets(self, client: Client, text: str) -> list:
        """Links and hashtags (offline) and mentions resolved to DIDs; unknown handles stay plain text."""
        facets = facet_detection.detect_facets(text)
        dids: dict[str, str | None] = {}
        for mention in facet_detection.detect_mentions(text):
            handle = mention.handle.lower()
            if handle not in dids:
                try:
                    dids[handle] = self._call(client.resolve_handle, handle).did
                except BadRequestError:
                    dids[handle] = None
            if dids[handle]:
                facets.append(
                    models.AppBskyRichtextFacet.Main(
                        features=[models.AppBskyRichtextFacet.Mention(did=dids[handle])],
                        index=models.AppBskyRichtextFacet.ByteSlice(
                            byte_start=mention.byte_start, byte_end=mention.byte_end
                        ),
                    )
                )
        return sorted(facets, key=lambda facet: facet.index.byte_start)

    def _prepare(self, request: PartRequest) -> _Prepared:
        """Re-encode images and read the link preview: slow work that needs no session."""
        max_bytes = settings.BLUESKY_MAX_BLOB_BYTES
        if len(request.part.media) > self.limits["max_images"]:
            raise ContentRejected(f"Bluesky allows {self.limits['max_images']} images per post.")
        images = []
        for number, item in enumerate(request.part.media, start=1):
            if item.mime_type.startswith("video/"):
                raise ContentRejected("Videos cannot be posted to Bluesky yet.")
            if item.mime_type not in IMAGE_TYPES:
                raise ContentRejected("Bluesky accepts JPEG, PNG, WebP and GIF images only.")
            name = f"Image {number}" if len(request.part.media) > 1 else "The image"
            try:
                source = Path(item.path).read_bytes()
            except FileNotFoundError:
                raise ContentRejected(f"{name} of this post is missing from the media library.") from None
            try:
                ready = prepare_image(
                    source,
                    max_bytes=max_bytes,
                    name=name,
                    max_pixels=self.max_image_pixels() or MAX_SOURCE_PIXELS,
                )
                images.append((item, ready))
            except ImageError as exc:
                raise ContentRejected(exc.message) from None
        prepared = _Prepared(images=images)
        if not images and request.options.link_card:
            self._prepare_card(request.part.text, prepared)
        return prepared

    def _prepare_card(self, text: str, prepared: _Prepared) -> None:
        links = _links(text)
        if not links:
            return
        timeout = min(10.0, settings.NETWORK_TIMEOUT)
        try:
            preview = fetch_preview(links[0], timeout=timeout)
        except (FetchError, UnsafeURL) as exc:
            # A card is a nicety: the post goes out without one.
            logger.warning("No link card for %s: %s", links[0], exc)
            return
        if preview is None:
            logger.info("No link card for %s: the page has no title", links[0])
            return
        prepared.card = preview
        if preview.image_url:
            try:
                source = fetch_image(preview.image_url, timeout=timeout)
                prepared.card_thumb = prepare_image(
                    source,
                    max_bytes=min(THUMB_MAX_BYTES, settings.BLUESKY_MAX_BLOB_BYTES),
                    name="The preview image",
                )
            except (FetchError, UnsafeURL, ImageError) as exc:
                logger.warning("Link card for %s goes without its image: %s", links[0], exc)

    def _embed(
        self, client: Client, prepared: _Prepared
    ) -> models.AppBskyEmbedImages.Main | models.AppBskyEmbedExternal.Main | None:
        if prepared.images:
            embedded = []
            for item, image in prepared.images:
                blob = self._upload(client, image)
                embedded.append(
                    models.AppBskyEmbedImages.Image(
                        alt=item.alt_text or "",
                        image=blob,
                        aspect_ratio=models.AppBskyEmbedDefs.AspectRatio(
                            width=image.width, height=image.height
                        ),
                    )
                )
            return models.AppBskyEmbedImages.Main(images=embedded)
        if prepared.card is None:
            return None
        thumb = None
        if prepared.card_thumb is not None:
            try:
                thumb = self._upload(client, prepared.card_thumb)
            except ContentRejected as exc:
                logger.warning("Link card goes without its image: %s", exc.message)
        card = prepared.card
        return models.AppBskyEmbedExternal.Main(
            external=models.AppBskyEmbedExternal.External(
                uri=card.url, title=card.title, description=card.description, thumb=thumb
            )
        )

    def _upload(self, client: Client, image: PreparedImage) -> BlobRef:
        with _translated():
            response = self._call(
                client.com.atproto.repo.upload_blob, image.data, headers={"Content-Type": image.mime_type}
            )
        return response.blob

    # --- metrics, verify, credentials ---

    def fetch_metrics(self, refs: list[RemoteRef]) -> dict[str, Metrics]:
        by_uri = {(ref.uri or ref.id): ref.id for ref in refs}
        uris = list(by_uri)
        result: dict[str, Metrics] = {}
        with self._session() as client:
            for start in range(0, len(uris), METRICS_BATCH):
                response = self._call(client.get_posts, uris[start : start + METRICS_BATCH])
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
        with self._session() as client:
            did = self._did()
            try:
                profile = self._call(client.get_profile, did)
            except RequestErrorBase as exc:
                if not is_method_not_served(exc):  # a PDS without the Bluesky app view
                    raise
                profile = None
            return ConnectedAccount(
                network=NETWORK,
                remote_id=did,
                handle=profile.handle if profile else self._session_info.handle,
                server_url=self.account.server_url,
                credentials=dict(self._credentials),
                display_name=(profile.display_name or "") if profile else "",
                avatar_url=(profile.avatar or "") if profile else "",
            )

    def refresh_credentials(self) -> dict[str, Any] | None:
        """Renew the session now (keeps an idle channel's refresh token from expiring)."""
        with self._session() as client:
            self._renew_session(client)
            return dict(self._credentials)

    def read_limits(self) -> dict[str, Any]:
        return dict(self.default_limits)

    # --- sessions ---

    @contextmanager
    def _session(self) -> Iterator[Client]:
        """A client with this channel's current session, used by nobody else until the block ends."""
        if self._redis is None:
            self._redis = _redis_for(settings.RQ_QUEUES["default"]["URL"])
        key = self.account.lock_key or f"{NETWORK}:{self.account.remote_id}"
        lock = self._redis.lock(
            f"lock:{key}", timeout=self._lock_timeout(), blocking_timeout=timeout_for(LOCK_WAIT)
        )
        try:
            acquired = lock.acquire()
        except redis.RedisError:
            raise TransientError("The scheduler's Redis server could not be reached.") from None
        if not acquired:
            raise TransientError(
                "Another job is using this Bluesky channel right now.",
                retry_after=10,
            )
        self._lock = lock
        try:
            with _translated(urlsplit(self.account.server_url or settings.BLUESKY_DEFAULT_PDS).netloc):
                yield self._resume()
        finally:
            self._lock = None
            try:
                lock.release()
            except redis.exceptions.LockError:
                logger.warning("The session lock for a Bluesky channel expired before it was released")

    @staticmethod
    def _lock_timeout() -> int:
        # The lock must outlive one request (NETWORK_TIMEOUT); _call renews it before each one.
        return int(max(60, 2 * settings.NETWORK_TIMEOUT))

    def _resume(self) -> Client:
        """Load the stored session (another worker may have refreshed it) into the reused client."""
        if self.account.load_credentials is not None:
            self._credentials = dict(self.account.load_credentials() or {})
            self.account.credentials = self._credentials
        if not self._credentials.get("app_password") and not self._credentials.get("session"):
            raise AuthorizationLost("This Bluesky channel has no stored sign-in: reconnect it.")
        if self._client is None:
            self._client = _new_client(self.account.server_url or settings.BLUESKY_DEFAULT_PDS)
            # Registered before any login or resume so that no session change goes unsaved.
            self._client.on_session_change(self._on_session_change)
        stored = self._credentials.get("session") or ""
        if stored and stored != self._current_session_string():
            try:
                self._client.login(session_string=stored, fetch_bsky_profile=False)
                return self._client
            except ValueError:
                logger.warning(
                    "The stored Bluesky session of %s is unreadable; signing in again", self.account.handle
                )
        elif stored:
            return self._client
        self._login_with_password()
        return self._client

    def _current_session_string(self) -> str:
        try:
            return self._client.export_session_string()
        except AtProtocolError:
            return ""

    def _on_session_change(self, event: SessionEvent, session: Session) -> None:
        self._session_info = session
        if event not in (SessionEvent.CREATE, SessionEvent.REFRESH):
            return
        self._credentials = {**self._credentials, "handle": session.handle, "session": session.export()}
        self.account.credentials = self._credentials
        self.account.save_credentials(dict(self._credentials))

    def _login_with_password(self) -> None:
        handle, password = self._credentials.get("handle"), self._credentials.get("app_password")
        if not handle or not password:
            raise AuthorizationLost("Bluesky needs this channel to sign in again: reconnect it.")
        logger.warning("Signing in to Bluesky again with the app password of %s", handle)
        try:
            self._client.login(handle, password, fetch_bsky_profile=False)
        except (UnauthorizedError, BadRequestError) as exc:
            name = _error_name(exc)
            if name == "AuthFactorTokenRequired":
                raise AuthorizationLost(
                    "Bluesky asks this account for an email sign-in code: reconnect it with an app password."
                ) from None
            if name in ("AccountTakedown", "AccountDeactivated"):
                raise AuthorizationLost("Bluesky has suspended or deactivated this account.") from None
            raise AuthorizationLost(
                "Bluesky refused the app password: create a new one and reconnect."
            ) from None

    def _renew_session(self, client: Client) -> None:
        """The server refused the access token: refresh the session, or sign in again if that is dead too."""
        try:
            # The SDK refreshes by the token's clock only; a server may expire or revoke it sooner.
            client._refresh_and_set_session()
        except BadRequestError as exc:
            if _error_name(exc) not in SESSION_ERRORS:
                raise
            self._login_with_password()
        except UnauthorizedError:
            self._login_with_password()

    def _call(self, method: Callable[..., T], *args, **kwargs) -> T:
        """One PDS call, renewing the session once if the server says it is no longer valid."""
        if self._lock is not None:
            try:
                self._lock.reacquire()
            except redis.exceptions.LockError:
                raise TransientError("Talking to Bluesky took too long.") from None
        try:
            return method(*args, **kwargs)
        except BadRequestError as exc:
            if _error_name(exc) not in SESSION_ERRORS:
                raise
        except UnauthorizedError:
            pass
        self._renew_session(self._client)
        return method(*args, **kwargs)

    def _did(self) -> str:
        return self._session_info.did


# --- connecting --------------------------------------------------------------------------------


def _normalise_handle(handle: str, pds_url: str) -> str:
    handle = (handle or "").strip().lstrip("@").strip().lower()
    if handle and "." not in handle and "@" not in handle and not handle.startswith("did:"):
        if pds_url.rstrip("/") == "https://bsky.social":
            handle += ".bsky.social"  # what people mean by their short Bluesky name
    return handle


def connect(handle: str, app_password: str, pds_url: str | None = None) -> ConnectedAccount:
    """Sign in with a handle and an app password and return the account to save as a channel.

    Raises ConnectError with `field` set to "handle", "app_password" or "pds_url" when it fails.
    """
    try:
        base_url = normalise_base_url(pds_url or settings.BLUESKY_DEFAULT_PDS, example="bsky.social")
    except UnsafeURL as exc:
        raise ConnectError(str(exc), field="pds_url") from None
    handle = _normalise_handle(handle, base_url)
    app_password = (app_password or "").strip()
    if not handle:
        raise ConnectError("Enter your Bluesky handle, such as alice.bsky.social.", field="handle")
    if not app_password:
        raise ConnectError("Enter an app password.", field="app_password")
    client = _new_client(base_url)
    sessions: list[Session] = []
    client.on_session_change(lambda event, session: sessions.append(session))
    try:
        client.login(handle, app_password, fetch_bsky_profile=False)
        session = sessions[-1]
        try:
            profile = client.get_profile(session.did)
        except RequestErrorBase as exc:
            if not is_method_not_served(exc):  # a PDS without the Bluesky app view still works
                raise
            profile = None
    except UnsafeURL as exc:  # a redirect, an announced endpoint, an address found private on connecting
        raise ConnectError(str(exc), field="pds_url") from None
    except UnauthorizedError as exc:
        name = _error_name(exc)
        if name == "AuthFactorTokenRequired":
            raise ConnectError(
                "This account asks for an email sign-in code, which a scheduler cannot type in. Create an "
                "app password in Bluesky (Settings > Privacy and security > App passwords) and use it here.",
                field="app_password",
            ) from None
        if name in ("AccountTakedown", "AccountDeactivated"):
            raise ConnectError("Bluesky has suspended or deactivated this account.") from None
        raise ConnectError(
            "Bluesky did not accept this handle and app password. Check both, or create a new app password.",
            field="app_password",
        ) from None
    except BadRequestError:
        raise ConnectError(
            "Bluesky did not accept this handle and app password. Check both, or create a new app password.",
            field="app_password",
        ) from None
    except RateLimitExceededError as exc:
        wait = _retry_after(exc)
        when = f"in about {max(1, round(wait / 60))} minutes" if wait else "later"
        raise ConnectError(
            f"Bluesky is limiting sign-ins for this account right now: try again {when}."
        ) from None
    except (NetworkError, httpx.TransportError):
        raise ConnectError(
            out_of_time(urlsplit(base_url).netloc)
            or f"The server {base_url} could not be reached. Check the address, or try again later.",
            field="pds_url",
        ) from None
    except (RequestException, ModelError):
        raise ConnectError(
            f"{base_url} did not answer like a Bluesky server (PDS). Check the address.", field="pds_url"
        ) from None
    finally:
        client.request.close()
    return ConnectedAccount(
        network=NETWORK,
        remote_id=session.did,
        handle=session.handle,
        server_url=base_url,
        credentials={"handle": session.handle, "app_password": app_password, "session": session.export()},
        display_name=(profile.display_name or "") if profile else "",
        avatar_url=(profile.avatar or "") if profile else "",
        limits=dict(BlueskyAdapter.default_limits),
    )
