"""The calendar's day, week and month views in the workspace's zone: cells, filter, links, cost."""

import json
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.timezone import now

from posts.models import Delivery, Post, PostPart
from tests.posts.calendar_page import Cells, a_future_wednesday, calendar, cell_of
from tests.posts.deliveries import BERLIN, make_delivery


def test_it_puts_posts_in_the_right_hour_and_day_in_the_workspaces_zone(client, cast, make_channel):
    channel = make_channel(tz="America/New_York")
    day = a_future_wednesday()
    late = make_delivery(channel, datetime.combine(day, time(23, 30), UTC), text="Late in UTC")
    noon = make_delivery(channel, datetime.combine(day, time(11, 0), UTC), text="Around noon")
    client.force_login(cast.victor)

    week = calendar(client, view="week", start=day.isoformat())
    month = calendar(client, view="month", start=day.isoformat())

    berlin_late = late.scheduled_for.astimezone(BERLIN)  # 00:30 or 01:30 on the next day
    assert berlin_late.date() == day + timedelta(days=1)
    assert cell_of(week, late) == f"c-{berlin_late.date().isoformat()}-{berlin_late.hour:02d}"
    assert cell_of(month, late) == f"c-{(day + timedelta(days=1)).isoformat()}"
    berlin_noon = noon.scheduled_for.astimezone(BERLIN)
    assert cell_of(week, noon) == f"c-{day.isoformat()}-{berlin_noon.hour:02d}"
    assert cell_of(month, noon) == f"c-{day.isoformat()}"
    assert f">{berlin_late:%H:%M}</time>" in week and "Europe/Berlin" in week


def test_it_shows_published_posts_at_their_publish_time_and_leaves_drafts_out(client, cast, make_channel):
    channel = make_channel()
    today = now().astimezone(BERLIN).date()
    published = make_delivery(
        channel, now() - timedelta(days=1), status=Delivery.Status.PUBLISHED, text="Out"
    )
    draft = make_delivery(channel, now() + timedelta(hours=5), status=Delivery.Status.DRAFT, text="Not yet")
    client.force_login(cast.victor)
    month = calendar(client, view="month", start=today.isoformat())
    local = published.published_at.astimezone(BERLIN)
    assert cell_of(month, published) == f"c-{local.date().isoformat()}"
    assert cell_of(month, draft) is None


def test_it_shows_only_the_periods_posts(client, cast, make_channel):
    channel = make_channel()
    day = a_future_wednesday()
    inside = make_delivery(channel, datetime.combine(day, time(10), UTC))
    next_week = make_delivery(channel, datetime.combine(day + timedelta(days=7), time(10), UTC))
    next_month = make_delivery(channel, datetime.combine(day + timedelta(days=50), time(10), UTC))
    client.force_login(cast.alice)
    week = Cells(calendar(client, view="week", start=day.isoformat())).cell_of
    assert f"chip-{inside.code}" in week and f"chip-{next_week.code}" not in week
    month = Cells(calendar(client, view="month", start=day.isoformat())).cell_of
    assert f"chip-{next_month.code}" not in month


def test_it_filters_by_channel(client, cast, make_channel):
    mastodon, bluesky = make_channel(), make_channel(network="bluesky")
    day = a_future_wednesday()
    on_mastodon = make_delivery(mastodon, datetime.combine(day, time(10), UTC), text="On Mastodon")
    on_bluesky = make_delivery(bluesky, datetime.combine(day, time(10), UTC), text="On Bluesky")
    client.force_login(cast.alice)

    html = calendar(client, view="week", start=day.isoformat(), channel=str(bluesky.code))

    cells = Cells(html).cell_of
    assert f"chip-{on_bluesky.code}" in cells and f"chip-{on_mastodon.code}" not in cells
    assert f'<option value="{bluesky.code}" selected>' in html
    assert "net-bluesky" in html.split(f'id="chip-{on_bluesky.code}"')[0].rsplit("<li", 1)[1]


def test_it_counts_what_does_not_fit_in_a_cell(client, cast, make_channel):
    channel = make_channel()
    day = a_future_wednesday()
    for minute in range(6):
        make_delivery(channel, datetime.combine(day, time(10, minute * 5), UTC))
    client.force_login(cast.alice)
    week = calendar(client, view="week", start=day.isoformat())
    assert len(Cells(week).cell_of) == 2 and "+4 more" in week
    month = calendar(client, view="month", start=day.isoformat())
    assert len(Cells(month).cell_of) == 4 and "+2 more" in month


def more_link(html, text):
    """The href of the "+N more" link whose text starts with `text`."""
    before, found, _ = html.partition(f'">{text}')
    assert found, f"no link {text!r}"
    return before.rsplit('href="', 1)[1].replace("&amp;", "&")


