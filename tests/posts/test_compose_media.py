"""Images in the composer: uploads with and without JavaScript, alt text, refusals, removal."""

import re

import pytest
from django.urls import reverse

from posts.models import Media, Post, PostPart
from tests.posts.compose_form import element, form, image_bytes, textareas, upload, uploaded_code, url

pytestmark = pytest.mark.usefixtures("media_root")


def test_it_uploads_an_image_with_an_alt_text_box_and_a_warning(client, cast):
    client.force_login(cast.alice)
    response = upload(client, image_bytes("JPEG", (64, 48)), "holiday.jpg", part=1)
    assert response.status_code == 200
    media = Media.objects.get()
    assert (media.mime_type, media.width, media.height, media.workspace) == (
        "image/jpeg",
        64,
        48,
        cast.workspace,
    )
    assert media.size == media.file.size
    page = response.content.decode()
    assert f'name="media-1" value="{media.code}"' in page
    assert f'<textarea name="alt-{media.code}"' in page
    assert "No alt text yet" in page and "alt-missing" in page
    thumb = re.search(r'<img src="([^"]+)" alt="" class="thumb"', page).group(1)
    assert client.get(thumb).status_code == 200


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"just some words, not a picture", "notes.txt", "is not an image"),
        (image_bytes("PNG", (50, 50))[:-40], "cut.png", "damaged or incomplete"),
        (image_bytes("JPEG", (300, 300), noise=True)[:600], "cut.jpg", "damaged or incomplete"),
        (image_bytes("BMP"), "old.bmp", "upload a JPEG, PNG, WebP or GIF image"),
    ],
    ids=["not-an-image", "corrupt-png", "corrupt-jpeg", "bmp"],
)
def test_it_refuses_files_that_are_not_whole_images(client, cast, content, name, message):
    client.force_login(cast.alice)
    response = upload(client, content, name)
    assert response.status_code == 200  # an answer to show beside the field
    assert "media-item" not in response.content.decode()
    assert message in response.content.decode() and 'role="alert"' in response.content.decode()
    assert not Media.objects.exists()


def test_it_refuses_a_file_too_big_beside_the_upload_field_without_javascript(client, cast, two, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_MAX_UPLOAD_BYTES = 2000
    big = image_bytes("PNG", (120, 120), noise=True)
    assert len(big) > 2000
    client.force_login(cast.alice)
    assert "images can be at most" in upload(client, big).content.decode()
    data = form(two, "With a picture")
    data["upload-0"] = SimpleUploadedFile("big.png", big)
    response = client.post(url("compose"), data)
    page = response.content.decode()
    assert response.status_code == 200
    assert "big.png is 0.0 MB; images can be at most" in element(page, "upload-0-errors")
    assert not Post.objects.exists() and not Media.objects.exists()
    assert textareas(page, "part") == ["With a picture"]


def test_it_uploads_without_javascript_and_keeps_the_image_on_a_refused_submit(client, cast, two):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(cast.alice)
    data = form(two, "b" * 301)
    data["upload-0"] = SimpleUploadedFile("photo.png", image_bytes())
    page = client.post(url("compose"), data).content.decode()
    media = Media.objects.get()
    assert not Post.objects.exists()
    assert f'name="media-0" value="{media.code}"' in page  # still in the form for the next try
    data = form(two, "Better now", **{"media-0": str(media.code), f"alt-{media.code}": "A red square"})
    assert client.post(url("compose"), data).status_code == 302
    media.refresh_from_db()
    assert media.part.post == Post.objects.get() and media.alt_text == "A red square"


@pytest.mark.django_db(transaction=True)
def test_it_attaches_uploaded_images_in_order_with_their_alt_text(
    client, cast, mastodon_channel, fake_mastodon, redis_conn
):
    from tests.posts.engine import dispatch_and_work

    client.force_login(cast.alice)
    first = uploaded_code(upload(client, image_bytes("PNG"), "one.png"))
    second = uploaded_code(upload(client, image_bytes("GIF"), "two.gif"))
    client.post(
        url("media-update", code=first), {f"alt-{first}": "The first picture"}, HTTP_HX_REQUEST="true"
    )
    assert Media.objects.get(code=first).alt_text == "The first picture"
    data = form([mastodon_channel], "Two pictures", **{f"alt-{second}": "The second picture"})
    data["media-0"] = [second, first]
    response = client.post(url("compose"), data)
    assert response.status_code == 302
    part = PostPart.objects.get()
    assert [(str(m.code), m.alt_text) for m in part.media.all()] == [
        (second, "The second picture"),
        (first, "The first picture"),
    ]
    dispatch_and_work()
    assert [m["description"] for m in fake_mastodon.statuses[0]["media"]] == [
        "The second picture",
        "The first picture",
    ]


def test_it_warns_about_missing_alt_text_per_channel(client, cast, two):
    mastodon, bluesky = two
    client.force_login(cast.alice)
    code = uploaded_code(upload(client, image_bytes()))
    data = form(two, "A picture", **{"media-0": code, f"alt-{code}": ""})
    page = client.post(url("compose-validate"), data, HTTP_HX_REQUEST="true").content.decode()
    assert "Image 1 has no alt text" in element(page, f"panel-{mastodon.code}")  # not the stored file name
    assert "Add a description (alt text)" in element(page, f"panel-{bluesky.code}")
    assert "No alt text" in element(page, f"panel-{bluesky.code}")  # on the preview's image


def test_it_refuses_images_without_alt_text_when_the_workspace_requires_it(client, cast, two):
    cast.workspace.require_alt_text = True
    cast.workspace.save()
    client.force_login(cast.alice)
    code = uploaded_code(upload(client, image_bytes()))
    response = client.post(url("compose"), form(two, "A picture", **{"media-0": code, f"alt-{code}": " "}))
    page = response.content.decode()
    assert not Post.objects.exists()
    assert "every image needs alt text in this workspace" in element(page, "parts")
    live = client.post(
        url("compose-validate"), form(two, "A picture", **{"media-0": code}), HTTP_HX_REQUEST="true"
    )
    assert "every image needs alt text in this workspace" in live.content.decode()
    assert f'name="media-0" value="{code}"' in page


def test_it_ignores_another_workspaces_media(client, cast, two):
    client.force_login(cast.charlie)
    foreign_code = uploaded_code(
        client.post(
            reverse("posts:media-upload", kwargs={"slug": "charlies"}),
            {"file": _file(image_bytes())},
        )
    )
    client.force_login(cast.alice)
    response = client.post(url("compose"), form(two, "Mine only", **{"media-0": foreign_code}))
    assert response.status_code == 302
    assert Media.objects.get(code=foreign_code).part is None
    assert not PostPart.objects.get().media.exists()
    assert client.post(url("media-update", code=foreign_code), {"alt_text": "x"}).status_code == 404
    assert client.post(url("media-delete", code=foreign_code)).status_code == 404
    assert Media.objects.filter(code=foreign_code).exists()


def _file(content, name="photo.png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)


def test_it_deletes_an_image_removed_before_posting(client, cast):
    client.force_login(cast.alice)
    code = uploaded_code(upload(client, image_bytes()))
    path = Media.objects.get(code=code).file.path
    response = client.post(url("media-delete", code=code), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response.content == b""
    assert not Media.objects.exists()
    import os

    assert not os.path.exists(path)
