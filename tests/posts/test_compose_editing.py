"""Editing a post in the composer, and who may compose and edit."""

import html
from datetime import UTC, datetime

import pytest
from django.utils.timezone import now

from posts import scheduling
from posts.models import Delivery, Media, Post
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


def test_it_forbids_viewers_and_hides_from_strangers(client, cast, two):
    client.force_login(cast.victor)
    assert client.get(url("compose")).status_code == 403
    assert client.post(url("compose"), form(two, "Viewer post")).status_code == 403
    assert upload(client, image_bytes()).status_code == 403
    client.force_login(cast.charlie)
    assert client.get(url("compose")).status_code == 404
    assert client.post(url("compose"), form(two, "Stranger post")).status_code == 404
    assert not Post.objects.exists() and not Media.objects.exists()


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
