"""Authors hear when their post is approved or commented on; notifications resolve themselves when their
cause goes away (the post was decided on, the delivery went out after all, the channel is back)."""

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.timezone import now

from channels.models import Channel
from posts import composing, notify, publishing
from posts.dispatch import dispatch_due
from posts.models import Comment, Delivery, Notification, Post, PostingSlot
from tests.posts.engine import compose, dispatch_and_work
from workspaces.models import Membership

K = Notification.Kind
BERLIN = ZoneInfo("Europe/Berlin")


def url(name, **kwargs):
    return reverse(name, kwargs={"slug": "acme", **kwargs})


def submit(cast, channels, text="Opening hours from Monday", **kwargs):
    post = compose(cast.carol, cast.workspace, channels, [text], **kwargs)
    assert post.status == Post.Status.PENDING_APPROVAL
    return post


def at_nine_berlin(days: int) -> datetime:
    day = (now() + timedelta(days=days)).astimezone(BERLIN).date()
    return datetime.combine(day, time(9), BERLIN)


def day_label(moment: datetime) -> str:
    """Tue 8 Dec (with the year when it is not this year's)."""
    year = f" {moment.year}" if moment.year != now().astimezone(moment.tzinfo).year else ""
    return f"{moment:%a} {moment.day} {moment:%b}{year}"


def badge(client) -> str:
    """The unread count in the navigation ('' when there is none)."""
    html = client.get(url("posts:approvals")).content.decode()
    match = re.search(r'<span class="nav-badge">(\d+)<', html)
    return match.group(1) if match else ""


def notes(kind, **filters):
    return Notification.objects.filter(kind=kind, **filters)


# Approved


def test_the_approver_and_the_author_are_told_when_it_goes_out(client, cast, mastodon_channel):
    when = at_nine_berlin(3)
    post = submit(cast, [mastodon_channel], mode=Post.Mode.AT, scheduled_at=when)
    client.force_login(cast.bob)
    response = client.post(url("posts:approve-post", code=post.code), {"return_to": "approvals"}, follow=True)
    expected = f"it goes out on {day_label(when)}, 09:00 (Europe/Berlin)."
    assert f"Approved: {expected}" in response.content.decode()

    note = notes(K.APPROVED).get()
    assert note.user == cast.carol and note.post == post
    assert note.message.startswith("bob approved your post “Opening hours from Monday”")
    assert note.message.endswith(expected)
    approved_mail = [m for m in mail.outbox if "approved your post" in m.body]
    assert [m.to for m in approved_mail] == [["carol@example.org"]]
    assert "Post approved" in approved_mail[0].subject and str(post.code) in approved_mail[0].body

    client.force_login(cast.carol)
    assert badge(client) == "1"
    html = client.get(url("posts:notifications")).content.decode()
    assert "bob approved your post" in html and "Post approved" in html


def test_the_year_is_said_when_it_is_not_this_year(client, cast, mastodon_channel):
    when = at_nine_berlin(400)
    post = submit(cast, [mastodon_channel], mode=Post.Mode.AT, scheduled_at=when)
    client.force_login(cast.bob)
    response = client.post(url("posts:approve-post", code=post.code), follow=True)
    assert f"Approved: it goes out on {day_label(when)}, 09:00 (Europe/Berlin)." in response.content.decode()
    assert str(when.year) in day_label(when)


def test_a_post_shared_now_goes_out_now(client, cast, mastodon_channel):
    post = submit(cast, [mastodon_channel], mode=Post.Mode.NOW)
    client.force_login(cast.bob)
    response = client.post(url("posts:approve-post", code=post.code), follow=True)
    assert "Approved: it goes out now." in response.content.decode()
    assert notes(K.APPROVED).get().message.endswith("it goes out now.")


def test_each_channel_is_named_when_their_times_differ(client, cast, mastodon_channel, make_channel):
    bluesky = make_channel(network="bluesky", tz="America/New_York")
    for weekday in range(7):
        PostingSlot.objects.create(channel=mastodon_channel, weekday=weekday, time=time(9, 0))
        PostingSlot.objects.create(channel=bluesky, weekday=weekday, time=time(18, 0))
    post = submit(cast, [mastodon_channel, bluesky], mode=Post.Mode.QUEUE)
    client.force_login(cast.bob)
    response = client.post(url("posts:approve-post", code=post.code), follow=True)
    message = re.search(r"Approved: it goes out [^<]*", response.content.decode()).group()
    times = {d.channel_id: d.scheduled_for for d in post.deliveries.all()}
    mastodon_at = times[mastodon_channel.pk].astimezone(mastodon_channel.tz)
    bluesky_at = times[bluesky.pk].astimezone(ZoneInfo("America/New_York"))
    assert f"on {day_label(mastodon_at)}, 09:00 (Europe/Berlin) on {mastodon_channel}" in message
    assert f"on {day_label(bluesky_at)}, 18:00 (America/New_York) on {bluesky}" in message
    assert ", and on " in message


