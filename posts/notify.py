"""Tell people: a notification in the dashboard and an email, to the post's author and the admins."""

import logging

from django.conf import settings
from django.core.mail import send_mass_mail
from django.urls import reverse

from posts.models import Notification
from workspaces.models import Perm

log = logging.getLogger(__name__)


def _recipients(workspace, author=None):
    users = {m.user for m in workspace.members_with(Perm.MANAGE_CHANNELS)}
    if author is not None and workspace.memberships.filter(user=author).exists():
        users.add(author)
    return sorted(users, key=lambda u: u.pk)


def _send(workspace, users, kind, message, link, post=None, channel=None) -> None:
    Notification.objects.bulk_create(
        [
            Notification(workspace=workspace, user=u, kind=kind, message=message, post=post, channel=channel)
            for u in users
        ]
    )
    url = settings.SITE_URL + link
    subject = f"[{workspace.name}] {Notification.Kind(kind).label}"
    mails = [(subject, f"{message}\n\n{url}\n", None, [u.email]) for u in users if u.email]
    try:
        send_mass_mail(mails, fail_silently=False)
    except OSError:
        # The dashboard notification is the record; a mail server outage must not fail the job.
        log.exception("could not send %d notification email(s)", len(mails))


def delivery_failed(delivery) -> None:
    post, channel = delivery.post, delivery.channel
    kind = (
        Notification.Kind.NEEDS_ATTENTION
        if delivery.status == "needs_attention"
        else Notification.Kind.DELIVERY_FAILED
    )
    excerpt = (post.parts.first().text if post.parts.exists() else "")[:60]
    message = f"Not published on {channel}: {delivery.last_error} (post “{excerpt}”)"
    link = reverse("posts:detail", kwargs={"slug": post.workspace.slug, "code": post.code})
    _send(
        post.workspace,
        _recipients(post.workspace, post.author),
        kind,
        message,
        link,
        post=post,
        channel=channel,
    )


def channel_needs_reconnect(channel) -> None:
    message = f"{channel} needs to be reconnected: {channel.last_error} Its posts wait until then."
    link = reverse("channels:list", kwargs={"slug": channel.workspace.slug})
    _send(
        channel.workspace,
        _recipients(channel.workspace),
        Notification.Kind.CHANNEL_RECONNECT,
        message,
        link,
        channel=channel,
    )


def approval_requested(post) -> None:
    """A post waits for approval: tell everyone who may approve it (but its author)."""
    approvers = [m.user for m in post.workspace.members_with(Perm.PUBLISH) if m.user_id != post.author_id]
    if not approvers:
        return
    first = post.parts.first()
    excerpt = (first.text if first else "")[:60]
    author = post.author.get_full_name() or post.author.get_username() if post.author else "Someone"
    message = f"{author} asks for approval of “{excerpt}”."
    link = reverse("posts:detail", kwargs={"slug": post.workspace.slug, "code": post.code})
    _send(post.workspace, approvers, Notification.Kind.APPROVAL_REQUESTED, message, link, post=post)


def sent_back(post, sender, comment: str) -> None:
    """The author hears that their post came back with a comment (unless they sent it back themselves)."""
    author = post.author
    if (
        author is None
        or author.pk == sender.pk
        or not post.workspace.memberships.filter(user=author).exists()
    ):
        return
    first = post.parts.first()
    excerpt = (first.text if first else "")[:60]
    message = f"{sender.get_username()} sent back your post “{excerpt}”: {comment}"[:1000]
    link = reverse("posts:detail", kwargs={"slug": post.workspace.slug, "code": post.code})
    _send(post.workspace, [author], Notification.Kind.CHANGES_REQUESTED, message, link, post=post)
