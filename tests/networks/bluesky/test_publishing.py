"""Publishing to Bluesky against the fake PDS, with the real atproto client: text and facets, link
cards, images and threads."""

import io

import pytest
from PIL import Image

from channels.networks.base import ContentRejected, MediaItem, PostOptions
from tests.networks.bluesky.fake import ALICE_DID, BOB_DID
from tests.networks.bluesky.parts import CREATE, Delivery, image_file, media, publish

# --- text and facets ---------------------------------------------------------------------------


def test_it_publishes_text_with_facets_at_utf8_byte_offsets(bluesky_channel, fake_bluesky):
    link = "https://example.com/crème/brûlée?q=é"
    text = f"Café ☕ 👩‍👩‍👧 for @bob.test and #naïve friends: {link} 🎉 done"

    ref = publish(bluesky_channel, text, options=PostOptions(language="fr", link_card=False))

    [post] = fake_bluesky.posts()
    record = post["value"]
    assert record["text"] == text
    assert record["langs"] == ["fr"]
    encoded = text.encode()
    by_kind = {}
    for facet in record["facets"]:
        feature = facet["features"][0]
        by_kind[feature["$type"].rsplit("#", 1)[1]] = (
            feature,
            encoded[facet["index"]["byteStart"] : facet["index"]["byteEnd"]],
        )
    assert by_kind["link"] == ({"$type": "app.bsky.richtext.facet#link", "uri": link}, link.encode())
    assert by_kind["mention"][0]["did"] == BOB_DID
    assert by_kind["mention"][1] == b"@bob.test"
    assert by_kind["tag"][0]["tag"] == "naïve"
    assert by_kind["tag"][1] == "#naïve".encode()
    assert ref.uri == post["uri"] and ref.id == post["uri"] and ref.cid == post["cid"]
    assert ref.url == f"https://bsky.app/profile/{ALICE_DID}/post/{post['rkey']}"


def test_it_leaves_handles_that_do_not_resolve_as_plain_text(bluesky_channel, fake_bluesky):
    publish(bluesky_channel, "Thanks @nobody.test and @bob.test!")

    facets = fake_bluesky.posts()[0]["value"]["facets"]
    assert [f["features"][0].get("did") for f in facets] == [BOB_DID]


def test_it_omits_langs_when_the_post_has_no_language(bluesky_channel, fake_bluesky):
    publish(bluesky_channel, "No language", options=PostOptions(language=""))

    assert "langs" not in fake_bluesky.posts()[0]["value"]


# --- link cards --------------------------------------------------------------------------------


def test_it_attaches_a_link_card_with_title_description_and_thumbnail(bluesky_channel, fake_bluesky):
    url = fake_bluesky.page_url("/pages/article")

    publish(bluesky_channel, f"Read this: {url}")

    record = fake_bluesky.posts()[0]["value"]
    external = record["embed"]["external"]
    assert record["embed"]["$type"] == "app.bsky.embed.external"
    assert external["uri"] == url
    assert external["title"] == "Spring launch & news"
    assert external["description"] == "Everything about the spring launch."
    thumb = fake_bluesky.blob(external["thumb"])
    assert thumb["mime"] == "image/jpeg"
    assert thumb["size"] <= 1_000_000
    # The card does not make the link clickable: the link facet is still there.
    assert record["facets"][0]["features"][0]["uri"] == url


def test_it_uses_the_page_title_when_there_are_no_opengraph_tags(bluesky_channel, fake_bluesky):
    publish(bluesky_channel, f"See {fake_bluesky.page_url('/pages/plain')}")

    external = fake_bluesky.posts()[0]["value"]["embed"]["external"]
    assert external["title"] == "Just a title"
    assert "thumb" not in external


def test_it_posts_without_a_card_when_the_page_cannot_be_read(bluesky_channel, fake_bluesky, caplog):
    url = fake_bluesky.page_url("/pages/gone")

    publish(bluesky_channel, f"Broken {url}")

    record = fake_bluesky.posts()[0]["value"]
    assert "embed" not in record
    assert record["facets"][0]["features"][0]["uri"] == url
    assert "No link card" in caplog.text


def test_it_posts_the_card_without_a_thumbnail_when_the_image_is_broken(bluesky_channel, fake_bluesky):
    fake_bluesky.add_page("/pages/broken.jpg", b"not an image at all", "image/jpeg")
    fake_bluesky.add_page(
        "/pages/broken-image",
        b"<head><meta property='og:title' content='Broken image'><meta property='og:image' "
        b"content='/pages/broken.jpg'></head>",
        "text/html",
    )

    publish(bluesky_channel, f"Look {fake_bluesky.page_url('/pages/broken-image')}")

    external = fake_bluesky.posts()[0]["value"]["embed"]["external"]
    assert external["title"] == "Broken image"
    assert "thumb" not in external


