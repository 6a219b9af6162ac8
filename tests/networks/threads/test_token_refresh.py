"""The daily Threads token refresh job, against the fake Threads Graph server."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from channels.jobs import refresh_credentials
from channels.models import Channel
from channels.networks.threads.connecting import connect_with_token

pytestmark = pytest.mark.django_db


def expiring_in(channel, days):
    Channel.objects.filter(pk=channel.pk).update(token_expires=timezone.now() + timedelta(days=days))
    channel.refresh_from_db()
    return channel


def second_channel(fake, workspace, username="acme.news"):
    user_id = fake.add_user(username)
    return Channel.objects.save_connected(workspace, connect_with_token(fake.issue_token(user_id)))


def test_it_refreshes_tokens_that_expire_within_a_week(threads_channel, fake_threads):
    channel = expiring_in(threads_channel, 3)
    old = channel.get_credentials()["access_token"]

    summary = refresh_credentials()

    channel.refresh_from_db()
    new = channel.get_credentials()
    assert summary == {"refreshed": 1, "needs_reconnect": 0, "failed": 0, "skipped": 0}
    assert new["access_token"] != old
    assert fake_threads.tokens[new["access_token"]].kind == "long"
    assert new["user_id"] == fake_threads.default_user
    assert timedelta(days=59) < channel.token_expires - timezone.now() < timedelta(days=61)
    assert channel.status == Channel.Status.ACTIVE
    # The new token works for publishing.
    assert channel.adapter().verify().handle == "@acme.threads"


def test_it_leaves_tokens_with_time_to_spare_alone(threads_channel, fake_threads):
    channel = expiring_in(threads_channel, 30)
    old = channel.get_credentials()["access_token"]

    assert refresh_credentials()["refreshed"] == 0
    channel.refresh_from_db()
    assert channel.get_credentials()["access_token"] == old
    assert fake_threads.calls("GET", "refresh_access_token") == []


def test_it_never_blanks_a_token(threads_channel, fake_threads, caplog):
    caplog.set_level(logging.DEBUG)
    channel = expiring_in(threads_channel, 2)
    before = channel.get_credentials()
    expires = channel.token_expires
    fake_threads.refresh_mode = "no_token"

    summary = refresh_credentials()

    channel.refresh_from_db()
    assert summary["failed"] == 1
    assert channel.get_credentials() == before
    assert channel.token_expires == expires
    assert channel.status == Channel.Status.ACTIVE
    assert before["access_token"] not in caplog.text


def test_it_marks_the_channel_for_reconnecting_when_threads_refuses_the_token(threads_channel, fake_threads):
    channel = expiring_in(threads_channel, 1)
    before = channel.get_credentials()
    fake_threads.refresh_mode = "error190"

    summary = refresh_credentials()

    channel.refresh_from_db()
    assert summary["needs_reconnect"] == 1
    assert channel.status == Channel.Status.NEEDS_RECONNECT
    assert "Reconnect the channel" in channel.last_error
    assert channel.get_credentials() == before
    # Already waiting for a reconnect: the next run leaves it alone.
    assert refresh_credentials() == {"refreshed": 0, "needs_reconnect": 0, "failed": 0, "skipped": 0}


def test_one_channels_failure_does_not_stop_the_others(threads_channel, fake_threads, cast):
    first = expiring_in(threads_channel, 1)
    fake_threads.revoke(first.get_credentials()["access_token"])
    other = expiring_in(second_channel(fake_threads, cast.workspace), 1)
    old_other = other.get_credentials()["access_token"]

    summary = refresh_credentials()

    first.refresh_from_db()
    other.refresh_from_db()
    assert summary["needs_reconnect"] == 1 and summary["refreshed"] == 1
    assert first.status == Channel.Status.NEEDS_RECONNECT
    assert other.status == Channel.Status.ACTIVE
    assert other.get_credentials()["access_token"] != old_other


def test_it_refreshes_a_pasted_token_once_it_is_a_day_old(fake_threads, cast):
    channel = second_channel(fake_threads, cast.workspace)
    assert channel.token_expires is None

    assert refresh_credentials()["skipped"] == 1  # Meta refreshes tokens only once they are a day old
    summary = refresh_credentials(now=timezone.now() + timedelta(hours=25))

    channel.refresh_from_db()
    assert summary["refreshed"] == 1
    assert timedelta(days=59) < channel.token_expires - timezone.now() < timedelta(days=61)


def test_it_refreshes_paused_channels_too(threads_channel, fake_threads):
    channel = expiring_in(threads_channel, 5)
    Channel.objects.filter(pk=channel.pk).update(status=Channel.Status.PAUSED)

    assert refresh_credentials()["refreshed"] == 1
    channel.refresh_from_db()
    assert channel.status == Channel.Status.PAUSED
