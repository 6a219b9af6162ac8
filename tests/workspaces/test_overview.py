"""The workspace overview: counts, late posts, engine health, channels to reconnect, what goes out next."""

import socket
import uuid
from datetime import time, timedelta

import django_rq
import pytest
from django.urls import reverse
from django.utils.html import escape
from django.utils.timezone import now
from rq import SimpleWorker

from channels.models import Channel
from posts.liveness import beat
from posts.models import Delivery, Notification, Post, PostingSlot, PostPart
from tests.posts.review import build_posts, queries_for

S = Delivery.Status
OVERVIEW = reverse("workspaces:overview", kwargs={"slug": "acme"})


@pytest.fixture
def make_channel(cast):
    def make(network="mastodon", **fields):
        return Channel.objects.create(
            workspace=cast.workspace,
            network=network,
            remote_id=str(uuid.uuid4()),
            handle=f"@{network}{uuid.uuid4().hex[:6]}@example.org",
            server_url="https://example.org",
            **fields,
        )

    return make


@pytest.fixture
def live_engine(redis_conn):
    """A worker and a dispatcher that have just reported in."""
    beat("dispatcher@test:1")
    worker = SimpleWorker([django_rq.get_queue("default")], connection=redis_conn)
    worker.register_birth()
    worker.heartbeat()
    yield
    worker.register_death()


def deliver(channel, text, *, status=S.SCHEDULED, when=None, **fields):
    when = when or now() + timedelta(hours=1)
    post = Post.objects.create(workspace=channel.workspace, status=Post.Status.SCHEDULED)
    PostPart.objects.create(post=post, index=0, text=text)
    fields.setdefault("next_attempt_at", when)
    return Delivery.objects.create(post=post, channel=channel, status=status, scheduled_for=when, **fields)


def overview(client):
    response = client.get(OVERVIEW)
    assert response.status_code == 200
    return response.content.decode()


def test_it_counts_what_is_scheduled_published_failed_and_waiting(client, cast, make_channel, live_engine):
    channel = make_channel()
    deliver(channel, "one")
    deliver(channel, "two")
    deliver(channel, "out", status=S.PUBLISHED, published_at=now())
    deliver(channel, "out yesterday", status=S.PUBLISHED, published_at=now() - timedelta(days=2))
    deliver(channel, "broken", status=S.FAILED)
    Post.objects.create(workspace=cast.workspace, status=Post.Status.PENDING_APPROVAL, author=cast.carol)
    Notification.objects.create(workspace=cast.workspace, user=cast.bob, kind="delivery_failed", message="x")
    client.force_login(cast.bob)
    html = overview(client)

    def stat(label):
        before = html[: html.index(f'<span class="stat-label">{label}')]
        return int(before.rsplit('<span class="stat-number">', 1)[1].split("<", 1)[0])

    assert stat("scheduled") == 2
    assert stat("published today") == 1
    assert stat("failed or held") == 1
    assert stat("waiting for approval") == 1
    assert stat("unread notification") == 1
    assert "Posts are late" not in html and 'role="alert"' not in html


def test_it_warns_about_overdue_posts(client, cast, make_channel, live_engine):
    channel = make_channel()
    deliver(channel, "Stuck in the pipes", when=now() - timedelta(minutes=10))
    deliver(channel, "Waiting for a retry", when=now() - timedelta(minutes=10), next_attempt_at=now())
    client.force_login(cast.victor)
    html = overview(client)
    assert "Posts are late" in html
    banner = html[html.index("Posts are late") :]
    banner = banner[: banner.index("</div>")]
    assert "Stuck in the pipes" in banner and "Europe/Berlin" in banner
    assert "Waiting for a retry" not in banner


def test_it_warns_when_no_worker_or_dispatcher_is_running(client, cast, redis_conn):
    client.force_login(cast.victor)
    html = overview(client)
    assert "No publishing worker is running" in html
    assert "The dispatcher is not running" in html

    # A dispatcher that stopped reporting long ago counts as stopped too.
    beat("dispatcher@test:1")
    from posts.models import Heartbeat

    Heartbeat.objects.update(beat=now() - timedelta(hours=1))
    assert "The dispatcher is not running" in overview(client)


def test_it_shows_no_engine_warning_while_everything_runs(client, cast, live_engine):
    client.force_login(cast.victor)
    html = overview(client)
    assert "No publishing worker" not in html and "dispatcher is not running" not in html


