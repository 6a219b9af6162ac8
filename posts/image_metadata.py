"""Remove what an image says about its owner (GPS position, camera, dates, names) before it is kept.

The pixels are kept as they are: each container is rewritten keeping only the parts that draw the
image (and its ICC colour profile, which is not personal and without which colours shift), so a JPEG
is not recompressed, a lossless WebP stays lossless and an animation keeps every frame. The lists
below name what is kept, not what is dropped, so metadata of a kind nobody thought of goes too.

Only a still photo whose EXIF says it is rotated is decoded and encoded again (JPEG at quality 95),
so that it stays upright once the tag that rotates it is gone.
"""

from __future__ import annotations

import io
import re
import struct

from PIL import Image, ImageOps, JpegImagePlugin

# JPEG segments that draw the image: everything that is not an APPn or a comment, plus these.
_JPEG_APP_KEPT = {0xE0: b"JFIF\x00", 0xE2: b"ICC_PROFILE\x00", 0xEE: b"Adobe"}
# The end of entropy-coded data: a marker other than a stuffed zero or a restart marker.
_JPEG_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEPT = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB",
    b"cICP", b"mDCV", b"cLLI", b"bKGD", b"pHYs", b"acTL", b"fcTL", b"fdAT",
}  # fmt: skip

_WEBP_KEPT = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"}
_WEBP_EXIF_FLAG, _WEBP_XMP_FLAG = 0x08, 0x04

