"""The approvals, published, failed and notifications pages cost the same queries for 10 or 200 posts."""

import pytest

from posts.models import Notification, Post
from tests.posts.review import build_posts, dress, queries_for, url


@pytest.mark.parametrize(
    "name", ["posts:approvals", "posts:published", "posts:failed", "posts:notifications"]
)
def test_it_renders_with_a_constant_number_of_queries(client, cast, make_channel, name):
    channels = [make_channel(), make_channel(network="bluesky"), make_channel(network="threads")]
    client.force_login(cast.bob)

    def notify(n):
        Notification.objects.bulk_create(
            [
                Notification(workspace=cast.workspace, user=cast.bob, kind="delivery_failed", message=f"n{i}")
                for i in range(n)
            ]
        )

    dress(build_posts(cast.workspace, channels, 10, author=cast.carol))
    notify(10)
    few = queries_for(client, url(name))
    dress(build_posts(cast.workspace, channels, 190, author=cast.carol))
    notify(190)
    many = queries_for(client, url(name))
    assert few == many, (few, many)
    assert Post.objects.count() == 200
