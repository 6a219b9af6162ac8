from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils.timezone import now

from posts.dispatch import claim_periodic, dispatch_due
from posts.models import Delivery, Post


def scheduled(channel, when, status=Delivery.Status.SCHEDULED):
    post = Post.objects.create(workspace=channel.workspace, status=Post.Status.SCHEDULED)
    return Delivery.objects.create(
        post=post, channel=channel, status=status, scheduled_for=when, next_attempt_at=when
    )


def test_it_claims_each_periodic_task_once_per_period(db):
    at = now()
    assert claim_periodic("x", timedelta(minutes=5), at=at) is True
    assert claim_periodic("x", timedelta(minutes=5), at=at) is False
    assert claim_periodic("x", timedelta(minutes=5), at=at + timedelta(minutes=4)) is False
    assert claim_periodic("x", timedelta(minutes=5), at=at + timedelta(minutes=5)) is True


def test_it_dispatches_only_due_deliveries_on_active_channels(make_channel, redis_conn):
    active, paused = make_channel(), make_channel(status="paused")
    due = scheduled(active, now() - timedelta(seconds=1))
    later = scheduled(active, now() + timedelta(minutes=1))
    on_paused = scheduled(paused, now() - timedelta(seconds=1))
    assert dispatch_due() == 1
    statuses = dict(Delivery.objects.values_list("pk", "status"))
    assert statuses == {due.pk: "queued", later.pk: "scheduled", on_paused.pk: "scheduled"}


@pytest.mark.django_db(transaction=True)
def test_it_enqueues_one_job_per_claimed_delivery_after_commit(cast, make_channel, redis_conn):
    import django_rq

    channel = make_channel()
    for _ in range(3):
        scheduled(channel, now() - timedelta(seconds=1))
    assert dispatch_due() == 3
    assert django_rq.get_queue("default").count == 3
    assert dispatch_due() == 0  # claimed rows are not handed out twice
    assert django_rq.get_queue("default").count == 3


def test_the_deliveries_command_lists_and_retries(make_channel):
    channel = make_channel()
    late = scheduled(channel, now() - timedelta(minutes=5))
    failed = scheduled(channel, now() - timedelta(hours=1), status=Delivery.Status.FAILED)
    Delivery.objects.filter(pk=failed.pk).update(last_error="Mastodon rejected the post: too long.")
    out = StringIO()
    call_command("deliveries", "overdue", stdout=out)
    assert str(late.code) in out.getvalue() and "1 overdue deliveries" in out.getvalue()
    out = StringIO()
    call_command("deliveries", "failed", stdout=out)
    assert "too long" in out.getvalue()
    call_command("deliveries", "retry", str(failed.code), stdout=StringIO())
    failed.refresh_from_db()
    assert failed.status == Delivery.Status.SCHEDULED and failed.last_error == ""


def test_the_dispatcher_looks_at_periodic_tasks_once_a_second_not_every_tick(
    make_channel, redis_conn, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from posts import dispatch

    dispatcher = dispatch.Dispatcher(interval=0.01)
    clock = [1000.0]
    monkeypatch.setattr(dispatch.time, "monotonic", lambda: clock[0])

    def periodic_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            dispatcher.tick()
        return sum("posts_periodicrun" in q["sql"] for q in queries.captured_queries)

    assert periodic_queries() > 0
    clock[0] += 0.5
    assert periodic_queries() == 0
    clock[0] += 0.6
    assert periodic_queries() > 0
