"""Bluesky's rules, offline: counting, validation, limits and record keys."""

import time

from atproto_client.models.string_formats import TID_RE

from channels.networks.base import Account, MediaItem, PartContent, PostOptions
from channels.networks.bluesky.adapter import BlueskyAdapter
from channels.networks.bluesky.client import new_tid
from tests.networks.bluesky.fake import ALICE, ALICE_DID

# --- validate (offline) ------------------------------------------------------------------------


def validate(parts, options=None, limits=None):
    account = Account(
        network="bluesky",
        remote_id=ALICE_DID,
        handle=ALICE,
        server_url="",
        credentials={},
        limits=limits or {},
    )
    return BlueskyAdapter(account).validate(
        [p if isinstance(p, PartContent) else PartContent(p) for p in parts], options or PostOptions()
    )


def test_it_accepts_300_graphemes_even_when_they_are_more_code_points():
    text = "👍🏽" * 300  # 300 graphemes, 600 code points, 2400 bytes

    result = validate([text])

    assert result.ok
    assert (result.usage[0].used, result.usage[0].limit, result.usage[0].unit) == (300, 300, "graphemes")


def test_it_rejects_301_graphemes():
    result = validate(["é" * 301])

    assert not result.ok
    assert result.errors[0].message == "Bluesky allows 300 characters; this part has 301."


def test_it_rejects_text_over_3000_bytes_even_under_300_graphemes():
    family = "👨‍👩‍👧‍👦"  # one grapheme, 25 bytes
    assert validate([family * 120]).ok  # 3000 bytes

    result = validate([family * 121])

    assert result.usage[0].used == 121
    assert "3025 of 3000 bytes" in result.errors[0].message


def test_it_uses_the_channels_cached_limits():
    assert not validate(["x" * 101], limits={"max_graphemes": 100}).ok


def test_it_checks_images_video_and_alt_text():
    images = [MediaItem(path="/x.png", mime_type="image/png", alt_text="alt") for _ in range(5)]
    five = validate([PartContent("Five", images)])
    video = validate([PartContent("Video", [MediaItem(path="/x.mp4", mime_type="video/mp4")])])
    pdf = validate([PartContent("PDF", [MediaItem(path="/x.pdf", mime_type="application/pdf")])])
    no_alt = validate([PartContent("No alt", [MediaItem(path="/x.png", mime_type="image/png")])])

    assert [p.message for p in five.errors] == ["Bluesky allows 4 images per post; this part has 5."]
    assert "Videos cannot be posted to Bluesky yet" in video.errors[0].message
    assert pdf.errors[0].message == "Bluesky accepts JPEG, PNG, WebP and GIF images only."
    assert no_alt.ok and no_alt.warnings[0].field == "media"
    assert "alt text" in no_alt.warnings[0].message


def test_it_warns_that_images_replace_the_link_card():
    image = MediaItem(path="/x.png", mime_type="image/png", alt_text="alt")

    result = validate([PartContent("See https://example.com", [image])], PostOptions(link_card=True))

    assert result.ok
    assert result.warnings[0].message.startswith("Bluesky shows either images or a link preview")


def test_it_rejects_an_empty_part_and_a_bad_language():
    result = validate(["", "fine"], PostOptions(language="english please"))

    assert {(p.part, p.field) for p in result.errors} == {(0, "text"), (None, "options")}


def test_it_validates_every_part_of_a_thread():
    result = validate(["ok", "x" * 301, "ok"])

    assert [p.part for p in result.errors] == [1]
    assert len(result.usage) == 3


# --- record keys and secrets -------------------------------------------------------------------


def test_it_generates_sortable_tids_the_sdk_accepts():
    tids = [new_tid() for _ in range(2000)]

    assert all(TID_RE.match(tid) for tid in tids)
    assert tids == sorted(tids) and len(set(tids)) == len(tids)
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    value = 0
    for char in tids[0]:
        value = value * 32 + alphabet.index(char)
    assert abs((value >> 10) / 1_000_000 - time.time()) < 5
