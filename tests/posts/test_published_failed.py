"""The published and failed pages: links and metrics, why a delivery failed, retries, the channel filter."""

from datetime import timedelta

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils.timezone import now

from channels.models import Channel
from posts.models import Delivery, MetricSnapshot, Post, PostPart
from tests.posts.engine import compose, dispatch_and_work
from tests.posts.review import S, build_posts, page, url


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
    assert "link the post if it is there, or post it if it isn&#x27;t." in unsure_card
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
