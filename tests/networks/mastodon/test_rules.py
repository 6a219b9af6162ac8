"""Mastodon's counting and validation, offline, by a server's limits."""

from mastodon import Mastodon

from channels.networks.base import (
    Account,
    MediaItem,
    PartContent,
    PostOptions,
)
from channels.networks.mastodon.adapter import MastodonAdapter
from channels.networks.mastodon.connecting import connect_with_token
from channels.networks.mastodon.rules import status_length
from tests.networks.mastodon.parts import adapter_for, image

# --- validation --------------------------------------------------------------------------------


def test_it_uses_the_instance_limit_read_from_the_server(fake_mastodon):
    fake_mastodon.max_characters = 1000
    big = adapter_for(connect_with_token(fake_mastodon.url, fake_mastodon.token))
    stock = MastodonAdapter(Account("mastodon", "1", "@a@b", fake_mastodon.url, {"access_token": "x"}))
    parts = [PartContent("y" * 700)]

    assert big.validate(parts, PostOptions()).ok
    assert big.validate(parts, PostOptions()).usage[0].limit == 1000
    result = stock.validate(parts, PostOptions())
    assert not result.ok
    assert (
        result.errors[0].message
        == "The post is 200 characters over the limit: Mastodon allows 500 characters."
    )


def test_it_counts_every_url_as_23_characters(adapter):
    url = "https://example.com/" + "a" * 200
    result = adapter.validate([PartContent(f"See {url}")], PostOptions())

    assert result.ok
    assert result.usage[0].used == len("See ") + 23


def test_it_counts_the_content_warning_in_every_part(adapter):
    options = PostOptions(content_warning="c" * 100)
    result = adapter.validate([PartContent("a" * 400), PartContent("b" * 401)], options)

    assert [u.used for u in result.usage] == [500, 501]
    [error] = result.errors
    assert error.part == 1
    assert error.message.startswith("Part 2 is 1 character over the limit: Mastodon at 127.0.0.1:")
    assert error.message.endswith(" allows 500 characters (the content warning counts too).")


def test_it_counts_remote_mentions_without_their_domain_and_emoji_as_one(adapter):
    result = adapter.validate([PartContent("Hi @bob@example.org 👩🏽‍💻")], PostOptions())

    assert result.usage[0].used == len("Hi @bob ") + 1


def test_its_count_matches_mastodon_py(adapter):
    for text in ["plain", "a https://example.com/x b", "@a@b.c and @d", "emoji 👍🏽 https://x.org"]:
        assert status_length(text, "cw") == Mastodon.get_status_length(text, "cw")


def test_it_flags_too_many_images_wrong_types_and_big_files(adapter, tmp_path):
    media = [image(tmp_path, f"{n}.png") for n in range(5)]
    media.append(MediaItem(path=str(tmp_path / "doc.pdf"), mime_type="application/pdf", alt_text="A PDF"))
    media.append(
        MediaItem(path=str(tmp_path / "huge.jpg"), mime_type="image/jpeg", alt_text="Huge", size=17 * 2**20)
    )

    messages = [p.message for p in adapter.validate([PartContent("Pics", media)], PostOptions()).errors]

    assert "The post has 7 attachments; this server allows at most 4." in messages
    assert "doc.pdf is a application/pdf file, which this server does not accept." in messages
    assert "huge.jpg is 17.0 MB; this server accepts images up to 16 MB." in messages


def test_it_refuses_a_video_together_with_images(adapter, tmp_path):
    media = [image(tmp_path), MediaItem(path="clip.mp4", mime_type="video/mp4", alt_text="Clip", size=1000)]

    result = adapter.validate([PartContent("Mixed", media)], PostOptions())

    assert [p.message for p in result.errors] == [
        "The post: a video or audio file cannot be combined with other attachments on Mastodon."
    ]


def test_it_warns_about_missing_alt_text_without_blocking(adapter, tmp_path):
    result = adapter.validate([PartContent("Pic", [image(tmp_path, alt="")])], PostOptions())

    assert result.ok
    assert [p.message for p in result.warnings] == [
        "photo.png has no alt text: describe it for people who cannot see it."
    ]


def test_it_refuses_an_empty_post_and_bad_options(adapter):
    result = adapter.validate([PartContent("  ")], PostOptions(visibility="everyone", language="english"))

    messages = [p.message for p in result.errors]
    assert "The post is empty: write some text or add media." in messages
    assert "Unknown visibility 'everyone': choose public, unlisted, private or direct." in messages
    assert "The language must be a two-letter code such as en or de, not 'english'." in messages


def test_it_validates_without_calling_the_server(adapter, fake_mastodon):
    before = len(fake_mastodon.requests)
    adapter.validate([PartContent("Offline")], PostOptions())
    assert len(fake_mastodon.requests) == before
