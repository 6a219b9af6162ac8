"""Excerpts of posts on the lists and in notifications end after a whole word, with an ellipsis."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils.timezone import now

from posts import notify
from posts.models import Delivery, Notification, Post, PostPart, excerpt

# 250 characters, with the old fixed-length cuts of every list (60, 90, 100, 120) inside a word.
LONG = " ".join(["Springtimes"] + ["tulips blossoming extraordinarily"] * 7)


def cut_mid_word(html: str) -> list[str]:
    """Pieces of LONG shown on the page that end inside one of its words."""
    words = set(LONG.split())
    shown = []
    for word in LONG.split():
        for end in range(1, len(word)):
            piece = word[:end]
            if piece not in words and f" {piece}…" in html:
                shown.append(piece)
    return shown


@pytest.mark.parametrize(
    "text, length, expected",
    [
        ("Our spring collection is here", 20, "Our spring…"),
        ("Our spring collection", 21, "Our spring collection"),
        ("Our spring collection is here", 22, "Our spring collection…"),
        ("One, two three", 9, "One, two…"),
        ("Read https://example.org/a/very/long/path", 20, "Read https://exampl…"),
        ("Supercalifragilistic", 10, "Supercali…"),
        ("Line one\n\nline two", 80, "Line one line two"),
        ("", 10, ""),
        (None, 10, ""),
    ],
)
def test_it_cuts_after_a_whole_word(text, length, expected):
    assert excerpt(text, length) == expected
    assert len(excerpt(text, length)) <= length


def make_post(channel, status, text=LONG, **fields):
    post = Post.objects.create(workspace=channel.workspace, status=Post.Status.SCHEDULED, mode=Post.Mode.AT)
    PostPart.objects.create(post=post, index=0, text=text)
    when = now() + timedelta(hours=2)
    defaults = {"scheduled_for": when, "next_attempt_at": when, "published_at": now()}
    return Delivery.objects.create(post=post, channel=channel, status=status, **{**defaults, **fields})


@pytest.mark.parametrize(
    "name, status, params",
    [
        ("posts:queue", Delivery.Status.SCHEDULED, {}),
        ("posts:calendar", Delivery.Status.SCHEDULED, {"view": "week"}),
        ("posts:published", Delivery.Status.PUBLISHED, {}),
        ("posts:failed", Delivery.Status.FAILED, {}),
    ],
)
def test_lists_show_excerpts_that_end_after_a_word(client, cast, make_channel, name, status, params):
    delivery = make_post(make_channel(), status)
    if name == "posts:calendar":
        params["start"] = delivery.scheduled_for.astimezone(cast.workspace.tz).date().isoformat()
    client.force_login(cast.alice)
    response = client.get(reverse(name, kwargs={"slug": "acme"}), params)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Springtimes tulips blossoming" in html and "…" in html
    assert LONG not in html
    assert cut_mid_word(html) == []


def test_the_calendars_move_panel_shows_an_excerpt_that_ends_after_a_word(client, cast, make_channel):
    delivery = make_post(make_channel(), Delivery.Status.SCHEDULED)
    client.force_login(cast.alice)
    day = delivery.scheduled_for.astimezone(cast.workspace.tz).date().isoformat()
    html = client.get(
        reverse("posts:calendar", kwargs={"slug": "acme"}), {"start": day, "move": str(delivery.code)}
    ).content.decode()
    assert "Move “Springtimes tulips" in html
    assert cut_mid_word(html) == []


def test_a_channels_own_text_is_the_excerpt_of_its_delivery(client, cast, make_channel):
    make_post(make_channel(), Delivery.Status.PUBLISHED, text="Main", text_overrides=[LONG])
    client.force_login(cast.alice)
    html = client.get(reverse("posts:published", kwargs={"slug": "acme"})).content.decode()
    assert "Springtimes tulips blossoming" in html and cut_mid_word(html) == []


def test_the_approvals_page_titles_end_after_a_word(client, cast, make_channel):
    delivery = make_post(make_channel(), Delivery.Status.DRAFT)
    Post.objects.filter(pk=delivery.post_id).update(status=Post.Status.PENDING_APPROVAL, author=cast.carol)
    client.force_login(cast.bob)
    html = client.get(reverse("posts:approvals", kwargs={"slug": "acme"})).content.decode()
    title = html[html.index('<h2 id="post-') :]
    title = title[: title.index("</h2>")]
    assert "Springtimes tulips blossoming" in title and "…" in title and cut_mid_word(title) == []


def test_notification_messages_quote_whole_words(cast, make_channel):
    delivery = make_post(make_channel(), Delivery.Status.FAILED, last_error="The network said no.")
    Post.objects.filter(pk=delivery.post_id).update(author=cast.carol)
    delivery = Delivery.objects.select_related("post__workspace", "channel").get(pk=delivery.pk)
    notify.delivery_failed(delivery)
    message = Notification.objects.filter(user=cast.carol).get().message
    assert "“Springtimes tulips blossoming" in message and "…”" in message
    assert cut_mid_word(message) == []


def test_the_overviews_late_and_next_posts_end_after_a_word(client, cast, make_channel):
    channel = make_channel()
    make_post(channel, Delivery.Status.SCHEDULED)
    late = now() - timedelta(minutes=10)
    make_post(channel, Delivery.Status.SCHEDULED, scheduled_for=late, next_attempt_at=late)
    client.force_login(cast.alice)
    response = client.get(reverse("workspaces:overview", kwargs={"slug": "acme"}))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Posts are late" in html
    assert html.count("Springtimes tulips blossoming") >= 2 and "…" in html
    assert cut_mid_word(html) == []


def test_the_apis_queue_excerpts_end_after_a_word(client, cast, make_channel):
    from api.models import APIToken

    channel = make_channel()
    make_post(channel, Delivery.Status.SCHEDULED, text="A " + LONG, in_queue=True)
    _, secret = APIToken.issue(workspace=cast.workspace, user=cast.alice, name="excerpts")
    response = client.get(
        f"/api/v1/channels/{channel.code}/queue", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 200
    (item,) = response.json()["items"]
    assert item["excerpt"].startswith("A Springtimes tulips") and item["excerpt"].endswith("…")
    assert cut_mid_word(" " + item["excerpt"]) == []