def test_an_owner_approving_their_own_post_is_not_told(cast, mastodon_channel):
    cast.workspace.require_approval = True
    cast.workspace.save()
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Mine"], mode=Post.Mode.NOW)
    post.status = Post.Status.PENDING_APPROVAL
    # As composing leaves a post waiting for approval: its deliveries are drafts.
    Post.objects.filter(pk=post.pk).update(status=Post.Status.PENDING_APPROVAL)
    post.deliveries.update(status=Delivery.Status.DRAFT, scheduled_for=None, next_attempt_at=None)
    composing.approve(post, Membership.objects.get(user=cast.alice, workspace=cast.workspace))
    assert not notes(K.APPROVED).exists()


# Commented


def test_the_author_is_told_about_a_comment_by_someone_else(client, cast, mastodon_channel):
    post = submit(cast, [mastodon_channel])
    client.force_login(cast.bob)
    client.post(url("posts:comment-post", code=post.code), {"text": "Is Monday right?"})
    note = notes(K.COMMENTED).get()
    assert note.user == cast.carol and note.post == post
    assert note.message == "bob commented on your post “Opening hours from Monday”: Is Monday right?"
    assert [m.to for m in mail.outbox if "Is Monday right?" in m.body] == [["carol@example.org"]]

    # Her own answer tells nobody.
    client.force_login(cast.carol)
    client.post(url("posts:comment-post", code=post.code), {"text": "Yes, Monday."})
    assert notes(K.COMMENTED).count() == 1
    assert Comment.objects.filter(post=post, kind=Comment.Kind.COMMENT).count() == 2


# Approval requests resolve themselves


def approvers_requests(post):
    return notes(K.APPROVAL_REQUESTED, post=post)


def test_approving_resolves_the_request_for_every_approver(client, cast, mastodon_channel):
    post = submit(cast, [mastodon_channel])
    assert set(approvers_requests(post).values_list("user__username", flat=True)) == {"alice", "bob"}
    client.force_login(cast.alice)
    assert badge(client) == "1"
    client.force_login(cast.bob)
    client.post(url("posts:approve-post", code=post.code))
    assert not approvers_requests(post).filter(resolved=None).exists()
    assert not approvers_requests(post).filter(read=None).exists()
    client.force_login(cast.alice)
    assert badge(client) == ""
    html = client.get(url("posts:notifications")).content.decode()
    item = html[html.index('class="card notification notification-approval_requested') :]
    item = item[: item.index("</li>")]
    assert ">Resolved</span>" in item and ">New</span>" not in item
    assert "0 unread" not in html and "unread</span>" not in html


def test_sending_back_resolves_the_request_and_resubmitting_resolves_the_send_back(cast, mastodon_channel):
    post = submit(cast, [mastodon_channel])
    bob = Membership.objects.get(user=cast.bob, workspace=cast.workspace)
    carol = Membership.objects.get(user=cast.carol, workspace=cast.workspace)
    composing.send_back(post, bob, "Say which Monday.")
    assert approvers_requests(post).count() == 2
    assert not approvers_requests(post).filter(resolved=None).exists()
    sent_back = notes(K.CHANGES_REQUESTED, post=post).get()
    assert sent_back.user == cast.carol and sent_back.resolved is None

    draft = composing.Draft(
        parts=["Opening hours from Monday 8 June"], channels=[mastodon_channel], mode=Post.Mode.NOW
    )
    composing.compose(workspace=cast.workspace, membership=carol, draft=draft, post=post)
    sent_back.refresh_from_db()
    assert sent_back.resolved is not None
    # One open request per approver, for the new submission.
    assert approvers_requests(post).filter(resolved=None).count() == 2
    assert approvers_requests(post).count() == 4


