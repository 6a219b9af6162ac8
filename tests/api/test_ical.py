"""Calendar feeds: secret, revocable iCal URLs of the schedule, managed on the calendar feeds page."""

from datetime import UTC, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.timezone import now
from icalendar import Calendar

from api.models import CalendarFeed
from posts.models import Delivery, Post
from tests.posts.engine import compose

FEEDS = reverse("api:calendar-feeds", kwargs={"slug": "acme"})


def feed_url(feed: CalendarFeed) -> str:
    return reverse("api:ical-feed", kwargs={"token": feed.token})


def parse(response) -> list:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/calendar")
    return list(Calendar.from_ical(response.content).walk("VEVENT"))


@pytest.fixture
def scheduled(cast, make_channel):
    channel = make_channel(network="mastodon")
    other = make_channel(network="bluesky")
    soon = (now() + timedelta(hours=5)).replace(microsecond=0)
    first = compose(
        cast.alice,
        cast.workspace,
        [channel],
        ["Launch day is here! " * 5],
        mode=Post.Mode.AT,
        scheduled_at=soon,
    )
    second = compose(
        cast.alice,
        cast.workspace,
        [other],
        ["Bluesky only"],
        mode=Post.Mode.AT,
        scheduled_at=soon + timedelta(days=1),
    )
    compose(cast.alice, cast.workspace, [channel], ["A draft stays off the calendar"], mode=Post.Mode.DRAFT)
    return {"channel": channel, "other": other, "first": first, "second": second, "soon": soon}


def test_it_lists_scheduled_posts_with_utc_times_and_durations(client, cast, scheduled):
    feed = CalendarFeed.objects.create(workspace=cast.workspace)
    events = parse(client.get(feed_url(feed)))
    assert len(events) == 2
    first = events[0]
    start = first.decoded("dtstart")
    assert start == scheduled["soon"]
    assert start.utcoffset() == timedelta(0)
    assert b"DTSTART:" in first.to_ical() and first.to_ical().split(b"DTSTART:")[1][:16].endswith(b"Z")
    assert first.decoded("duration") == timedelta(minutes=15)
    assert str(first["summary"]).startswith("[Mastodon] Launch day is here!")
    assert len(str(first["summary"])) < 80
    description = str(first["description"])
    assert description.count("Launch day is here!") == 5  # the full text
    assert f"/w/acme/posts/{scheduled['first'].code}/" in description
    delivery = scheduled["first"].deliveries.get()
    assert str(first["uid"]).startswith(f"delivery-{delivery.code}@")
    assert "url" not in first  # not published yet
    assert str(events[1]["summary"]) == "[Bluesky] Bluesky only"


def test_it_keeps_event_uids_stable_and_shows_the_published_post(client, cast, scheduled):
    feed = CalendarFeed.objects.create(workspace=cast.workspace)
    before = {str(e["uid"]) for e in parse(client.get(feed_url(feed)))}
    delivery = scheduled["first"].deliveries.get()
    published_at = (now() - timedelta(minutes=3)).replace(microsecond=0)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.PUBLISHED,
        published_at=published_at,
        remote_url="https://example.org/@acme/1234",
    )
    events = parse(client.get(feed_url(feed)))
    assert {str(e["uid"]) for e in events} == before
    published = next(e for e in events if str(e["uid"]).startswith(f"delivery-{delivery.code}"))
    assert str(published["url"]) == "https://example.org/@acme/1234"
    assert published.decoded("dtstart") == published_at.astimezone(UTC)
    assert str(published["status"]) == "CONFIRMED"


def test_it_filters_a_channels_feed_to_that_channel(client, cast, scheduled):
    feed = CalendarFeed.objects.create(workspace=cast.workspace, channel=scheduled["other"])
    events = parse(client.get(feed_url(feed)))
    assert [str(e["summary"]) for e in events] == ["[Bluesky] Bluesky only"]
    assert "Bluesky" in str(Calendar.from_ical(client.get(feed_url(feed)).content)["x-wr-calname"])


def test_it_needs_no_login_but_a_revoked_or_unknown_token_is_404(client, cast, scheduled):
    feed = CalendarFeed.objects.create(workspace=cast.workspace)
    assert client.get(feed_url(feed)).status_code == 200
    feed.revoked = now()
    feed.save()
    assert client.get(feed_url(feed)).status_code == 404
    assert client.get(reverse("api:ical-feed", kwargs={"token": "guessed"})).status_code == 404


def test_it_keeps_other_workspaces_out_of_a_feed(client, cast, make_channel, scheduled):
    theirs = make_channel(workspace=cast.other)
    compose(cast.charlie, cast.other, [theirs], ["Charlie's secret plan"], mode=Post.Mode.NOW)
    feed = CalendarFeed.objects.create(workspace=cast.workspace)
    assert "Charlie" not in client.get(feed_url(feed)).content.decode()


def test_it_renders_the_feed_with_a_fixed_number_of_queries(client, cast, make_channel):
    channels = [make_channel(), make_channel(network="bluesky")]
    feed = CalendarFeed.objects.create(workspace=cast.workspace)

    def add(count):
        for n in range(count):
            compose(
                cast.alice,
                cast.workspace,
                [channels[n % 2]],
                [f"Post {n}", "second part"],
                mode=Post.Mode.AT,
                scheduled_at=now() + timedelta(hours=n + 1),
            )

    def measure():
        with CaptureQueriesContext(connection) as captured:
            events = parse(client.get(feed_url(feed)))
        return len(captured), len(events)

    add(10)
    few, count = measure()
    assert count == 10
    add(190)
    many, count = measure()
    assert count == 200
    assert few == many


