"""Approvals, comments, published and failed deliveries, live status and notifications."""

from datetime import time, timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django.utils.timezone import now

from channels.models import Channel
from posts.models import (
    Comment,
    Delivery,
    DeliveryAttempt,
    Media,
    MetricSnapshot,
    Notification,
    Post,
    PostingSlot,
    PostPart,
)
from tests.posts.engine import compose, dispatch_and_work

S = Delivery.Status


def url(name, **kwargs):
    return reverse(name, kwargs={"slug": "acme", **kwargs})


def page(client, name, **kwargs):
    response = client.get(url(name, **kwargs))
    assert response.status_code == 200
    return response.content.decode()


def submit(cast, channel, text, **kwargs):
    """carol is a contributor: whatever she schedules waits for approval."""
    post = compose(cast.carol, cast.workspace, [channel], [text], **kwargs)
    assert post.status == Post.Status.PENDING_APPROVAL
    return post


def build_posts(workspace, channels, count, author=None):
    """`count` posts in every state the dashboard shows, each with deliveries, attempts, metrics and
    comments, created in bulk."""
    statuses = [S.PUBLISHED, S.FAILED, S.NEEDS_ATTENTION, S.HELD, S.SCHEDULED]
    at = now()
    posts = Post.objects.bulk_create(
        [
            Post(
                workspace=workspace,
                author=author,
                status=Post.Status.PENDING_APPROVAL if i % 3 == 0 else Post.Status.SCHEDULED,
                mode=Post.Mode.AT,
            )
            for i in range(count)
        ]
    )
    PostPart.objects.bulk_create(
        [PostPart(post=p, index=k, text=f"Post {i} part {k}") for i, p in enumerate(posts) for k in (0, 1)]
    )
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(
                post=p,
                channel=channel,
                status=statuses[(i + j) % len(statuses)],
                scheduled_for=at - timedelta(hours=i),
                next_attempt_at=at + timedelta(hours=i + 1),
                published_at=at - timedelta(minutes=i),
                remote_url=f"https://example.org/@x/{i}{j}",
                last_error="The network said no.",
                attempts=1,
            )
            for i, p in enumerate(posts)
            for j, channel in enumerate(channels)
        ]
    )
    DeliveryAttempt.objects.bulk_create(
        [
            DeliveryAttempt(delivery=d, number=n, outcome=DeliveryAttempt.Outcome.RETRY, message="Timed out.")
            for d in deliveries
            for n in (1, 2)
        ]
    )
    MetricSnapshot.objects.bulk_create(
        [
            MetricSnapshot(delivery=d, likes=n, taken=at - timedelta(hours=n))
            for d in deliveries
            for n in (1, 2)
        ]
    )
    Comment.objects.bulk_create([Comment(post=p, author=author, text="Looks good") for p in posts])
    return posts


def dress(posts):
    """Give every other delivery its own text for part 1, and each part two images (one without alt
    text): what the approvals and post pages show per channel."""
    parts = list(PostPart.objects.filter(post__in=posts).select_related("post"))
    Media.objects.bulk_create(
        [
            Media(
                workspace_id=part.post.workspace_id,
                part=part,
                position=n,
                file=f"uploads/{part.pk}-{n}.png",
                mime_type="image/png",
                width=40,
                height=30,
                alt_text="A red square" if n == 0 else "",
            )
            for part in parts
            for n in (0, 1)
        ]
    )
    deliveries = list(Delivery.objects.filter(post__in=posts).order_by("id"))
    for delivery in deliveries[::2]:
        delivery.text_overrides = [f"Own text for {delivery.channel_id}", None]
    Delivery.objects.bulk_update(deliveries[::2], ["text_overrides"])


def queries_for(client, path):
    """Queries of one request, after a first one has done the once-per-user work (profile, session)."""
    assert client.get(path).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return len(queries)


# Approvals


def test_it_lists_posts_waiting_for_approval_newest_first(client, cast, mastodon_channel):
    older = submit(cast, mastodon_channel, "The older submission")
    Post.objects.filter(pk=older.pk).update(created=now() - timedelta(hours=1))
    submit(cast, mastodon_channel, "The newer submission")
    compose(cast.alice, cast.workspace, [mastodon_channel], ["Already scheduled by the owner"])
    client.force_login(cast.bob)
    html = page(client, "posts:approvals")
    assert html.index("The newer submission") < html.index("The older submission")
    assert "Already scheduled by the owner" not in html
    assert "By carol" in html and mastodon_channel.handle in html
    assert html.count('class="primary">Approve</button>') == 2


