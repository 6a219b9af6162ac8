"""The composer page: channels, parts, options, live checks, uploads, scheduling and edits."""

import html
import io
import re
import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import grapheme
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.timezone import now
from PIL import Image

from channels.models import Channel
from posts import scheduling
from posts.models import Delivery, Media, Post, PostingSlot, PostPart
from posts.scheduling import resolve_local


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def url(name, **kwargs):
    return reverse(f"posts:{name}", kwargs={"slug": "acme", **kwargs})


def form(channels, *parts, **extra):
    data = {
        "part": list(parts) or ["Hello from the composer"],
        "channels": [str(c.code) for c in channels],
        "mode": "now",
        "zone": "Europe/Berlin",
        "visibility": "public",
        "language": "en",
        "link_card": "1",
    }
    data.update(extra)
    return data


def element(page: str, element_id: str) -> str:
    """The outer HTML of the element with this id: what sits beside a field."""
    start = re.search(rf'<(\w+)\b[^>]*\bid="{re.escape(element_id)}"', page)
    assert start, f"no element #{element_id} on the page"
    tag, depth = start.group(1), 0
    for match in re.finditer(rf"<(/?){tag}\b[^>]*>", page[start.start() :]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            return page[start.start() : start.start() + match.end()]
    raise AssertionError(f"#{element_id} is not closed")


def textareas(page: str, name: str) -> list[str]:
    pattern = rf'<textarea[^>]*\bname="{re.escape(name)}"[^>]*>\n?(.*?)</textarea>'
    return [html.unescape(v) for v in re.findall(pattern, page, flags=re.DOTALL)]


def checked_channels(page: str) -> set[str]:
    return set(re.findall(r'<input type="checkbox" name="channels" value="([^"]+)"[^>]*\bchecked', page))


def image_bytes(fmt="PNG", size=(40, 30), noise=False) -> bytes:
    image = Image.new("RGB", size, (200, 80, 40))
    if noise:
        image = Image.effect_noise(size, 80).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def upload(client, content: bytes, name="photo.png", part=0):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        url("media-upload"),
        {"file": SimpleUploadedFile(name, content), "part": str(part)},
        HTTP_HX_REQUEST="true",
    )


def uploaded_code(response) -> str:
    return re.search(r'name="media-\d+" value="([^"]+)"', response.content.decode()).group(1)


@pytest.fixture
def two(mastodon_channel, bluesky_channel):
    return [mastodon_channel, bluesky_channel]


# --- creating and scheduling -------------------------------------------------------------------


def test_it_shares_now_on_two_channels(client, cast, two):
    client.force_login(cast.alice)
    response = client.post(url("compose"), form(two, "Hello #fediverse", content_warning="launch"))
    post = Post.objects.get()
    assert response.status_code == 302
    assert response.url == url("detail", code=post.code)
    assert post.status == Post.Status.SCHEDULED
    assert list(post.parts.values_list("text", flat=True)) == ["Hello #fediverse"]
    assert post.options["content_warning"] == "launch" and post.options["language"] == "en"
    deliveries = list(post.deliveries.all())
    assert {d.channel_id for d in deliveries} == {c.pk for c in two}
    for delivery in deliveries:
        assert delivery.status == Delivery.Status.SCHEDULED
        assert abs(delivery.scheduled_for - now()) < timedelta(seconds=30)
    assert "Sharing now." in client.get(response.url).content.decode()


def test_it_adds_to_the_queue_at_the_next_posting_slot(client, cast, mastodon_channel):
    for weekday in range(7):
        PostingSlot.objects.create(channel=mastodon_channel, weekday=weekday, time=time(9, 0))
    berlin = ZoneInfo("Europe/Berlin")
    today = now().astimezone(berlin).date()
    expected = resolve_local(today, time(9, 0), berlin)
    if expected <= now():
        expected = resolve_local(today + timedelta(days=1), time(9, 0), berlin)
    client.force_login(cast.alice)
    response = client.post(url("compose"), form([mastodon_channel], "Queued", mode="queue"))
    assert response.status_code == 302
    delivery = Delivery.objects.get()
    assert delivery.in_queue and delivery.status == Delivery.Status.SCHEDULED
    assert delivery.scheduled_for == expected
    assert "Added to the queue" in client.get(response.url).content.decode()


