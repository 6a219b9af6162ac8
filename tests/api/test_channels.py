"""Channels through the API: list with status and limits, connect, posting schedule and queue."""

from datetime import time, timedelta
from time import monotonic
from zoneinfo import ZoneInfo

import pytest

from channels.models import Channel
from posts.models import Delivery, Post, PostingSlot
from tests.fakes.stalling import StallingServer
from tests.networks.bluesky.fake import ALICE, ALICE_DID, APP_PASSWORD
from tests.posts.engine import compose


def test_it_lists_channels_with_status_and_limits_but_no_secrets(alice_api, mastodon_channel, fake_mastodon):
    Channel.objects.filter(pk=mastodon_channel.pk).update(status=Channel.Status.PAUSED)
    response = alice_api.get("/api/v1/channels")
    assert response.status_code == 200
    [channel] = response.json()
    assert channel["code"] == str(mastodon_channel.code)
    assert channel["status"] == "paused"
    assert channel["network"] == "mastodon"
    assert channel["limits"]["max_characters"] == 500
    assert channel["timezone"] == "Europe/Berlin"
    assert fake_mastodon.token not in response.content.decode()
    assert "credentials" not in channel and "access_token" not in response.content.decode()


def test_it_hides_other_workspaces_channels(charlie_api, mastodon_channel):
    assert charlie_api.get("/api/v1/channels").json() == []
    for path in ("", "/schedule", "/queue"):
        assert charlie_api.get(f"/api/v1/channels/{mastodon_channel.code}{path}").status_code == 404
    assert (
        charlie_api.put(f"/api/v1/channels/{mastodon_channel.code}/schedule", {"slots": []}).status_code
        == 404
    )


def test_it_connects_a_bluesky_account_with_an_app_password(alice_api, fake_bluesky, cast):
    payload = {
        "network": "bluesky",
        "handle": ALICE,
        "app_password": APP_PASSWORD,
        "pds_url": fake_bluesky.url,
    }
    response = alice_api.post("/api/v1/channels", payload)
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["network"], data["handle"], data["status"]) == ("bluesky", ALICE, "active")
    channel = Channel.objects.get(code=data["code"])
    assert channel.workspace == cast.workspace and channel.remote_id == ALICE_DID
    assert APP_PASSWORD not in response.content.decode()
    # Connecting the same account again reconnects it instead of adding a second channel.
    again = alice_api.post("/api/v1/channels", payload)
    assert again.status_code == 200
    assert again.json()["code"] == data["code"]
    assert Channel.objects.count() == 1


def test_it_names_the_field_when_bluesky_refuses(alice_api, fake_bluesky):
    payload = {
        "network": "bluesky",
        "handle": ALICE,
        "app_password": "wrong-pass-word-here",
        "pds_url": fake_bluesky.url,
    }
    response = alice_api.post("/api/v1/channels", payload)
    assert response.status_code == 400
    assert "app_password" in response.json()["fields"]
    assert not Channel.objects.exists()


def test_it_connects_a_mastodon_account_with_a_token(alice_api, fake_mastodon):
    response = alice_api.post(
        "/api/v1/channels",
        {"network": "mastodon", "instance_url": fake_mastodon.url, "access_token": fake_mastodon.token},
    )
    assert response.status_code == 201, response.content
    assert response.json()["handle"].startswith("@alice@")
    assert response.json()["limits"]["max_characters"] == fake_mastodon.max_characters
    bad = alice_api.post(
        "/api/v1/channels",
        {"network": "mastodon", "instance_url": fake_mastodon.url, "access_token": "revoked-token-value-123"},
    )
    assert bad.status_code == 400
    assert "access_token" in bad.json()["fields"]


def test_it_connects_a_threads_account_with_a_token(alice_api, fake_threads):
    response = alice_api.post(
        "/api/v1/channels", {"network": "threads", "access_token": fake_threads.issue_token()}
    )
    assert response.status_code == 201, response.content
    assert response.json()["network"] == "threads"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"network": "myspace", "access_token": "x"}, "network"),
        ({"network": "mastodon", "access_token": "x"}, "instance_url"),
        ({"network": "bluesky", "handle": "", "app_password": "x"}, "handle"),
        ({}, "network"),
    ],
)
def test_it_refuses_incomplete_connections(alice_api, payload, field):
    response = alice_api.post("/api/v1/channels", payload)
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"], response.json()


def test_it_lets_only_channel_managers_connect(make_api, cast, fake_mastodon):
    payload = {"network": "mastodon", "instance_url": fake_mastodon.url, "access_token": fake_mastodon.token}
    for user in (cast.bob, cast.carol, cast.victor):
        assert make_api(user).post("/api/v1/channels", payload).status_code == 403
    assert not Channel.objects.exists()