def test_it_approves_a_submitted_post_into_the_queue_order(client, cast, mastodon_channel):
    for weekday in range(7):
        PostingSlot.objects.create(channel=mastodon_channel, weekday=weekday, time=time(9, 0))
    first = compose(cast.alice, cast.workspace, [mastodon_channel], ["Queued first"], mode=Post.Mode.QUEUE)
    post = submit(cast, mastodon_channel, "Please approve me", mode=Post.Mode.QUEUE)
    assert post.deliveries.get().status == S.DRAFT
    client.force_login(cast.bob)
    response = client.post(url("posts:approve-post", code=post.code), {"return_to": "approvals"}, follow=True)
    assert response.redirect_chain[-1][0] == url("posts:approvals")
    slot = post.deliveries.get().scheduled_for.astimezone(mastodon_channel.tz)
    assert f"Approved: it goes out on {slot:%a} {slot.day} {slot:%b}" in response.content.decode()
    assert "Please approve me" not in response.content.decode()
    post.refresh_from_db()
    assert post.status == Post.Status.SCHEDULED and post.approved_by == cast.bob
    delivery = post.deliveries.get()
    assert delivery.status == S.SCHEDULED and delivery.in_queue
    queue = list(Delivery.objects.in_queue(mastodon_channel))
    assert queue == [first.deliveries.get(), delivery]
    assert "Approved" in page(client, "posts:detail", code=post.code)


def test_it_sends_back_with_a_comment_and_tells_the_author(client, cast, mastodon_channel):
    post = submit(cast, mastodon_channel, "Too long and too loud")
    client.force_login(cast.bob)
    response = client.post(
        url("posts:send-back-post", code=post.code),
        {"comment": "Shorter, please, and no capitals.", "return_to": "approvals"},
        follow=True,
    )
    assert "Sent back to carol with your comment." in response.content.decode()
    post.refresh_from_db()
    assert post.status == Post.Status.DRAFT
    note = Notification.objects.get(user=cast.carol, kind=Notification.Kind.CHANGES_REQUESTED)
    assert note.post == post and "Shorter, please" in note.message
    sent_back = [m for m in mail.outbox if "Shorter, please" in m.body]
    assert [m.to for m in sent_back] == [["carol@example.org"]]
    assert str(post.code) in sent_back[0].body
    client.force_login(cast.carol)
    html = page(client, "posts:detail", code=post.code)
    assert "Shorter, please, and no capitals." in html and "Sent back" in html
    assert "Shorter, please" in page(client, "posts:notifications")


def test_approvers_see_each_channels_text_images_and_preview(
    client, cast, mastodon_channel, make_channel, settings, tmp_path
):
    from tests.posts.test_detail import media

    settings.MEDIA_ROOT = tmp_path
    settings.SITE_URL = "https://scheduler.example.org"  # Threads fetches images from there
    bluesky = make_channel(network="bluesky")
    threads = make_channel(network="threads")
    image = media(cast.workspace, "A red square on a white table")
    post = compose(
        cast.carol,
        cast.workspace,
        [mastodon_channel, bluesky, threads],
        ["Our spring sale starts on Monday"],
        media={0: [image]},
        overrides={str(mastodon_channel.code): ["Spring sale from Monday #fediverse"]},
    )
    client.force_login(cast.bob)
    html = page(client, "posts:approvals")
    card = html[html.index(f'id="post-{post.code}"') :]
    card = card[: card.index(f'id="review-{post.code}"')]
    own = card[card.index(f'id="out-{post.deliveries.get(channel=mastodon_channel).code}"') :]
    own = own[: own.index("</section>")]
    assert mastodon_channel.handle in own and "Own text" in own
    assert "Spring sale from Monday #fediverse" in own and "Our spring sale starts on Monday" not in own
    # Bluesky and Threads publish the post's text: one block names both.
    shared = card[card.index(f'id="out-{post.deliveries.get(channel=bluesky).code}"') :]
    shared = shared[: shared.index("</section>")]
    assert bluesky.handle in shared and threads.handle in shared and "Own text" not in shared
    assert "Our spring sale starts on Monday" in shared and "#fediverse" not in shared
    # The image as a thumbnail with its alt text, served to the page, and each channel's preview.
    assert 'alt="A red square on a white table"' in own and "Alt text:</span> A red square" in own
    src = own[own.index('<img src="') + 10 :].split('"', 1)[0]
    response = client.get(src)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert '<div class="pv pv-mastodon">' in own and '<span class="pv-tag">#fediverse</span>' in own
    assert '<div class="pv pv-bluesky">' in shared and '<div class="pv pv-threads">' in shared
    assert card.count("Preview on ") == 3