def test_it_schedules_a_time_typed_in_new_york_across_the_dst_change(client, cast, mastodon_channel):
    client.force_login(cast.alice)
    # New York moves its clocks forward on 10 March 2030; Berlin only on 31 March.
    before = client.post(
        url("compose"),
        form([mastodon_channel], "Before", mode="at", at="2030-03-09T09:00", zone="America/New_York"),
    )
    after = client.post(
        url("compose"),
        form([mastodon_channel], "After", mode="at", at="2030-03-11T09:00", zone="America/New_York"),
    )
    gap = client.post(
        url("compose"),
        form([mastodon_channel], "In the gap", mode="at", at="2030-03-10T02:30", zone="America/New_York"),
    )
    assert before.status_code == after.status_code == gap.status_code == 302
    times = {d.post.parts.get().text: d.scheduled_for for d in Delivery.objects.select_related("post")}
    assert times["Before"] == datetime(2030, 3, 9, 14, 0, tzinfo=UTC)
    assert times["After"] == datetime(2030, 3, 11, 13, 0, tzinfo=UTC)
    assert times["In the gap"] == datetime(2030, 3, 10, 7, 0, tzinfo=UTC)  # 03:00 EDT, the next valid minute


def test_it_tells_the_time_in_every_chosen_channels_zone(client, cast, mastodon_channel, bluesky_channel):
    Channel.objects.filter(pk=bluesky_channel.pk).update(timezone="Asia/Tokyo")
    client.force_login(cast.alice)
    response = client.post(
        url("compose-validate"),
        form(
            [mastodon_channel, bluesky_channel],
            "Hi",
            mode="at",
            at="2030-03-11T12:00",
            zone="America/New_York",
        ),
        HTTP_HX_REQUEST="true",
    )
    note = element(response.content.decode(), "schedule-note")
    assert "That is Mon 11 Mar 2030, 12:00 in America/New_York, 17:00 in Europe/Berlin" in note
    assert "Tue 12 Mar 2030, 01:00 in Asia/Tokyo" in note  # another day there, so the date is told


def test_it_saves_a_draft_even_when_too_long(client, cast, two):
    client.force_login(cast.alice)
    response = client.post(url("compose"), form(two, "x" * 400, mode="draft"))
    assert response.status_code == 302
    post = Post.objects.get()
    assert post.status == Post.Status.DRAFT
    assert set(post.deliveries.values_list("status", flat=True)) == {Delivery.Status.DRAFT}
    assert "Saved as a draft." in client.get(response.url).content.decode()


def test_it_sends_a_contributors_post_for_approval(client, cast, two):
    client.force_login(cast.carol)
    page = client.get(url("compose")).content.decode()
    assert element(page, "submit-button").endswith(">Submit for approval</button>")
    response = client.post(url("compose"), form(two, "Please approve me"))
    assert response.status_code == 302
    post = Post.objects.get()
    assert post.status == Post.Status.PENDING_APPROVAL
    assert set(post.deliveries.values_list("status", flat=True)) == {Delivery.Status.DRAFT}
    assert "Submitted for approval" in client.get(response.url).content.decode()


def test_it_keeps_per_channel_texts(client, cast, two):
    mastodon, bluesky = two
    client.force_login(cast.alice)
    data = form(two, "x" * 400)
    data[f"override-{bluesky.code}-0"] = "Short for Bluesky"
    response = client.post(url("compose"), data)
    assert response.status_code == 302
    deliveries = {d.channel_id: d for d in Delivery.objects.all()}
    assert deliveries[bluesky.pk].text_overrides == ["Short for Bluesky"]
    assert deliveries[mastodon.pk].text_overrides == []


# --- live checks -------------------------------------------------------------------------------


