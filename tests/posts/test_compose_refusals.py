"""What the composer refuses: beside the field, with nothing typed lost, and garbage in any field."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils.timezone import now

from posts.models import Media, Post
from tests.posts.compose_form import (
    checked_channels,
    element,
    form,
    image_bytes,
    textareas,
    upload,
    uploaded_code,
    url,
)

pytestmark = pytest.mark.usefixtures("media_root")


def test_it_refuses_a_post_too_long_for_one_channel_and_keeps_everything(client, cast, two):
    mastodon, bluesky = two
    client.force_login(cast.alice)
    data = form(two, "a" * 301, "second part", content_warning="careful", topic_tag="News")
    data[f"override-{mastodon.code}-1"] = "second part, Mastodon's way"
    response = client.post(url("compose"), data)
    page = response.content.decode()
    assert response.status_code == 200
    assert not Post.objects.exists()
    beside = element(page, f"choice-{bluesky.code}")
    assert "Bluesky allows 300 characters; this part has 301." in beside and 'role="alert"' in beside
    assert "Bluesky allows" not in element(page, f"choice-{mastodon.code}")
    assert textareas(page, "part") == ["a" * 301, "second part"]
    assert textareas(page, f"override-{mastodon.code}-1") == ["second part, Mastodon's way"]
    assert checked_channels(page) == {str(mastodon.code), str(bluesky.code)}
    assert 'name="content_warning" id="content_warning" value="careful"' in page
    assert 'value="News"' in page
    assert 'value="now" id="mode-now" checked' in page


def test_it_marks_a_form_sent_back_as_unsaved(client, cast, two):
    """The page's script warns before leaving a composer marked so, even before anything is typed."""
    client.force_login(cast.alice)
    assert "data-unsaved" not in element(client.get(url("compose")).content.decode(), "composer")
    refused = client.post(url("compose"), form([], "Not saved")).content.decode()
    assert "data-unsaved" in element(refused, "composer").split(">")[0]
    added = client.post(url("compose"), form(two, "Not saved", action="add-part")).content.decode()
    assert "data-unsaved" in element(added, "composer").split(">")[0]


def test_it_refuses_a_post_without_channels(client, cast, two):
    client.force_login(cast.alice)
    response = client.post(url("compose"), form([], "Nobody to send to"))
    page = response.content.decode()
    assert not Post.objects.exists()
    assert "Choose at least one channel." in element(page, "channels-errors")
    assert textareas(page, "part") == ["Nobody to send to"]


def test_it_refuses_a_time_in_the_past(client, cast, two):
    client.force_login(cast.alice)
    yesterday = (now() - timedelta(days=1)).astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%dT%H:%M")
    response = client.post(url("compose"), form(two, "Too late", mode="at", at=yesterday))
    page = response.content.decode()
    assert not Post.objects.exists()
    assert "That time has passed" in element(page, "at-errors")
    assert f'value="{yesterday}"' in page
    assert textareas(page, "part") == ["Too late"]


def test_it_refuses_an_unknown_time_zone_beside_the_field(client, cast, two):
    client.force_login(cast.alice)
    response = client.post(
        url("compose"), form(two, "Hi", mode="at", at="2030-01-01T09:00", zone="Mars/Olympus")
    )
    assert not Post.objects.exists()
    assert "Choose a time zone from the list." in element(response.content.decode(), "zone-errors")


def test_it_refuses_a_channel_that_needs_reconnecting_and_shows_why(client, cast, two):
    mastodon, _ = two
    mastodon.mark_needs_reconnect("The token was revoked on the server.")
    client.force_login(cast.alice)
    page = client.get(url("compose")).content.decode()
    choice = element(page, f"choice-{mastodon.code}")
    assert "disabled" in choice and "The token was revoked on the server." in choice
    response = client.post(url("compose"), form([mastodon], "Hello"))
    assert not Post.objects.exists()
    assert "needs reconnecting" in element(response.content.decode(), "channels-errors")


UNKNOWN = "5b0c8c3e-7d4f-4c1a-9a57-0e9b6c1d2f3a"


