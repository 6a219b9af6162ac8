"""The notifications page: a member's own notifications in this workspace, marked read together."""

from posts.models import Notification
from tests.posts.review import page, url


def test_it_lists_my_notifications_and_marks_them_read(client, cast, make_channel):
    channel = make_channel()
    Notification.objects.create(
        workspace=cast.workspace,
        user=cast.alice,
        kind=Notification.Kind.CHANNEL_RECONNECT,
        message="Mastodon @x needs to be reconnected.",
        channel=channel,
    )
    Notification.objects.create(
        workspace=cast.workspace,
        user=cast.bob,
        kind=Notification.Kind.DELIVERY_FAILED,
        message="Bob's only",
    )
    Notification.objects.create(
        workspace=cast.other,
        user=cast.alice,
        kind=Notification.Kind.DELIVERY_FAILED,
        message="Elsewhere",
    )
    client.force_login(cast.alice)
    html = page(client, "posts:notifications")
    assert "Mastodon @x needs to be reconnected." in html and "1 unread" in html
    assert "Bob's only" not in html and "Elsewhere" not in html
    assert f"#channel-{channel.code}" in html
    response = client.post(url("posts:notifications-read"), follow=True)
    assert "Marked 1 notification as read." in response.content.decode()
    assert not Notification.objects.filter(user=cast.alice, workspace=cast.workspace, read=None).exists()
    assert Notification.objects.filter(user=cast.bob, read=None).exists()
    assert Notification.objects.filter(workspace=cast.other, read=None).exists()
