"""Changing and deleting posts through the API: updates validated like creates, times kept by an
edit, and who may read, change or delete which post."""

from datetime import time, timedelta

from django.utils.timezone import now

from posts import composing, scheduling
from posts.models import Delivery, Post, PostingSlot
from tests.api.post_body import body
from tests.posts.engine import compose
from workspaces.models import Membership


def test_it_lets_a_viewer_read_but_not_write(victor_api, alice_api, mastodon_channel):
    created = alice_api.post("/api/v1/posts", body([mastodon_channel], "x")).json()
    assert victor_api.get(f"/api/v1/posts/{created['code']}").status_code == 200
    response = victor_api.post("/api/v1/posts", body([mastodon_channel], "y"))
    assert response.status_code == 403
    assert "Viewer" in response.json()["error"]
    assert victor_api.patch(f"/api/v1/posts/{created['code']}", {"parts": [{"text": "z"}]}).status_code == 403
    assert victor_api.delete(f"/api/v1/posts/{created['code']}").status_code == 403
    assert Post.objects.count() == 1


def test_it_hides_other_workspaces_posts(charlie_api, alice_api, mastodon_channel):
    code = alice_api.post("/api/v1/posts", body([mastodon_channel], "x")).json()["code"]
    assert charlie_api.get(f"/api/v1/posts/{code}").status_code == 404
    assert charlie_api.patch(f"/api/v1/posts/{code}", {"parts": [{"text": "mine"}]}).status_code == 404
    assert charlie_api.delete(f"/api/v1/posts/{code}").status_code == 404
    assert charlie_api.get("/api/v1/posts").json()["count"] == 0
    assert Post.objects.get(code=code).parts.get().text == "x"


def test_it_updates_a_post_while_it_is_not_published(alice_api, mastodon_channel):
    code = alice_api.post("/api/v1/posts", body([mastodon_channel], "First version")).json()["code"]
    response = alice_api.patch(f"/api/v1/posts/{code}", {"parts": [{"text": "Second"}, {"text": "Thread"}]})
    assert response.status_code == 200, response.content
    assert [p["text"] for p in response.json()["parts"]] == ["Second", "Thread"]
    assert response.json()["channels"] == [str(mastodon_channel.code)]  # kept
    assert response.json()["status"] == "draft"


def test_it_validates_updates_like_creates(alice_api, bluesky_channel):
    code = alice_api.post("/api/v1/posts", body([bluesky_channel], "short")).json()["code"]
    response = alice_api.patch(f"/api/v1/posts/{code}", {"parts": [{"text": "x" * 400}], "mode": "now"})
    assert response.status_code == 400
    assert f"channel:{bluesky_channel.code}" in response.json()["fields"]
    assert Post.objects.get(code=code).parts.get().text == "short"


def test_it_deletes_an_unpublished_post(alice_api, mastodon_channel):
    code = alice_api.post("/api/v1/posts", body([mastodon_channel], "gone soon")).json()["code"]
    response = alice_api.delete(f"/api/v1/posts/{code}")
    assert response.status_code == 204
    assert not Post.objects.filter(code=code).exists()
    assert alice_api.get(f"/api/v1/posts/{code}").status_code == 404


def test_a_contributor_may_not_delete_their_post_once_approved_as_in_the_dashboard(
    make_api, cast, mastodon_channel
):
    carol = make_api(cast.carol)
    code = carol.post("/api/v1/posts", body([mastodon_channel], "mine", mode="now")).json()["code"]
    post = Post.objects.get(code=code)
    assert post.status == Post.Status.PENDING_APPROVAL
    composing.approve(post, Membership.objects.get(user=cast.bob, workspace=cast.workspace))
    response = carol.delete(f"/api/v1/posts/{code}")
    assert response.status_code == 403
    assert Post.objects.filter(code=code).exists()


def test_a_patch_without_mode_keeps_each_deliverys_time_and_code(
    alice_api, cast, mastodon_channel, bluesky_channel
):
    for channel in (mastodon_channel, bluesky_channel):
        for weekday in range(7):
            PostingSlot.objects.create(channel=channel, weekday=weekday, time=time(9, 0))
    created = alice_api.post(
        "/api/v1/posts", body([mastodon_channel, bluesky_channel], "Queued twice", mode="queue")
    ).json()
    deliveries = {d.channel_id: d for d in Delivery.objects.filter(post__code=created["code"])}
    moved = deliveries[mastodon_channel.pk]
    dragged = moved.scheduled_for + timedelta(days=1, hours=5)
    scheduling.reschedule(moved, dragged)  # as the calendar's drag does
    before = {
        d.code: (d.scheduled_for, d.in_queue) for d in Delivery.objects.filter(post__code=created["code"])
    }
    assert before[moved.code] == (dragged, False) and before[deliveries[bluesky_channel.pk].code][1]

    response = alice_api.patch(f"/api/v1/posts/{created['code']}", {"parts": [{"text": "Queued, edited"}]})

    assert response.status_code == 200, response.content
    after = {
        d.code: (d.scheduled_for, d.in_queue) for d in Delivery.objects.filter(post__code=created["code"])
    }
    assert after == before
    assert {d["code"] for d in response.json()["deliveries"]} == {str(code) for code in before}
    assert all(d["status"] == "scheduled" for d in response.json()["deliveries"])
    assert Post.objects.get(code=created["code"]).parts.get().text == "Queued, edited"

    at = (now() + timedelta(days=4)).replace(second=0, microsecond=0)
    response = alice_api.patch(
        f"/api/v1/posts/{created['code']}", {"mode": "at", "scheduled_at": at.isoformat()}
    )

    assert response.status_code == 200, response.content
    moved_all = {
        d.code: (d.scheduled_for, d.in_queue, d.status)
        for d in Delivery.objects.filter(post__code=created["code"])
    }
    assert moved_all == {code: (at, False, Delivery.Status.SCHEDULED) for code in before}


def test_a_contributor_changes_and_deletes_only_their_own_posts(make_api, cast, mastodon_channel):
    carol = make_api(cast.carol)
    theirs = compose(cast.bob, cast.workspace, [mastodon_channel], ["Bob's"], mode=Post.Mode.DRAFT)
    mine = compose(cast.carol, cast.workspace, [mastodon_channel], ["Carol's"], mode=Post.Mode.DRAFT)

    assert carol.patch(f"/api/v1/posts/{theirs.code}", {"parts": [{"text": "Rewritten"}]}).status_code == 403
    assert carol.delete(f"/api/v1/posts/{theirs.code}").status_code == 403
    assert list(theirs.parts.values_list("text", flat=True)) == ["Bob's"]

    assert carol.patch(f"/api/v1/posts/{mine.code}", {"parts": [{"text": "Better"}]}).status_code == 200
    assert carol.delete(f"/api/v1/posts/{mine.code}").status_code == 204
    assert not Post.objects.filter(pk=mine.pk).exists()
