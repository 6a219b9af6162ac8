"""Uploaded images: checked to be whole images of an accepted type and size before they are kept.

One implementation for the composer and the API.
"""

import logging
import struct
import warnings
from datetime import timedelta

from django.conf import settings
from django.utils.timezone import now
from PIL import Image

from posts.models import Media

log = logging.getLogger(__name__)

MB = 1024 * 1024
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


class UploadRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


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
                image.verify()
            upload.seek(0)
            with Image.open(upload) as image:
                if kind in ("JPEG", "MPO"):
                    # Decoding at an eighth of the size still reads every byte, so a cut-off file fails.
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
    except UploadRefused:
        raise
    except Image.UnidentifiedImageError:
        raise UploadRefused(f"{name} is not an image: upload a JPEG, PNG, WebP or GIF image.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRefused(f"{name} has too many pixels; make it smaller and upload it again.") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error):
        raise UploadRefused(f"{name} is damaged or incomplete and cannot be read as an image.") from None
    mime_type, extension = IMAGE_FORMATS[kind]
    upload.seek(0)
    upload.name = f"image.{extension}"
    return Media.objects.create(
        workspace=workspace, file=upload, mime_type=mime_type, size=upload.size, width=width, height=height
    )


def remove_unused(older_than: timedelta = UNUSED_MEDIA_AFTER) -> int:
    """Delete uploads that never became part of a post, files included. Returns how many."""
    removed = 0
    for media in Media.objects.filter(part=None, created__lt=now() - older_than).iterator():
        # Delete the row only if it is still unattached (a post may have taken it meanwhile).
        if Media.objects.filter(pk=media.pk, part=None).delete()[0]:
            media.file.delete(save=False)
            removed += 1
    if removed:
        log.info("removed %d unused upload(s)", removed)
    return removed
