"""Editing a post updates its deliveries in place: codes, per-channel times, attempts and published
parts survive; a channel taken off drops only its delivery; a channel added gets a new one."""

from datetime import time, timedelta

import pytest
from django.utils.timezone import now

from posts import composing, scheduling
from posts.models import Delivery, DeliveryAttempt, Post, PostingSlot
from tests.posts.engine import compose
from workspaces.models import Membership


def edit(user, post, parts, channels, mode=composing.KEEP, **kwargs):
    membership = Membership.objects.get(user=user, workspace=post.workspace)
    draft = composing.Draft(parts=list(parts), channels=list(channels), mode=mode, **kwargs)
    return composing.compose(workspace=post.workspace, membership=membership, draft=draft, post=post)


@pytest.fixture
def slots(mastodon_channel, bluesky_channel):
    for channel in (mastodon_channel, bluesky_channel):
        for weekday in range(7):
            PostingSlot.objects.create(channel=channel, weekday=weekday, time=time(9, 0))


def test_an_edit_keeps_the_delivery_codes_and_attempt_history(cast, mastodon_channel, bluesky_channel):
    at = now() + timedelta(days=2)
    post = compose(
        cast.alice,
        cast.workspace,
        [mastodon_channel, bluesky_channel],
        ["Hello"],
        mode=Post.Mode.AT,
        scheduled_at=at,
    )
    before = {d.channel_id: d for d in post.deliveries.all()}
    attempt = DeliveryAttempt.objects.create(
        delivery=before[mastodon_channel.pk], number=1, outcome=DeliveryAttempt.Outcome.RETRY
    )

    edit(cast.alice, post, ["Hello, world"], [mastodon_channel, bluesky_channel])

    after = {d.channel_id: d for d in post.deliveries.all()}
    assert {k: d.code for k, d in after.items()} == {k: d.code for k, d in before.items()}
    assert DeliveryAttempt.objects.filter(pk=attempt.pk).exists()
    assert all(d.scheduled_for == at and d.status == Delivery.Status.SCHEDULED for d in after.values())
    assert [p.text for p in post.parts.all()] == ["Hello, world"]


def test_a_post_moved_in_the_calendar_keeps_its_new_time_when_edited(cast, mastodon_channel, slots):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Queued"], mode=Post.Mode.QUEUE)
    delivery = post.deliveries.get()
    dragged = delivery.scheduled_for + timedelta(days=1, hours=5)
    scheduling.reschedule(delivery, dragged)

    edit(cast.alice, post, ["Queued, with one more word"], [mastodon_channel])

    delivery.refresh_from_db()
    assert delivery.scheduled_for == dragged and delivery.next_attempt_at == dragged
    assert not delivery.in_queue and delivery.status == Delivery.Status.SCHEDULED


def test_per_channel_times_survive_an_edit(cast, mastodon_channel, bluesky_channel, slots):
    post = compose(
        cast.alice, cast.workspace, [mastodon_channel, bluesky_channel], ["Two"], mode=Post.Mode.QUEUE
    )
    mastodon = post.deliveries.get(channel=mastodon_channel)
    moved = mastodon.scheduled_for + timedelta(hours=3)
    scheduling.reschedule(mastodon, moved)
    bluesky_time = post.deliveries.get(channel=bluesky_channel).scheduled_for

    edit(cast.alice, post, ["Two, edited"], [mastodon_channel, bluesky_channel])

    assert post.deliveries.get(channel=mastodon_channel).scheduled_for == moved
    assert post.deliveries.get(channel=bluesky_channel).scheduled_for == bluesky_time


def test_a_channel_taken_off_drops_only_its_delivery_and_one_added_gets_a_new_one(
    cast, mastodon_channel, bluesky_channel
):
    at = now() + timedelta(days=1)
    post = compose(
        cast.alice, cast.workspace, [mastodon_channel], ["One"], mode=Post.Mode.AT, scheduled_at=at
    )
    mastodon = post.deliveries.get()
    mastodon_dragged = at + timedelta(hours=2)
    scheduling.reschedule(mastodon, mastodon_dragged)

    edit(cast.alice, post, ["One"], [bluesky_channel])
    assert post.deliveries.get().scheduled_for == mastodon_dragged
    assert list(post.deliveries.values_list("channel", flat=True)) == [bluesky_channel.pk]
    assert not Delivery.objects.filter(pk=mastodon.pk).exists()

    bluesky = post.deliveries.get()
    edit(cast.alice, post, ["One"], [bluesky_channel, mastodon_channel])
    assert post.deliveries.get(channel=bluesky_channel).code == bluesky.code
    added = post.deliveries.get(channel=mastodon_channel)
    # A channel added to a post with a fixed time goes out at that time.
    assert added.scheduled_for == bluesky.scheduled_for == mastodon_dragged
    assert added.status == Delivery.Status.SCHEDULED


