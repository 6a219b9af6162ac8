import uuid
from urllib.parse import quote

from django.urls import reverse
from django.utils.html import escape

from channels.models import Channel


def make(cast):
    return Channel.objects.create(
        workspace=cast.workspace,
        network="mastodon",
        remote_id=str(uuid.uuid4()),
        handle="@a@example.org",
        server_url="https://example.org",
    )


def test_it_pauses_and_resumes_a_channel_and_returns_to_the_queue(client, cast):
    channel = make(cast)
    client.force_login(cast.alice)
    queue = reverse("posts:channel-queue", kwargs={"slug": "acme", "code": channel.code})
    response = client.post(
        reverse("channels:pause", kwargs={"slug": "acme", "code": channel.code}), {"next": queue}
    )
    assert response.url == queue
    assert Channel.objects.get(pk=channel.pk).status == Channel.Status.PAUSED
    response = client.post(
        reverse("channels:resume", kwargs={"slug": "acme", "code": channel.code}),
        {"next": "https://evil.example/"},
    )
    assert response.url == reverse("channels:list", kwargs={"slug": "acme"})
    assert Channel.objects.get(pk=channel.pk).status == Channel.Status.ACTIVE


def test_it_disconnects_a_channel_and_forgets_its_credentials(client, cast):
    channel = make(cast)
    channel.set_credentials({"access_token": "secret-token-123"})
    channel.save()
    client.force_login(cast.alice)
    client.post(reverse("channels:disconnect", kwargs={"slug": "acme", "code": channel.code}))
    assert not Channel.objects.filter(pk=channel.pk).exists()


def test_the_channel_list_never_shows_credentials(client, cast):
    channel = make(cast)
    channel.set_credentials({"access_token": "secret-token-123"})
    channel.save()
    client.force_login(cast.alice)
    page = client.get(reverse("channels:list", kwargs={"slug": "acme"})).content.decode()
    assert "@a@example.org" in page and "secret-token-123" not in page


def test_it_does_not_disconnect_a_channel_while_it_publishes(client, cast):
    from posts.models import Delivery, Post

    channel = make(cast)
    Delivery.objects.create(
        post=Post.objects.create(workspace=cast.workspace), channel=channel, status=Delivery.Status.PUBLISHING
    )
    client.force_login(cast.alice)
    response = client.post(
        reverse("channels:disconnect", kwargs={"slug": "acme", "code": channel.code}), follow=True
    )
    assert "publishing right now" in response.content.decode()
    assert Channel.objects.filter(pk=channel.pk).exists()


def test_a_channel_that_needs_reconnecting_offers_reconnect_everywhere(client, cast, mastodon_channel):
    mastodon_channel.mark_needs_reconnect("Mastodon refused the token.")
    client.force_login(cast.alice)
    reconnect = f"/w/acme/channels/connect/mastodon/?server={quote(mastodon_channel.server_url, safe='')}"

    overview = client.get("/w/acme/").content.decode()
    listing = client.get("/w/acme/channels/").content.decode()
    detail = client.get(f"/w/acme/channels/{mastodon_channel.code}/").content.decode()

    for page in (overview, listing, detail):
        assert f'href="{escape(reconnect)}"' in page
    assert "Mastodon refused the token." in detail
    form = client.get(reconnect).context["signin_form"]
    assert form["instance_url"].value() == mastodon_channel.server_url


def test_a_bluesky_reconnect_keeps_the_handle_and_server(client, cast, bluesky_channel):
    client.force_login(cast.alice)
    form = client.get(bluesky_channel.reconnect_url()).context["form"]
    assert form["handle"].value() == bluesky_channel.handle
    assert form["pds_url"].value() == bluesky_channel.server_url


def test_the_channel_page_leads_to_its_queue_schedule_and_calendar(client, cast, mastodon_channel):
    client.force_login(cast.victor)  # a viewer: no connection buttons
    page = client.get(f"/w/acme/channels/{mastodon_channel.code}/").content.decode()
    assert f"/w/acme/channels/{mastodon_channel.code}/queue/" in page or "Queue of this channel" in page
    assert "Posting schedule" in page and "Calendar of this channel" in page
    assert "Check connection" not in page
