"""Threads downloads images itself: they are served at signed, expiring URLs under SITE_URL."""

import time

import pytest
from django.core import signing
from django.core.files.base import ContentFile

from posts.models import Media, media_public_url


@pytest.fixture
def media(cast, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    item = Media(workspace=cast.workspace, mime_type="image/png", size=4)
    item.file.save("x.png", ContentFile(b"\x89PNG"), save=False)
    item.save()
    return item


def test_it_serves_media_at_a_signed_url(client, media, settings):
    url = media_public_url(media)
    assert url.startswith(settings.SITE_URL + "/m/")
    response = client.get(url.removeprefix(settings.SITE_URL))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == b"\x89PNG"


def test_it_refuses_a_forged_or_expired_link(client, media, monkeypatch):
    forged = signing.dumps(str(media.code), salt="another")
    assert client.get(f"/m/{forged}").status_code == 404
    url = media_public_url(media).split("/m/")[1]
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3 * 24 * 3600)
    assert client.get(f"/m/{url}").status_code == 404


def test_threads_gets_the_signed_url_of_each_image(cast, threads_channel, fake_threads, media, settings):
    from django.db import transaction

    from posts.composing import Draft, compose
    from posts.models import Delivery
    from workspaces.models import Membership

    membership = Membership.objects.get(user=cast.alice, workspace=cast.workspace)
    media.alt_text = "A red square"
    media.save()
    with transaction.atomic():
        post = compose(
            workspace=cast.workspace,
            membership=membership,
            draft=Draft(parts=["With a picture"], channels=[threads_channel], mode="now", media={0: [media]}),
        )
    delivery = Delivery.objects.get(post=post)
    parts = delivery.part_contents()
    assert parts[0].media[0].public_url.startswith(settings.SITE_URL + "/m/")
    assert parts[0].media[0].alt_text == "A red square"
