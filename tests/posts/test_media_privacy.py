"""Uploads keep no metadata (GPS above all), stay upright and animated, and cannot exhaust memory or disk."""

import errno
import io
import os
import re
from datetime import timedelta

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image, PngImagePlugin

from posts.media import remove_unused
from posts.models import Media, Post, media_public_url

GPS_IFD = 0x8825
ORIENTATION = 0x0112
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="52,31.2N" '
    b'exif:GPSLongitude="13,24.6E"/></rdf:RDF></x:xmpmeta>'
)
MARKERS = (b"GPSLatitude", b"xmpmeta", b"Exif\x00\x00", b"eXIf", b"XML:com.adobe.xmp")


def exif(orientation=None) -> Image.Exif:
    data = Image.Exif()
    data[0x010F] = "PhoneMaker"
    data.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)})
    if orientation:
        data[ORIENTATION] = orientation
    return data


def picture(size=(60, 40)) -> Image.Image:
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, size[0] // 2, size[1] // 2))  # blue top-left corner
    return image


def located(kind: str, orientation=None, size=(60, 40)) -> bytes:
    """An image that says where it was taken, in EXIF and in an XMP packet."""
    buffer = io.BytesIO()
    image = picture(size)
    if kind == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        info.add_text("Comment", "at home")
        image.save(buffer, "PNG", exif=exif(orientation), pnginfo=info)
    elif kind == "WEBP":
        image.save(buffer, "WEBP", exif=exif(orientation), xmp=XMP, lossless=True)
    else:
        image.save(buffer, "JPEG", exif=exif(orientation), xmp=XMP, quality=90, comment=b"at home")
    data = buffer.getvalue()
    assert b"GPSLatitude" in data and exif_of(data).get_ifd(GPS_IFD)  # the sample does carry a location
    return data


def exif_of(data: bytes) -> Image.Exif:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.getexif()


def assert_no_metadata(data: bytes):
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert not image.getexif().get_ifd(GPS_IFD)
        assert not image.getexif()
        assert not {"exif", "xmp", "XML:com.adobe.xmp", "comment", "Comment"} & set(image.info)
    for marker in MARKERS:
        assert marker not in data


def served_bytes(client, media) -> bytes:
    from django.conf import settings

    response = client.get(media_public_url(media).removeprefix(settings.SITE_URL))
    assert response.status_code == 200
    return b"".join(response.streaming_content)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def compose_url(name):
    return reverse(f"posts:{name}", kwargs={"slug": "acme"})


def drop(client, data: bytes, name="photo"):
    return client.post(
        compose_url("media-upload"),
        {"file": SimpleUploadedFile(name, data), "part": "0"},
        HTTP_HX_REQUEST="true",
    )


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "WEBP"])
def test_it_keeps_no_location_in_an_uploaded_image(client, cast, kind):
    client.force_login(cast.alice)
    assert drop(client, located(kind)).status_code == 200
    media = Media.objects.get()
    stored = media.file.read()
    assert_no_metadata(stored)
    assert_no_metadata(served_bytes(client, media))
    assert media.size == len(stored) and (media.width, media.height) == (60, 40)
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == kind
        assert image.getpixel((5, 5))[2] > 150  # the picture itself is unchanged
        if kind == "WEBP":
            assert b"VP8L" in stored  # lossless stays lossless
        if kind == "PNG":
            assert image.getpixel((5, 5)) == (30, 30, 200)


def test_it_keeps_the_icc_colour_profile(client, cast):
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    picture().save(buffer, "JPEG", exif=exif(), icc_profile=profile)
    client.force_login(cast.alice)
    drop(client, buffer.getvalue())
    with Image.open(Media.objects.get().file.path) as image:
        assert image.info.get("icc_profile") == profile


@pytest.mark.parametrize("kind", ["JPEG", "PNG"])
def test_a_photo_turned_by_its_exif_comes_out_upright(client, cast, kind):
    client.force_login(cast.alice)
    drop(client, located(kind, orientation=6))  # "rotate 90° clockwise to display"
    media = Media.objects.get()
    assert (media.width, media.height) == (40, 60)
    with Image.open(media.file.path) as image:
        assert image.size == (40, 60)
        # The blue corner, top-left in the stored pixels, is top-right once turned.
        red, green, blue = image.getpixel((35, 5))
        assert blue > 150 and red < 100
    assert_no_metadata(media.file.read())


