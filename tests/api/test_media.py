"""Image uploads: real images of accepted types under the size cap; referenced from posts with alt text."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from posts.models import Media
from tests.posts.test_media_privacy import assert_no_metadata, full_disk, located, served_bytes  # noqa: F401


def image_file(kind="PNG", size=(64, 48), name="photo.png"):
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(buffer, kind)
    return SimpleUploadedFile(name, buffer.getvalue())


def test_it_uploads_an_image_and_reads_its_size(alice_api):
    response = alice_api.upload("/api/v1/media", {"file": image_file(), "alt_text": "A blue square"})
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["mime_type"], data["width"], data["height"]) == ("image/png", 64, 48)
    assert data["alt_text"] == "A blue square"
    media = Media.objects.get(code=data["code"])
    assert media.file.name.endswith(".png")
    assert alice_api.get(f"/api/v1/media/{data['code']}").json()["code"] == data["code"]


def test_it_trusts_the_content_not_the_file_name(alice_api):
    response = alice_api.upload("/api/v1/media", {"file": image_file("JPEG", name="really.png")})
    assert response.status_code == 201
    assert response.json()["mime_type"] == "image/jpeg"


def test_it_refuses_files_that_are_not_images(alice_api):
    response = alice_api.upload(
        "/api/v1/media", {"file": SimpleUploadedFile("evil.png", b"<?php echo 1; ?>")}
    )
    assert response.status_code == 400
    assert "file" in response.json()["fields"]
    assert not Media.objects.exists()


def test_it_refuses_image_types_the_networks_do_not_take(alice_api):
    response = alice_api.upload("/api/v1/media", {"file": image_file("BMP", name="old.bmp")})
    assert response.status_code == 400
    assert "JPEG" in response.json()["fields"]["file"][0]


def test_it_refuses_files_over_the_size_cap(alice_api, settings):
    settings.MEDIA_MAX_UPLOAD_BYTES = 1000
    response = alice_api.upload("/api/v1/media", {"file": image_file(size=(400, 400))})
    assert response.status_code == 413
    assert "file" in response.json()["fields"]
    assert not Media.objects.exists()


def test_it_names_a_missing_file(alice_api):
    response = alice_api.upload("/api/v1/media", {"alt_text": "nothing"})
    assert response.status_code == 400
    assert "file" in response.json()["fields"]


def test_it_lets_only_composers_upload(victor_api, charlie_api, alice_api):
    assert victor_api.upload("/api/v1/media", {"file": image_file()}).status_code == 403
    code = alice_api.upload("/api/v1/media", {"file": image_file()}).json()["code"]
    assert charlie_api.get(f"/api/v1/media/{code}").status_code == 404


def test_it_attaches_uploaded_images_with_alt_text_to_a_part(alice_api, mastodon_channel):
    first = alice_api.upload("/api/v1/media", {"file": image_file()}).json()["code"]
    second = alice_api.upload("/api/v1/media", {"file": image_file(), "alt_text": "old text"}).json()["code"]
    response = alice_api.post(
        "/api/v1/posts",
        {
            "channels": [str(mastodon_channel.code)],
            "parts": [
                {"text": "Two pictures", "media": [{"code": first, "alt_text": "A chart"}, {"code": second}]}
            ],
        },
    )
    assert response.status_code == 201, response.content
    media = response.json()["parts"][0]["media"]
    assert [m["code"] for m in media] == [first, second]
    assert [m["alt_text"] for m in media] == ["A chart", "old text"]
    assert Media.objects.get(code=first).alt_text == "A chart"


def test_it_refuses_images_of_another_post_or_workspace(alice_api, charlie_api, mastodon_channel):
    used = alice_api.upload("/api/v1/media", {"file": image_file()}).json()["code"]
    alice_api.post(
        "/api/v1/posts",
        {"channels": [str(mastodon_channel.code)], "parts": [{"text": "mine", "media": [{"code": used}]}]},
    )
    again = alice_api.post(
        "/api/v1/posts",
        {"channels": [str(mastodon_channel.code)], "parts": [{"text": "again", "media": [{"code": used}]}]},
    )
    assert again.status_code == 400
    assert "another post" in again.json()["fields"]["parts.0.media.0"][0]
    theirs = charlie_api.upload("/api/v1/media", {"file": image_file()}).json()["code"]
    stolen = alice_api.post(
        "/api/v1/posts",
        {"channels": [str(mastodon_channel.code)], "parts": [{"text": "x", "media": [{"code": theirs}]}]},
    )
    assert stolen.status_code == 400
    assert "parts.0.media.0" in stolen.json()["fields"]


def test_it_requires_alt_text_where_the_workspace_asks_for_it(alice_api, cast, mastodon_channel):
    cast.workspace.require_alt_text = True
    cast.workspace.save()
    code = alice_api.upload("/api/v1/media", {"file": image_file()}).json()["code"]
    body = {
        "channels": [str(mastodon_channel.code)],
        "parts": [{"text": "pic", "media": [{"code": code}]}],
        "mode": "now",
    }
    refused = alice_api.post("/api/v1/posts", body)
    assert refused.status_code == 400
    assert "alt text" in refused.json()["fields"]["media"][0]
    body["parts"][0]["media"][0]["alt_text"] = "A described picture"
    assert alice_api.post("/api/v1/posts", body).status_code == 201


def test_it_answers_a_malformed_upload_with_400_json(alice_api):
    for headers in ({}, {"Idempotency-Key": "broken-upload"}):
        response = alice_api.post(
            "/api/v1/media", raw=b"garbage", content_type="multipart/form-data", headers=headers
        )
        assert response.status_code == 400, response.content
        assert response.json()["error"]
    assert not Media.objects.exists()


def _png_with_chunk_past_the_end() -> bytes:
    png = image_file().read()
    return png[:33] + b"\x7f\xff\xff\xfftEXt" + b"x" * 10 + png[33:]  # length beyond the file


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(lambda: image_file("JPEG").read()[:-200], id="cut-off JPEG"),
        pytest.param(lambda: image_file("JPEG").read()[:-2], id="JPEG without its end"),
        pytest.param(_png_with_chunk_past_the_end, id="PNG chunk past the end"),
        pytest.param(lambda: image_file().read()[:-12], id="PNG without IEND"),
    ],
)
def test_it_answers_a_damaged_image_with_a_sentence(alice_api, data):
    response = alice_api.upload("/api/v1/media", {"file": SimpleUploadedFile("photo", data())})
    assert response.status_code == 400, response.content
    assert response.json()["fields"]["file"] == [
        "photo is damaged or incomplete and cannot be read as an image."
    ]
    assert not Media.objects.exists()


# --- privacy and resources -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "WEBP"])
def test_it_keeps_no_location_in_an_uploaded_image(alice_api, client, kind):
    response = alice_api.upload("/api/v1/media", {"file": SimpleUploadedFile("photo", located(kind))})
    assert response.status_code == 201, response.content
    media = Media.objects.get(code=response.json()["code"])
    assert_no_metadata(media.file.read())
    assert_no_metadata(served_bytes(client, media))
    assert response.json()["size"] == media.file.size


def test_it_refuses_a_decompression_bomb_with_a_sentence(alice_api, monkeypatch):
    buffer = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buffer, "PNG")
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("the image was decoded"))
    response = alice_api.upload("/api/v1/media", {"file": SimpleUploadedFile("bomb.png", buffer.getvalue())})
    assert response.status_code == 400
    assert "9000×9000 pixels; images can have at most 50 megapixels" in response.json()["error"]
    assert not Media.objects.exists()


@pytest.mark.usefixtures("full_disk")
def test_a_full_disk_answers_507_and_leaves_no_file(alice_api, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    response = alice_api.upload("/api/v1/media", {"file": image_file()})
    assert response.status_code == 507
    assert response.json()["error"] == "The server has no room for this file right now; your text is kept."
    assert not Media.objects.exists()
    assert not [path for path in tmp_path.rglob("*") if path.is_file()]
