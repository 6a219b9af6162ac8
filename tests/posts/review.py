"""What the review pages' tests share: addresses, a contributor's submission, and many posts in bulk."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.timezone import now

from posts.models import Comment, Delivery, DeliveryAttempt, Media, MetricSnapshot, Post, PostPart
from tests.posts.engine import compose

S = Delivery.Status


def url(name, **kwargs):
    return reverse(name, kwargs={"slug": "acme", **kwargs})


def page(client, name, **kwargs):
    response = client.get(url(name, **kwargs))
    assert response.status_code == 200
    return response.content.decode()


def submit(cast, channel, text, **kwargs):
    """carol is a contributor: whatever she schedules waits for approval."""
    post = compose(cast.carol, cast.workspace, [channel], [text], **kwargs)
    assert post.status == Post.Status.PENDING_APPROVAL
    return post


def build_posts(workspace, channels, count, author=None):
    """`count` posts in every state the dashboard shows, each with deliveries, attempts, metrics and
    comments, created in bulk."""
    statuses = [S.PUBLISHED, S.FAILED, S.NEEDS_ATTENTION, S.HELD, S.SCHEDULED]
    at = now()
    posts = Post.objects.bulk_create(
        [
            Post(
                workspace=workspace,
                author=author,
                status=Post.Status.PENDING_APPROVAL if i % 3 == 0 else Post.Status.SCHEDULED,
                mode=Post.Mode.AT,
            )
            for i in range(count)
        ]
    )
    PostPart.objects.bulk_create(
        [PostPart(post=p, index=k, text=f"Post {i} part {k}") for i, p in enumerate(posts) for k in (0, 1)]
    )
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(
                post=p,
                channel=channel,
                status=statuses[(i + j) % len(statuses)],
                scheduled_for=at - timedelta(hours=i),
                next_attempt_at=at + timedelta(hours=i + 1),
                published_at=at - timedelta(minutes=i),
                remote_url=f"https://example.org/@x/{i}{j}",
                last_error="The network said no.",
                attempts=1,
            )
            for i, p in enumerate(posts)
            for j, channel in enumerate(channels)
        ]
    )
    DeliveryAttempt.objects.bulk_create(
        [
            DeliveryAttempt(delivery=d, number=n, outcome=DeliveryAttempt.Outcome.RETRY, message="Timed out.")
            for d in deliveries
            for n in (1, 2)
        ]
    )
    MetricSnapshot.objects.bulk_create(
        [
            MetricSnapshot(delivery=d, likes=n, taken=at - timedelta(hours=n))
            for d in deliveries
            for n in (1, 2)
        ]
    )
    Comment.objects.bulk_create([Comment(post=p, author=author, text="Looks good") for p in posts])
    return posts


def dress(posts):
    """Give every other delivery its own text for part 1, and each part two images (one without alt
    text): what the approvals and post pages show per channel."""
    parts = list(PostPart.objects.filter(post__in=posts).select_related("post"))
    Media.objects.bulk_create(
        [
            Media(
                workspace_id=part.post.workspace_id,
                part=part,
                position=n,
                file=f"uploads/{part.pk}-{n}.png",
                mime_type="image/png",
                width=40,
                height=30,
                alt_text="A red square" if n == 0 else "",
            )
            for part in parts
            for n in (0, 1)
        ]
    )
    deliveries = list(Delivery.objects.filter(post__in=posts).order_by("id"))
    for delivery in deliveries[::2]:
        delivery.text_overrides = [f"Own text for {delivery.channel_id}", None]
    Delivery.objects.bulk_update(deliveries[::2], ["text_overrides"])


def queries_for(client, path):
    """Queries of one request, after a first one has done the once-per-user work (profile, session)."""
    assert client.get(path).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return len(queries)