def test_it_adds_no_card_when_link_cards_are_off(bluesky_channel, fake_bluesky):
    publish(
        bluesky_channel,
        f"Plain {fake_bluesky.page_url('/pages/article')}",
        options=PostOptions(link_card=False),
    )

    assert "embed" not in fake_bluesky.posts()[0]["value"]
    assert not fake_bluesky.blobs


def test_it_reads_previews_from_twitter_tags_with_relative_images_and_declared_charsets():
    from channels.networks.linkcard import _charset, parse_preview

    html = (
        "<html><head><meta name='twitter:title' content='Caf&eacute; news'>"
        "<meta name='description' content='  Daily   news  '><meta name='twitter:image' content='img/a.png'>"
        "</head><body><meta property='og:title' content='Ignored: in the body'></body></html>"
    )

    preview = parse_preview("https://example.com/a/b", html, base_url="https://www.example.com/a/b")

    assert (preview.title, preview.description) == ("Café news", "Daily news")
    assert preview.image_url == "https://www.example.com/a/img/a.png"
    assert _charset(b"<meta charset='iso-8859-1'>") == "iso-8859-1"
    assert _charset(b"<meta charset='no-such-charset'>") == "utf-8"
    assert parse_preview("https://example.com", "<p>No head</p>") is None


# --- images ------------------------------------------------------------------------------------


def test_it_uploads_images_with_alt_text_and_aspect_ratio(bluesky_channel, fake_bluesky, tmp_path):
    wide = image_file(tmp_path, "wide.png", (640, 480))
    tall = image_file(tmp_path, "tall.jpg", (300, 600), fmt="JPEG")
    url = fake_bluesky.page_url("/pages/article")

    publish(
        bluesky_channel,
        f"Two pictures {url}",
        [media(wide, alt="A wide red square"), media(tall, "image/jpeg", alt="A tall one")],
    )

    embed = fake_bluesky.posts()[0]["value"]["embed"]
    assert embed["$type"] == "app.bsky.embed.images"  # images win over the link card
    assert [i["alt"] for i in embed["images"]] == ["A wide red square", "A tall one"]
    assert [(i["aspectRatio"]["width"], i["aspectRatio"]["height"]) for i in embed["images"]] == [
        (640, 480),
        (300, 600),
    ]
    assert [fake_bluesky.blob(i["image"])["mime"] for i in embed["images"]] == ["image/png", "image/jpeg"]


def test_it_sends_an_empty_alt_when_the_image_has_none(bluesky_channel, fake_bluesky, tmp_path):
    publish(bluesky_channel, "", [media(image_file(tmp_path, "a.png"), alt="")])

    assert fake_bluesky.posts()[0]["value"]["embed"]["images"][0]["alt"] == ""


def _noisy(size, sigma) -> Image.Image:
    base = Image.linear_gradient("L").resize(size)
    return Image.merge(
        "RGB", (base, Image.effect_noise(size, sigma), base.transpose(Image.Transpose.ROTATE_90))
    )


def test_it_reencodes_a_large_image_by_quality_and_keeps_its_dimensions(
    bluesky_channel, fake_bluesky, tmp_path
):
    path = tmp_path / "big.jpg"
    _noisy((3000, 3000), 8).save(path, "JPEG", quality=98)
    assert path.stat().st_size > 1_000_000

    publish(bluesky_channel, "Big photo", [media(str(path), "image/jpeg")])

    image = fake_bluesky.posts()[0]["value"]["embed"]["images"][0]
    blob = fake_bluesky.blob(image["image"])
    assert blob["size"] <= 1_000_000
    assert blob["mime"] == "image/jpeg"
    assert (image["aspectRatio"]["width"], image["aspectRatio"]["height"]) == (3000, 3000)
    assert Image.open(io.BytesIO(blob["data"])).size == (3000, 3000)


