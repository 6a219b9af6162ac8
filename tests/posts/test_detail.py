"""The post detail page: parts, media, each channel's delivery with live status, metrics, comments."""

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import NoReverseMatch, reverse
from django.utils.timezone import now
from PIL import Image

from posts.models import Comment, Delivery, DeliveryAttempt, Media, MetricSnapshot, Post
from tests.posts.engine import compose, dispatch_and_work
from tests.posts.review import build_posts, dress, queries_for

S = Delivery.Status


def detail_url(post, slug="acme"):
    return reverse("posts:detail", kwargs={"slug": slug, "code": post.code})


def png(color="red") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, "PNG")
    return SimpleUploadedFile(f"{color}.png", buffer.getvalue(), content_type="image/png")


def media(workspace, alt_text="", color="red"):
    upload = png(color)
    return Media.objects.create(
        workspace=workspace,
        file=upload,
        mime_type="image/png",
        size=upload.size,
        width=40,
        height=30,
        alt_text=alt_text,
    )


def test_it_shows_a_threads_parts_and_its_images_with_alt_text(
    client, cast, mastodon_channel, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    square, other = media(cast.workspace, "A red square"), media(cast.workspace, "", "blue")
    post = compose(
        cast.alice,
        cast.workspace,
        [mastodon_channel],
        ["1/2 The opening", "2/2 The ending"],
        mode=Post.Mode.DRAFT,
        media={0: [square], 1: [other]},
    )
    client.force_login(cast.victor)
    html = client.get(detail_url(post)).content.decode()
    assert "Thread of 2 parts" in html
    assert html.index("1/2 The opening") < html.index("2/2 The ending")
    assert 'alt="A red square"' in html and "Alt text:</span> A red square" in html
    assert "No alt text" in html
    # The preview is served without DEBUG's media route.
    src = html[html.index('<img src="') + 10 :].split('"', 1)[0]
    response = client.get(src)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"


def test_it_shows_what_goes_out_on_each_channel_with_its_preview(
    client, cast, mastodon_channel, make_channel, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    bluesky = make_channel(network="bluesky")
    square = media(cast.workspace, "A red square")
    post = compose(
        cast.alice,
        cast.workspace,
        [mastodon_channel, bluesky],
        ["1/2 The opening https://example.org/spring today", "2/2 The ending"],
        mode=Post.Mode.DRAFT,
        media={1: [square]},
        overrides={str(bluesky.code): [None, "2/2 The short ending for Bluesky"]},
    )
    client.force_login(cast.victor)
    html = client.get(detail_url(post)).content.decode()
    blocks = {}
    for channel in (mastodon_channel, bluesky):
        block = html[html.index(f'id="out-{post.deliveries.get(channel=channel).code}"') :]
        blocks[channel.network] = block[: block.index("</section>")]
    mastodon, own = blocks["mastodon"], blocks["bluesky"]
    assert "2/2 The ending" in mastodon and "The short ending" not in mastodon and "Own text" not in mastodon
    assert "1/2 The opening" in own and "2/2 The short ending for Bluesky" in own
    assert "Own text" in own and "Part 2 · written for this channel" in own
    assert "Part 1 · written" not in own
    # Both show the image with its alt text, and their network's preview (Mastodon shortens links).
    for block in (mastodon, own):
        assert 'alt="A red square"' in block and "Alt text:</span> A red square" in block
    assert '<div class="pv pv-mastodon">' in mastodon
    assert '<span class="pv-link">example.org/spring</span>' in mastodon
    assert '<div class="pv pv-bluesky">' in own
    assert '<p class="pv-text">2/2 The short ending for Bluesky</p>' in own
    # Viewers may not fetch link cards (the composer's card view): their previews leave them out.
    card_view = reverse("posts:link-card-preview", kwargs={"slug": "acme"})
    assert card_view not in html
    client.force_login(cast.carol)
    assert (
        f"{card_view}?url=https%3A%2F%2Fexample.org%2Fspring" in client.get(detail_url(post)).content.decode()
    )


def test_it_polls_the_status_of_a_delivery_about_to_go_out(client, cast, mastodon_channel):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Going out now"])
    later = compose(
        cast.alice,
        cast.workspace,
        [mastodon_channel],
        ["Much later"],
        mode=Post.Mode.AT,
        scheduled_at=now() + timedelta(days=2),
    )
    delivery = post.deliveries.get()
    client.force_login(cast.victor)
    html = client.get(detail_url(post)).content.decode()
    status_url = reverse("posts:delivery-status", kwargs={"slug": "acme", "code": delivery.code})
    assert f'hx-get="{status_url}" hx-trigger="every 3s"' in html
    assert "Europe/Berlin" in html
    assert 'hx-trigger="every' not in client.get(detail_url(later)).content.decode()


@pytest.mark.django_db(transaction=True)
def test_it_shows_remote_links_metrics_attempts_and_retry(
    client, cast, redis_conn, mastodon_channel, bluesky_channel, fake_mastodon, fake_bluesky
):
    post = compose(cast.alice, cast.workspace, [mastodon_channel, bluesky_channel], ["Hello both"])
    fake_mastodon.fail_next(422, count=1, path="/api/v1/statuses", error="Validation failed: Text is odd")
    dispatch_and_work()
    failed, published = (
        post.deliveries.get(channel=mastodon_channel),
        post.deliveries.get(channel=bluesky_channel),
    )
    assert failed.status == S.FAILED and published.status == S.PUBLISHED
    MetricSnapshot.objects.create(delivery=published, likes=12, reposts=4, replies=1, quotes=0)
    client.force_login(cast.bob)
    html = client.get(detail_url(post)).content.decode()
    published_row = html[html.index(f'id="delivery-{published.code}"') :]
    published_row = published_row[: published_row.index("</tr>")]
    assert f'href="{published.remote_url}"' in published_row and "View on Bluesky" in published_row
    assert "<dd>12</dd>" in published_row and "<dd>4</dd>" in published_row
    assert "hx-trigger" not in published_row
    failed_row = html[html.index(f'id="delivery-{failed.code}"') :]
    failed_row = failed_row[: failed_row.index("</tr>")]
    assert "Text is odd" in failed_row
    assert "Attempt log (1)" in failed_row and "Rejected" in failed_row
    assert "Retry</button>" in failed_row

    client.force_login(cast.victor)
    assert "Retry</button>" not in client.get(detail_url(post)).content.decode()
    retry = reverse("posts:retry-delivery", kwargs={"slug": "acme", "code": failed.code})
    assert client.post(retry).status_code == 403

    client.force_login(cast.bob)
    response = client.post(retry, follow=True)
    assert response.redirect_chain[-1][0] == detail_url(post)
    assert 'hx-trigger="every 3s"' in response.content.decode()  # due again: its row polls
    dispatch_and_work()
    failed.refresh_from_db()
    assert failed.status == S.PUBLISHED
    assert [s["text"] for s in fake_mastodon.statuses] == ["Hello both"]


def test_it_offers_approval_actions_only_to_those_who_may_approve(client, cast, mastodon_channel):
    post = compose(cast.carol, cast.workspace, [mastodon_channel], ["Pending"])
    approve = reverse("posts:approve-post", kwargs={"slug": "acme", "code": post.code})
    client.force_login(cast.bob)
    html = client.get(detail_url(post)).content.decode()
    assert f'action="{approve}"' in html and "Send back</button>" in html and "Comment</button>" in html
    client.force_login(cast.carol)
    html = client.get(detail_url(post)).content.decode()
    assert f'action="{approve}"' not in html and "Send back</button>" not in html
    assert "Comment</button>" in html
    client.force_login(cast.victor)
    html = client.get(detail_url(post)).content.decode()
    assert "Approve</button>" not in html and "Comment</button>" not in html


def test_it_approves_and_sends_back_from_the_detail_page(client, cast, mastodon_channel):
    post = compose(cast.carol, cast.workspace, [mastodon_channel], ["Pending"])
    client.force_login(cast.bob)
    send_back = reverse("posts:send-back-post", kwargs={"slug": "acme", "code": post.code})
    response = client.post(send_back, {"comment": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert "<h1>Post" in html and "Say what should change." in html
    response = client.post(send_back, {"comment": "Add the link"}, follow=True)
    assert response.redirect_chain[-1][0] == detail_url(post)
    html = response.content.decode()
    assert "Add the link" in html and "Send back</button>" not in html  # a draft now
    post.refresh_from_db()
    assert post.status == Post.Status.DRAFT


def test_it_shows_the_comment_thread_in_order(client, cast, mastodon_channel):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Talk about me"])
    Comment.objects.create(
        post=post, author=cast.bob, text="First thought", created=now() - timedelta(hours=1)
    )
    Comment.objects.create(post=post, author=cast.carol, text="Second thought")
    client.force_login(cast.victor)
    html = client.get(detail_url(post)).content.decode()
    assert html.index("First thought") < html.index("Second thought")
    assert "<strong>bob</strong>" in html and "<strong>carol</strong>" in html


def test_it_links_to_editing_only_while_nothing_is_out(client, cast, mastodon_channel):
    try:
        reverse("posts:edit", kwargs={"slug": "acme", "code": "00000000-0000-0000-0000-000000000000"})
    except NoReverseMatch:
        pytest.skip("the edit page is not installed")
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Editable"], mode=Post.Mode.DRAFT)
    client.force_login(cast.alice)
    assert "Edit post</a>" in client.get(detail_url(post)).content.decode()
    Delivery.objects.filter(post=post).update(status=S.PUBLISHED)
    assert "Edit post</a>" not in client.get(detail_url(post)).content.decode()


def test_it_gives_404_for_another_workspaces_post(client, cast, mastodon_channel):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Ours"])
    client.force_login(cast.charlie)
    assert client.get(detail_url(post, slug="charlies")).status_code == 404
    assert client.get(detail_url(post)).status_code == 404


def test_it_renders_with_a_constant_number_of_queries(client, cast, make_channel):
    channels = [make_channel(), make_channel(network="bluesky"), make_channel(network="threads")]
    [post] = build_posts(cast.workspace, channels, 1, author=cast.carol)
    build_posts(cast.workspace, channels, 9, author=cast.carol)
    client.force_login(cast.bob)
    few = queries_for(client, detail_url(post))
    dress([post])  # own texts and images
    dress([post])
    build_posts(cast.workspace, channels, 190, author=cast.carol)
    deliveries = list(post.deliveries.all())
    DeliveryAttempt.objects.bulk_create(
        [DeliveryAttempt(delivery=d, number=n, outcome="retry") for d in deliveries for n in range(3, 30)]
    )
    MetricSnapshot.objects.bulk_create(
        [MetricSnapshot(delivery=d, likes=n) for d in deliveries for n in range(30)]
    )
    Comment.objects.bulk_create([Comment(post=post, author=cast.bob, text=f"c{n}") for n in range(30)])
    many = queries_for(client, detail_url(post))
    assert few == many, (few, many)
    assert Post.objects.count() == 200
