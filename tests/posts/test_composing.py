"""Scheduling through the composing service: modes, approval, and bad input refused whole."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils.timezone import now

from channels.models import Channel
from posts import composing
from posts.models import Comment, Delivery, Post, PostingSlot
from tests.posts.engine import compose


def test_it_adds_to_the_queue_at_the_next_free_slot(cast, mastodon_channel):
    for weekday in range(7):
        PostingSlot.objects.create(channel=mastodon_channel, weekday=weekday, time=time(9, 0))
    first = compose(cast.alice, cast.workspace, [mastodon_channel], ["one"], mode=Post.Mode.QUEUE)
    second = compose(cast.alice, cast.workspace, [mastodon_channel], ["two"], mode=Post.Mode.QUEUE)
    a, b = first.deliveries.get(), second.deliveries.get()
    berlin = ZoneInfo("Europe/Berlin")
    assert a.in_queue and b.in_queue
    assert a.scheduled_for.astimezone(berlin).time() == time(9, 0)
    assert b.scheduled_for - a.scheduled_for in (
        timedelta(hours=24),
        timedelta(hours=23),
        timedelta(hours=25),
    )


def test_it_queues_across_a_dst_change_in_the_channels_zone(cast, mastodon_channel, monkeypatch):
    Channel.objects.filter(pk=mastodon_channel.pk).update(timezone="America/New_York")
    mastodon_channel.refresh_from_db()
    PostingSlot.objects.create(channel=mastodon_channel, weekday=6, time=time(8, 0))  # Sundays 08:00
    # Saturday before the November 2026 fall back (Sunday 1 November).
    monkeypatch.setattr("posts.composing.now", lambda: datetime(2026, 10, 31, 12, 0, tzinfo=UTC))
    monkeypatch.setattr("posts.scheduling.now", lambda: datetime(2026, 10, 31, 12, 0, tzinfo=UTC))
    one = compose(
        cast.alice, cast.workspace, [mastodon_channel], ["a"], mode=Post.Mode.QUEUE
    ).deliveries.get()
    two = compose(
        cast.alice, cast.workspace, [mastodon_channel], ["b"], mode=Post.Mode.QUEUE
    ).deliveries.get()
    assert one.scheduled_for == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)  # 08:00 EST
    assert two.scheduled_for == datetime(2026, 11, 8, 13, 0, tzinfo=UTC)


def test_it_schedules_at_a_time(cast, mastodon_channel):
    at = now() + timedelta(hours=3)
    delivery = compose(
        cast.alice, cast.workspace, [mastodon_channel], ["later"], mode=Post.Mode.AT, scheduled_at=at
    ).deliveries.get()
    assert delivery.scheduled_for == at and delivery.status == Delivery.Status.SCHEDULED


def refused(**kwargs):
    with pytest.raises(composing.PostInvalid) as info:
        compose(**kwargs)
    return info.value.errors


def test_it_refuses_a_channel_of_another_workspace(cast, mastodon_channel):
    stranger = Channel.objects.create(
        workspace=cast.other, network="mastodon", remote_id="9", handle="@c@example.org"
    )
    errors = refused(
        user=cast.alice, workspace=cast.workspace, channels=[mastodon_channel, stranger], parts=["x"]
    )
    assert errors["channels"] == [f"{stranger} is not a channel of this workspace."]
    assert not Post.objects.exists()


def test_it_refuses_a_time_in_the_past(cast, mastodon_channel):
    errors = refused(
        user=cast.alice,
        workspace=cast.workspace,
        channels=[mastodon_channel],
        parts=["x"],
        mode=Post.Mode.AT,
        scheduled_at=now() - timedelta(hours=1),
    )
    assert "That time has passed" in errors["scheduled_at"][0]
    assert not Post.objects.exists()


def test_it_refuses_a_paused_queue(cast, mastodon_channel):
    PostingSlot.objects.create(channel=mastodon_channel, weekday=0, time=time(9, 0))
    Channel.objects.filter(pk=mastodon_channel.pk).update(status=Channel.Status.PAUSED)
    mastodon_channel.refresh_from_db()
    errors = refused(
        user=cast.alice,
        workspace=cast.workspace,
        channels=[mastodon_channel],
        parts=["x"],
        mode=Post.Mode.QUEUE,
    )
    assert "paused" in errors["channels"][0]
    assert not Post.objects.exists()


def test_it_refuses_a_disconnected_channel(cast, mastodon_channel):
    mastodon_channel.mark_needs_reconnect("The access token was revoked.")
    errors = refused(user=cast.alice, workspace=cast.workspace, channels=[mastodon_channel], parts=["x"])
    assert "needs reconnecting" in errors["channels"][0]
    assert not Post.objects.exists()


def test_it_refuses_a_queue_without_posting_times(cast, mastodon_channel):
    errors = refused(
        user=cast.alice,
        workspace=cast.workspace,
        channels=[mastodon_channel],
        parts=["x"],
        mode=Post.Mode.QUEUE,
    )
    assert "no posting times" in errors["channels"][0]


def test_it_refuses_beyond_threads_daily_quota(cast, threads_channel):
    at = now() + timedelta(days=2)
    post = Post.objects.create(workspace=cast.workspace, status=Post.Status.SCHEDULED)
    Delivery.objects.bulk_create(
        [
            Delivery(
                post=Post.objects.create(workspace=cast.workspace),
                channel=threads_channel,
                status=Delivery.Status.SCHEDULED,
                scheduled_for=at + timedelta(minutes=i),
                next_attempt_at=at,
            )
            for i in range(250)
        ]
    )
    del post
    errors = refused(
        user=cast.alice,
        workspace=cast.workspace,
        channels=[threads_channel],
        parts=["one more"],
        mode=Post.Mode.AT,
        scheduled_at=at,
    )
    assert "Threads allows 250 a day" in errors["channels"][0]
    # Two days later there is room.
    compose(
        cast.alice,
        cast.workspace,
        [threads_channel],
        ["fine"],
        mode=Post.Mode.AT,
        scheduled_at=at + timedelta(days=2),
    )


def test_it_refuses_the_whole_post_when_one_channel_rejects_it(cast, mastodon_channel, bluesky_channel):
    text = "word " * 70  # 350 characters: fine for Mastodon (500), too long for Bluesky (300)
    errors = refused(
        user=cast.alice, workspace=cast.workspace, channels=[mastodon_channel, bluesky_channel], parts=[text]
    )
    assert list(errors) == [f"channel:{bluesky_channel.code}"]
    assert "300" in errors[f"channel:{bluesky_channel.code}"][0]
    assert not Post.objects.exists() and not Delivery.objects.exists()


def test_a_per_channel_override_makes_it_fit(cast, mastodon_channel, bluesky_channel):
    text = "word " * 70
    post = compose(
        cast.alice,
        cast.workspace,
        [mastodon_channel, bluesky_channel],
        [text],
        overrides={str(bluesky_channel.code): ["Short for Bluesky"]},
    )
    assert post.deliveries.get(channel=bluesky_channel).part_contents()[0].text == "Short for Bluesky"
    assert post.deliveries.get(channel=mastodon_channel).part_contents()[0].text == text


def test_a_contributor_submits_for_approval_and_an_editor_approves(cast, mastodon_channel):
    from workspaces.models import Membership

    post = compose(cast.carol, cast.workspace, [mastodon_channel], ["Please approve"], mode=Post.Mode.NOW)
    assert post.status == Post.Status.PENDING_APPROVAL
    # Everyone who may approve hears about it, in the dashboard and by email; the author does not.
    from django.core import mail

    from posts.models import Notification

    asked = set(
        Notification.objects.filter(post=post, kind="approval_requested").values_list(
            "user__username", flat=True
        )
    )
    assert asked == {"alice", "bob"}
    assert any("asks for approval" in m.body and "bob@example.org" in m.to for m in mail.outbox)
    assert post.deliveries.get().status == Delivery.Status.DRAFT
    composing.approve(post, Membership.objects.get(user=cast.bob, workspace=cast.workspace))
    post.refresh_from_db()
    assert post.status == Post.Status.SCHEDULED
    assert post.deliveries.get().status == Delivery.Status.SCHEDULED
    assert post.approved_by == cast.bob
    assert post.comments.get().kind == Comment.Kind.APPROVED


def test_an_editor_sends_back_with_a_comment(cast, mastodon_channel):
    from workspaces.models import Membership

    bob = Membership.objects.get(user=cast.bob, workspace=cast.workspace)
    post = compose(cast.carol, cast.workspace, [mastodon_channel], ["Draft idea"], mode=Post.Mode.NOW)
    with pytest.raises(composing.PostInvalid):
        composing.send_back(post, bob, "  ")
    composing.send_back(post, bob, "Add a link to the shop.")
    post.refresh_from_db()
    assert post.status == Post.Status.DRAFT
    assert post.comments.get().text == "Add a link to the shop."
    from posts.models import Notification

    note = Notification.objects.get(kind=Notification.Kind.CHANGES_REQUESTED)
    assert note.user == cast.carol and "Add a link to the shop." in note.message


def test_with_approval_required_editors_need_someone_else(cast, mastodon_channel):
    from workspaces.models import Membership

    cast.workspace.require_approval = True
    cast.workspace.save()
    bob = Membership.objects.get(user=cast.bob, workspace=cast.workspace)
    post = compose(cast.bob, cast.workspace, [mastodon_channel], ["Four eyes"])
    assert post.status == Post.Status.PENDING_APPROVAL
    with pytest.raises(composing.PostInvalid, match="Someone else"):
        composing.approve(post, bob)
    composing.approve(post, Membership.objects.get(user=cast.alice, workspace=cast.workspace))
    assert Post.objects.get(pk=post.pk).status == Post.Status.SCHEDULED
