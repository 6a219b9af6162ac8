"""The Drafts page: posts saved as drafts, unscheduled or sent back, newest change first, with who may
change what; and the messages that say a post went there."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils.timezone import now

from posts import composing
from posts.models import Comment, Delivery, Post, PostPart
from tests.posts.engine import compose
from tests.posts.review import queries_for
from workspaces.models import Membership

DRAFTS = reverse("posts:drafts", kwargs={"slug": "acme"})


def url(name, **kwargs):
    return reverse(name, kwargs={"slug": "acme", **kwargs})


def drafts_page(client, query=""):
    response = client.get(DRAFTS + query)
    assert response.status_code == 200
    return response.content.decode()


def draft(user, workspace, channels, text, *, ago=timedelta(0)):
    post = compose(user, workspace, channels, [text], mode=Post.Mode.DRAFT)
    Post.objects.filter(pk=post.pk).update(updated=now() - ago)
    return post


def card(html, post) -> str:
    """The article of one draft on the page."""
    start = html.index(f'id="draft-{post.code}"')
    return html[start : html.index("</article>", start)]


def member(user, workspace):
    return Membership.objects.get(user=user, workspace=workspace)


@pytest.fixture
def channels(make_channel):
    return [make_channel("mastodon"), make_channel("bluesky")]


def test_it_lists_drafts_newest_change_first(client, cast, channels, mastodon_channel):
    old = draft(cast.alice, cast.workspace, channels, "An old idea", ago=timedelta(days=3))
    new = draft(cast.bob, cast.workspace, channels[:1], "A fresh idea", ago=timedelta(hours=1))
    compose(cast.alice, cast.workspace, [mastodon_channel], ["Already going out"])
    Post.objects.create(workspace=cast.workspace, author=cast.carol, status=Post.Status.PENDING_APPROVAL)
    client.force_login(cast.alice)

    html = drafts_page(client)

    assert html.index("A fresh idea") < html.index("An old idea")
    assert "Already going out" not in html
    assert re.search(r'<h1>Drafts <span class="count">2</span></h1>', html)
    first = card(html, old)
    assert "By alice" in first
    assert "@mastodon@example.org" in first and "@bluesky@example.org" in first
    stamp = (now() - timedelta(days=3)).astimezone(cast.workspace.tz)
    assert f"{stamp:%a} {stamp.day} {stamp:%b %Y, %H:%M} Europe/Berlin" in first
    second = card(html, new)
    assert "By bob" in second and "@bluesky@example.org" not in second


def test_it_cuts_the_excerpt_after_a_whole_word(client, cast, channels):
    text = "Spring is here and our whole collection of tulips, daffodils and hyacinths is in the shop. " * 3
    post = draft(cast.alice, cast.workspace, channels, text)
    client.force_login(cast.alice)

    title = re.search(r"<h2[^>]*>(.*?)</h2>", card(drafts_page(client), post)).group(1)

    assert title.endswith("…") and 100 < len(title) <= 121
    shown = title.removesuffix("…")
    assert text.startswith(shown) and text[len(shown)] == " "  # no word cut in half


def test_it_says_why_a_post_was_sent_back(client, cast, mastodon_channel):
    post = compose(cast.carol, cast.workspace, [mastodon_channel], ["Too loud"], mode=Post.Mode.NOW)
    composing.send_back(post, member(cast.bob, cast.workspace), "Shorter, please.\nAnd no capitals.")
    client.force_login(cast.carol)

    item = card(drafts_page(client), post)

    assert "Sent back" in item and "bob" in item
    assert "Shorter, please.<br>And no capitals." in item


def test_it_shows_no_old_sending_back_once_the_post_was_approved_since(client, cast, mastodon_channel):
    post = compose(cast.carol, cast.workspace, [mastodon_channel], ["Too loud"], mode=Post.Mode.NOW)
    bob = member(cast.bob, cast.workspace)
    composing.send_back(post, bob, "Shorter, please.")
    edit = composing.Draft(parts=["Quiet now"], channels=[mastodon_channel], mode=Post.Mode.NOW)
    post = composing.compose(
        workspace=cast.workspace, membership=member(cast.carol, cast.workspace), draft=edit, post=post
    )
    composing.approve(post, bob)
    Delivery.objects.filter(post=post).update(status=Delivery.Status.SCHEDULED)
    composing.cancel(post)
    client.force_login(cast.carol)

    item = card(drafts_page(client), post)

    assert "Quiet now" in item and "Sent back" not in item and "Shorter" not in item


def test_a_contributor_sees_their_own_drafts_first_and_may_look_at_everyones(client, cast, channels):
    mine = draft(cast.carol, cast.workspace, channels, "Carol's idea")
    theirs = draft(cast.bob, cast.workspace, channels, "Bob's idea")
    client.force_login(cast.carol)

    html = drafts_page(client)
    assert "Carol&#x27;s idea" in html and "Bob&#x27;s idea" not in html
    assert re.search(r'href="[^"]*\?who=mine" aria-current="page">Mine<', html)
    assert 'href="' + url("posts:edit", code=mine.code) + '"' in card(html, mine)

    html = drafts_page(client, "?who=everyone")
    assert "Carol&#x27;s idea" in html and "Bob&#x27;s idea" in html
    # Only their own posts are theirs to change or delete.
    assert url("posts:edit", code=theirs.code) not in html
    assert url("posts:edit", code=mine.code) in html
    assert url("posts:delete-post", code=mine.code) in html
    assert url("posts:delete-post", code=theirs.code) not in html
    assert client.get(url("posts:edit", code=theirs.code)).status_code == 403
    assert client.post(url("posts:delete-post", code=theirs.code)).status_code == 403
    assert Post.objects.filter(pk=theirs.pk).exists()
    client.post(url("posts:delete-post", code=mine.code))
    assert not Post.objects.filter(pk=mine.pk).exists()


def test_a_contributor_cannot_delete_their_own_approved_post(client, cast, mastodon_channel):
    post = compose(cast.carol, cast.workspace, [mastodon_channel], ["Mine"], mode=Post.Mode.NOW)
    composing.approve(post, member(cast.bob, cast.workspace))
    client.force_login(cast.carol)
    assert client.post(url("posts:delete-post", code=post.code)).status_code == 403
    assert Post.objects.filter(pk=post.pk).exists()


def test_an_editor_sees_everyones_drafts_and_may_change_each(client, cast, channels):
    posts = [
        draft(cast.carol, cast.workspace, channels, "Carol's"),
        draft(cast.bob, cast.workspace, [], "Bob's"),
    ]
    client.force_login(cast.bob)

    html = drafts_page(client)
    assert re.search(r"""href="[^"]*\?who=everyone" aria-current="page">Everyone's<""", html)
    for post in posts:
        item = card(html, post)
        assert url("posts:detail", code=post.code) in item
        assert url("posts:edit", code=post.code) in item
        assert url("posts:delete-post", code=post.code) in item
    assert "No channel chosen yet." in card(html, posts[1])

    html = drafts_page(client, "?who=mine")
    assert "Bob&#x27;s" in html and "Carol&#x27;s" not in html


