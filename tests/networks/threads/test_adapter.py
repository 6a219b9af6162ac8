"""The Threads adapter's quota, limits, metrics and profile, against the fake Threads Graph server."""

import pytest

from channels import limits
from channels.models import Channel
from channels.networks.base import RemoteRef, TransientError
from tests.networks.threads.parts import Part

pytestmark = pytest.mark.django_db


def test_it_holds_a_post_when_the_daily_quota_is_used_up(adapter, fake_threads):
    fake_threads.quota_used = 250

    with pytest.raises(TransientError) as caught:
        adapter.publish_part(Part("One too many").request())

    assert caught.value.retry_after == 3600
    assert "250 posts" in caught.value.message
    assert fake_threads.container_creations() == []


def test_it_reads_the_publishing_quota(adapter, fake_threads):
    fake_threads.quota_used = 10
    adapter.publish_part(Part("One more").request())

    assert adapter.publishing_quota() == (11, 250)


# --- metrics, profile ------------------------------------------------------------------------------


def test_it_reads_metrics(adapter, fake_threads):
    first = adapter.publish_part(Part("Popular").request())
    second = adapter.publish_part(Part("Quiet").request())
    fake_threads.set_insights(first.id, views=1200, likes=87, replies=9, reposts=4, quotes=2)

    metrics = adapter.fetch_metrics([first, second, RemoteRef(id="999")])

    assert metrics[first.id].likes == 87
    assert metrics[first.id].views == 1200
    assert (metrics[first.id].replies, metrics[first.id].reposts, metrics[first.id].quotes) == (9, 4, 2)
    assert metrics[second.id].likes == 0
    assert "999" not in metrics  # deleted or unknown posts are left out, the others still count


def test_it_verifies_the_connection(adapter, fake_threads):
    account = adapter.verify()

    assert account.handle == "@acme.threads"
    assert account.remote_id == fake_threads.default_user
    assert account.avatar_url.endswith("acme.threads.jpg")


# --- limits --------------------------------------------------------------------------------------------


def test_it_reads_the_accounts_limits_in_the_shape_stored_at_connect(adapter, threads_channel, fake_threads):
    fake_threads.quota_total = 100

    limits = adapter.read_limits()

    assert limits["daily_posts"] == 100  # Meta's publishing limit for this profile
    assert set(limits) == set(threads_channel.limits)
    assert {**limits, "daily_posts": 250} == threads_channel.limits  # the rest is Threads' fixed rules
    assert fake_threads.calls("GET", "threads_publishing_limit")


def test_check_connection_and_the_schedule_follow_metas_publishing_limit(threads_channel, fake_threads):
    fake_threads.quota_total = 100

    assert limits.refresh(threads_channel) is True

    channel = Channel.objects.get(pk=threads_channel.pk)
    assert channel.limits["daily_posts"] == 100
    assert channel.spec.daily_posts(channel.limits) == 100
    assert limits.refresh(channel) is False  # nothing changed since