def test_it_links_what_does_not_fit_in_a_cell_to_every_post_of_the_day(client, cast, make_channel):
    mastodon, bluesky = make_channel(), make_channel(network="bluesky")
    day = a_future_wednesday()
    crowded = [
        make_delivery(mastodon, datetime.combine(day, time(10, minute * 5), BERLIN), text=f"Crowded {minute}")
        for minute in range(5)
    ]
    crowded.append(make_delivery(bluesky, datetime.combine(day, time(10, 30), BERLIN), text="On Bluesky"))
    evening = make_delivery(mastodon, datetime.combine(day, time(19), BERLIN), text="Evening")
    next_day = make_delivery(mastodon, datetime.combine(day + timedelta(days=1), time(10), BERLIN))
    client.force_login(cast.victor)
    url = reverse("posts:calendar", kwargs={"slug": "acme"})

    week = calendar(client, view="week", start=day.isoformat())
    week_more = more_link(week, "+4 more")
    assert week_more == f"?view=day&start={day.isoformat()}#h-10"
    month = calendar(client, view="month", start=day.isoformat())
    month_more = more_link(month, "+3 more")  # 7 posts that day, 4 shown
    assert month_more == f"?view=day&start={day.isoformat()}"

    response = client.get(url + week_more.split("#")[0])
    assert response.status_code == 200
    html = response.content.decode()
    assert "calendar-grid" not in html  # a list, not a grid
    for delivery in [*crowded, evening]:
        assert f'id="chip-{delivery.code}"' in html
        detail = reverse("posts:detail", kwargs={"slug": "acme", "code": delivery.post.code})
        assert f'href="{detail}"' in html
    assert f"chip-{next_day.code}" not in html
    assert 'id="h-10"' in html and 'id="h-19"' in html
    assert (
        html.index("Crowded 0") < html.index("Crowded 4") < html.index("On Bluesky") < html.index("Evening")
    )
    assert day.strftime("%A") in html

    filtered = calendar(client, view="day", start=day.isoformat(), channel=str(bluesky.code))
    assert f"chip-{crowded[-1].code}" in filtered and f"chip-{crowded[0].code}" not in filtered


def test_it_says_when_a_day_has_no_posts(client, cast):
    client.force_login(cast.alice)
    html = calendar(client, view="day", start="2031-03-05")
    assert "Wednesday 5 March 2031" in html and "Nothing is scheduled or published on this day" in html
    assert "start=2031-03-04" in html and "start=2031-03-06" in html  # previous and next day


def test_it_navigates_between_periods(client, cast, make_channel):
    day = a_future_wednesday()
    client.force_login(cast.alice)
    week = calendar(client, view="week", start=day.isoformat())
    monday = day - timedelta(days=2)
    assert f"start={(monday - timedelta(days=7)).isoformat()}" in week
    assert f"start={(monday + timedelta(days=7)).isoformat()}" in week
    month = calendar(client, view="month", start=date(2031, 3, 15).isoformat())
    assert "March 2031" in month and "start=2031-02-01" in month and "start=2031-04-01" in month
    assert 'id="c-2031-02-24"' in month and 'id="c-2031-04-06"' in month  # 6 weeks from Monday
    response = client.get(
        reverse("posts:calendar", kwargs={"slug": "acme"}), {"view": "month"}, headers={"HX-Request": "true"}
    )
    assert response.content.decode().lstrip().startswith('<div id="calendar"')


def test_it_links_empty_future_hours_to_the_composer(client, cast, make_channel):
    channel = make_channel()
    day = a_future_wednesday()
    client.force_login(cast.bob)
    html = calendar(client, view="week", start=day.isoformat(), channel=str(channel.code))
    try:
        compose = reverse("posts:compose", kwargs={"slug": "acme"})
    except Exception:
        pytest.skip("the composer page is not installed")
    assert f"{compose}?at={day.isoformat()}T14:00&amp;zone=Europe/Berlin&amp;channel={channel.code}" in html
    past = calendar(client, view="week", start=(day - timedelta(days=28)).isoformat())
    assert f"{compose}?at=" not in past
    client.force_login(cast.victor)
    assert f"{compose}?at=" not in calendar(client, view="week", start=day.isoformat())


def _fill(channels, count, first_day):
    """`count` posts over the month from `first_day`: scheduled, published and held, several per hour."""
    posts = Post.objects.bulk_create(
        [Post(workspace=channels[0].workspace, status=Post.Status.SCHEDULED) for _ in range(count)]
    )
    PostPart.objects.bulk_create([PostPart(post=p, index=0, text=f"Post {n}") for n, p in enumerate(posts)])
    start = datetime.combine(first_day, time(6), UTC)
    statuses = [Delivery.Status.SCHEDULED, Delivery.Status.PUBLISHED, Delivery.Status.HELD]
    deliveries = []
    for n, post in enumerate(posts):
        when = start + timedelta(minutes=(n * 97) % (28 * 24 * 60))
        status = statuses[n % 3]
        deliveries.append(
            Delivery(
                post=post,
                channel=channels[n % len(channels)],
                status=status,
                scheduled_for=when,
                next_attempt_at=when,
                published_at=when + timedelta(seconds=2) if status == Delivery.Status.PUBLISHED else None,
            )
        )
    Delivery.objects.bulk_create(deliveries)


def test_it_renders_week_and_month_with_a_constant_number_of_queries(client, cast, make_channel):
    channels = [make_channel(), make_channel(network="bluesky"), make_channel(network="threads")]
    first_day = date(2031, 3, 3)  # a Monday
    client.force_login(cast.alice)
    url = reverse("posts:calendar", kwargs={"slug": "acme"})
    views = [
        {"view": "week", "start": "2031-03-05"},
        {"view": "month", "start": "2031-03-05"},
        {"view": "day", "start": "2031-03-05"},
    ]

    def count():
        counts = []
        for params in views:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url, params).status_code == 200
            counts.append(len(queries))
        return counts

    _fill(channels, 10, first_day)
    small = count()
    _fill(channels, 190, first_day)
    large = count()
    assert small == large, (small, large)
    assert max(large) <= 10, large  # session, user, membership, channels, cells, chips, switcher
    week = calendar(client, view="week", start="2031-03-05")
    assert len(Cells(week).cell_of) > 50


def test_it_reads_the_csrf_token_where_the_script_looks_for_it(client, cast):
    client.force_login(cast.alice)
    html = calendar(client, view="week")
    headers = html.split("hx-headers='", 1)[1].split("'", 1)[0]
    assert json.loads(headers)["X-CSRFToken"]
    assert 'src="/static/js/calendar.js"' in html and "<script>" not in html
