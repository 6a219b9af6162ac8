import uuid

from django.urls import reverse

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
