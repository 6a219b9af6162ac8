"""One range of dates everywhere: from 2000 to five years ahead. The composer, the queue's reschedule
form, the calendar (moves and the period shown) and the API refuse other years with a sentence, and a
delivery already stored at the calendar's end does not break the queue."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils.timezone import now

from api.models import APIToken
from posts import scheduling
from posts.models import Delivery, Post, PostingSlot
from tests.api.conftest import ApiClient
from tests.posts.deliveries import make_delivery

RANGE = "Choose a date between 1 January 2000 and"

# Wall times typed in a form, and the reason each is refused.
FAR = {
    "year 9999": "9999-12-31T23:59",
    "year 1": "0001-01-01T00:00",
    "six years ahead": f"{now().year + 6}-06-01T09:00",
}


@pytest.fixture
def alice_api(client, cast, redis_conn):
    _, secret = APIToken.issue(workspace=cast.workspace, user=cast.alice, name="dates")
    return ApiClient(client, secret)


def url(name, **kwargs):
    return reverse(f"posts:{name}", kwargs={"slug": "acme", **kwargs})


def test_the_range_runs_from_2000_to_five_years_ahead():
    assert scheduling.in_range(now() + timedelta(days=1))
    assert scheduling.in_range(now() + timedelta(days=4 * 365))
    assert not scheduling.in_range(now() + timedelta(days=6 * 366))
    assert not scheduling.in_range(datetime(1999, 12, 31, tzinfo=UTC))
    assert not scheduling.in_range(datetime(9999, 12, 31, 23, 59))  # a wall time, no zone yet
    assert not scheduling.in_range(datetime(1, 1, 1))
    assert scheduling.out_of_range_message().startswith(RANGE)


@pytest.mark.parametrize("typed", FAR.values(), ids=FAR.keys())
def test_the_composer_refuses_a_date_out_of_range(client, cast, make_channel, typed):
    channel = make_channel(tz="America/New_York")
    client.force_login(cast.alice)
    data = {
        "part": ["Far away"],
        "channels": [str(channel.code)],
        "mode": "at",
        "at": typed,
        "zone": "Pacific/Kiritimati",
        "visibility": "public",
        "language": "en",
    }
    response = client.post(url("compose"), data)
    assert response.status_code == 200
    assert "The post was not saved" in response.content.decode()
    assert not Post.objects.exists()
    assert client.get(url("compose"), {"at": typed, "zone": "Pacific/Kiritimati"}).status_code == 200


@pytest.mark.parametrize("typed", FAR.values(), ids=FAR.keys())
def test_the_queue_refuses_to_reschedule_out_of_range(client, cast, make_channel, typed):
    channel = make_channel(tz="Pacific/Kiritimati")
    when = now() + timedelta(days=2)
    delivery = make_delivery(channel, when)
    client.force_login(cast.bob)
    response = client.post(url("reschedule-delivery", code=delivery.code), {"at": typed})
    assert response.status_code == 200
    assert RANGE in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.scheduled_for == when and delivery.in_queue


def calendar_move(client, delivery, **data):
    return client.post(
        url("calendar-move-delivery", code=delivery.code), data, headers={"Accept": "application/json"}
    )


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", f"{now().year + 6}-06-01"])
@pytest.mark.parametrize("hour", ["", "23", "0"])
def test_the_calendar_refuses_to_move_a_post_out_of_range(client, cast, make_channel, day, hour):
    channel = make_channel(tz="Pacific/Kiritimati")
    when = now() + timedelta(days=2)
    delivery = make_delivery(channel, when)
    client.force_login(cast.alice)
    response = calendar_move(client, delivery, day=day, hour=hour)
    assert response.status_code == 400
    assert response.json()["error"].startswith(RANGE)
    delivery.refresh_from_db()
    assert delivery.scheduled_for == when and delivery.in_queue


@pytest.mark.parametrize("typed", FAR.values(), ids=FAR.keys())
def test_the_calendars_move_form_refuses_a_time_out_of_range(client, cast, make_channel, typed):
    channel = make_channel(tz="Pacific/Kiritimati")
    when = now() + timedelta(days=2)
    delivery = make_delivery(channel, when)
    client.force_login(cast.alice)
    response = client.post(url("calendar-move-delivery", code=delivery.code), {"at": typed})
    assert response.status_code == 200
    assert RANGE in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.scheduled_for == when


@pytest.mark.parametrize("start", ["9999-12-31", "0001-01-01", "9999-12-01", "0001-01-03"])
@pytest.mark.parametrize("view", ["day", "week", "month"])
def test_the_calendar_shows_the_nearest_period_in_range(client, cast, start, view):
    cast.workspace.timezone = "Pacific/Kiritimati"
    cast.workspace.save()
    client.force_login(cast.victor)
    response = client.get(url("calendar"), {"view": view, "start": start})
    assert response.status_code == 200
    page = response.content.decode()
    year = "2000" if start.startswith("0001") else str(scheduling.latest().year)
    assert year in page


def test_the_queue_pages_show_a_delivery_stored_at_the_calendars_end(client, cast, make_channel):
    channel = make_channel(tz="Pacific/Kiritimati")
    for weekday in range(7):
        PostingSlot.objects.create(channel=channel, weekday=weekday, time=time(9))
    soon = make_delivery(channel, now() + timedelta(days=1), text="Soon")
    far = make_delivery(channel, datetime(9999, 12, 30, 23, 0, tzinfo=UTC), text="At the end of time")
    make_delivery(channel, datetime(9999, 12, 31, 23, 59, tzinfo=UTC), text="Later still", in_queue=False)
    client.force_login(cast.victor)
    for page in (url("queue"), url("channel-queue", code=channel.code), url("calendar")):
        response = client.get(page)
        assert response.status_code == 200, page
    html = client.get(url("channel-queue", code=channel.code)).content.decode()
    assert "Soon" in html and "At the end of time" in html
    # Rescheduling the far one back into range works from that page.
    client.force_login(cast.bob)
    day = (now() + timedelta(days=3)).astimezone(channel.tz).date()
    response = client.post(url("reschedule-delivery", code=far.code), {"at": f"{day}T10:00"})
    assert response.status_code == 302
    assert soon.pk and Delivery.objects.get(pk=far.pk).scheduled_for.year == day.year


@pytest.mark.parametrize(
    "scheduled_at",
    [
        "9999-12-31T23:59:00",
        "0001-01-01T00:00:00",
        "9999-12-31T23:59:00-12:00",
        f"{now().year + 6}-06-01T09:00",
    ],
)
def test_the_api_refuses_a_time_out_of_range(alice_api, mastodon_channel, scheduled_at):
    body = {
        "channels": [str(mastodon_channel.code)],
        "parts": [{"text": "Far away"}],
        "mode": "at",
        "scheduled_at": scheduled_at,
        "timezone": "Pacific/Kiritimati",
    }
    response = alice_api.post("/api/v1/posts", body)
    assert response.status_code == 400, response.content
    assert response.json()["fields"]["scheduled_at"][0].startswith("Choose a date between")
    assert not Post.objects.exists()

    code = alice_api.post("/api/v1/posts", {**body, "mode": "draft", "scheduled_at": None}).json()["code"]
    response = alice_api.patch(f"/api/v1/posts/{code}", {"mode": "at", "scheduled_at": scheduled_at})
    assert response.status_code == 400, response.content
    assert response.json()["fields"]["scheduled_at"][0].startswith("Choose a date between")
    assert Post.objects.get(code=code).mode == Post.Mode.DRAFT
