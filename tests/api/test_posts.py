"""Posts through the API: the composer's rules, scheduling modes, filters, updates, deletes."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.timezone import now

from posts import composing, scheduling
from posts.models import Delivery, Post, PostingSlot
from tests.posts.engine import compose
from workspaces.models import Membership

BERLIN = ZoneInfo("Europe/Berlin")


def body(channels, *texts, **fields):
    return {"channels": [str(c.code) for c in channels], "parts": [{"text": t} for t in texts], **fields}


def test_it_creates_a_draft(alice_api, mastodon_channel):
    response = alice_api.post("/api/v1/posts", body([mastodon_channel], "Just an idea"))
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "draft"
    assert data["mode"] == "draft"
    assert data["parts"][0]["text"] == "Just an idea"
    assert data["channels"] == [str(mastodon_channel.code)]
    assert data["dashboard_url"].endswith(f"/w/acme/posts/{data['code']}/")
    post = Post.objects.get(code=data["code"])
    assert post.author == mastodon_channel.workspace.memberships.get(role="owner").user


def test_it_schedules_a_naive_time_in_the_workspace_zone(alice_api, mastodon_channel):
    day = (now() + timedelta(days=3)).astimezone(BERLIN).date()
    local = datetime.combine(day, time(9, 30))
    response = alice_api.post(
        "/api/v1/posts",
        body([mastodon_channel], "At half past nine", mode="at", scheduled_at=local.isoformat()),
    )
    assert response.status_code == 201, response.content
    delivery = Delivery.objects.get(post__code=response.json()["code"])
    assert delivery.status == Delivery.Status.SCHEDULED
    assert delivery.scheduled_for == local.replace(tzinfo=BERLIN).astimezone(UTC)
    assert response.json()["deliveries"][0]["scheduled_for"].endswith("Z")


def test_it_schedules_a_time_with_an_offset_or_a_stated_zone(alice_api, mastodon_channel):
    at = (now() + timedelta(days=2)).replace(microsecond=0)
    with_offset = at.astimezone(ZoneInfo("Asia/Kolkata")).isoformat()
    first = alice_api.post(
        "/api/v1/posts", body([mastodon_channel], "a", mode="at", scheduled_at=with_offset)
    )
    assert Delivery.objects.get(post__code=first.json()["code"]).scheduled_for == at
    local = at.astimezone(ZoneInfo("America/New_York")).replace(tzinfo=None).isoformat()
    second = alice_api.post(
        "/api/v1/posts",
        body([mastodon_channel], "b", mode="at", scheduled_at=local, timezone="America/New_York"),
    )
    assert Delivery.objects.get(post__code=second.json()["code"]).scheduled_for == at


def test_it_refuses_a_time_in_the_past_with_the_field_named(alice_api, mastodon_channel):
    past = (now() - timedelta(hours=2)).isoformat()
    response = alice_api.post("/api/v1/posts", body([mastodon_channel], "late", mode="at", scheduled_at=past))
    assert response.status_code == 400
    assert "passed" in response.json()["fields"]["scheduled_at"][0]
    assert not Post.objects.exists()


def test_it_adds_to_the_queue_at_the_next_free_slot(alice_api, mastodon_channel):
    PostingSlot.objects.create(channel=mastodon_channel, weekday=0, time=time(9, 0))
    PostingSlot.objects.create(channel=mastodon_channel, weekday=3, time=time(15, 0))
    first = alice_api.post("/api/v1/posts", body([mastodon_channel], "one", mode="queue")).json()
    second = alice_api.post("/api/v1/posts", body([mastodon_channel], "two", mode="queue")).json()
    times = [datetime.fromisoformat(p["deliveries"][0]["scheduled_for"]) for p in (first, second)]
    assert times[0] < times[1]
    assert {t.astimezone(BERLIN).strftime("%a %H:%M") for t in times} == {"Mon 09:00", "Thu 15:00"}
    assert all(p["deliveries"][0]["in_queue"] for p in (first, second))


def test_it_refuses_queueing_on_a_channel_without_posting_times(alice_api, mastodon_channel):
    response = alice_api.post("/api/v1/posts", body([mastodon_channel], "one", mode="queue"))
    assert response.status_code == 400
    assert "posting times" in response.json()["fields"]["channels"][0]


def test_it_validates_each_channel_by_its_networks_rules(alice_api, mastodon_channel, bluesky_channel):
    text = "word " * 70  # 350 characters: fine on Mastodon (500), too long for Bluesky (300)
    response = alice_api.post("/api/v1/posts", body([mastodon_channel, bluesky_channel], text, mode="now"))
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert list(fields) == [f"channel:{bluesky_channel.code}"]
    assert "300" in fields[f"channel:{bluesky_channel.code}"][0]
    assert not Post.objects.exists()


def test_it_applies_per_channel_overrides_and_options(alice_api, mastodon_channel, bluesky_channel):
    text = "word " * 70
    response = alice_api.post(
        "/api/v1/posts",
        body(
            [mastodon_channel, bluesky_channel],
            text,
            mode="draft",
            overrides={str(bluesky_channel.code): ["Short for Bluesky"]},
            options={"content_warning": "spoilers", "visibility": "unlisted", "language": "en"},
        ),
    )
    assert response.status_code == 201, response.content
    post = Post.objects.get(code=response.json()["code"])
    assert post.options["content_warning"] == "spoilers"
    assert post.options["visibility"] == "unlisted"
    assert post.deliveries.get(channel=bluesky_channel).text_overrides == ["Short for Bluesky"]
    # Scheduling it now passes Bluesky's limit thanks to the override.
    scheduled = alice_api.patch(f"/api/v1/posts/{post.code}", {"mode": "now"})
    assert scheduled.status_code == 200, scheduled.content
    assert scheduled.json()["status"] == "scheduled"


def test_it_names_unknown_channels_and_channels_of_other_workspaces(alice_api, cast, make_channel):
    foreign = make_channel(workspace=cast.other)
    response = alice_api.post(
        "/api/v1/posts",
        {"channels": [str(foreign.code), "00000000-0000-0000-0000-000000000000"], "parts": [{"text": "x"}]},
    )
    assert response.status_code == 400
    assert len(response.json()["fields"]["channels"]) == 2
    assert str(foreign.code) in response.json()["fields"]["channels"][0]


def test_it_refuses_overrides_for_channels_not_in_the_post(alice_api, mastodon_channel, bluesky_channel):
    response = alice_api.post(
        "/api/v1/posts",
        body([mastodon_channel], "x", overrides={str(bluesky_channel.code): ["y"]}),
    )
    assert response.status_code == 400
    assert f"overrides.{bluesky_channel.code}" in response.json()["fields"]


def test_it_submits_a_contributors_post_for_approval(make_api, cast, mastodon_channel):
    carol = make_api(cast.carol)
    response = carol.post("/api/v1/posts", body([mastodon_channel], "Please approve", mode="now"))
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "pending_approval"
    assert Delivery.objects.get().status == Delivery.Status.DRAFT


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


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"channels": "all", "parts": [{"text": "x"}]}, "channels"),
        ({"channels": [], "parts": []}, "parts"),
        ({"channels": [], "parts": [{"text": 12}]}, "parts.0.text"),
        ({"channels": [], "parts": [{"text": "x" * 20_001}]}, "parts.0.text"),
        ({"channels": [], "parts": [{"text": "nul \u0000 byte"}]}, "parts.0.text"),
        ({"channels": [], "parts": [{"text": "x"}] * 51}, "parts"),
        ({"channels": [], "parts": [{"text": "x"}], "mode": "later"}, "mode"),
        (
            {"channels": [], "parts": [{"text": "x"}], "mode": "at", "scheduled_at": "9999-01-01T00:00"},
            "scheduled_at",
        ),
        ({"channels": [], "parts": [{"text": "x"}], "mode": "at", "scheduled_at": 10**30}, "scheduled_at"),
        (
            {"channels": [], "parts": [{"text": "x"}], "options": {"visibility": "everyone"}},
            "options.visibility",
        ),
        ({"channels": [], "parts": [{"text": "x"}], "colour": "red"}, "colour"),
        ({"channels": [], "parts": [{"text": "x", "media": [{"code": "nope"}]}]}, "parts.0.media.0.code"),
        ([1, 2, 3], "body"),
    ],
)
def test_it_refuses_bad_input_with_a_field_map(alice_api, payload, field):
    response = alice_api.post("/api/v1/posts", payload)
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["error"]
    assert field in data["fields"], data


@pytest.mark.parametrize(
    "raw", ["{not json", "", "null", '"text"', "[", '{"parts": [{"text": "\\ud800"}], "channels": []}']
)
def test_it_answers_malformed_json_with_400_json(alice_api, raw):
    response = alice_api.post("/api/v1/posts", raw=raw)
    assert response.status_code == 400, response.content
    assert response.json()["error"]


def test_it_answers_a_huge_body_with_413(alice_api):
    response = alice_api.post("/api/v1/posts", raw='{"parts": [{"text": "' + "x" * 3_000_000 + '"}]}')
    assert response.status_code == 413
    assert response.json()["error"]


# Drafts: whatever leaves a post unscheduled lists it under status=draft; an edit keeps the times.


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