def test_it_shrinks_dimensions_in_steps_only_when_quality_is_not_enough(
    bluesky_channel, fake_bluesky, tmp_path
):
    path = tmp_path / "noise.png"
    Image.merge("RGB", [Image.effect_noise((2100, 1400), 100) for _ in range(3)]).save(path, "PNG")

    publish(bluesky_channel, "Pure noise", [media(str(path))])

    image = fake_bluesky.posts()[0]["value"]["embed"]["images"][0]
    blob = fake_bluesky.blob(image["image"])
    width, height = image["aspectRatio"]["width"], image["aspectRatio"]["height"]
    assert blob["size"] <= 1_000_000
    assert width < 2100 and abs(width / height - 1.5) < 0.01  # smaller, same shape
    assert any(abs(width - 2100 * 0.85**k) <= 1 for k in range(1, 10))  # a step of the 85% ladder


def test_it_keeps_a_transparent_png_as_png(bluesky_channel, fake_bluesky, tmp_path):
    path = image_file(tmp_path, "logo.png", (400, 200), mode="RGBA", color=(0, 0, 0, 0))

    publish(bluesky_channel, "Logo", [media(path)])

    blob = fake_bluesky.blob(fake_bluesky.posts()[0]["value"]["embed"]["images"][0]["image"])
    assert blob["mime"] == "image/png"
    assert Image.open(io.BytesIO(blob["data"])).mode in ("RGBA", "P", "LA")


def test_it_rejects_a_corrupt_image_before_posting(bluesky_channel, fake_bluesky, tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")

    with pytest.raises(ContentRejected) as caught:
        publish(bluesky_channel, "Broken", [media(str(path), "image/jpeg")])

    assert caught.value.message == "The image could not be read: the file is damaged or not an image."
    assert not fake_bluesky.calls(CREATE)


def test_it_rejects_a_huge_image(bluesky_channel, fake_bluesky, tmp_path):
    path = image_file(tmp_path, "huge.png", (9000, 9000), mode="1", color=1)

    with pytest.raises(ContentRejected) as caught:
        publish(bluesky_channel, "Huge", [media(path)])

    assert "too large (9000x9000 pixels)" in caught.value.message
    assert not fake_bluesky.calls(CREATE)


def test_it_rejects_a_video_before_posting(bluesky_channel, fake_bluesky, tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42")

    with pytest.raises(ContentRejected) as caught:
        publish(bluesky_channel, "Clip", [MediaItem(path=str(path), mime_type="video/mp4")])

    assert caught.value.message == "Videos cannot be posted to Bluesky yet."
    assert not fake_bluesky.calls("com.atproto.repo.uploadBlob")


def test_it_reports_an_image_the_pds_refuses_as_too_large(bluesky_channel, fake_bluesky, tmp_path):
    fake_bluesky.blob_limit = 100_000  # a PDS stricter than our setting
    path = tmp_path / "photo.jpg"
    _noisy((800, 800), 30).save(path, "JPEG", quality=95)

    with pytest.raises(ContentRejected) as caught:
        publish(bluesky_channel, "Photo", [media(str(path), "image/jpeg")])

    assert caught.value.message == "Bluesky refused an image as too large."
    assert not fake_bluesky.posts()


# --- threads -----------------------------------------------------------------------------------


def test_it_publishes_a_thread_in_order_with_root_and_parent_refs(bluesky_channel, fake_bluesky):
    adapter = bluesky_channel.adapter()
    first = adapter.publish_part(Delivery("1/3 Start", index=0).request())
    second = adapter.publish_part(Delivery("2/3 Middle", reply_to=first, root=first, index=1).request())
    third = adapter.publish_part(Delivery("3/3 End", reply_to=second, root=first, index=2).request())

    posts = fake_bluesky.posts()
    assert [p["value"]["text"] for p in posts] == ["1/3 Start", "2/3 Middle", "3/3 End"]
    assert "reply" not in posts[0]["value"]
    assert posts[1]["value"]["reply"]["root"] == {
        "$type": "com.atproto.repo.strongRef",
        "uri": first.uri,
        "cid": first.cid,
    }
    assert posts[1]["value"]["reply"]["parent"]["uri"] == first.uri
    assert posts[2]["value"]["reply"]["root"]["uri"] == first.uri
    assert posts[2]["value"]["reply"]["parent"] == {
        "$type": "com.atproto.repo.strongRef",
        "uri": second.uri,
        "cid": second.cid,
    }
    assert [p["rkey"] for p in posts] == sorted(p["rkey"] for p in posts)
    assert third.uri == posts[2]["uri"]


def test_it_rejects_text_over_the_limit_without_calling_bluesky(bluesky_channel, fake_bluesky):
    with pytest.raises(ContentRejected):
        publish(bluesky_channel, "x" * 301)

    assert not fake_bluesky.calls(CREATE)
