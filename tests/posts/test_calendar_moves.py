"""Moving posts in the calendar, by dragging or with the keyboard's form: local times kept, refusals."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils.timezone import now

from posts.models import Delivery
from tests.posts.calendar_page import a_future_wednesday, calendar, cell_of
from tests.posts.deliveries import BERLIN, NEW_YORK, make_delivery


def move_url(delivery):
    return reverse("posts:calendar-move-delivery", kwargs={"slug": "acme", "code": delivery.code})


def drag(client, delivery, **data):
    return client.post(move_url(delivery), data, headers={"Accept": "application/json"})


def test_it_moves_a_post_to_another_day_keeping_its_local_time(client, cast, make_channel):
    channel = make_channel(tz="America/New_York")
    day = a_future_wednesday()
    start = datetime.combine(day, time(9, 0), NEW_YORK).astimezone(UTC)  # 15:00 in Berlin
    delivery = make_delivery(channel, start)
    client.force_login(cast.bob)

    response = drag(client, delivery, day=(day + timedelta(days=2)).isoformat())

    assert response.status_code == 200, response.content
    assert "09:00 (America/New_York)" in response.json()["message"]
    delivery.refresh_from_db()
    assert delivery.scheduled_for == datetime.combine(day + timedelta(days=2), time(9), NEW_YORK)
    assert delivery.next_attempt_at == delivery.scheduled_for
    assert delivery.in_queue is False  # a moved queued post keeps its new time


def test_it_keeps_the_local_time_when_moving_across_a_dst_change(client, cast, make_channel):
    from tests.posts.deliveries import next_spring_forward

    channel = make_channel(tz="America/New_York")
    change = next_spring_forward(NEW_YORK, now().date() + timedelta(days=3))
    before = datetime.combine(change - timedelta(days=2), time(9), NEW_YORK)
    delivery = make_delivery(channel, before.astimezone(UTC))
    client.force_login(cast.alice)
    calendar_day = delivery.scheduled_for.astimezone(BERLIN).date()
    assert drag(client, delivery, day=(calendar_day + timedelta(days=3)).isoformat()).status_code == 200
    delivery.refresh_from_db()
    assert delivery.scheduled_for == datetime.combine(change + timedelta(days=1), time(13), UTC)  # 09:00 EDT


def test_it_moves_a_post_to_an_hour_of_the_week_view(client, cast, make_channel):
    channel = make_channel(tz="America/New_York")
    day = a_future_wednesday()
    delivery = make_delivery(channel, datetime.combine(day, time(10, 45), BERLIN).astimezone(UTC))
    client.force_login(cast.alice)
    assert drag(client, delivery, day=(day + timedelta(days=1)).isoformat(), hour="16").status_code == 200
    delivery.refresh_from_db()
    assert delivery.scheduled_for == datetime.combine(day + timedelta(days=1), time(16, 45), BERLIN)
    html = calendar(client, view="week", start=day.isoformat())
    assert cell_of(html, delivery) == f"c-{(day + timedelta(days=1)).isoformat()}-16"


def test_it_refuses_to_move_a_post_into_the_past(client, cast, make_channel):
    channel = make_channel()
    when = now() + timedelta(days=2)
    delivery = make_delivery(channel, when)
    client.force_login(cast.alice)
    yesterday = (now().astimezone(BERLIN).date() - timedelta(days=1)).isoformat()
    response = drag(client, delivery, day=yesterday)
    assert response.status_code == 400
    assert response.json()["error"] == "That time has passed: choose a time in the future."
    delivery.refresh_from_db()
    assert delivery.scheduled_for == when and delivery.in_queue


@pytest.mark.parametrize("status", [Delivery.Status.PUBLISHED, Delivery.Status.PUBLISHING])
def test_it_refuses_to_move_a_post_out_or_going_out(client, cast, make_channel, status):
    channel = make_channel()
    when = now() - timedelta(minutes=5)
    delivery = make_delivery(channel, when, status=status)
    client.force_login(cast.alice)
    response = drag(client, delivery, day=a_future_wednesday().isoformat())
    assert response.status_code == 400
    assert "can't be moved" in response.json()["error"]
    delivery.refresh_from_db()
    assert delivery.scheduled_for == when


def test_it_offers_a_move_form_for_the_keyboard(client, cast, make_channel):
    channel = make_channel(tz="America/New_York")
    day = a_future_wednesday()
    delivery = make_delivery(channel, datetime.combine(day, time(9), NEW_YORK).astimezone(UTC))
    client.force_login(cast.bob)
    html = calendar(client, view="week", start=day.isoformat())
    assert f"move={delivery.code}" in html  # the chip's "Move" link

    form = calendar(client, view="week", start=day.isoformat(), move=str(delivery.code))
    assert "New date and time (America/New_York)" in form and f'value="{day.isoformat()}T09:00"' in form

    url = move_url(delivery) + f"?view=week&start={day.isoformat()}"
    refused = client.post(url, {"at": "2020-05-05T10:00"})
    assert refused.status_code == 200
    text = refused.content.decode()
    assert (
        'value="2020-05-05T10:00"' in text and 'role="alert" id="move-at-error">That time has passed' in text
    )

    target = day + timedelta(days=1)
    response = client.post(url, {"at": f"{target.isoformat()}T07:15"})
    assert response.status_code == 302 and response.url.endswith(f"?view=week&start={day.isoformat()}")
    delivery.refresh_from_db()
    assert delivery.scheduled_for == datetime.combine(target, time(7, 15), NEW_YORK)


def test_it_lets_viewers_see_but_not_move(client, cast, make_channel):
    channel = make_channel()
    day = a_future_wednesday()
    when = datetime.combine(day, time(10), UTC)
    delivery = make_delivery(channel, when)
    for user in (cast.victor, cast.carol):
        client.force_login(user)
        html = calendar(client, view="week", start=day.isoformat())
        assert f"chip-{delivery.code}" in html and "draggable" not in html and "move=" not in html
        assert drag(client, delivery, day=(day + timedelta(days=1)).isoformat()).status_code == 403
    delivery.refresh_from_db()
    assert delivery.scheduled_for == when


def test_it_gives_404_for_another_workspaces_delivery(client, cast, make_channel):
    foreign = make_channel(workspace=cast.other)
    delivery = make_delivery(foreign, now() + timedelta(days=2))
    client.force_login(cast.alice)
    assert drag(client, delivery, day=a_future_wednesday().isoformat()).status_code == 404
    url = reverse("posts:calendar", kwargs={"slug": "acme"})
    assert client.get(url, {"view": "week", "move": str(delivery.code)}).status_code == 404
