"""Tell people: a notification in the dashboard and an email, to the post's author and the admins.

A notification is resolved when its cause goes away (the post it asks to approve was approved or sent
back, the failed delivery went out after all, the channel was reconnected): it is then marked read,
so the badge no longer counts it, and the notifications page shows it as resolved.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.timezone import now

from posts.models import Notification, excerpt
from workspaces.models import Perm

log = logging.getLogger(__name__)

K = Notification.Kind
EXCERPT_LENGTH = 60


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


def _resolve(notifications) -> int:
    """Mark notifications resolved (and read, if they were not yet): one UPDATE."""
    at = now()
    return notifications.filter(resolved=None).update(resolved=at, read=Coalesce(F("read"), Value(at)))


def _about(post) -> str:
    """The start of the post's text, as quoted in messages."""
    first = post.parts.first()
    return excerpt(first.text if first else "", EXCERPT_LENGTH)


def _name(user) -> str:
    return (user.get_full_name() or user.get_username()) if user else "Someone"


def _post_link(post) -> str:
    return reverse("posts:detail", kwargs={"slug": post.workspace.slug, "code": post.code})


def _author_to_tell(post, actor):
    """The post's author, unless they did it themselves or have left the workspace."""
    author = post.author
    if author is None or author.pk == actor.pk or not post.workspace.memberships.filter(user=author).exists():
        return None
    return author


def going_out(post) -> str:
    """When a scheduled post goes out: "now", "on Tue 8 Dec, 09:00 (Europe/Berlin)", or, when its
    channels' times differ, that for each channel ("… on Mastodon @a, and on … on Bluesky @b")."""
    deliveries = post.deliveries.select_related("channel__workspace").order_by(
        "scheduled_for", "channel__network", "channel__handle", "id"
    )
    soon = now() + timedelta(minutes=1)
    channels_at: dict[str, list[str]] = {}
    for delivery in deliveries:
        when = delivery.scheduled_for
        if when is None:
            continue
        if when <= soon:
            phrase = "now"
        else:
            zone = delivery.channel.timezone_name
            local = when.astimezone(delivery.channel.tz)
            year = f" {local.year}" if local.year != soon.astimezone(local.tzinfo).year else ""
            phrase = f"on {local:%a} {local.day} {local:%b}{year}, {local:%H:%M} ({zone})"
        channels_at.setdefault(phrase, []).append(str(delivery.channel))
    if len(channels_at) <= 1:
        return next(iter(channels_at), "once it is scheduled")
    return ", and ".join(f"{phrase} on {' and '.join(channels)}" for phrase, channels in channels_at.items())


def delivery_failed(delivery) -> None:
    post, channel = delivery.post, delivery.channel
    kind = K.NEEDS_ATTENTION if delivery.status == delivery.Status.NEEDS_ATTENTION else K.DELIVERY_FAILED
    message = f"Not published on {channel}: {delivery.last_error} (post “{_about(post)}”)"
    _send(
        post.workspace,
        _recipients(post.workspace, post.author),
        kind,
        message,
        _post_link(post),
        post=post,
        channel=channel,
    )


def delivery_published(delivery) -> None:
    """The delivery went out: the notices that it had failed or needed attention are resolved.

    Called in the transaction that marks it published. Only a delivery that was tried again can have
    such a notice, and every way of trying again (a retry after an error, the user's Retry, the
    sweeper, a release after a reconnect) moves its next attempt past its scheduled time: a delivery
    published at its first try costs no statement here.
    """
    if delivery.attempts <= 1 and delivery.next_attempt_at == delivery.scheduled_for:
        return
    _resolve(
        Notification.objects.filter(
            post_id=delivery.post_id,
            channel_id=delivery.channel_id,
            kind__in=[K.DELIVERY_FAILED, K.NEEDS_ATTENTION],
        )
    )


def attention_resolved(delivery) -> int:
    """A person linked the post that went out: the notices that the delivery failed or needed attention
    are resolved."""
    return _resolve(
        Notification.objects.filter(
            post_id=delivery.post_id,
            channel_id=delivery.channel_id,
            kind__in=[K.DELIVERY_FAILED, K.NEEDS_ATTENTION],
        )
    )


def channel_needs_reconnect(channel) -> None:
    message = f"{channel} needs to be reconnected: {channel.last_error} Its posts wait until then."
    link = reverse("channels:list", kwargs={"slug": channel.workspace.slug})
    _send(
        channel.workspace,
        _recipients(channel.workspace),
        K.CHANNEL_RECONNECT,
        message,
        link,
        channel=channel,
    )


def channel_reconnected(channel) -> int:
    """The channel works again: the notices asking to reconnect it are resolved."""
    return _resolve(Notification.objects.filter(channel=channel, kind=K.CHANNEL_RECONNECT))


def approval_settled(post) -> int:
    """The post no longer waits for a decision (approved, sent back, edited back to a draft, or
    submitted again): earlier requests to approve it, and earlier 'sent back' notices, are resolved."""
    return _resolve(
        Notification.objects.filter(post=post, kind__in=[K.APPROVAL_REQUESTED, K.CHANGES_REQUESTED])
    )


def approval_requested(post) -> None:
    """A post waits for approval: tell everyone who may approve it (but its author)."""
    approval_settled(post)  # a post submitted again asks once, not once per submission
    approvers = [m.user for m in post.workspace.members_with(Perm.PUBLISH) if m.user_id != post.author_id]
    if not approvers:
        return
    message = f"{_name(post.author)} asks for approval of “{_about(post)}”."
    _send(post.workspace, approvers, K.APPROVAL_REQUESTED, message, _post_link(post), post=post)


def approved(post, approver) -> None:
    """The post was approved: the requests are resolved, and its author hears when it goes out."""
    approval_settled(post)
    author = _author_to_tell(post, approver)
    if author is None:
        return
    message = f"{_name(approver)} approved your post “{_about(post)}”: it goes out {going_out(post)}."
    _send(post.workspace, [author], K.APPROVED, message[:1000], _post_link(post), post=post)


def sent_back(post, sender, comment: str) -> None:
    """The author hears that their post came back with a comment (unless they sent it back themselves)."""
    approval_settled(post)
    author = _author_to_tell(post, sender)
    if author is None:
        return
    message = f"{_name(sender)} sent back your post “{_about(post)}”: {comment}"[:1000]
    _send(post.workspace, [author], K.CHANGES_REQUESTED, message, _post_link(post), post=post)


def commented(comment) -> None:
    """The post's author hears about a comment someone else wrote on it."""
    post = comment.post
    author = _author_to_tell(post, comment.author)
    if author is None:
        return
    message = f"{_name(comment.author)} commented on your post “{_about(post)}”: {comment.text}"[:1000]
    _send(post.workspace, [author], K.COMMENTED, message, _post_link(post), post=post)
