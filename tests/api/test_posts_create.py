"""Creating posts through the API: the composer's rules, scheduling modes, and bad input named by field."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils.timezone import now

from posts.models import Delivery, Post, PostingSlot
from tests.api.post_body import body

BERLIN = ZoneInfo("Europe/Berlin")


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
