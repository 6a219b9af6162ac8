"""The approvals page: approving, sending back with a comment, comments, and who may do which."""

from datetime import time, timedelta

from django.core import mail
from django.urls import reverse
from django.utils.timezone import now

from posts.models import Comment, Delivery, Notification, Post, PostingSlot
from tests.posts.engine import compose
from tests.posts.review import S, page, submit, url


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
