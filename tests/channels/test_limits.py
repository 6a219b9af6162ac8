"""A channel's limits are read again from its server: by "Check connection" and by the daily job."""

from django.urls import reverse

from channels.limits import refresh_all
from channels.models import Channel
from posts.dispatch import PERIODIC


def test_check_connection_reads_the_servers_new_limits(client, cast, mastodon_channel, fake_mastodon):
    assert mastodon_channel.limits["max_characters"] == 500
    fake_mastodon.max_characters = 300  # the admin lowered it after the channel was connected
    client.force_login(cast.alice)
    response = client.post(
        reverse("channels:verify", kwargs={"slug": "acme", "code": mastodon_channel.code}), follow=True
    )
    assert "is connected and working." in response.text
    assert Channel.objects.get(pk=mastodon_channel.pk).limits["max_characters"] == 300


def test_check_connection_keeps_the_old_limits_when_they_cannot_be_read(
    client, cast, mastodon_channel, fake_mastodon
):
    fake_mastodon.max_characters = 300
    fake_mastodon.fail_next(503, count=3, path="/api/v2/instance")
    fake_mastodon.fail_next(503, count=3, path="/api/v1/instance")
    client.force_login(cast.alice)
    response = client.post(
        reverse("channels:verify", kwargs={"slug": "acme", "code": mastodon_channel.code}), follow=True
    )
    assert "is connected and working. Its limits could not be read again" in response.text
    assert Channel.objects.get(pk=mastodon_channel.pk).limits["max_characters"] == 500


def test_the_daily_job_follows_a_server_that_raised_its_limit(mastodon_channel, fake_mastodon):
    fake_mastodon.max_characters = 5000
    assert refresh_all() == {"changed": 1, "unchanged": 0, "needs_reconnect": 0, "failed": 0}
    assert Channel.objects.get(pk=mastodon_channel.pk).limits["max_characters"] == 5000
    assert refresh_all()["unchanged"] == 1
    assert ("refresh-limits", "posts.jobs.refresh_limits") in [(name, job) for name, _every, job in PERIODIC]


def test_the_daily_job_skips_channels_waiting_for_a_reconnect_and_survives_an_outage(
    mastodon_channel, fake_mastodon
):
    fake_mastodon.max_characters = 5000
    fake_mastodon.fail_next(503, count=3, path="/api/v2/instance")
    fake_mastodon.fail_next(503, count=3, path="/api/v1/instance")
    assert refresh_all()["failed"] == 1
    assert Channel.objects.get(pk=mastodon_channel.pk).limits["max_characters"] == 500
    mastodon_channel.mark_needs_reconnect("The access token was revoked")
    assert refresh_all() == {"changed": 0, "unchanged": 0, "needs_reconnect": 0, "failed": 0}