# GIF application extensions that change how the image plays or looks: loop count, ICC profile.
_GIF_APPS_KEPT = (b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012")
_GIF_GRAPHIC_CONTROL, _GIF_PLAIN_TEXT, _GIF_APPLICATION = 0xF9, 0x01, 0xFF

# EXIF orientation -> whether the image must be turned (1 is upright).
_ORIENTATION = 0x0112


class UnreadableImage(ValueError):
    """The container does not have the structure its format requires."""


def clean_image(data: bytes, kind: str) -> bytes:
    """The image without metadata, turned upright if its EXIF said so. `kind` is Pillow's format name."""
    if _needs_turning(data, kind):
        data = _turn_upright(data, kind)
    try:
        return _STRIPPERS[kind](data)
    except (IndexError, struct.error) as exc:
        raise UnreadableImage(f"cut-off {kind} structure") from exc


def _needs_turning(data: bytes, kind: str) -> bool:
    if kind not in ("JPEG", "MPO", "PNG", "WEBP"):
        return False
    if kind == "PNG" and b"eXIf" not in data:
        return False  # Pillow would decode the whole image to look for it
    with Image.open(io.BytesIO(data)) as image:
        if getattr(image, "n_frames", 1) > 1 and kind != "MPO":
            return False  # animations: EXIF rotation is for photos
        try:
            orientation = image.getexif().get(_ORIENTATION, 1)
        except (SyntaxError, ValueError, OSError, EOFError, IndexError, struct.error):
            return False  # EXIF too damaged to read: it is dropped below like any other
        return orientation not in (1, None)


def _turn_upright(data: bytes, kind: str) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        icc_profile = image.info.get("icc_profile")
        options: dict = {"icc_profile": icc_profile} if icc_profile else {}
        if kind in ("JPEG", "MPO"):
            options.update(quality=95, subsampling=JpegImagePlugin.get_sampling(image))
            if options["subsampling"] == -1:
                del options["subsampling"]
            fmt = "JPEG"
        elif kind == "WEBP":
            lossless = _webp_has_chunk(data, b"VP8L")
            options.update(lossless=True, exact=True) if lossless else options.update(quality=95)
            fmt = "WEBP"
        else:
            if "transparency" in image.info:
                options["transparency"] = image.info["transparency"]
            fmt = "PNG"
        upright = ImageOps.exif_transpose(image)
        # Only what the encoders are told below may be written: none of the source's metadata.
        upright.info = {}
        buffer = io.BytesIO()
        upright.save(buffer, fmt, **options)
    return buffer.getvalue()


# --- JPEG --------------------------------------------------------------------------------------


def _strip_jpeg(data: bytes) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise UnreadableImage("not a JPEG")
    out = [b"\xff\xd8"]
    pos = 2
    while True:
        if data[pos] != 0xFF:
            raise UnreadableImage("JPEG segment without a marker")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xD9:  # end of image: whatever follows (MPO's other pictures, trailers) goes
            out.append(b"\xff\xd9")
            return b"".join(out)
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            out.append(data[pos : pos + 2])
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if end > len(data):
            raise UnreadableImage("cut-off JPEG segment")
        if marker == 0xDA:  # start of scan: the compressed pixels run until the next real marker
            found = _JPEG_SCAN_END.search(data, end)
            if found is None:
                raise UnreadableImage("JPEG without an end")
            end = found.start()
            out.append(data[pos:end])
        elif _jpeg_segment_kept(marker, data[pos + 4 : end]):
            out.append(data[pos:end])
        pos = end


def _jpeg_segment_kept(marker: int, payload: bytes) -> bool:
    if marker == 0xFE:  # comment
        return False
    if 0xE0 <= marker <= 0xEF:
        prefix = _JPEG_APP_KEPT.get(marker)
        return prefix is not None and payload.startswith(prefix)
    return True


# --- PNG ---------------------------------------------------------------------------------------


def _strip_png(data: bytes) -> bytes:
    if not data.startswith(_PNG_SIGNATURE):
        raise UnreadableImage("not a PNG")
    out = [_PNG_SIGNATURE]
    pos = len(_PNG_SIGNATURE)
    while True:
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise UnreadableImage("cut-off PNG chunk")
        if kind in _PNG_KEPT:
            out.append(data[pos:end])
        if kind == b"IEND":
            return b"".join(out)
        pos = end


# --- WebP --------------------------------------------------------------------------------------


def _webp_chunks(data: bytes):
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise UnreadableImage("not a WebP")
    (riff_size,) = struct.unpack("<I", data[4:8])
    stop = min(len(data), 8 + riff_size)
    pos = 12
    while pos + 8 <= stop:
        kind, size = struct.unpack("<4sI", data[pos : pos + 8])
        end = pos + 8 + size + (size & 1)
        if pos + 8 + size > len(data):
            raise UnreadableImage("cut-off WebP chunk")
        yield kind, data[pos : min(end, len(data))]
        pos = end


def _webp_has_chunk(data: bytes, wanted: bytes) -> bool:
    return any(kind == wanted for kind, _ in _webp_chunks(data))


def _strip_webp(data: bytes) -> bytes:
    body = []
    for kind, chunk in _webp_chunks(data):
        if kind not in _WEBP_KEPT:
            continue
        if kind == b"VP8X":
            flags = chunk[8] & ~(_WEBP_EXIF_FLAG | _WEBP_XMP_FLAG)
            chunk = chunk[:8] + bytes([flags]) + chunk[9:]
        if len(chunk) & 1:
            chunk += b"\x00"
        body.append(chunk)
    payload = b"WEBP" + b"".join(body)
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


# --- GIF ---------------------------------------------------------------------------------------


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while True:
        size = data[pos]
        pos += 1
        if size == 0:
            return pos
        pos += size


def _strip_gif(data: bytes) -> bytes:
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise UnreadableImage("not a GIF")
    flags = data[10]
    pos = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    out = [data[:pos]]
    while True:
        introducer = data[pos]
        if introducer == 0x3B:  # trailer
            out.append(b"\x3b")
            return b"".join(out)
        if introducer == 0x2C:  # a frame: descriptor, optional colour table, compressed pixels
            flags = data[pos + 9]
            start = pos
            pos += 10 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
            pos = _skip_sub_blocks(data, pos + 1)
            out.append(data[start:pos])
        elif introducer == 0x21:
            label, start = data[pos + 1], pos
            pos = _skip_sub_blocks(data, pos + 2)
            if len(data) < pos:
                raise UnreadableImage("cut-off GIF extension")
            application = data[start + 3 : start + 3 + data[start + 2]] if label == _GIF_APPLICATION else b""
            if label in (_GIF_GRAPHIC_CONTROL, _GIF_PLAIN_TEXT) or application in _GIF_APPS_KEPT:
                out.append(data[start:pos])
        else:
            raise UnreadableImage("unknown GIF block")


_STRIPPERS = {
    "JPEG": _strip_jpeg,
    "MPO": _strip_jpeg,
    "PNG": _strip_png,
    "WEBP": _strip_webp,
    "GIF": _strip_gif,
}