GARBAGE = {
    "unreadable date": {"mode": "at", "at": "next Tuesday-ish"},
    "impossible date": {"mode": "at", "at": "2026-13-45T25:61"},
    "date past the calendar's end": {"mode": "at", "at": "9999-12-31T23:59", "zone": "America/New_York"},
    "date before the calendar's start": {"mode": "at", "at": "0001-01-01T00:30", "zone": "Asia/Tokyo"},
    "offset past the calendar's end": {"mode": "at", "at": "9999-12-31T23:59-12:00"},
    "date with a silly offset": {"mode": "at", "at": "2026-05-04T09:00+99:00"},
    "huge year": {"mode": "at", "at": "99999999-01-01T00:00"},
    "unknown zone": {"mode": "at", "at": "2030-05-04T09:00", "zone": "Mars/Olympus_Mons"},
    "zone that is a path": {"mode": "at", "at": "2030-05-04T09:00", "zone": "../../../etc/passwd"},
    "unknown mode": {"mode": "whenever"},
    "unknown channel codes": {"channels": ["not-a-code", UNKNOWN, ""]},
    "unknown visibility": {"visibility": "everyone"},
    "unknown language": {"language": "klingon"},
    "link that is a script": {"link_attachment": "javascript:alert(1)"},
    "overlong text": {"part": ["word " * 12_000]},
    "overlong content warning": {"content_warning": "x" * 20_000},
    "overlong topic tag": {"topic_tag": "#" * 5_000},
    "overlong link": {"link_attachment": "https://example.org/" + "a" * 20_000},
    "too many parts": {"part": [f"Part {n}" for n in range(500)]},
    "no parts at all": {"part": []},
    "split of no number": {"action": "split-x"},
    "split of a missing part": {"action": "split-999"},
    "removal of a missing part": {"action": "remove-part-999"},
    "removal of no number": {"action": "remove-part-"},
    "negative number of parts": {"action": "parts", "nparts": "-3"},
    "unreadable number of parts": {"action": "parts", "nparts": "three"},
    "enormous number of parts": {"action": "parts", "nparts": "9" * 400},
    "unknown action": {"action": "launch-missiles"},
    "unknown image": {"media-0": ["not-a-code", UNKNOWN], f"alt-{UNKNOWN}": "x"},
    "image of a missing part": {"media-999": [UNKNOWN]},
    "override for an unknown channel": {f"override-{UNKNOWN}-0": "Hello", "override-x-y": "z"},
    "edit of an unknown post": {"editing": "not-a-code"},
}


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
def test_it_answers_garbage_in_any_field_with_sentences(client, cast, two, garbage):
    client.force_login(cast.alice)
    client.post(url("compose"), form(two, "Saved before", mode="draft"))
    saved = Post.objects.get()
    edit = url("edit", code=saved.code)
    data = {**form(two, "a" * 301, "Second part"), **garbage}  # too long for Bluesky: never saved
    for target in (url("compose"), url("compose-validate"), url("split-thread"), edit):
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.post(target, data, **headers)
            assert response.status_code == 200, (target, headers)
    for target in (url("compose"), edit):
        page = client.post(target, data).content.decode()
        if "action" in garbage:  # a button that cannot apply leaves the form as it was
            assert textareas(page, "part") == data["part"]
        else:
            assert "The post was not saved" in page
            assert re.search(r'<p class="error" role="alert">\w[^<]+\.</p>', page), (
                "no sentence says what is wrong"
            )
    assert Post.objects.get() == saved
    assert list(saved.parts.values_list("text", flat=True)) == ["Saved before"]


def test_it_answers_garbage_in_the_address_with_the_composer(client, cast, two):
    client.force_login(cast.alice)
    for query in (
        {"at": "9999-12-31T23:59", "zone": "America/New_York"},
        {"at": "0001-01-01T00:00", "zone": "Asia/Tokyo"},
        {"at": "soon", "channel": "nope", "zone": "Nowhere/Land"},
    ):
        response = client.get(url("compose"), query)
        assert response.status_code == 200
        assert 'value="queue" id="mode-queue" checked' in response.content.decode()


def test_it_leaves_out_nul_characters_which_postgresql_cannot_store(client, cast, mastodon_channel):
    client.force_login(cast.alice)
    media_code = uploaded_code(upload(client, image_bytes()))
    data = form([mastodon_channel], "Hello\x00 world", mode="draft", content_warning="care\x00ful")
    data.update({f"override-{mastodon_channel.code}-0": "Hi\x00 there", "media-0": media_code})
    data[f"alt-{media_code}"] = "A red\x00 square"
    response = client.post(url("compose"), data)
    assert response.status_code == 302
    post = Post.objects.get()
    assert post.parts.get().text == "Hello world"
    assert post.options["content_warning"] == "careful"
    assert post.deliveries.get().text_overrides == ["Hi there"]
    assert post.parts.get().media.get().alt_text == "A red square"
    other = uploaded_code(upload(client, image_bytes()))
    client.post(url("media-update", code=other), {f"alt-{other}": "Blue\x00 sky"}, HTTP_HX_REQUEST="true")
    assert Media.objects.get(code=other).alt_text == "Blue sky"