def test_a_new_time_moves_every_delivery(cast, mastodon_channel, bluesky_channel, slots):
    post = compose(
        cast.alice, cast.workspace, [mastodon_channel, bluesky_channel], ["Q"], mode=Post.Mode.QUEUE
    )
    codes = set(post.deliveries.values_list("code", flat=True))
    at = now() + timedelta(days=3)

    edit(cast.alice, post, ["Q"], [mastodon_channel, bluesky_channel], mode=Post.Mode.AT, scheduled_at=at)

    assert set(post.deliveries.values_list("code", flat=True)) == codes
    assert all(d.scheduled_for == at and not d.in_queue for d in post.deliveries.all())


def test_a_partly_published_thread_keeps_its_published_parts(cast, mastodon_channel):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["one", "two"])
    delivery = post.deliveries.get()
    published = [{"id": "111", "uri": "https://m.example/111", "url": "https://m.example/@a/111"}]
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.FAILED, remote_parts=published, last_error="Rejected", attempts=3
    )

    edit(cast.alice, post, ["one", "two, fixed"], [mastodon_channel])

    delivery.refresh_from_db()
    assert delivery.remote_parts == published  # the retry continues at part 2, never posts part 1 again
    assert delivery.status == Delivery.Status.SCHEDULED and delivery.last_error == ""
    assert delivery.attempts == 0


def test_keeping_times_needs_a_post_that_has_them(cast, mastodon_channel):
    draft = compose(cast.alice, cast.workspace, [mastodon_channel], ["Draft"], mode=Post.Mode.DRAFT)
    with pytest.raises(composing.PostInvalid) as info:
        edit(cast.alice, draft, ["Draft"], [mastodon_channel])
    assert "mode" in info.value.errors


def test_a_contributors_edit_keeps_the_time_through_approval(cast, mastodon_channel, slots):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Mine"], mode=Post.Mode.QUEUE)
    delivery = post.deliveries.get()
    dragged = delivery.scheduled_for + timedelta(days=2)
    scheduling.reschedule(delivery, dragged)

    edit(cast.carol, post, ["Mine, improved"], [mastodon_channel])
    post.refresh_from_db()
    delivery.refresh_from_db()
    assert post.status == Post.Status.PENDING_APPROVAL and delivery.status == Delivery.Status.DRAFT

    composing.approve(post, Membership.objects.get(user=cast.bob, workspace=cast.workspace))
    delivery.refresh_from_db()
    assert delivery.scheduled_for == dragged and delivery.status == Delivery.Status.SCHEDULED


def test_an_approved_post_whose_fixed_time_passed_is_refused(cast, mastodon_channel, monkeypatch):
    at = now() + timedelta(hours=1)
    post = compose(
        cast.carol, cast.workspace, [mastodon_channel], ["Late"], mode=Post.Mode.AT, scheduled_at=at
    )
    later = at + timedelta(hours=2)
    monkeypatch.setattr("posts.composing.now", lambda: later)
    with pytest.raises(composing.PostInvalid) as info:
        composing.approve(post, Membership.objects.get(user=cast.bob, workspace=cast.workspace))
    assert "passed" in info.value.errors["scheduled_at"][0]


def test_a_pending_post_edited_back_to_a_draft_resolves_the_approval_request(cast, mastodon_channel):
    from posts.models import Notification

    post = compose(cast.carol, cast.workspace, [mastodon_channel], ["Please approve"], mode=Post.Mode.NOW)
    requests = Notification.objects.filter(post=post, kind=Notification.Kind.APPROVAL_REQUESTED)
    assert requests.exists() and not requests.filter(resolved__isnull=False).exists()

    edit(cast.carol, post, ["Not ready after all"], [mastodon_channel], mode=Post.Mode.DRAFT)

    assert not requests.filter(resolved=None).exists()
