"""One path for "this channel lost its authorisation", whoever finds out: publishing, the metrics job,
the Threads token refresh, "Check connection". The channel is marked, its due posts are held (not left
to look overdue), the workspace is told once; a reconnect releases the held posts at once."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils.timezone import now

from channels.jobs import refresh_credentials
from channels.models import Channel
from channels.networks.mastodon.connecting import connect_with_token
from posts.dispatch import sweep
from posts.metrics import refresh_recent
from posts.models import Delivery, Notification, Post
from tests.posts.engine import compose, dispatch_and_work

pytestmark = pytest.mark.django_db(transaction=True)

K = Notification.Kind


@pytest.fixture(autouse=True)
def engine_settings(settings, redis_conn):
    settings.PUBLISH_RETRY_BASE = 0.5


def overdue_on(channel) -> Delivery:
    """A post for the channel whose time came a few minutes ago (a worker was busy, say)."""
    post = compose(
        channel.workspace.memberships.get(role="owner").user,
        channel.workspace,
        [channel],
        ["Due already"],
        mode=Post.Mode.AT,
        scheduled_at=now() + timedelta(minutes=1),
    )
    past = now() - timedelta(minutes=5)
    post.deliveries.update(scheduled_for=past, next_attempt_at=past)
    return post.deliveries.get()


def later_on(channel) -> Delivery:
    post = compose(
        channel.workspace.memberships.get(role="owner").user,
        channel.workspace,
        [channel],
        ["Next week"],
        mode=Post.Mode.AT,
        scheduled_at=now() + timedelta(days=7),
    )
    return post.deliveries.get()


def reconnect_notices(channel) -> int:
    return (
        Notification.objects.filter(channel=channel, kind=K.CHANNEL_RECONNECT)
        .values("user")
        .distinct()
        .count()
    )


def test_the_metrics_job_finding_a_revoked_token_holds_due_posts_and_tells_once(
    cast, mastodon_channel, fake_mastodon
):
    compose(cast.alice, cast.workspace, [mastodon_channel], ["Out already"])
    dispatch_and_work()
    due = overdue_on(mastodon_channel)
    later = later_on(mastodon_channel)
    fake_mastodon.revoke(fake_mastodon.token)
    mail.outbox.clear()

    refresh_recent()
    refresh_recent()  # the hourly job meets the same refusal again: no second notice

    mastodon_channel.refresh_from_db()
    due.refresh_from_db()
    later.refresh_from_db()
    assert mastodon_channel.status == Channel.Status.NEEDS_RECONNECT
    assert due.status == Delivery.Status.HELD and "reconnecting" in due.last_error
    assert later.status == Delivery.Status.SCHEDULED  # not due yet: held when its time comes
    notices = Notification.objects.filter(channel=mastodon_channel, kind=K.CHANNEL_RECONNECT)
    assert notices.count() == 1  # alice is the only owner/admin
    assert len(mail.outbox) == 1
    assert Delivery.objects.overdue().filter(pk=due.pk).exists()
    assert not Delivery.objects.overdue().exclude(status=Delivery.Status.HELD).filter(pk=due.pk).exists()


def test_the_sweeper_holds_posts_that_come_due_while_the_channel_waits(cast, mastodon_channel):
    later = later_on(mastodon_channel)
    mastodon_channel.mark_needs_reconnect("Revoked.")
    Delivery.objects.filter(pk=later.pk).update(next_attempt_at=now() - timedelta(seconds=1))

    assert sweep()["held"] == 1

    later.refresh_from_db()
    assert later.status == Delivery.Status.HELD


def test_a_check_that_finds_the_token_revoked_holds_and_tells(client, cast, mastodon_channel, fake_mastodon):
    due = overdue_on(mastodon_channel)
    fake_mastodon.revoke(fake_mastodon.token)
    client.force_login(cast.alice)

    client.post(f"/w/acme/channels/{mastodon_channel.code}/verify/")

    due.refresh_from_db()
    assert due.status == Delivery.Status.HELD
    assert reconnect_notices(mastodon_channel) == 1


def test_a_threads_token_refused_at_refresh_holds_and_tells(cast, threads_channel, fake_threads):
    due = overdue_on(threads_channel)
    Channel.objects.filter(pk=threads_channel.pk).update(token_expires=now() + timedelta(days=2))
    fake_threads.revoke(threads_channel.get_credentials()["access_token"])

    assert refresh_credentials()["needs_reconnect"] == 1

    due.refresh_from_db()
    assert due.status == Delivery.Status.HELD
    assert reconnect_notices(threads_channel) == 1


def test_publishing_with_a_revoked_token_holds_the_channels_other_due_posts_too(
    cast, mastodon_channel, fake_mastodon
):
    first = overdue_on(mastodon_channel)
    second = overdue_on(mastodon_channel)
    fake_mastodon.revoke(fake_mastodon.token)
    # Only the first is handed out: the second was due but not yet claimed when the refusal came.
    Delivery.objects.filter(pk=second.pk).update(next_attempt_at=now() + timedelta(hours=1))

    dispatch_and_work()
    Delivery.objects.filter(pk=second.pk).update(next_attempt_at=now() - timedelta(seconds=1))
    sweep()

    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.HELD}
    assert reconnect_notices(mastodon_channel) == 1
    assert first.post.deliveries.get().status == Delivery.Status.HELD


def test_reconnecting_releases_the_held_posts_at_once_and_resolves_the_notice(
    cast, mastodon_channel, fake_mastodon
):
    due = overdue_on(mastodon_channel)
    fake_mastodon.revoke(fake_mastodon.token)
    refresh_recent()  # nothing published yet: no metrics call, nothing found
    from posts.channel_auth import authorisation_lost

    authorisation_lost(mastodon_channel, "Mastodon refused the token.")
    new_token = fake_mastodon.issue_token()

    Channel.objects.save_connected(cast.workspace, connect_with_token(fake_mastodon.url, new_token))

    due.refresh_from_db()
    mastodon_channel.refresh_from_db()
    assert mastodon_channel.status == Channel.Status.ACTIVE
    assert due.status == Delivery.Status.SCHEDULED and due.next_attempt_at <= now()
    assert not Notification.objects.filter(
        channel=mastodon_channel, kind=K.CHANNEL_RECONNECT, resolved=None
    ).exists()
    dispatch_and_work()
    due.refresh_from_db()
    assert due.status == Delivery.Status.PUBLISHED
