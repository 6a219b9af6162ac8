"""The publishing engine when a network says no: retries with backoff, giving up, rate limits,
rejected content, revoked tokens, and a thread resumed where it stopped."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils.timezone import now

from channels.models import Channel
from posts.dispatch import dispatch_due, sweep
from posts.models import Delivery, Notification, Post
from tests.posts.engine import compose, dispatch_and_work, make_due, run_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("engine_settings")]


def test_it_resumes_a_thread_at_the_part_that_failed(cast, threads_channel, fake_threads):
    post = compose(cast.alice, cast.workspace, [threads_channel], ["one", "two", "three"])
    delivery = post.deliveries.get()
    fake_threads.fail(path="threads_publish", status=500, code=2, skip=2)  # the third publish fails
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SCHEDULED
    assert 0 < len(delivery.remote_parts) < 3  # stopped part-way
    assert "Trying again" in delivery.last_error
    make_due(delivery)
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHED
    assert [p["text"] for p in fake_threads.posts] == ["one", "two", "three"]  # nothing twice, in order
    assert fake_threads.posts[2]["reply_to_id"] == fake_threads.posts[1]["id"]
    assert [a.outcome for a in delivery.attempt_log.all()] == ["retry", "published"]


def test_it_retries_with_backoff_after_a_temporary_error(cast, mastodon_channel, fake_mastodon, settings):
    settings.PUBLISH_RETRY_BASE = 5
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Try, try again"])
    delivery = post.deliveries.get()
    fake_mastodon.fail_next(502, count=1, path="/api/v1/statuses")
    before = now()
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SCHEDULED
    assert delivery.attempts == 1
    # The first retry waits PUBLISH_RETRY_BASE (5 s) +-20 %.
    assert before + timedelta(seconds=3.9) <= delivery.next_attempt_at <= now() + timedelta(seconds=6.1)
    dispatch_and_work()  # not due yet: nothing happens
    assert fake_mastodon.statuses == []
    make_due(delivery)
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHED
    assert len(fake_mastodon.statuses) == 1


def test_it_gives_up_after_the_maximum_attempts(cast, mastodon_channel, fake_mastodon):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Never lands"])
    delivery = post.deliveries.get()
    fake_mastodon.fail_next(503, count=10, path="/api/v1/statuses")
    for _ in range(3):
        make_due(delivery)
        dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.last_error.startswith("Gave up after 3 attempts")
    assert Notification.objects.filter(post=post, kind=Notification.Kind.DELIVERY_FAILED).exists()


def test_it_honours_a_rate_limit_and_holds_the_channels_other_posts(cast, mastodon_channel, fake_mastodon):
    first = compose(cast.alice, cast.workspace, [mastodon_channel], ["first"]).deliveries.get()
    fake_mastodon.rate_limit_next(count=1, path="/api/v1/statuses", reset_in=300)
    dispatch_and_work()
    first.refresh_from_db()
    assert first.status == Delivery.Status.SCHEDULED
    assert first.next_attempt_at >= now() + timedelta(seconds=250)
    mastodon_channel.refresh_from_db()
    assert mastodon_channel.rate_limited_until >= now() + timedelta(seconds=250)
    second = compose(cast.alice, cast.workspace, [mastodon_channel], ["second"]).deliveries.get()
    assert dispatch_due() == 0  # the channel is resting
    second.refresh_from_db()
    assert second.status == Delivery.Status.SCHEDULED
    Channel.objects.filter(pk=mastodon_channel.pk).update(rate_limited_until=None)
    make_due(first, second)
    dispatch_and_work()
    assert sorted(s["text"] for s in fake_mastodon.statuses) == ["first", "second"]


def test_it_fails_at_once_when_the_network_rejects_the_content(cast, mastodon_channel, fake_mastodon):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Fine by our count"])
    fake_mastodon.fail_next(
        422, count=1, path="/api/v1/statuses", error="Validation failed: Text contains spam"
    )
    dispatch_and_work()
    delivery = post.deliveries.get()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 1
    assert "spam" in delivery.last_error
    post.refresh_from_db()
    assert post.status == Post.Status.FAILED
    # The author and the admins hear about it, in the dashboard and by email.
    assert Notification.objects.filter(user=cast.alice, post=post).exists()
    assert any("spam" in m.body for m in mail.outbox)


def test_it_marks_the_channel_and_holds_posts_when_the_token_is_revoked(
    cast, mastodon_channel, fake_mastodon
):
    first = compose(cast.alice, cast.workspace, [mastodon_channel], ["first"]).deliveries.get()
    second = compose(cast.alice, cast.workspace, [mastodon_channel], ["second"]).deliveries.get()
    fake_mastodon.revoke(fake_mastodon.token)
    dispatch_due(limit=1)
    run_worker()
    first.refresh_from_db()
    mastodon_channel.refresh_from_db()
    assert mastodon_channel.status == Channel.Status.NEEDS_RECONNECT
    assert first.status == Delivery.Status.HELD
    assert Notification.objects.filter(
        kind=Notification.Kind.CHANNEL_RECONNECT, channel=mastodon_channel
    ).exists()
    dispatch_and_work()
    second.refresh_from_db()
    assert second.status in (Delivery.Status.SCHEDULED, Delivery.Status.HELD)
    assert fake_mastodon.statuses == []

    # Reconnecting releases both; they go out once.
    from channels.networks.mastodon.connecting import connect_with_token

    Channel.objects.save_connected(
        cast.workspace, connect_with_token(fake_mastodon.url, fake_mastodon.issue_token())
    )
    sweep()
    dispatch_and_work()
    assert sorted(s["text"] for s in fake_mastodon.statuses) == ["first", "second"]
