"""Each chosen network's image dimension limits are checked in the composer, not at publish time."""

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from posts.models import Media, Post


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def url(name):
    return reverse(f"posts:{name}", kwargs={"slug": "acme"})


def large_image() -> bytes:
    """6000x5000 pixels (30 megapixels): under Mastodon's 33.2, over what is re-encoded for Bluesky."""
    buffer = io.BytesIO()
    Image.new("1", (6000, 5000), 1).save(buffer, "PNG")
    return buffer.getvalue()


def compose(client, channels, media):
    return client.post(
        url("compose"),
        {
            "part": ["A wide view"],
            "channels": [str(c.code) for c in channels],
            "mode": "now",
            "zone": "Europe/Berlin",
            "visibility": "public",
            "language": "en",
            "link_card": "1",
            "media-0": str(media.code),
            f"alt-{media.code}": "The valley",
        },
    )


@pytest.fixture
def uploaded(client, cast):
    client.force_login(cast.alice)
    response = client.post(
        url("media-upload"),
        {"file": SimpleUploadedFile("valley.png", large_image()), "part": "0"},
        HTTP_HX_REQUEST="true",
    )
    assert 'role="alert"' not in response.content.decode()
    return Media.objects.get()


def test_an_image_too_big_for_bluesky_is_stopped_only_when_bluesky_is_chosen(
    client, uploaded, mastodon_channel, bluesky_channel
):
    response = compose(client, [mastodon_channel, bluesky_channel], uploaded)
    page = response.content.decode()
    assert response.status_code == 200 and not Post.objects.exists()
    assert "6000×5000 pixels; Bluesky images can have at most 25 megapixels" in page
    assert (
        "up to 20 MB and 25 megapixels, Bluesky's limit;" in page
    )  # the upload help names the strictest limit

    response = compose(client, [mastodon_channel], uploaded)
    assert response.status_code == 302
    assert Post.objects.get().deliveries.get().channel == mastodon_channel


def test_mastodon_refuses_images_over_the_pixels_its_server_announces(client, uploaded, mastodon_channel):
    mastodon_channel.limits = {**mastodon_channel.limits, "image_matrix_limit": 16_777_216}
    mastodon_channel.save(update_fields=["limits"])
    page = compose(client, [mastodon_channel], uploaded).content.decode()
    assert "6000×5000 pixels; this server accepts images of up to 16.8 megapixels" in page
    assert not Post.objects.exists()


def test_the_upload_help_names_this_servers_pixel_limit(client, cast, mastodon_channel):
    client.force_login(cast.alice)
    page = client.get(url("compose")).content.decode()
    assert re.search(r"up to \d+ MB and 50 megapixels;", page)
