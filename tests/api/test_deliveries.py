"""Deliveries: one post on one channel, listed and read with their status, attempts and errors."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.timezone import now

from posts.models import Delivery, DeliveryAttempt, Post
from tests.posts.engine import compose


def test_it_lists_deliveries_with_filters(alice_api, cast, make_channel):
    first, second = make_channel(), make_channel(network="bluesky")
    soon = now() + timedelta(hours=2)
    post = compose(
        cast.alice, cast.workspace, [first, second], ["Both"], mode=Post.Mode.AT, scheduled_at=soon
    )
    compose(cast.alice, cast.workspace, [first], ["Draft"], mode=Post.Mode.DRAFT)
    Delivery.objects.filter(post=post, channel=second).update(
        status=Delivery.Status.FAILED, last_error="Bluesky rejected the post: too long."
    )

    def listed(**params):
        response = alice_api.get("/api/v1/deliveries", params)
        assert response.status_code == 200, response.content
        return response.json()

    assert listed()["count"] == 3
    failed = listed(status="failed")["items"]
    assert [d["channel"] for d in failed] == [str(second.code)]
    assert failed[0]["last_error"] == "Bluesky rejected the post: too long."
    assert listed(channel=str(first.code))["count"] == 2
    assert listed(post=str(post.code))["count"] == 2
    assert listed(after=(soon - timedelta(minutes=1)).isoformat(), status="scheduled")["count"] == 1
    assert listed(before=(soon - timedelta(minutes=1)).isoformat())["count"] == 0


def test_it_shows_a_deliverys_attempts(alice_api, cast, make_channel):
    post = compose(cast.alice, cast.workspace, [make_channel()], ["x"], mode=Post.Mode.NOW)
    delivery = post.deliveries.get()
    DeliveryAttempt.objects.create(
        delivery=delivery, number=1, outcome=DeliveryAttempt.Outcome.RETRY, message="Mastodon is down (502)."
    )
    data = alice_api.get(f"/api/v1/deliveries/{delivery.code}").json()
    assert data["post"] == str(post.code)
    assert data["attempt_log"] == [
        {
            "number": 1,
            "started": data["attempt_log"][0]["started"],
            "finished": None,
            "outcome": "retry",
            "message": "Mastodon is down (502).",
            "part": None,
        }
    ]


def test_it_hides_other_workspaces_deliveries(charlie_api, cast, make_channel):
    post = compose(cast.alice, cast.workspace, [make_channel()], ["x"], mode=Post.Mode.NOW)
    delivery = post.deliveries.get()
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED)
    assert charlie_api.get(f"/api/v1/deliveries/{delivery.code}").status_code == 404
    assert charlie_api.post(f"/api/v1/deliveries/{delivery.code}/retry").status_code == 404
    assert charlie_api.get("/api/v1/deliveries").json()["count"] == 0
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.FAILED


def test_it_lets_a_viewer_read_but_not_retry(victor_api, cast, make_channel):
    post = compose(cast.alice, cast.workspace, [make_channel()], ["x"], mode=Post.Mode.NOW)
    delivery = post.deliveries.get()
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED)
    assert victor_api.get(f"/api/v1/deliveries/{delivery.code}").status_code == 200
    response = victor_api.post(f"/api/v1/deliveries/{delivery.code}/retry")
    assert response.status_code == 403
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.FAILED


def test_it_lists_deliveries_with_a_fixed_number_of_queries(alice_api, cast, make_channel):
    channels = [make_channel(), make_channel(network="bluesky")]
    alice_api.get("/api/v1/me")

    def add(count):
        for n in range(count):
            compose(cast.alice, cast.workspace, channels, [f"p{n}"], mode=Post.Mode.DRAFT)

    def measure():
        with CaptureQueriesContext(connection) as captured:
            response = alice_api.get("/api/v1/deliveries", {"limit": 200})
        return len(captured), len(response.json()["items"])

    add(5)
    few, count = measure()
    assert count == 10
    add(95)
    many, count = measure()
    assert count == 200
    assert few == many