def test_it_refuses_to_send_back_without_a_comment_beside_the_field(client, cast, mastodon_channel):
    post = submit(cast, mastodon_channel, "Needs a reason")
    client.force_login(cast.bob)
    response = client.post(
        url("posts:send-back-post", code=post.code), {"comment": "   ", "return_to": "approvals"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    field = html[html.index(f'id="send-back-{post.code}"') :]
    assert field.index('role="alert"') < field.index("Send back</button>")
    assert "Say what should change." in field
    assert 'aria-invalid="true"' in html
    post.refresh_from_db()
    assert post.status == Post.Status.PENDING_APPROVAL
    assert not Notification.objects.filter(kind=Notification.Kind.CHANGES_REQUESTED).exists()
    assert not [m for m in mail.outbox if m.to == ["carol@example.org"]]


def test_it_swaps_only_the_form_with_htmx_and_keeps_what_was_typed(client, cast, mastodon_channel):
    post = submit(cast, mastodon_channel, "Discuss me")
    client.force_login(cast.carol)
    long_text = "word " * 1100
    response = client.post(
        url("posts:comment-post", code=post.code),
        {"text": long_text, "return_to": "approvals"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<section class="comments" id="comments-{post.code}"')
    assert "Keep comments under 5,000 characters" in html
    assert long_text.strip() in html
    assert "<html" not in html
    assert response["Vary"] and "HX-Request" in response["Vary"]
    assert not Comment.objects.filter(kind=Comment.Kind.COMMENT).exists()


def test_it_client_redirects_htmx_after_a_comment(client, cast, mastodon_channel):
    post = submit(cast, mastodon_channel, "Discuss me")
    client.force_login(cast.carol)
    response = client.post(
        url("posts:comment-post", code=post.code),
        {"text": "Is the link right?", "return_to": "detail"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == url("posts:detail", code=post.code) + f"#comments-{post.code}"
    assert Comment.objects.get(kind=Comment.Kind.COMMENT).text == "Is the link right?"


def test_it_lets_members_comment_on_any_post(client, cast, mastodon_channel):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Scheduled already"])
    client.force_login(cast.carol)
    response = client.post(url("posts:comment-post", code=post.code), {"text": "Nice one"}, follow=True)
    assert response.redirect_chain[-1][0] == url("posts:detail", code=post.code) + f"#comments-{post.code}"
    html = response.content.decode()
    assert "Nice one" in html and "<strong>carol</strong>" in html


def test_viewers_cannot_approve_send_back_or_comment(client, cast, mastodon_channel):
    post = submit(cast, mastodon_channel, "Viewers only look")
    client.force_login(cast.victor)
    html = page(client, "posts:approvals")
    assert "Viewers only look" in html
    assert (
        "Approve</button>" not in html and "Send back</button>" not in html and "Comment</button>" not in html
    )
    assert client.post(url("posts:approve-post", code=post.code)).status_code == 403
    assert client.post(url("posts:send-back-post", code=post.code), {"comment": "no"}).status_code == 403
    assert client.post(url("posts:comment-post", code=post.code), {"text": "hi"}).status_code == 403
    post.refresh_from_db()
    assert post.status == Post.Status.PENDING_APPROVAL
    assert not post.comments.exists()


def test_contributors_cannot_approve_their_own_posts(client, cast, mastodon_channel):
    post = submit(cast, mastodon_channel, "Let me through")
    client.force_login(cast.carol)
    assert "Approve</button>" not in page(client, "posts:approvals")
    assert client.post(url("posts:approve-post", code=post.code)).status_code == 403
    post.refresh_from_db()
    assert post.status == Post.Status.PENDING_APPROVAL


def test_it_refuses_self_approval_when_the_workspace_requires_approval(client, cast, mastodon_channel):
    cast.workspace.require_approval = True
    cast.workspace.save()
    post = compose(cast.bob, cast.workspace, [mastodon_channel], ["Mine to approve?"])
    assert post.status == Post.Status.PENDING_APPROVAL
    client.force_login(cast.bob)
    html = page(client, "posts:approvals")
    assert "someone else must approve it" in html
    assert "Approve</button>" not in html
    response = client.post(url("posts:approve-post", code=post.code), {"return_to": "approvals"}, follow=True)
    assert "Someone else must approve your post." in response.content.decode()
    post.refresh_from_db()
    assert post.status == Post.Status.PENDING_APPROVAL
    # An owner may.
    client.force_login(cast.alice)
    client.post(url("posts:approve-post", code=post.code))
    post.refresh_from_db()
    assert post.status == Post.Status.SCHEDULED and post.approved_by == cast.alice


def test_it_tells_why_an_approval_was_refused(client, cast, mastodon_channel):
    post = submit(
        cast, mastodon_channel, "Late", mode=Post.Mode.AT, scheduled_at=now() + timedelta(minutes=5)
    )
    post.deliveries.update(scheduled_for=now() - timedelta(hours=1))
    client.force_login(cast.bob)
    response = client.post(url("posts:approve-post", code=post.code), follow=True)
    assert "Its time has passed" in response.content.decode()
    post.refresh_from_db()
    assert post.status == Post.Status.PENDING_APPROVAL


def test_it_gives_404_for_another_workspaces_post(client, cast, mastodon_channel):
    post = submit(cast, mastodon_channel, "Ours")
    client.force_login(cast.charlie)
    response = client.post(reverse("posts:approve-post", kwargs={"slug": "charlies", "code": post.code}))
    assert response.status_code == 404
    post.refresh_from_db()
    assert post.status == Post.Status.PENDING_APPROVAL


# Published and failed


@pytest.mark.django_db(transaction=True)
def test_it_shows_published_posts_with_links_and_latest_metrics(
    client, cast, redis_conn, mastodon_channel, bluesky_channel, fake_mastodon, fake_bluesky
):
    post = compose(cast.alice, cast.workspace, [mastodon_channel, bluesky_channel], ["Out in the world"])
    dispatch_and_work()
    mastodon, bluesky = (
        post.deliveries.get(channel=mastodon_channel),
        post.deliveries.get(channel=bluesky_channel),
    )
    assert mastodon.status == bluesky.status == S.PUBLISHED
    MetricSnapshot.objects.create(delivery=mastodon, likes=1, reposts=1, taken=now() - timedelta(hours=2))
    MetricSnapshot.objects.create(delivery=mastodon, likes=41, reposts=7, replies=3, quotes=2)
    client.force_login(cast.victor)
    html = page(client, "posts:published")
    assert f'href="{mastodon.remote_url}"' in html and f'href="{bluesky.remote_url}"' in html
    assert "View on Mastodon" in html and "View on Bluesky" in html
    row = html[html.index(f'id="delivery-{mastodon.code}"') :]
    row = row[: row.index("</tr>")]
    assert "<dd>41</dd>" in row and "<dd>7</dd>" in row and "<dd>3</dd>" in row and "<dd>2</dd>" in row
    assert "<dd>1</dd>" not in row
    assert "Out in the world" in row and "Europe/Berlin" in row

    filtered = client.get(url("posts:published"), {"channel": str(bluesky_channel.code)}).content.decode()
    assert bluesky.remote_url in filtered and mastodon.remote_url not in filtered


def test_it_filters_published_posts_with_htmx(client, cast, make_channel):
    one, two = make_channel(), make_channel(network="bluesky")
    build_posts(cast.workspace, [one, two], 5)
    client.force_login(cast.alice)
    response = client.get(url("posts:published"), {"channel": str(two.code)}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="published-list">')
    assert "Bluesky" in html and "Mastodon</span>" not in html
    assert "HX-Request" in response["Vary"]


@pytest.mark.django_db(transaction=True)
def test_it_shows_why_a_delivery_failed_and_retries_it(
    client, cast, redis_conn, mastodon_channel, fake_mastodon
):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Buy now!!!"])
    fake_mastodon.fail_next(
        422, count=1, path="/api/v1/statuses", error="Validation failed: Text contains spam"
    )
    dispatch_and_work()
    delivery = post.deliveries.get()
    assert delivery.status == S.FAILED
    client.force_login(cast.bob)
    html = page(client, "posts:failed")
    card = html[html.index(f'id="delivery-{delivery.code}"') :]
    assert "Text contains spam" in card
    assert "Rejected" in card  # the attempt log
    assert "Buy now!!!" in card
    assert "Retry</button>" in card

    response = client.post(
        url("posts:retry-delivery", code=delivery.code), {"next": url("posts:failed")}, follow=True
    )
    assert response.redirect_chain[-1][0] == url("posts:failed")
    assert f"Retrying on {mastodon_channel} now." in response.content.decode()
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == S.PUBLISHED
    assert [s["text"] for s in fake_mastodon.statuses] == ["Buy now!!!"]
    assert "Nothing failed" in page(client, "posts:failed")
    assert delivery.remote_url in page(client, "posts:published")


def test_it_ignores_a_retry_redirect_to_another_site(client, cast, make_channel):
    [post] = build_posts(cast.workspace, [make_channel()], 1)
    delivery = post.deliveries.get()
    Delivery.objects.filter(pk=delivery.pk).update(status=S.FAILED)
    client.force_login(cast.alice)
    response = client.post(url("posts:retry-delivery", code=delivery.code), {"next": "https://evil.example/"})
    assert response.url == url("posts:detail", code=post.code)


def test_it_explains_held_and_unsure_deliveries_and_offers_the_right_action(client, cast, make_channel):
    gone = make_channel(status=Channel.Status.NEEDS_RECONNECT)
    fine = make_channel(network="bluesky")
    posts = build_posts(cast.workspace, [gone], 1) + build_posts(cast.workspace, [fine], 1)
    held = Delivery.objects.get(post=posts[0])
    Delivery.objects.filter(pk=held.pk).update(status=S.HELD, last_error="The access token was revoked.")
    unsure = Delivery.objects.get(post=posts[1])
    Delivery.objects.filter(pk=unsure.pk).update(
        status=S.NEEDS_ATTENTION, last_error="The network timed out."
    )
    client.force_login(cast.bob)
    html = page(client, "posts:failed")
    held_card = html[html.index(f'id="delivery-{held.code}"') :]
    held_card = held_card[: held_card.index("</article>")]
    assert "The access token was revoked. It goes out once" in held_card
    assert f"Reconnect {gone.handle}" in held_card and "Retry</button>" not in held_card
    unsure_card = html[html.index(f'id="delivery-{unsure.code}"') :]
    unsure_card = unsure_card[: unsure_card.index("</article>")]
    assert "if the post is there, there is nothing to do" in unsure_card
    assert "Retry</button>" in unsure_card


def test_it_offers_edit_and_retry_only_while_nothing_is_out(client, cast, make_channel):
    one, two = make_channel(), make_channel(network="bluesky")
    [alone] = build_posts(cast.workspace, [one], 1, author=cast.carol)
    [partly] = build_posts(cast.workspace, [one, two], 1, author=cast.carol)
    [others] = build_posts(cast.workspace, [one], 1, author=cast.bob)
    Delivery.objects.filter(post=others).update(status=S.FAILED)
    Delivery.objects.filter(post=alone).update(status=S.FAILED)
    Delivery.objects.filter(post=partly, channel=one).update(status=S.FAILED)
    Delivery.objects.filter(post=partly, channel=two).update(status=S.PUBLISHED)
    client.force_login(cast.carol)
    html = page(client, "posts:failed")
    partly_card = html[html.index(f'id="delivery-{partly.deliveries.get(channel=one).code}"') :]
    partly_card = partly_card[: partly_card.index("</article>")]
    assert "Already out on another channel" in partly_card and "Edit and retry" not in partly_card
    alone_card = html[html.index(f'id="delivery-{alone.deliveries.get().code}"') :]
    alone_card = alone_card[: alone_card.index("</article>")]
    assert "Already out on another channel" not in alone_card
    assert "Retry</button>" not in alone_card  # contributors cannot publish
    try:
        edit_url = reverse("posts:edit", kwargs={"slug": "acme", "code": alone.code})
    except NoReverseMatch:  # the edit page is built separately
        edit_url = None
    if edit_url:
        assert f'href="{edit_url}">Edit and retry' in alone_card
    # Contributors edit only their own posts.
    others_card = html[html.index(f'id="delivery-{others.deliveries.get().code}"') :]
    others_card = others_card[: others_card.index("</article>")]
    assert "Edit and retry" not in others_card


# Live status


@pytest.mark.django_db(transaction=True)
def test_the_delivery_status_polls_while_going_out_and_stops_when_published(
    client, cast, redis_conn, mastodon_channel, fake_mastodon
):
    delivery = compose(cast.alice, cast.workspace, [mastodon_channel], ["Live"]).deliveries.get()
    client.force_login(cast.victor)
    status_url = url("posts:delivery-status", code=delivery.code)
    htmx = {"HX-Request": "true"}

    response = client.get(status_url, headers=htmx)
    assert response.status_code == 200
    assert 'hx-trigger="every 2s"' in response.content.decode()
    Delivery.objects.filter(pk=delivery.pk).update(status=S.PUBLISHING)
    response = client.get(status_url, headers=htmx)
    assert response.status_code == 200 and "publishing now" in response.content.decode()
    Delivery.objects.filter(pk=delivery.pk).update(status=S.SCHEDULED)

    dispatch_and_work()
    delivery.refresh_from_db()
    response = client.get(status_url, headers=htmx)
    assert response.status_code == 286
    html = response.content.decode()
    assert "hx-trigger" not in html
    assert "Published" in html and f'href="{delivery.remote_url}"' in html
    # Without htmx it is a plain fragment.
    assert client.get(status_url).status_code == 200


def test_a_delivery_scheduled_for_later_does_not_poll(client, cast, make_channel):
    [post] = build_posts(cast.workspace, [make_channel()], 1)
    delivery = post.deliveries.get()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=S.SCHEDULED, next_attempt_at=now() + timedelta(hours=3)
    )
    client.force_login(cast.alice)
    response = client.get(url("posts:delivery-status", code=delivery.code), headers={"HX-Request": "true"})
    assert response.status_code == 286 and "hx-trigger" not in response.content.decode()


# Notifications


def test_it_lists_my_notifications_and_marks_them_read(client, cast, make_channel):
    channel = make_channel()
    Notification.objects.create(
        workspace=cast.workspace,
        user=cast.alice,
        kind=Notification.Kind.CHANNEL_RECONNECT,
        message="Mastodon @x needs to be reconnected.",
        channel=channel,
    )
    Notification.objects.create(
        workspace=cast.workspace,
        user=cast.bob,
        kind=Notification.Kind.DELIVERY_FAILED,
        message="Bob's only",
    )
    Notification.objects.create(
        workspace=cast.other,
        user=cast.alice,
        kind=Notification.Kind.DELIVERY_FAILED,
        message="Elsewhere",
    )
    client.force_login(cast.alice)
    html = page(client, "posts:notifications")
    assert "Mastodon @x needs to be reconnected." in html and "1 unread" in html
    assert "Bob's only" not in html and "Elsewhere" not in html
    assert f"#channel-{channel.code}" in html
    response = client.post(url("posts:notifications-read"), follow=True)
    assert "Marked 1 notification as read." in response.content.decode()
    assert not Notification.objects.filter(user=cast.alice, workspace=cast.workspace, read=None).exists()
    assert Notification.objects.filter(user=cast.bob, read=None).exists()
    assert Notification.objects.filter(workspace=cast.other, read=None).exists()


# Queries


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


@pytest.mark.parametrize("name", ["published", "failed"])
def test_the_channel_filter_reloads_its_own_list_and_keeps_the_choice(client, cast, make_channel, name):
    one, two = make_channel(), make_channel(network="bluesky")
    client.force_login(cast.alice)
    html = client.get(url(f"posts:{name}"), {"channel": str(two.code)}).content.decode()
    start = html.index('class="filter"')
    form = html[start : html.index("</form>", start)]
    assert f'hx-target="#{name}-list"' in form and f'hx-get="{url(f"posts:{name}")}"' in form
    assert f'<option value="{two.code}" selected>' in form
    assert f'<option value="{one.code}">' in form


def test_the_published_pages_older_link_keeps_the_chosen_channel(client, cast, make_channel):
    shown, other = make_channel(), make_channel()
    for channel, name in ((shown, "Shown"), (other, "Other")):
        for n in range(51):
            post = Post.objects.create(workspace=cast.workspace, status=Post.Status.PUBLISHED)
            PostPart.objects.create(post=post, index=0, text=f"{name} post {n}")
            at = now() - timedelta(minutes=n)
            Delivery.objects.create(
                post=post, channel=channel, status=S.PUBLISHED, scheduled_for=at, published_at=at
            )
    client.force_login(cast.alice)
    published = url("posts:published")
    first = client.get(published, {"channel": shown.code}).content.decode()
    assert f'href="?page=2&amp;channel={shown.code}" rel="next">Older</a>' in first
    second = client.get(published, {"page": 2, "channel": shown.code}).content.decode()
    assert "Shown post 50" in second and "Other post" not in second
    assert f'href="?page=1&amp;channel={shown.code}" rel="prev">Newer</a>' in second