def test_deleting_the_post_takes_its_request_away(client, cast, mastodon_channel):
    post = submit(cast, [mastodon_channel])
    client.force_login(cast.bob)
    assert badge(client) == "1"
    composing.delete_post_if_unsent(post)
    assert not Notification.objects.filter(kind=K.APPROVAL_REQUESTED).exists()
    assert badge(client) == ""


def test_other_posts_requests_stay_open(cast, mastodon_channel):
    one = submit(cast, [mastodon_channel], "One")
    two = submit(cast, [mastodon_channel], "Two")
    composing.approve(one, Membership.objects.get(user=cast.bob, workspace=cast.workspace))
    assert approvers_requests(two).filter(resolved=None).count() == 2


# Failures resolve themselves when the delivery goes out after all


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "status, kind",
    [(Delivery.Status.FAILED, K.DELIVERY_FAILED), (Delivery.Status.NEEDS_ATTENTION, K.NEEDS_ATTENTION)],
)
def test_a_retry_that_succeeds_resolves_the_failure_notice(
    client, cast, redis_conn, mastodon_channel, fake_mastodon, status, kind
):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Buy now"])
    other = compose(cast.alice, cast.workspace, [mastodon_channel], ["Other"])
    fake_mastodon.fail_next(422, count=2, path="/api/v1/statuses", error="Validation failed: try later")
    dispatch_and_work()
    delivery = post.deliveries.get()
    assert delivery.status == Delivery.Status.FAILED
    Delivery.objects.filter(pk__in=[delivery.pk, other.deliveries.get().pk]).update(status=status)
    Notification.objects.filter(post__in=[post, other]).update(kind=kind)
    failure_notes = Notification.objects.filter(post=post, kind=kind)
    assert failure_notes.count() == 1 and failure_notes.get().user == cast.alice
    client.force_login(cast.alice)
    assert badge(client) == "2"

    composing.retry(Delivery.objects.select_related("post", "channel").get(pk=delivery.pk))
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHED
    assert failure_notes.get().resolved is not None
    # The other post's delivery still failed: its notice stays.
    assert Notification.objects.get(post=other).resolved is None
    assert badge(client) == "1"


@pytest.mark.django_db(transaction=True)
def test_a_first_time_success_costs_no_notification_statement(
    cast, redis_conn, mastodon_channel, fake_mastodon
):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Straight out"])
    dispatch_due()
    with CaptureQueriesContext(connection) as queries:
        assert publishing.publish(post.deliveries.get().pk) == "published"
    assert not [q["sql"] for q in queries.captured_queries if "posts_notification" in q["sql"]]


@pytest.mark.django_db(transaction=True)
def test_a_reconnected_channel_resolves_its_reconnect_notice(
    client, cast, redis_conn, mastodon_channel, fake_mastodon
):
    from channels.networks.mastodon.connecting import connect_with_token

    compose(cast.alice, cast.workspace, [mastodon_channel], ["Held back"])
    fake_mastodon.revoke(fake_mastodon.token)
    dispatch_and_work()
    mastodon_channel.refresh_from_db()
    assert mastodon_channel.status == Channel.Status.NEEDS_RECONNECT
    reconnect = notes(K.CHANNEL_RECONNECT, channel=mastodon_channel, user=cast.alice).get()
    assert reconnect.resolved is None
    client.force_login(cast.alice)
    assert badge(client) == "1"

    Channel.objects.save_connected(
        cast.workspace, connect_with_token(fake_mastodon.url, fake_mastodon.issue_token())
    )
    reconnect.refresh_from_db()
    assert reconnect.resolved is not None and reconnect.read is not None
    assert badge(client) == ""
    html = client.get(url("posts:notifications")).content.decode()
    assert ">Resolved</span>" in html and ">New</span>" not in html


def test_channel_reconnected_keeps_what_was_read_and_leaves_other_channels_alone(cast, make_channel):
    one, two = make_channel(), make_channel(network="bluesky")
    read_at = now() - timedelta(days=1)
    for channel in (one, two):
        Notification.objects.create(
            workspace=cast.workspace, user=cast.alice, kind=K.CHANNEL_RECONNECT, message="x", channel=channel
        )
    Notification.objects.filter(channel=one).update(read=read_at)
    assert notify.channel_reconnected(one) == 1
    assert notify.channel_reconnected(one) == 0
    resolved = Notification.objects.get(channel=one)
    assert resolved.read == read_at and resolved.resolved is not None
    assert Notification.objects.get(channel=two).resolved is None