def test_it_reads_and_replaces_the_posting_schedule(alice_api, make_channel):
    channel = make_channel()
    PostingSlot.objects.create(channel=channel, weekday=0, time=time(9, 0))
    assert alice_api.get(f"/api/v1/channels/{channel.code}/schedule").json() == {
        "channel": str(channel.code),
        "timezone": "Europe/Berlin",
        "slots": [{"weekday": 0, "time": "09:00"}],
    }
    response = alice_api.put(
        f"/api/v1/channels/{channel.code}/schedule",
        {
            "slots": [{"weekday": 4, "time": "17:30"}, {"weekday": 1, "time": "08:00"}],
            "timezone": "Asia/Tokyo",
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["slots"] == [{"weekday": 1, "time": "08:00"}, {"weekday": 4, "time": "17:30"}]
    assert response.json()["timezone"] == "Asia/Tokyo"
    assert set(PostingSlot.objects.filter(channel=channel).values_list("weekday", flat=True)) == {1, 4}


def test_it_reslots_the_queue_when_the_schedule_changes(alice_api, cast, make_channel):
    channel = make_channel()
    PostingSlot.objects.create(channel=channel, weekday=0, time=time(9, 0))
    posts = [
        compose(cast.alice, cast.workspace, [channel], [f"q{n}"], mode=Post.Mode.QUEUE) for n in range(2)
    ]
    response = alice_api.put(
        f"/api/v1/channels/{channel.code}/schedule", {"slots": [{"weekday": 2, "time": "12:00"}]}
    )
    assert response.status_code == 200
    berlin = ZoneInfo("Europe/Berlin")
    times = [Delivery.objects.get(post=p).scheduled_for.astimezone(berlin) for p in posts]
    assert [t.strftime("%a %H:%M") for t in times] == ["Wed 12:00", "Wed 12:00"]
    assert times[1] - times[0] == timedelta(days=7)  # order kept


def test_it_keeps_posting_times_while_posts_are_queued(alice_api, cast, make_channel):
    channel = make_channel()
    PostingSlot.objects.create(channel=channel, weekday=0, time=time(9, 0))
    compose(cast.alice, cast.workspace, [channel], ["queued"], mode=Post.Mode.QUEUE)
    response = alice_api.put(f"/api/v1/channels/{channel.code}/schedule", {"slots": []})
    assert response.status_code == 400
    assert "slots" in response.json()["fields"]
    assert PostingSlot.objects.filter(channel=channel).count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"slots": [{"weekday": 7, "time": "09:00"}]}, "slots.0.weekday"),
        ({"slots": [{"weekday": 1, "time": "25:00"}]}, "slots.0.time"),
        ({"slots": [], "timezone": "Mars/Olympus"}, "timezone"),
        ({"slots": [{"weekday": 1, "time": "09:00"}] * 400}, "slots"),
    ],
)
def test_it_refuses_bad_schedules(alice_api, make_channel, payload, field):
    channel = make_channel()
    response = alice_api.put(f"/api/v1/channels/{channel.code}/schedule", payload)
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]


def test_it_lets_only_channel_managers_change_the_schedule(make_api, cast, make_channel):
    channel = make_channel()
    for user in (cast.bob, cast.victor):
        api = make_api(user)
        assert api.get(f"/api/v1/channels/{channel.code}/schedule").status_code == 200
        assert api.put(f"/api/v1/channels/{channel.code}/schedule", {"slots": []}).status_code == 403


def test_it_shows_and_reorders_the_queue(make_api, cast, make_channel):
    channel = make_channel()
    for weekday in range(7):
        PostingSlot.objects.create(channel=channel, weekday=weekday, time=time(9, 0))
    posts = [
        compose(cast.alice, cast.workspace, [channel], [f"queued {n}"], mode=Post.Mode.QUEUE)
        for n in range(3)
    ]
    viewer = make_api(cast.victor)
    queue = viewer.get(f"/api/v1/channels/{channel.code}/queue").json()
    assert [item["excerpt"] for item in queue["items"]] == ["queued 0", "queued 1", "queued 2"]
    assert len(queue["next_free_slots"]) == 3
    assert queue["paused"] is False
    last = queue["items"][2]["delivery"]
    move = {"delivery": last, "position": 0}
    assert viewer.post(f"/api/v1/channels/{channel.code}/queue/move", move).status_code == 403
    moved = make_api(cast.bob).post(f"/api/v1/channels/{channel.code}/queue/move", move)
    assert moved.status_code == 200, moved.content
    assert [item["excerpt"] for item in moved.json()["items"]] == ["queued 2", "queued 0", "queued 1"]
    times = [item["scheduled_for"] for item in moved.json()["items"]]
    assert times == [item["scheduled_for"] for item in queue["items"]]  # the slots stay, the order changes
    assert (
        Delivery.objects.get(post=posts[2]).scheduled_for < Delivery.objects.get(post=posts[0]).scheduled_for
    )


def test_it_refuses_moving_what_is_not_queued(alice_api, make_channel):
    channel = make_channel()
    response = alice_api.post(
        f"/api/v1/channels/{channel.code}/queue/move",
        {"delivery": "00000000-0000-0000-0000-000000000000", "position": 0},
    )
    assert response.status_code == 400
    assert "delivery" in response.json()["fields"]


@pytest.mark.parametrize("behaviour", ["stall", "trickle"])
def test_a_connect_to_a_server_that_stalls_answers_with_a_sentence_in_time(alice_api, settings, behaviour):
    settings.WEB_NETWORK_DEADLINE = 2
    with StallingServer(behaviour) as server:
        started = monotonic()
        response = alice_api.post(
            "/api/v1/channels",
            {"network": "mastodon", "instance_url": server.url, "access_token": "SomeToken123"},
        )
        took = monotonic() - started

    assert response.status_code == 400, response.content
    assert (
        response.json()["error"] == f"{server.netloc} did not answer within 2 seconds. Try again in a moment."
    )
    assert took < 2 + 3