def test_a_photo_whose_exif_is_unreadable_is_kept_without_it(client, cast):
    data = located("WEBP")
    start = data.index(b"MM\x00*")  # the EXIF's TIFF header, spoilt: the pixels still decode
    data = data[:start] + b"MM\xfd*" + data[start + 4 :]
    with Image.open(io.BytesIO(data)) as image:
        image.load()
    client.force_login(cast.alice)
    assert "damaged" not in drop(client, data).content.decode()
    media = Media.objects.get()
    assert_no_metadata(media.file.read())
    assert (media.width, media.height) == (60, 40)


def test_an_animated_gif_keeps_its_frames(client, cast):
    frames = [Image.new("RGB", (30, 20), colour) for colour in ("red", "green", "blue")]
    buffer = io.BytesIO()
    frames[0].save(
        buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0, comment=b"home"
    )
    client.force_login(cast.alice)
    drop(client, buffer.getvalue(), "moving.gif")
    media = Media.objects.get()
    with Image.open(media.file.path) as image:
        assert image.n_frames == 3 and image.info.get("loop") == 0
        assert "comment" not in image.info
    assert media.mime_type == "image/gif"


def test_a_decompression_bomb_is_refused_before_it_is_decoded(client, cast, monkeypatch):
    buffer = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buffer, "PNG")
    assert len(buffer.getvalue()) < 400_000

    def no_decoding(self):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(Image.Image, "verify", no_decoding)
    client.force_login(cast.alice)
    page = drop(client, buffer.getvalue(), "bomb.png").content.decode()
    assert "bomb.png is 9000×9000 pixels; images can have at most 50 megapixels" in page
    assert not Media.objects.exists()


# --- a full media folder -------------------------------------------------------------------


@pytest.fixture
def full_disk(monkeypatch):
    """The media folder fills up after the first bytes of a file are written."""

    def save(self, name, content):
        with open(self.path(name), "wb") as partial:
            partial.write(content.read(10))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileSystemStorage, "_save", save)
    # The folders exist, as on a server that has stored uploads before.
    monkeypatch.setattr(
        FileSystemStorage, "path", lambda self, name: _made(os.path.join(self.location, name))
    )


def _made(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def files_in(root):
    return [path for path in root.rglob("*") if path.is_file()]


def test_a_full_disk_answers_with_a_sentence_in_the_drop_zone(client, cast, full_disk, media_root):
    client.force_login(cast.alice)
    response = drop(client, located("PNG"))
    assert response.status_code == 200
    assert "The server has no room for this file right now; your text is kept." in response.content.decode()
    assert not Media.objects.exists() and not files_in(media_root)


def test_a_full_disk_keeps_the_typed_text_without_javascript(
    client, cast, mastodon_channel, full_disk, media_root
):
    client.force_login(cast.alice)
    data = {
        "part": ["My carefully typed announcement"],
        "channels": [str(mastodon_channel.code)],
        "mode": "now",
        "zone": "Europe/Berlin",
        "visibility": "public",
        "language": "en",
        "upload-0": SimpleUploadedFile("photo.png", located("PNG")),
    }
    response = client.post(compose_url("compose"), data)
    page = response.content.decode()
    assert response.status_code == 200
    assert "The server has no room for this file right now; your text is kept." in page
    assert re.search(r"<textarea[^>]*>\n?My carefully typed announcement</textarea>", page)
    assert not Post.objects.exists() and not Media.objects.exists() and not files_in(media_root)


def test_the_cleanup_removes_old_files_that_no_upload_points_to(cast, media_root):
    client_media = Media(workspace=cast.workspace, mime_type="image/png", size=3)
    from django.core.files.base import ContentFile

    client_media.file.save("kept.png", ContentFile(b"png"))
    storage = FileSystemStorage(location=media_root)
    old = storage.save(f"uploads/{cast.workspace.pk}/orphan.png", ContentFile(b"left behind"))
    new = storage.save(f"uploads/{cast.workspace.pk}/being-written.png", ContentFile(b"in progress"))
    hours_ago = (media_root / old).stat().st_mtime - timedelta(hours=2).total_seconds()
    os.utime(media_root / old, (hours_ago, hours_ago))

    assert remove_unused() == 1
    assert not (media_root / old).exists()
    assert (media_root / new).exists() and os.path.exists(client_media.file.path)
