"""Misskey in the composer: its options, its count and its preview."""

import pytest

from channels.networks.base import PostOptions
from posts.models import Post
from tests.posts.compose_form import element, form, url

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_the_composer_offers_its_options(client, cast, misskey_channel):
    client.force_login(cast.alice)
    page = client.get(url("compose")).content.decode()
    assert 'name="misskey_visibility"' in page and 'name="misskey_cw"' in page
    assert 'name="misskey_local_only"' in page and 'name="misskey_sensitive"' in page


def test_it_counts_and_previews_a_note(client, cast, misskey_channel, fake_misskey):
    client.force_login(cast.alice)
    data = form([misskey_channel], "Hello #launch", misskey_cw="Spoilers", misskey_visibility="followers")
    page = client.post(url("compose-validate"), data, HTTP_HX_REQUEST="true").content.decode()
    panel = element(page, f"panel-{misskey_channel.code}")
    assert "13 / 3000" in panel
    assert '<div class="pv pv-misskey">' in panel and "Followers only" in panel
    assert '<span class="pv-cw-text">Spoilers</span>' in panel
    too_long = form([misskey_channel], "x" * 3001)
    over = client.post(url("compose-validate"), too_long, HTTP_HX_REQUEST="true").content.decode()
    assert "over the server&#x27;s 3000" in element(over, f"panel-{misskey_channel.code}")


def test_a_post_keeps_its_misskey_options(client, cast, misskey_channel):
    client.force_login(cast.alice)
    data = form([misskey_channel], "Quiet one", misskey_visibility="home", misskey_local_only="1")
    client.post(url("compose"), data)
    post = Post.objects.get()
    options = PostOptions.from_dict(post.options)
    assert (options.misskey_visibility, options.misskey_local_only, options.misskey_cw) == ("home", True, "")
