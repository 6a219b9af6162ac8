"""What goes into a Bluesky post record besides its text: facets, images, a link card, reply refs.

Bluesky does not unfurl links or find mentions itself: the record carries them. Links and hashtags
become facets offline; mentions are resolved to DIDs on the PDS. Images are re-encoded to fit the
blob limit and a link card (for a post without images, when asked for) is read from the page, both
before the session is taken (`prepare`), so that slow work does not hold the channel's lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atproto import Client, models
from atproto.exceptions import BadRequestError
from atproto_client.models.blob_ref import BlobRef
from atproto_client.utils import facet_detection
from django.conf import settings

from channels.guard import UnsafeURL
from channels.http import FetchError
from channels.networks.base import ContentRejected, MediaItem, PartRequest
from channels.networks.bluesky.errors import translated
from channels.networks.bluesky.rules import IMAGE_TYPES, links
from channels.networks.bluesky.sessions import Sessions
from channels.networks.images import MAX_SOURCE_PIXELS, ImageError, PreparedImage, prepare_image
from channels.networks.linkcard import LinkPreview, fetch_image, fetch_preview

logger = logging.getLogger(__name__)

THUMB_MAX_BYTES = 1_000_000


@dataclass
class Prepared:
    """Everything a post needs that does not involve the PDS (done outside the session lock)."""

    images: list[tuple[MediaItem, PreparedImage]]
    card: LinkPreview | None = None
    card_thumb: PreparedImage | None = None


def prepare(request: PartRequest, limits: dict[str, Any], max_pixels: int | None) -> Prepared:
    """Re-encode images and read the link preview: slow work that needs no session."""
    max_bytes = settings.BLUESKY_MAX_BLOB_BYTES
    if len(request.part.media) > limits["max_images"]:
        raise ContentRejected(f"Bluesky allows {limits['max_images']} images per post.")
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
                source, max_bytes=max_bytes, name=name, max_pixels=max_pixels or MAX_SOURCE_PIXELS
            )
            images.append((item, ready))
        except ImageError as exc:
            raise ContentRejected(exc.message) from None
    prepared = Prepared(images=images)
    if not images and request.options.link_card:
        _prepare_card(request.part.text, prepared)
    return prepared


def _prepare_card(text: str, prepared: Prepared) -> None:
    found = links(text)
    if not found:
        return
    timeout = min(10.0, settings.NETWORK_TIMEOUT)
    try:
        preview = fetch_preview(found[0], timeout=timeout)
    except (FetchError, UnsafeURL) as exc:
        # A card is a nicety: the post goes out without one.
        logger.warning("No link card for %s: %s", found[0], exc)
        return
    if preview is None:
        logger.info("No link card for %s: the page has no title", found[0])
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
            logger.warning("Link card for %s goes without its image: %s", found[0], exc)


def facets(sessions: Sessions, client: Client, text: str) -> list:
    """Links and hashtags (offline) and mentions resolved to DIDs; unknown handles stay plain text."""
    found = facet_detection.detect_facets(text)
    dids: dict[str, str | None] = {}
    for mention in facet_detection.detect_mentions(text):
        handle = mention.handle.lower()
        if handle not in dids:
            try:
                dids[handle] = sessions.call(client.resolve_handle, handle).did
            except BadRequestError:
                dids[handle] = None
        if dids[handle]:
            found.append(
                models.AppBskyRichtextFacet.Main(
                    features=[models.AppBskyRichtextFacet.Mention(did=dids[handle])],
                    index=models.AppBskyRichtextFacet.ByteSlice(
                        byte_start=mention.byte_start, byte_end=mention.byte_end
                    ),
                )
            )
    return sorted(found, key=lambda facet: facet.index.byte_start)


def embed(
    sessions: Sessions, client: Client, prepared: Prepared
) -> models.AppBskyEmbedImages.Main | models.AppBskyEmbedExternal.Main | None:
    """The images, or else the link card, uploaded to the PDS."""
    if prepared.images:
        embedded = []
        for item, image in prepared.images:
            blob = _upload(sessions, client, image)
            embedded.append(
                models.AppBskyEmbedImages.Image(
                    alt=item.alt_text or "",
                    image=blob,
                    aspect_ratio=models.AppBskyEmbedDefs.AspectRatio(width=image.width, height=image.height),
                )
            )
        return models.AppBskyEmbedImages.Main(images=embedded)
    if prepared.card is None:
        return None
    thumb = None
    if prepared.card_thumb is not None:
        try:
            thumb = _upload(sessions, client, prepared.card_thumb)
        except ContentRejected as exc:
            logger.warning("Link card goes without its image: %s", exc.message)
    card = prepared.card
    return models.AppBskyEmbedExternal.Main(
        external=models.AppBskyEmbedExternal.External(
            uri=card.url, title=card.title, description=card.description, thumb=thumb
        )
    )


def _upload(sessions: Sessions, client: Client, image: PreparedImage) -> BlobRef:
    with translated():
        response = sessions.call(
            client.com.atproto.repo.upload_blob, image.data, headers={"Content-Type": image.mime_type}
        )
    return response.blob


def reply_ref(request: PartRequest) -> models.AppBskyFeedPost.ReplyRef | None:
    """The thread's root and the previous part, for every part but the first."""
    if request.reply_to is None:
        return None
    root = request.root or request.reply_to
    return models.AppBskyFeedPost.ReplyRef(
        root=models.ComAtprotoRepoStrongRef.Main(uri=root.uri, cid=root.cid),
        parent=models.ComAtprotoRepoStrongRef.Main(uri=request.reply_to.uri, cid=request.reply_to.cid),
    )
