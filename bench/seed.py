"""Fast creation of benchmark data: channels connected to fake networks, and posts in bulk.

Channels go through the real connect code (so their credentials are what production stores);
posts, parts and deliveries are written with bulk_create in batches, which is what makes 100,000
posts a matter of seconds instead of the composer's per-post validation.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

BATCH = 2000


def periodic_tasks_just_ran() -> None:
    """Mark every periodic task as just run, so none of them (a daily read of every channel's limits,
    metrics) runs inside the measured burst: a fresh database would run them all at the dispatcher's
    first start."""
    from django.utils.timezone import now

    from posts.dispatch import PERIODIC
    from posts.models import PeriodicRun

    for name, _every, _job in PERIODIC:
        PeriodicRun.objects.update_or_create(name=name, defaults={"last_run": now()})


def make_owner(username: str = "bench"):
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        user = user_model.objects.create_user(username, f"{username}@example.org", "bench-password-1")
    return user


def make_workspaces(owner, count: int, prefix: str = "bench"):
    from workspaces.models import Membership, Role, Workspace

    workspaces = Workspace.objects.bulk_create(
        [Workspace(name=f"Bench {i}", slug=f"{prefix}-{i}", timezone="Europe/Berlin") for i in range(count)]
    )
    workspaces = list(Workspace.objects.filter(slug__startswith=f"{prefix}-").order_by("id"))
    Membership.objects.bulk_create([Membership(workspace=w, user=owner, role=Role.OWNER) for w in workspaces])
    return workspaces


def connect_channel(workspace, network: str, url: str, credentials: dict):
    """Connect one account of a fake network through the adapter's own connect code."""
    from channels.models import Channel

    if network == "mastodon":
        from channels.networks.mastodon.connecting import connect_with_token

        account = connect_with_token(url, credentials["token"])
    elif network == "bluesky":
        from channels.networks.bluesky.connecting import connect

        account = connect(credentials["handle"], credentials["app_password"], url)
    else:
        from channels.networks.threads.connecting import connect_with_token

        account = connect_with_token(credentials["token"])
    return Channel.objects.save_connected(workspace, account)


def burst(owner, channels: list, count: int, at: datetime, label: str = "Burst") -> dict[str, int]:
    """`count` one-part posts, one delivery each, spread round-robin over `channels`, all due at `at`.

    Returns {text: delivery id}; every text is unique so the fakes' records map back to deliveries.
    """
    from posts.models import Delivery, Post, PostPart

    run = uuid.uuid4().hex[:8]
    texts = {}
    for start in range(0, count, BATCH):
        indexes = range(start, min(count, start + BATCH))
        chosen = [channels[i % len(channels)] for i in indexes]
        posts = Post.objects.bulk_create(
            [
                Post(
                    workspace_id=channel.workspace_id,
                    author=owner,
                    status=Post.Status.SCHEDULED,
                    mode=Post.Mode.AT,
                )
                for channel in chosen
            ]
        )
        batch_texts = [f"{label} {run} number {i}" for i in indexes]
        PostPart.objects.bulk_create(
            [PostPart(post=post, index=0, text=text) for post, text in zip(posts, batch_texts, strict=True)]
        )
        deliveries = Delivery.objects.bulk_create(
            [
                Delivery(
                    post=post,
                    channel=channel,
                    status=Delivery.Status.SCHEDULED,
                    scheduled_for=at,
                    next_attempt_at=at,
                )
                for post, channel in zip(posts, chosen, strict=True)
            ]
        )
        texts.update({text: d.pk for text, d in zip(batch_texts, deliveries, strict=True)})
    return texts


def make_due_at(delivery_ids, at: datetime, spread: float = 0.0) -> dict[int, datetime]:
    """Make deliveries due at `at`, or evenly over the `spread` seconds from `at` in the given order.

    Set after creation, so creating them cannot make them late. Returns {delivery id: due time}.
    """
    from posts.models import Delivery

    ids = list(delivery_ids)
    step = spread / len(ids) if ids else 0.0
    due = {pk: at + timedelta(seconds=i * step) for i, pk in enumerate(ids)}
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        if not spread:
            Delivery.objects.filter(pk__in=chunk).update(scheduled_for=at, next_attempt_at=at)
            continue
        deliveries = list(Delivery.objects.filter(pk__in=chunk).only("pk", "post_id"))
        for delivery in deliveries:
            delivery.scheduled_for = delivery.next_attempt_at = due[delivery.pk]
        Delivery.objects.bulk_update(deliveries, ["scheduled_for", "next_attempt_at"])
    return due
