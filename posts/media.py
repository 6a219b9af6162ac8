"""Uploaded images: checked to be whole images of an accepted type and size before they are kept.

One implementation for the composer and the API. What is kept has no metadata (no GPS position, no
camera or owner details): posts.image_metadata removes it before the file is written.
"""

import errno
import logging
import struct
import warnings
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db.models.fields.files import FieldFile
from django.utils.timezone import now
from PIL import Image

from posts.image_metadata import UnreadableImage, clean_image
from posts.models import Media, media_upload_to

log = logging.getLogger(__name__)

MB = 1024 * 1024
# Decoding takes about 4 bytes per pixel: a 9000x9000 PNG of a few hundred KB needs 320 MB of memory.
# 50 megapixels still takes the largest phone photos (8000x6000).
DEFAULT_MAX_PIXELS = 50_000_000
# A file in the media folder with no Media row is removed once it is this old (an upload being
# written has no row yet for a moment).
ORPHAN_FILE_GRACE = timedelta(hours=1)
NO_ROOM = "The server has no room for this file right now; your text is kept."
# Failures of the media folder itself rather than of the file: full, over quota, read-only.
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
# Uploads not attached to any post after this long are deleted (the composer attaches them on save).
UNUSED_MEDIA_AFTER = timedelta(days=1)
# Pillow format -> (MIME type, file extension). MPO is what many phone cameras' JPEGs identify as.
IMAGE_FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "MPO": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
    "GIF": ("image/gif", "gif"),
}


def max_upload_bytes() -> int:
    return int(settings.MEDIA_MAX_UPLOAD_BYTES)


def max_upload_pixels() -> int:
    return int(getattr(settings, "MEDIA_MAX_PIXELS", DEFAULT_MAX_PIXELS))


class UploadRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NoRoom(UploadRefused):
    """The media storage cannot take the file (full disk, quota, read-only): try again later."""

    def __init__(self):
        super().__init__(NO_ROOM)


def store_upload(workspace, upload) -> Media:
    """Check that the file is a whole image of an accepted type and size, then keep it as Media."""
    if upload is None:
        raise UploadRefused("Choose an image to upload.")
    name = upload.name or "The file"
    cap = max_upload_bytes()
    if upload.size > cap:
        raise UploadRefused(f"{name} is {upload.size / MB:.1f} MB; images can be at most {cap / MB:g} MB.")
    try:
        with warnings.catch_warnings():
            # Pillow only warns about images with very many pixels; decoding one could exhaust memory.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload) as image:
                kind = image.format
                if kind not in IMAGE_FORMATS:
                    raise UploadRefused(f"{name} is a {kind} image; upload a JPEG, PNG, WebP or GIF image.")
                width, height = image.size
                # Image.open has read only the header: refuse before anything is decoded.
                most = max_upload_pixels()
                if width * height > most:
                    raise UploadRefused(
                        f"{name} is {width}×{height} pixels; images can have at most "
                        f"{most / 1_000_000:g} megapixels. Make it smaller and upload it again."
                    )
                image.verify()
            upload.seek(0)
            with Image.open(upload) as image:
                if kind in ("JPEG", "MPO"):
                    # Decoding at an eighth of the size still reads every byte, so a cut-off file fails.
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
            upload.seek(0)
            data = clean_image(upload.read(), kind)
            with Image.open(ContentFile(data)) as image:
                width, height = image.size  # turned upright, the sides may have swapped
    except UploadRefused:
        raise
    except Image.UnidentifiedImageError:
        raise UploadRefused(f"{name} is not an image: upload a JPEG, PNG, WebP or GIF image.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRefused(f"{name} has too many pixels; make it smaller and upload it again.") from None
    except (UnreadableImage, OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error):
        raise UploadRefused(f"{name} is damaged or incomplete and cannot be read as an image.") from None
    mime_type, extension = IMAGE_FORMATS[kind]
    media = Media(workspace=workspace, mime_type=mime_type, size=len(data), width=width, height=height)
    _save_file(media, f"image.{extension}", data)
    return media


def _save_file(media: Media, filename: str, data: bytes) -> None:
    """Write the file, then the row; a failure leaves neither behind."""
    storage = media.file.storage
    name = media_upload_to(media, filename)
    try:
        media.file = FieldFile(media, Media._meta.get_field("file"), storage.save(name, ContentFile(data)))
        media.save()
    except OSError as exc:
        _remove_quietly(storage, name)
        if exc.errno in STORAGE_ERRNOS:
            log.error("media storage refused an upload: %s", exc)
            raise NoRoom() from None
        raise
    except BaseException:
        _remove_quietly(storage, media.file.name or name)
        raise


def _remove_quietly(storage, name: str) -> None:
    try:
        if storage.exists(name):
            storage.delete(name)
    except OSError:
        log.warning("could not remove the partly written upload %s", name)


def remove_unused(older_than: timedelta = UNUSED_MEDIA_AFTER) -> int:
    """Delete uploads that never became part of a post, files included, and files without an upload.

    Returns how many.
    """
    removed = 0
    for media in Media.objects.filter(part=None, created__lt=now() - older_than).iterator():
        # Delete the row only if it is still unattached (a post may have taken it meanwhile).
        if Media.objects.filter(pk=media.pk, part=None).delete()[0]:
            media.file.delete(save=False)
            removed += 1
    if removed:
        log.info("removed %d unused upload(s)", removed)
    return removed + remove_orphan_files()


def remove_orphan_files(older_than: timedelta = ORPHAN_FILE_GRACE) -> int:
    """Delete files under uploads/ that no Media row points to (left by a crash or a full disk)."""
    storage = Media._meta.get_field("file").storage
    cutoff = now() - older_than
    removed = 0
    try:
        folders, _ = storage.listdir("uploads")
    except FileNotFoundError:
        return 0
    for folder in folders:
        prefix = f"uploads/{folder}/"
        _, files = storage.listdir(prefix)
        known = set(Media.objects.filter(file__startswith=prefix).values_list("file", flat=True))
        for filename in files:
            name = prefix + filename
            if name in known or storage.get_modified_time(name) >= cutoff:
                continue
            # Checked again one by one: an upload may have got its row since the list was read.
            if not Media.objects.filter(file=name).exists():
                storage.delete(name)
                removed += 1
    if removed:
        log.info("removed %d file(s) no upload points to", removed)
    return removed
