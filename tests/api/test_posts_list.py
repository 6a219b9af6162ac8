"""Listing posts through the API: filters, pages, refused filters, the queries it costs, and drafts
(whatever leaves a post unscheduled lists it under status=draft)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.timezone import now

from posts import composing
from posts.models import Post
from tests.posts.engine import compose
from workspaces.models import Membership


def test_it_lists_posts_with_filters(alice_api, cast, mastodon_channel, bluesky_channel):
    soon = now() + timedelta(days=1)
    later = now() + timedelta(days=10)
    compose(cast.alice, cast.workspace, [mastodon_channel], ["draft"], mode=Post.Mode.DRAFT)
    compose(cast.alice, cast.workspace, [mastodon_channel], ["soon"], mode=Post.Mode.AT, scheduled_at=soon)
    compose(cast.alice, cast.workspace, [bluesky_channel], ["later"], mode=Post.Mode.AT, scheduled_at=later)

    def texts(**params):
        response = alice_api.get("/api/v1/posts", params)
        assert response.status_code == 200, response.content
        return sorted(p["parts"][0]["text"] for p in response.json()["items"])

    assert texts() == ["draft", "later", "soon"]
    assert texts(status="scheduled") == ["later", "soon"]
    assert texts(status=["draft", "scheduled"]) == ["draft", "later", "soon"]
    assert texts(channel=str(bluesky_channel.code)) == ["later"]
    assert texts(after=(soon + timedelta(days=1)).isoformat()) == ["later"]
    assert texts(before=(soon + timedelta(days=1)).isoformat()) == ["soon"]
    assert texts(channel=str(mastodon_channel.code), status="scheduled") == ["soon"]


def test_it_pages_through_posts(alice_api, cast, mastodon_channel):
    for n in range(5):
        compose(cast.alice, cast.workspace, [mastodon_channel], [f"post {n}"], mode=Post.Mode.DRAFT)
    first = alice_api.get("/api/v1/posts", {"limit": 2}).json()
    assert first["count"] == 5 and len(first["items"]) == 2 and first["next_offset"] == 2
    last = alice_api.get("/api/v1/posts", {"limit": 2, "offset": 4}).json()
    assert len(last["items"]) == 1 and last["next_offset"] is None
    assert first["items"][0]["parts"][0]["text"] == "post 4"  # newest first


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status.0"),
        ({"channel": "not-a-uuid"}, "channel"),
        ({"channel": "00000000-0000-0000-0000-000000000000"}, "channel"),
        ({"after": "yesterday"}, "after"),
        ({"after": "9999-12-31T23:59:59"}, "after"),
        ({"limit": 10**12}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
def test_it_refuses_bad_filters_with_the_field_named(alice_api, params, field):
    response = alice_api.get("/api/v1/posts", params)
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]


def _make_posts(cast, channel, count):
    for n in range(count):
        compose(
            cast.alice,
            cast.workspace,
            [channel],
            [f"post {n}"],
            mode=Post.Mode.AT,
            scheduled_at=now() + timedelta(hours=n + 1),
        )


def test_it_lists_posts_with_a_fixed_number_of_queries(alice_api, cast, mastodon_channel, bluesky_channel):
    alice_api.get("/api/v1/me")  # the token's first use writes last_used

    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = alice_api.get("/api/v1/posts", {"limit": 200})
        assert response.status_code == 200
        return len(captured), response.json()["count"]

    _make_posts(cast, mastodon_channel, 10)
    few, count = queries()
    assert count == 10
    _make_posts(cast, bluesky_channel, 190)
    many, count = queries()
    assert count == 200
    assert few == many


def test_unscheduled_and_sent_back_posts_are_listed_as_drafts(alice_api, cast, mastodon_channel):
    soon = now() + timedelta(days=1)
    unscheduled = compose(
        cast.alice, cast.workspace, [mastodon_channel], ["unscheduled"], mode=Post.Mode.AT, scheduled_at=soon
    )
    composing.cancel(unscheduled)
    sent_back = compose(cast.carol, cast.workspace, [mastodon_channel], ["sent back"], mode=Post.Mode.NOW)
    composing.send_back(sent_back, Membership.objects.get(user=cast.bob), "Not like this.")
    compose(
        cast.alice, cast.workspace, [mastodon_channel], ["scheduled"], mode=Post.Mode.AT, scheduled_at=soon
    )
    compose(cast.carol, cast.workspace, [mastodon_channel], ["waiting"], mode=Post.Mode.NOW)

    response = alice_api.get("/api/v1/posts", {"status": "draft"})

    assert response.status_code == 200, response.content
    items = {p["parts"][0]["text"]: p for p in response.json()["items"]}
    assert sorted(items) == ["sent back", "unscheduled"]
    assert items["unscheduled"]["deliveries"][0]["scheduled_for"] is None  # unscheduling clears the time
    assert all(p["status"] == "draft" for p in items.values())