def test_a_viewer_reads_drafts_without_changing_them(client, cast, channels):
    post = draft(cast.bob, cast.workspace, channels, "Read only for Victor")
    client.force_login(cast.victor)

    html = drafts_page(client)

    item = card(html, post)
    assert "Read only for Victor" in item and url("posts:detail", code=post.code) in item
    assert (
        url("posts:edit", code=post.code) not in html and url("posts:delete-post", code=post.code) not in html
    )
    assert "?who=mine" not in html and url("posts:compose") not in html


def test_strangers_get_404(client, cast, channels):
    draft(cast.alice, cast.workspace, channels, "Secret plans")
    client.force_login(cast.charlie)
    assert client.get(DRAFTS).status_code == 404


def test_it_deletes_a_draft_and_comes_back_to_the_list(client, cast, channels):
    post = draft(cast.carol, cast.workspace, channels, "Throw me away")
    kept = draft(cast.carol, cast.workspace, channels, "Keep me")
    client.force_login(cast.victor)
    refused = client.post(url("posts:delete-post", code=post.code), {"next": DRAFTS})
    assert refused.status_code == 403  # viewers do not delete
    client.force_login(cast.bob)

    response = client.post(
        url("posts:delete-post", code=post.code), {"next": DRAFTS + "?who=everyone"}, follow=True
    )

    assert response.redirect_chain[-1][0] == DRAFTS + "?who=everyone"
    html = response.content.decode()
    assert "Post deleted." in html and "Throw me away" not in html and "Keep me" in html
    assert not Post.objects.filter(pk=post.pk).exists() and Post.objects.filter(pk=kept.pk).exists()


