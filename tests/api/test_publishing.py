"""A post made through the API goes out through the engine, and the API shows how it went."""

import pytest

from posts.models import Delivery
from tests.posts.engine import dispatch_and_work

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def engine_settings(settings):
    settings.PUBLISH_RETRY_BASE = 0.5
    settings.PUBLISH_MAX_ATTEMPTS = 3


def test_it_publishes_a_post_and_shows_each_deliverys_result(
    alice_api, mastodon_channel, bluesky_channel, threads_channel, fake_mastodon, fake_bluesky, fake_threads
):
    channels = [mastodon_channel, bluesky_channel, threads_channel]
    response = alice_api.post(
        "/api/v1/posts",
        {
            "channels": [str(c.code) for c in channels],
            "parts": [{"text": "Hello from the API"}, {"text": "and a second part"}],
            "mode": "now",
        },
    )
    assert response.status_code == 201, response.content
    code = response.json()["code"]
    assert {d["status"] for d in response.json()["deliveries"]} == {"scheduled"}

    dispatch_and_work()

    post = alice_api.get(f"/api/v1/posts/{code}").json()
    assert post["status"] == "published"
    assert [s["text"] for s in fake_mastodon.statuses] == ["Hello from the API", "and a second part"]
    assert [p["value"]["text"] for p in fake_bluesky.posts()] == ["Hello from the API", "and a second part"]
    assert [p["text"] for p in fake_threads.posts] == ["Hello from the API", "and a second part"]
    for delivery in post["deliveries"]:
        assert delivery["status"] == "published"
        assert delivery["published_at"]
        assert delivery["remote_url"].startswith("http")
        assert len(delivery["remote_urls"]) == 2
        assert delivery["remote_url"] == delivery["remote_urls"][0]

    mastodon = next(d for d in post["deliveries"] if d["network"] == "mastodon")
    detail = alice_api.get(f"/api/v1/deliveries/{mastodon['code']}").json()
    assert detail["attempts"] == 1
    assert [a["outcome"] for a in detail["attempt_log"]] == ["published"]
    assert detail["remote_url"].endswith("/" + str(fake_mastodon.statuses[0]["id"]))

    published = alice_api.get("/api/v1/posts", {"status": "published"}).json()
    assert [p["code"] for p in published["items"]] == [code]


def test_it_shows_a_failure_and_retries_it(make_api, cast, mastodon_channel, fake_mastodon):
    alice = make_api(cast.alice)
    code = alice.post(
        "/api/v1/posts",
        {"channels": [str(mastodon_channel.code)], "parts": [{"text": "Fine by our count"}], "mode": "now"},
    ).json()["code"]
    fake_mastodon.fail_next(
        422, count=1, path="/api/v1/statuses", error="Validation failed: Text contains spam"
    )
    dispatch_and_work()

    failed = alice.get("/api/v1/deliveries", {"status": "failed"}).json()
    assert failed["count"] == 1
    delivery = failed["items"][0]
    assert delivery["post"] == code
    assert "spam" in delivery["last_error"]
    assert alice.get(f"/api/v1/posts/{code}").json()["status"] == "failed"

    # Contributors cannot retry (it publishes); editors can.
    carol = make_api(cast.carol)
    assert carol.post(f"/api/v1/deliveries/{delivery['code']}/retry").status_code == 403
    bob = make_api(cast.bob)
    retried = bob.post(f"/api/v1/deliveries/{delivery['code']}/retry")
    assert retried.status_code == 200, retried.content
    assert retried.json()["status"] == "scheduled"
    assert retried.json()["last_error"] == ""

    dispatch_and_work()
    assert Delivery.objects.get(code=delivery["code"]).status == Delivery.Status.PUBLISHED
    assert [s["text"] for s in fake_mastodon.statuses] == ["Fine by our count"]
    # A published delivery cannot be retried.
    again = bob.post(f"/api/v1/deliveries/{delivery['code']}/retry")
    assert again.status_code == 409
    assert "failed" in again.json()["error"]


def test_it_refuses_changes_once_published(alice_api, mastodon_channel, fake_mastodon):
    code = alice_api.post(
        "/api/v1/posts",
        {"channels": [str(mastodon_channel.code)], "parts": [{"text": "Out it goes"}], "mode": "now"},
    ).json()["code"]
    dispatch_and_work()
    changed = alice_api.patch(f"/api/v1/posts/{code}", {"parts": [{"text": "Too late"}]})
    assert changed.status_code == 409
    assert "published" in changed.json()["error"]
    assert alice_api.delete(f"/api/v1/posts/{code}").status_code == 409
    assert alice_api.get(f"/api/v1/posts/{code}").json()["parts"][0]["text"] == "Out it goes"
