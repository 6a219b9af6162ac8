"""A post of several parts in the composer: splitting a long text, adding and removing parts."""

import re

import grapheme
import pytest

from posts.models import Post
from tests.posts.compose_form import element, form, textareas, url

pytestmark = pytest.mark.usefixtures("media_root")


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
