"""The Threads adapter's offline checks of a post (validate), by Threads' own counting."""

import pytest

from channels.networks.base import PartContent, PostOptions
from channels.networks.threads.rules import NO_PUBLIC_ADDRESS
from tests.networks.threads.parts import image

pytestmark = pytest.mark.django_db


def test_it_refuses_over_500_characters_and_more_than_5_links_before_scheduling(adapter, fake_threads):
    links = " ".join(f"https://site{i}.example/page" for i in range(5))
    fake_threads.requests.clear()

    result = adapter.validate(
        [PartContent(links), PartContent("a" * 501), PartContent("ok")],
        PostOptions(link_attachment="https://another.example"),  # the sixth link of the first part
    )

    assert not result.ok
    assert [p.part for p in result.errors] == [0, 1]
    assert "at most 5 different links in a post; this part has 6" in result.errors[0].message
    assert "500 characters; this part has 501" in result.errors[1].message
    assert [u.used for u in result.usage] == [len(links), 501, 2]
    assert fake_threads.requests == []  # validate() never calls the network


def test_it_counts_the_same_link_once_and_the_link_attachment_on_the_first_part(adapter):
    # Three distinct links: acme.example/a (twice, once before a comma), acme.example/b, c.example.
    text = "https://acme.example/a and https://acme.example/a, www.acme.example/b http://c.example/"

    def ok(more, attachment=""):
        return adapter.validate([PartContent(text + more)], PostOptions(link_attachment=attachment)).ok

    assert ok(" https://x.example https://y.example")
    assert not ok(" https://x.example https://y.example https://z.example")
    assert not ok(" https://x.example https://y.example", attachment="https://z.example")
    assert ok(" https://x.example https://y.example", attachment="https://acme.example/a")


def test_it_counts_emoji_and_accents_as_threads_does(adapter):
    result = adapter.validate([PartContent("é" * 250), PartContent("🎉" * 126)], PostOptions())

    assert [u.used for u in result.usage] == [500, 504]
    assert [p.part for p in result.errors] == [1]
    assert "emoji count as 2 to 4" in result.errors[0].message


def test_it_explains_that_media_need_a_public_address(adapter, settings):
    settings.THREADS_MEDIA_REQUIRE_PUBLIC_URL = True
    settings.SITE_URL = "http://localhost:8000"
    local = image(url="http://localhost:8000/media/signed/cat.jpg")

    result = adapter.validate([PartContent("Pic", [local])], PostOptions())
    assert [p.message for p in result.errors] == [NO_PUBLIC_ADDRESS]
    assert result.errors[0].field == "media"
    # The composer validates before real media addresses exist, with a placeholder.
    placeholder = adapter.validate(
        [PartContent("Pic", [image(url="https://public.invalid/")])], PostOptions()
    )
    assert [p.message for p in placeholder.errors] == [NO_PUBLIC_ADDRESS]

    settings.SITE_URL = "https://scheduler.acme.org"
    assert adapter.validate([PartContent("Pic", [image()])], PostOptions()).ok
    missing = adapter.validate([PartContent("Pic", [image(url="")])], PostOptions())
    assert "no public address" in missing.errors[0].message

    settings.SITE_URL = "http://192.168.1.20:8000"
    assert not adapter.validate(
        [PartContent("Pic", [image(url="http://192.168.1.20/m.jpg")])], PostOptions()
    ).ok
    # Media on public object storage work even when the site itself is private.
    assert adapter.validate([PartContent("Pic", [image()])], PostOptions()).ok


def test_it_checks_media_types_sizes_and_counts(adapter):
    gif = image("anim.gif", mime="image/gif")
    huge = image("huge.jpg", size=9 * 1024 * 1024)
    many = [image(f"p{i}.jpg") for i in range(21)]

    result = adapter.validate(
        [PartContent("a", [gif]), PartContent("b", [huge]), PartContent("c", many)], PostOptions()
    )

    messages = [(p.part, p.message) for p in result.errors]
    assert (0, "Threads accepts JPEG and PNG images and MP4 or MOV videos only.") in messages
    assert (1, "This image is larger than Threads accepts (8 MB).") in messages
    assert (2, "Threads allows at most 20 images or videos in a post; this part has 21.") in messages


def test_it_warns_about_missing_alt_text(adapter):
    result = adapter.validate([PartContent("Pic", [image(alt="")])], PostOptions())

    assert result.ok
    assert [w.field for w in result.warnings] == ["media"]
    assert "no alt text" in result.warnings[0].message


def test_it_checks_the_topic_tag(adapter):
    def errors(tag):
        return [p.message for p in adapter.validate([PartContent("x")], PostOptions(topic_tag=tag)).errors]

    assert errors("Gardening Tips") == []
    assert errors("Node.js") == ["A Threads topic cannot contain periods (.) or ampersands (&)."]
    assert errors("Rock & Roll") == ["A Threads topic cannot contain periods (.) or ampersands (&)."]
    assert errors("x" * 51) == ["A Threads topic can have at most 50 characters."]


def test_it_needs_text_or_media(adapter):
    result = adapter.validate([PartContent("   ")], PostOptions())

    assert [p.message for p in result.errors] == ["A Threads post needs text or at least one image or video."]