def test_it_counts_each_channel_as_you_type_without_saving(client, cast, two):
    mastodon, bluesky = two
    client.force_login(cast.alice)
    response = client.post(url("compose-validate"), form(two, "a" * 301), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200
    bluesky_panel = element(page, f"panel-{bluesky.code}")
    assert "301 / 300" in bluesky_panel
    assert "Bluesky allows 300 characters; this part has 301." in bluesky_panel
    mastodon_panel = element(page, f"panel-{mastodon.code}")
    assert "301 / 500" in mastodon_panel and "problem" not in mastodon_panel
    # The counters under the text box are swapped in too, the over-long one marked.
    counters = element(page, "counters-0")
    assert 'hx-swap-oob="true"' in counters and "counter net-bluesky over" in counters
    assert not Post.objects.exists()
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_it_counts_urls_and_the_content_warning_as_mastodon_does(client, cast, mastodon_channel):
    client.force_login(cast.alice)
    text = "See https://example.org/a/very/long/path/that/mastodon/counts/as/twenty-three"
    response = client.post(
        url("compose-validate"),
        form([mastodon_channel], text, content_warning="spoiler"),
        HTTP_HX_REQUEST="true",
    )
    assert f"{4 + 23 + 7} / 500" in response.content.decode()


def test_it_previews_each_network(client, cast, mastodon_channel, bluesky_channel, threads_channel):
    client.force_login(cast.alice)
    data = form(
        [mastodon_channel, bluesky_channel, threads_channel],
        "Hello @bob.test #launch https://example.org/page more",
        content_warning="Spoilers",
        visibility="unlisted",
        topic_tag="Launches",
    )
    page = client.post(url("compose-validate"), data, HTTP_HX_REQUEST="true").content.decode()
    mastodon = element(page, f"panel-{mastodon_channel.code}")
    assert '<details class="pv-cw"><summary><span class="pv-cw-text">Spoilers</span>' in mastodon
    assert "Quiet public (unlisted)" in mastodon
    assert '<span class="pv-link">example.org/page</span>' in mastodon
    bluesky = element(page, f"panel-{bluesky_channel.code}")
    assert '<span class="pv-mention">@bob.test</span>' in bluesky
    assert '<span class="pv-tag">#launch</span>' in bluesky
    assert "link-card/?url=https%3A%2F%2Fexample.org%2Fpage" in bluesky
    threads = element(page, f"panel-{threads_channel.code}")
    assert "› Launches" in threads and " / 500" in threads


def options_hidden(page: str, network: str) -> bool:
    """Whether the options of this network are on the page but hidden."""
    tag = re.search(rf'<div class="option-group net-{network}"[^>]*>', page)
    assert tag, f"no options for {network} on the page"
    return " hidden" in tag.group()


def test_it_shows_only_the_options_of_the_chosen_channels_networks(client, cast, make_channel):
    mastodon, bluesky, threads = (make_channel(n) for n in ("mastodon", "bluesky", "threads"))
    client.force_login(cast.alice)
    page = client.get(url("compose")).content.decode()
    assert all(options_hidden(page, n) for n in ("mastodon", "bluesky", "threads"))

    # The composer without JavaScript: the whole form comes back with the options of Mastodon only,
    # and the options of the others, hidden, still hold what was typed in them.
    data = form([mastodon], "Hello", content_warning="Spoilers", topic_tag="Launches", action="refresh")
    page = client.post(url("compose"), data).content.decode()
    assert not options_hidden(page, "mastodon")
    assert options_hidden(page, "bluesky") and options_hidden(page, "threads")
    assert 'name="content_warning" id="content_warning" value="Spoilers"' in page
    assert 'name="topic_tag" id="topic_tag" value="Launches"' in page

    page = client.post(url("compose"), {**data, "channels": [str(threads.code)]}).content.decode()
    assert not options_hidden(page, "threads")
    assert options_hidden(page, "mastodon") and options_hidden(page, "bluesky")
    assert 'name="content_warning" id="content_warning" value="Spoilers"' in page

    # A refused option stays in sight, with its message, even for a network no longer chosen.
    page = client.post(
        url("compose"), {**data, "link_attachment": "not a link", "action": ""}
    ).content.decode()
    assert not options_hidden(page, "threads")
    assert "Enter a full web address starting with https://." in element(page, "link_attachment-errors")
    assert not Post.objects.exists()


def test_it_shows_a_link_card_or_quietly_none(client, cast, fake_bluesky, settings):
    client.force_login(cast.alice)
    page = client.get(url("link-card-preview"), {"url": f"{fake_bluesky.url}/pages/article"}).content.decode()
    assert "Spring launch &amp; news" in page and "Everything about the spring launch." in page
    settings.SSRF_ALLOW_PRIVATE = False  # the fake server is on a loopback address
    page = client.get(url("link-card-preview"), {"url": f"{fake_bluesky.url}/pages/plain?x"}).content.decode()
    assert "No preview" in page


# --- refusals beside the field, nothing lost ---------------------------------------------------


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


# --- uploads -----------------------------------------------------------------------------------


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


def test_it_picks_the_language_from_the_browser(client, cast):
    client.force_login(cast.alice)
    page = client.get(url("compose"), HTTP_ACCEPT_LANGUAGE="de-AT,de;q=0.9,en;q=0.5").content.decode()
    assert '<option value="de" selected>German (de)</option>' in page


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


# --- threads -----------------------------------------------------------------------------------


def test_it_splits_a_long_text_for_the_strictest_network(client, cast, two):
    client.force_login(cast.alice)
    sentences = [f"Sentence number {n} tells a little more about the launch." for n in range(1, 16)]
    text = " ".join(sentences) + " Read https://example.org/" + "a" * 40
    data = form(two, text, action="split-0", numbering="1")
    response = client.post(url("split-thread"), data, HTTP_HX_REQUEST="true")
    parts = textareas(response.content.decode(), "part")
    assert len(parts) >= 3
    for number, part in enumerate(parts, start=1):
        assert grapheme.length(part) <= 300  # Bluesky, the stricter here
        assert part.endswith(f" {number}/{len(parts)}")
    words = " ".join(re.sub(r" \d+/\d+$", "", p) for p in parts).split()
    assert words == text.split()
    assert "https://example.org/" + "a" * 40 in "".join(parts)
    # Once the new parts are in the page, so the live checks count them and not the old text.
    assert "partsChanged" in response["HX-Trigger-After-Swap"]
    assert "HX-Trigger" not in response
    assert not Post.objects.exists()


def test_it_refuses_to_split_when_the_content_warning_alone_is_too_long(client, cast, mastodon_channel):
    client.force_login(cast.alice)
    data = form([mastodon_channel], "A text to split " * 40, content_warning="w" * 600, action="split-0")
    page = client.post(url("split-thread"), data, HTTP_HX_REQUEST="true").content.decode()
    assert textareas(page, "part") == ["A text to split " * 40]
    assert "shorten the content warning first" in element(page, "text-0-errors")


def test_it_adds_and_removes_parts_without_javascript(client, cast, two):
    client.force_login(cast.alice)
    page = client.post(url("compose"), form(two, "First", action="add-part")).content.decode()
    assert textareas(page, "part") == ["First", ""]
    page = client.post(
        url("compose"), form(two, "First", "Second", "Third", action="remove-part-1")
    ).content.decode()
    assert textareas(page, "part") == ["First", "Third"]
    page = client.post(url("compose"), form(two, "First", action="parts", nparts="3")).content.decode()
    assert textareas(page, "part") == ["First", "", ""]
    assert not Post.objects.exists()


def test_it_adds_a_part_with_htmx_and_returns_only_the_parts(client, cast, two):
    client.force_login(cast.alice)
    response = client.post(url("compose"), form(two, "First", action="add-part"), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert page.lstrip().startswith('<fieldset class="card parts-field" id="parts">')
    assert textareas(page, "part") == ["First", ""]


def test_it_prefills_a_time_and_channel_from_the_calendar(client, cast, two):
    mastodon, _ = two
    Channel.objects.filter(pk=mastodon.pk).update(timezone="America/New_York")
    client.force_login(cast.alice)
    page = client.get(
        url("compose"), {"at": "2030-03-11T09:00", "channel": str(mastodon.code)}
    ).content.decode()
    assert checked_channels(page) == {str(mastodon.code)}
    assert 'value="2030-03-11T09:00"' in page
    assert 'value="at" id="mode-at" checked' in page
    assert "<option selected>America/New_York</option>" in page
    assert "Mon 11 Mar 2030, 09:00 in America/New_York" in element(page, "schedule-note")


# --- editing -----------------------------------------------------------------------------------


def test_it_edits_a_scheduled_post(client, cast, two):
    client.force_login(cast.alice)
    client.post(url("compose"), form(two, "Original", mode="at", at="2030-05-04T09:00"))
    post = Post.objects.get()
    page = client.get(url("edit", code=post.code)).content.decode()
    assert textareas(page, "part") == ["Original"]
    assert 'value="2030-05-04T09:00"' in page and checked_channels(page) == {str(c.code) for c in two}
    response = client.post(
        url("edit", code=post.code), form(two[:1], "Edited", mode="at", at="2030-05-05T10:30")
    )
    assert response.status_code == 302 and response.url == url("detail", code=post.code)
    assert Post.objects.get().pk == post.pk
    assert list(post.parts.values_list("text", flat=True)) == ["Edited"]
    delivery = post.deliveries.get()
    assert delivery.channel == two[0]
    assert delivery.scheduled_for == datetime(2030, 5, 5, 8, 30, tzinfo=UTC)  # CEST is UTC+2


def test_it_refuses_to_edit_a_published_post(client, cast, two):
    client.force_login(cast.alice)
    client.post(url("compose"), form(two, "Out already"))
    post = Post.objects.get()
    post.deliveries.update(status=Delivery.Status.PUBLISHED, published_at=now())
    response = client.get(url("edit", code=post.code))
    assert response.status_code == 302 and response.url == url("detail", code=post.code)
    assert "can't be changed" in html.unescape(client.get(response.url).content.decode())
    client.post(url("edit", code=post.code), form(two, "Sneaky change"))
    assert list(post.parts.values_list("text", flat=True)) == ["Out already"]


def test_it_lets_contributors_edit_only_their_own_posts(client, cast, two):
    client.force_login(cast.alice)
    client.post(url("compose"), form(two, "Alice's", mode="at", at="2030-05-04T09:00"))
    alices = Post.objects.get()
    client.force_login(cast.carol)
    client.post(url("compose"), form(two, "Carol's", mode="draft"))
    carols = Post.objects.exclude(pk=alices.pk).get()
    assert client.get(url("edit", code=alices.code)).status_code == 403
    assert client.post(url("edit", code=alices.code), form(two, "Taken over")).status_code == 403
    assert list(alices.parts.values_list("text", flat=True)) == ["Alice's"]
    alices.refresh_from_db()
    assert alices.status == Post.Status.SCHEDULED
    assert client.get(url("edit", code=carols.code)).status_code == 200
    client.force_login(cast.bob)  # editors may edit anyone's
    assert client.get(url("edit", code=carols.code)).status_code == 200


def test_it_keeps_a_contributor_out_of_approved_posts_media_alt_text(client, cast, two):
    client.force_login(cast.alice)
    code = uploaded_code(upload(client, image_bytes()))
    client.post(url("compose"), form(two, "With image", **{"media-0": code, f"alt-{code}": "Approved words"}))
    client.force_login(cast.carol)
    response = client.post(url("media-update", code=code), {"alt_text": "Changed"})
    assert response.status_code == 409
    assert Media.objects.get(code=code).alt_text == "Approved words"


# --- access and cost ---------------------------------------------------------------------------


def test_it_forbids_viewers_and_hides_from_strangers(client, cast, two):
    client.force_login(cast.victor)
    assert client.get(url("compose")).status_code == 403
    assert client.post(url("compose"), form(two, "Viewer post")).status_code == 403
    assert upload(client, image_bytes()).status_code == 403
    client.force_login(cast.charlie)
    assert client.get(url("compose")).status_code == 404
    assert client.post(url("compose"), form(two, "Stranger post")).status_code == 404
    assert not Post.objects.exists() and not Media.objects.exists()


def _fill(cast, posts: int, channels: int):
    networks = ["mastodon", "bluesky", "threads"]
    made = [
        Channel(
            workspace=cast.workspace,
            network=networks[n % 3],
            remote_id=str(uuid.uuid4()),
            handle=f"@user{n}@example.org",
            server_url="https://example.org",
            avatar_url="https://example.org/a.png",
        )
        for n in range(channels)
    ]
    Channel.objects.bulk_create(made)
    made = list(Channel.objects.filter(workspace=cast.workspace))
    new_posts = Post.objects.bulk_create(
        Post(workspace=cast.workspace, author=cast.alice, status=Post.Status.SCHEDULED) for _ in range(posts)
    )
    PostPart.objects.bulk_create(PostPart(post=p, index=0, text=f"Post {p.pk}") for p in new_posts)
    Delivery.objects.bulk_create(
        Delivery(post=p, channel=made[i % len(made)], status=Delivery.Status.SCHEDULED, scheduled_for=now())
        for i, p in enumerate(new_posts)
    )
    return made


def _queries(client, method, target, data=None):
    with CaptureQueriesContext(connection) as queries:
        response = getattr(client, method)(
            target, data or {}, HTTP_HX_REQUEST="true" if method == "post" else ""
        )
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize(("posts", "channels"), [((10, 200), (5, 40))], ids=["10-200-posts-5-40-channels"])
def test_it_renders_with_a_constant_number_of_queries(client, cast, posts, channels):
    client.force_login(cast.alice)
    counts = {}
    edit_counts = {}
    validate_counts = {}
    for size in (0, 1):
        Post.objects.all().delete()
        Channel.objects.all().delete()
        made = _fill(cast, posts[size], channels[size])
        edited = Post.objects.first()
        Media.objects.create(
            workspace=cast.workspace, part=edited.parts.get(), file="x.png", mime_type="image/png"
        )
        counts[size] = _queries(client, "get", url("compose"))
        edit_counts[size] = _queries(client, "get", url("edit", code=edited.code))
        validate_counts[size] = _queries(
            client, "post", url("compose-validate"), form(made, "Hello", mode="at")
        )
    assert counts[0] == counts[1], counts
    assert edit_counts[0] == edit_counts[1], edit_counts
    assert validate_counts[0] == validate_counts[1], validate_counts


# --- garbage in every field: a form with sentences, never a server error ------------------------

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


def test_an_edit_keeps_the_time_a_post_was_moved_to(client, cast, two):
    client.force_login(cast.alice)
    client.post(url("compose"), form(two, "Original", mode="at", at="2030-05-04T09:00"))
    post = Post.objects.get()
    mastodon = post.deliveries.get(channel=two[0])
    codes = set(post.deliveries.values_list("code", flat=True))
    moved = datetime(2030, 5, 6, 14, 0, tzinfo=UTC)
    scheduling.reschedule(mastodon, moved)  # dragged in the calendar

    page = client.get(url("edit", code=post.code)).content.decode()
    assert 'value="keep" id="mode-keep" checked' in page
    assert "Mon 6 May 2030, 16:00" in element(page, "kept-times")
    response = client.post(url("edit", code=post.code), form(two, "Edited", mode="keep"))

    assert response.status_code == 302
    assert set(post.deliveries.values_list("code", flat=True)) == codes
    assert post.deliveries.get(channel=two[0]).scheduled_for == moved
    assert post.deliveries.get(channel=two[1]).scheduled_for == datetime(2030, 5, 4, 7, 0, tzinfo=UTC)
    assert list(post.parts.values_list("text", flat=True)) == ["Edited"]
