"""Make an image fit a network's byte limit without making it needlessly blurry.

Networks cap uploads by bytes (Bluesky: about 1 MB per image). Shrinking dimensions is what makes
images look blurry, so the order is: keep the original if it already fits; otherwise re-encode at
decreasing quality at full size; only if the lowest acceptable quality is still too big, step the
dimensions down by about 15% at a time. Images are never upscaled. A PNG with real transparency
stays a PNG when it fits, and becomes a WebP (which keeps the transparency) when it does not.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

# A source larger than this is almost certainly a mistake (or a decompression bomb), and decoding
# it, at 3 to 4 bytes a pixel plus a resized copy, would take a worker past its memory budget.
MAX_SOURCE_PIXELS = 25_000_000
QUALITIES = (90, 85, 80, 75, 70, 65, 60)
SCALE_STEP = 0.85
MIN_SIDE = 200

_FORMAT_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


class ImageError(Exception):
    """The image cannot be used. The message is a sentence a user can read."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class PreparedImage:
    data: bytes
    mime_type: str
    width: int
    height: int


def prepare_image(
    source: bytes, *, max_bytes: int, name: str = "The image", max_pixels: int = MAX_SOURCE_PIXELS
) -> PreparedImage:
    """Return image bytes of at most `max_bytes`, with their type and final dimensions."""
    try:
        image = Image.open(io.BytesIO(source))
        width, height = image.size
        if width * height > max_pixels:
            raise ImageError(
                f"{name} is too large ({width}x{height} pixels): use an image under "
                f"{max_pixels / 1_000_000:g} megapixels."
            )
        image.load()
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(f"{name} is too large to process.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        # Pillow reports unreadable or truncated files through these.
        raise ImageError(f"{name} could not be read: the file is damaged or not an image.") from None

    mime_type = _FORMAT_MIME.get(image.format or "")
    has_metadata = bool(image.getexif()) or "exif" in image.info
    if mime_type and len(source) <= max_bytes and not has_metadata:
        return PreparedImage(source, mime_type, width, height)

    # Apply the camera's rotation before dropping the metadata that carries it (and the location).
    image = ImageOps.exif_transpose(image)
    if _is_transparent(image):
        rgba = image.convert("RGBA")
        data = _encode(rgba, "PNG")
        if len(data) <= max_bytes:
            return PreparedImage(data, "image/png", *rgba.size)
        return _shrink(rgba, "WEBP", max_bytes, name)
    return _shrink(image.convert("RGB"), "JPEG", max_bytes, name)


def _is_transparent(image: Image.Image) -> bool:
    if image.mode == "P":
        return "transparency" in image.info
    if image.mode in ("RGBA", "LA", "PA"):
        return image.getchannel("A").getextrema()[0] < 255
    return False


def _encode(image: Image.Image, fmt: str, quality: int | None = None) -> bytes:
    buffer = io.BytesIO()
    if fmt == "PNG":
        image.save(buffer, "PNG", optimize=True)
    elif fmt == "JPEG":
        image.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
    else:
        image.save(buffer, fmt, quality=quality)
    return buffer.getvalue()


def _shrink(image: Image.Image, fmt: str, max_bytes: int, name: str) -> PreparedImage:
    mime_type = _FORMAT_MIME[fmt]
    width, height = image.size
    scale = 1.0
    while True:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        candidate = image if scale == 1.0 else image.resize(size, Image.Resampling.LANCZOS)
        lowest = _encode(candidate, fmt, QUALITIES[-1])
        if len(lowest) <= max_bytes:
            return PreparedImage(_best_quality(candidate, fmt, max_bytes, lowest), mime_type, *size)
        if min(size) * SCALE_STEP < MIN_SIDE:
            raise ImageError(f"{name} cannot be made small enough for this network without ruining it.")
        # Bytes shrink roughly with the pixel count: skip the steps that cannot possibly fit, but keep
        # to the 85% ladder so the result is as large as the limit allows.
        needed = math.sqrt(max_bytes / len(lowest))
        next_scale = scale * SCALE_STEP
        while next_scale * SCALE_STEP >= scale * needed and min(size) * next_scale / scale > MIN_SIDE:
            next_scale *= SCALE_STEP
        scale = next_scale


def _best_quality(image: Image.Image, fmt: str, max_bytes: int, lowest: bytes) -> bytes:
    """The encoding at the highest quality that fits, given that the lowest fits (size grows with quality)."""
    low, high, best = 0, len(QUALITIES) - 1, lowest  # QUALITIES[high] fits
    while low < high:
        middle = (low + high) // 2
        data = _encode(image, fmt, QUALITIES[middle])
        if len(data) <= max_bytes:
            high, best = middle, data
        else:
            low = middle + 1
    return best
