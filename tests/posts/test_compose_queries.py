"""The composer's pages cost the same number of queries however many posts and channels there are."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.timezone import now

from channels.models import Channel
from posts.models import Delivery, Media, Post, PostPart
from tests.posts.compose_form import form, url

pytestmark = pytest.mark.usefixtures("media_root")


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
