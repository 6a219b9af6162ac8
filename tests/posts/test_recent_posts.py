"""Each network's recent_posts: the account's own posts between two times, newest first."""

from datetime import timedelta

import pytest
from django.utils.timezone import now

from channels.networks.base import Account, Adapter
from tests.posts.engine import compose, dispatch_and_work

pytestmark = pytest.mark.django_db(transaction=True)


def publish(cast, channel, *texts):
    for text in texts:
        compose(cast.alice, cast.workspace, [channel], [text])
    dispatch_and_work()


@pytest.mark.parametrize("name", ["mastodon", "bluesky", "threads"])
def test_it_lists_the_accounts_posts_in_the_window_newest_first(cast, redis_conn, request, name):
    channel = request.getfixturevalue(f"{name}_channel")
    publish(cast, channel, "Older one", "Newer one")
    adapter = channel.adapter()
    listed = adapter.recent_posts(now() - timedelta(minutes=5), now() + timedelta(minutes=1))
    assert [p.text for p in listed] == ["Newer one", "Older one"]
    assert all(p.ref.id and p.ref.url and p.created for p in listed)
    assert adapter.recent_posts(now() - timedelta(minutes=5), now() + timedelta(minutes=1), limit=1)[
        0
    ].text == ("Newer one")
    assert adapter.recent_posts(now() - timedelta(hours=3), now() - timedelta(hours=2)) == []


def test_an_adapter_without_it_says_it_cannot_list():
    with pytest.raises(NotImplementedError):
        Adapter(Account("x", "1", "x", "", {})).recent_posts(now(), now())