def test_it_says_so_when_redis_is_down_instead_of_failing(client, cast, settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.RQ_QUEUES = {
        name: {**config, "URL": f"redis://127.0.0.1:{port}/0"} for name, config in settings.RQ_QUEUES.items()
    }
    client.force_login(cast.alice)
    html = overview(client)
    assert "The job queue (Redis) cannot be reached" in html


def test_it_lists_channels_to_reconnect_with_a_link(client, cast, make_channel, live_engine):
    broken = make_channel(status=Channel.Status.NEEDS_RECONNECT, last_error="The token was revoked.")
    make_channel(network="bluesky")
    client.force_login(cast.alice)
    html = overview(client)
    assert "A channel needs reconnecting." in html and "The token was revoked." in html
    # Straight to the network's connect page, filled in for this account (not the channel list).
    assert f'href="{escape(broken.reconnect_url())}"' in html
    assert "/channels/connect/" in broken.reconnect_url()
    client.force_login(cast.victor)
    assert "ask an admin to reconnect it" in overview(client)


def test_it_shows_the_next_five_posts_in_time_order(client, cast, make_channel, live_engine):
    one, two = make_channel(), make_channel(network="bluesky")
    at = now() + timedelta(hours=1)
    for i in range(7):
        delivery = deliver(one, f"Upcoming number {i}", when=at + timedelta(hours=6 - i))
        Delivery.objects.create(
            post=delivery.post, channel=two, status=S.SCHEDULED, scheduled_for=delivery.scheduled_for
        )
    deliver(one, "Already out", status=S.PUBLISHED, when=now() - timedelta(hours=1))
    client.force_login(cast.victor)
    html = overview(client)
    section = html[html.index("Next up") :]
    section = section[: section.index("</section>")]
    shown = [f"Upcoming number {i}" for i in (6, 5, 4, 3, 2)]
    positions = [section.index(text) for text in shown]
    assert positions == sorted(positions)
    assert "Upcoming number 1" not in section and "Already out" not in section
    assert section.count('class="badge net-bluesky"') == 5


def test_it_renders_with_a_constant_number_of_queries(client, cast, make_channel, live_engine):
    channels = [make_channel(), make_channel(network="bluesky"), make_channel(network="threads")]
    client.force_login(cast.bob)
    build_posts(cast.workspace, channels, 10, author=cast.carol)
    few = queries_for(client, OVERVIEW)
    build_posts(cast.workspace, channels, 190, author=cast.carol)
    many = queries_for(client, OVERVIEW)
    assert few == many, (few, many)


def checklist(html):
    if "Get started" not in html:
        return None
    section = html[html.index("Get started") :]
    return section[: section.index("</section>")]


def step(section, label):
    """The list item of one step, as text: its label, link (if any) and state."""
    start = section.rindex("<li>", 0, section.index(label))
    return section[start : section.index("</li>", start)]


def test_it_walks_a_new_workspace_through_its_first_steps(client, cast, make_channel, live_engine):
    client.force_login(cast.alice)
    section = checklist(overview(client))
    assert section is not None
    connect = step(section, "Connect a channel")
    assert f'href="{reverse("channels:list", kwargs={"slug": "acme"})}"' in connect and "To do" in connect
    times = step(section, "Set posting times")
    assert "href" not in times and "To do" in times and "once a channel is connected" in times
    write = step(section, "Write your first post")
    assert f'href="{reverse("posts:compose", kwargs={"slug": "acme"})}"' in write and "To do" in write

    channel = make_channel()
    section = checklist(overview(client))
    assert "Done" in step(section, "Connect a channel")
    times = step(section, "Set posting times")
    schedule = reverse("posts:channel-schedule", kwargs={"slug": "acme", "code": channel.code})
    assert f'href="{schedule}"' in times and "To do" in times

    PostingSlot.objects.create(channel=channel, weekday=0, time=time(9))
    section = checklist(overview(client))
    assert "Done" in step(section, "Set posting times") and "To do" in step(section, "Write your first post")

    Post.objects.create(workspace=cast.workspace, status=Post.Status.DRAFT, author=cast.alice)
    assert checklist(overview(client)) is None


def test_it_links_only_the_steps_a_member_may_do(client, cast, live_engine):
    client.force_login(cast.carol)  # contributor: writes, does not manage channels
    section = checklist(overview(client))
    assert "href" not in step(section, "Connect a channel")
    assert "an owner or admin does this" in step(section, "Connect a channel")
    assert "href" not in step(section, "Set posting times")
    assert "href" in step(section, "Write your first post")

    client.force_login(cast.victor)  # viewer: can do none of them
    assert checklist(overview(client)) is None


def test_it_shows_no_checklist_in_an_established_workspace(client, cast, make_channel, live_engine):
    channels = [make_channel(), make_channel(network="bluesky")]
    build_posts(cast.workspace, channels, 3, author=cast.carol)
    PostingSlot.objects.create(channel=channels[1], weekday=3, time=time(18))
    client.force_login(cast.alice)
    assert checklist(overview(client)) is None