def test_an_empty_list_says_what_a_draft_is(client, cast):
    client.force_login(cast.carol)
    html = drafts_page(client)
    assert "You have no drafts." in html
    assert "A draft is a post that is saved but not scheduled" in html
    assert f'<a href="{url("posts:compose")}">Write a post</a>' in html
    assert f"""href="{DRAFTS}?who=everyone">everyone's drafts</a>""" in html


def test_it_pages_through_many_drafts(client, cast, channels):
    posts = Post.objects.bulk_create(
        [Post(workspace=cast.workspace, author=cast.alice, status=Post.Status.DRAFT) for _ in range(55)]
    )
    PostPart.objects.bulk_create(
        [PostPart(post=p, index=0, text=f"Draft number {n}.") for n, p in enumerate(posts)]
    )
    for n, post in enumerate(posts):
        Post.objects.filter(pk=post.pk).update(updated=now() - timedelta(minutes=n))
    client.force_login(cast.alice)

    first = drafts_page(client)
    assert "Draft number 0." in first and "Draft number 49." in first and "Draft number 50." not in first
    assert 'href="?page=2&amp;who=everyone" rel="next">Older</a>' in first
    second = drafts_page(client, "?page=2&who=everyone")
    assert "Draft number 50." in second and "Draft number 54." in second and "Draft number 0." not in second


def test_it_renders_with_a_constant_number_of_queries(client, cast, channels, mastodon_channel):
    bob = member(cast.bob, cast.workspace)

    def make(count):
        for n in range(Post.objects.count(), Post.objects.count() + count):
            post = compose(
                cast.carol, cast.workspace, [*channels, mastodon_channel], [f"Idea {n}", "Part two"]
            )
            Comment.objects.create(post=post, author=cast.alice, text="A plain comment")
            composing.send_back(post, bob, f"Not yet, {n}")

    client.force_login(cast.bob)
    make(10)
    few = queries_for(client, DRAFTS)
    make(30)
    many = queries_for(client, DRAFTS)
    assert few == many, (few, many)
    assert "Not yet, 39" in drafts_page(client)


def test_the_navigation_leads_to_drafts(client, cast):
    client.force_login(cast.victor)
    html = drafts_page(client)
    assert f'<a href="{DRAFTS}" aria-current="page">Drafts</a>' in html
    overview = client.get(url("workspaces:overview")).content.decode()
    assert f'<a href="{DRAFTS}"' in overview


def test_the_overview_counts_drafts(client, cast, channels):
    draft(cast.alice, cast.workspace, channels, "One")
    draft(cast.carol, cast.workspace, channels, "Two")
    Post.objects.create(workspace=cast.other, status=Post.Status.DRAFT)
    client.force_login(cast.bob)
    html = client.get(url("workspaces:overview")).content.decode()
    stat = f'<a class="stat" href="{DRAFTS}"><span class="stat-number">2</span> '
    assert stat + '<span class="stat-label">drafts</span>' in html


# Where the messages send people


def test_saving_a_draft_says_where_to_find_it(client, cast, channels):
    client.force_login(cast.alice)
    data = {"part": ["Later"], "channels": [str(channels[0].code)], "mode": "draft", "zone": "Europe/Berlin"}
    response = client.post(url("posts:compose"), data, follow=True)
    assert f'Saved as a draft. Find it under <a href="{DRAFTS}">Drafts</a>.' in response.content.decode()
    assert "Later" in drafts_page(client)


def test_unscheduling_says_where_the_post_went(client, cast, mastodon_channel):
    post = compose(
        cast.alice,
        cast.workspace,
        [mastodon_channel],
        ["Not today"],
        mode=Post.Mode.AT,
        scheduled_at=now() + timedelta(days=1),
    )
    client.force_login(cast.bob)
    response = client.post(url("posts:unschedule-post", code=post.code), follow=True)
    assert f'the post is a draft again, on every channel. Find it under <a href="{DRAFTS}">Drafts</a>.' in (
        response.content.decode()
    )
    assert "Not today" in card(drafts_page(client), post)


def test_sending_back_says_where_the_post_went(client, cast, mastodon_channel):
    post = compose(cast.carol, cast.workspace, [mastodon_channel], ["Check me"])
    client.force_login(cast.bob)
    response = client.post(
        url("posts:send-back-post", code=post.code), {"comment": "Add a link."}, follow=True
    )
    assert "Sent back to carol with your comment. It waits under Drafts." in response.content.decode()
    assert "Add a link." in card(drafts_page(client), post)