# --- the feeds page ------------------------------------------------------------------------------


def test_it_shows_feed_urls_to_every_member(client, cast, make_channel):
    channel = make_channel()
    feed = CalendarFeed.objects.create(workspace=cast.workspace)
    client.force_login(cast.victor)
    page = client.get(FEEDS)
    assert page.status_code == 200
    text = page.content.decode()
    assert feed_url(feed) in text
    assert "webcal://" in text
    assert channel.handle in text
    assert 'value="regenerate"' not in text  # viewers see and copy, they do not manage


def test_it_lets_only_workspace_managers_change_feeds(client, cast):
    client.force_login(cast.bob)
    response = client.post(FEEDS, {"action": "create", "channel": ""})
    assert response.status_code == 403
    assert not CalendarFeed.objects.exists()


def test_it_creates_regenerates_and_revokes_feeds(client, cast, make_channel):
    channel = make_channel()
    client.force_login(cast.alice)
    response = client.post(FEEDS, {"action": "create", "channel": ""})
    assert response.status_code == 302
    workspace_feed = CalendarFeed.objects.active().get(channel=None)
    client.post(FEEDS, {"action": "create", "channel": str(channel.code)})
    channel_feed = CalendarFeed.objects.active().get(channel=channel)
    assert client.get(feed_url(channel_feed)).status_code == 200

    client.post(FEEDS, {"action": "regenerate", "channel": ""})
    new_feed = CalendarFeed.objects.active().get(channel=None)
    assert new_feed.token != workspace_feed.token
    assert client.get(feed_url(workspace_feed)).status_code == 404
    assert client.get(feed_url(new_feed)).status_code == 200
    assert "new URL" in client.get(FEEDS).content.decode()

    client.post(FEEDS, {"action": "revoke", "channel": str(channel.code)})
    assert client.get(feed_url(channel_feed)).status_code == 404
    assert not CalendarFeed.objects.active().filter(channel=channel).exists()


def test_it_gives_404_for_another_workspaces_channel(client, cast, make_channel):
    theirs = make_channel(workspace=cast.other)
    client.force_login(cast.alice)
    response = client.post(FEEDS, {"action": "create", "channel": str(theirs.code)})
    assert response.status_code == 404
    assert not CalendarFeed.objects.exists()


def test_it_ignores_unknown_actions_and_codes(client, cast):
    client.force_login(cast.alice)
    for data in ({"action": "explode"}, {"action": "create", "channel": "not-a-code"}, {}):
        response = client.post(FEEDS, data, follow=True)
        assert response.status_code == 200
        assert "Nothing was changed" in response.content.decode()
    assert not CalendarFeed.objects.exists()


def test_it_renders_the_feeds_page_with_a_fixed_number_of_queries(client, cast, make_channel):
    client.force_login(cast.alice)

    def measure():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(FEEDS).status_code == 200
        return len(captured)

    for _ in range(3):
        CalendarFeed.objects.create(workspace=cast.workspace, channel=make_channel())
    few = measure()
    for _ in range(30):
        CalendarFeed.objects.create(workspace=cast.workspace, channel=make_channel())
    assert measure() == few


def _remove(client, by, member, workspace):
    from workspaces.models import Membership

    target = Membership.objects.get(user=member, workspace=workspace)
    client.force_login(by)
    response = client.post(
        reverse("workspaces:remove-member", kwargs={"slug": workspace.slug, "membership_id": target.pk})
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=target.pk).exists()


@pytest.mark.parametrize("leaves", [False, True], ids=["removed", "leaves"])
def test_it_gives_the_feeds_new_urls_when_a_member_goes(client, cast, make_channel, leaves):
    # Every member could copy the workspace's feed URLs; one who is gone must not keep reading them.
    channel = make_channel()
    whole = CalendarFeed.objects.create(workspace=cast.workspace)
    one = CalendarFeed.objects.create(workspace=cast.workspace, channel=channel)
    elsewhere = CalendarFeed.objects.create(workspace=cast.other)
    old = [feed_url(whole), feed_url(one)]
    _remove(client, cast.victor if leaves else cast.alice, cast.victor, cast.workspace)
    client.logout()
    for url in old:
        assert client.get(url).status_code == 404
    renewed = CalendarFeed.objects.active().filter(workspace=cast.workspace)
    assert {f.channel_id for f in renewed} == {None, channel.pk}
    for feed in renewed:
        assert client.get(feed_url(feed)).status_code == 200
    assert client.get(feed_url(elsewhere)).status_code == 200


def test_it_says_the_feed_urls_changed_when_a_member_is_removed(client, cast):
    CalendarFeed.objects.create(workspace=cast.workspace)
    _remove(client, cast.alice, cast.victor, cast.workspace)
    page = client.get(reverse("workspaces:members", kwargs={"slug": "acme"}))
    assert b"calendar feed" in page.content.lower()


def test_it_leaves_the_feeds_alone_when_a_role_changes(client, cast):
    # Every role may read the feeds page, so a new role reveals or hides nothing.
    from workspaces.models import Membership, Role

    feed = CalendarFeed.objects.create(workspace=cast.workspace)
    bob = Membership.objects.get(user=cast.bob, workspace=cast.workspace)
    client.force_login(cast.alice)
    client.post(
        reverse("workspaces:change-role", kwargs={"slug": "acme", "membership_id": bob.pk}),
        {"role": Role.VIEWER},
    )
    assert Membership.objects.get(pk=bob.pk).role == Role.VIEWER
    assert client.get(feed_url(feed)).status_code == 200
