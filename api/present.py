"""Model rows to the plain dicts the API answers with (the shapes are in api/schemas.py).

Callers load related rows up front (see POST_PREFETCH, DELIVERY_RELATED) so a list costs a fixed
number of queries whatever its length.
"""

from django.conf import settings
from django.db.models import Prefetch
from django.urls import reverse

from channels.networks import adapter_class
from posts.models import Delivery, Media, PostPart

POST_PREFETCH = [
    Prefetch("parts", queryset=PostPart.objects.order_by("index").prefetch_related("media")),
    Prefetch("deliveries", queryset=Delivery.objects.select_related("channel").order_by("id")),
]
POST_RELATED = ["author", "approved_by", "workspace"]


def channel_limits(channel) -> dict:
    # Without building an adapter: that would decrypt the channel's credentials for nothing.
    return {**adapter_class(channel.network).default_limits, **(channel.limits or {})}


def channel_out(channel) -> dict:
    return {
        "code": channel.code,
        "network": channel.network,
        "handle": channel.handle,
        "display_name": channel.display_name,
        "avatar_url": channel.avatar_url,
        "server_url": channel.server_url,
        "status": channel.status,
        "timezone": channel.timezone_name,
        "last_error": channel.last_error,
        "limits": channel_limits(channel),
        "token_expires": channel.token_expires,
        "created": channel.created,
    }


def media_out(media: Media) -> dict:
    return {
        "code": media.code,
        "mime_type": media.mime_type,
        "size": media.size,
        "width": media.width,
        "height": media.height,
        "alt_text": media.alt_text,
        "created": media.created,
    }


def delivery_out(delivery: Delivery, post_code=None) -> dict:
    return {
        "code": delivery.code,
        "post": post_code or delivery.post.code,
        "channel": delivery.channel.code,
        "network": delivery.channel.network,
        "status": delivery.status,
        "scheduled_for": delivery.scheduled_for,
        "in_queue": delivery.in_queue,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "published_at": delivery.published_at,
        "remote_url": delivery.remote_url,
        "remote_urls": [part.get("url", "") for part in delivery.remote_parts or []],
        "last_error": delivery.last_error,
        "text_overrides": list(delivery.text_overrides or []),
        "updated": delivery.updated,
    }


def delivery_detail_out(delivery: Delivery) -> dict:
    return {
        **delivery_out(delivery),
        "attempt_log": [
            {
                "number": a.number,
                "started": a.started,
                "finished": a.finished,
                "outcome": a.outcome,
                "message": a.message,
                "part": a.part,
            }
            for a in delivery.attempt_log.all()
        ],
    }


def post_url(post) -> str:
    path = reverse("posts:detail", kwargs={"slug": post.workspace.slug, "code": post.code})
    return settings.SITE_URL.rstrip("/") + path


def post_out(post) -> dict:
    deliveries = list(post.deliveries.all())
    return {
        "code": post.code,
        "status": post.status,
        "mode": post.mode,
        "scheduled_at": post.first_time(),
        "author": post.author.get_username() if post.author else None,
        "approved_by": post.approved_by.get_username() if post.approved_by else None,
        "created": post.created,
        "updated": post.updated,
        "options": post.options or {},
        "parts": [
            {"index": part.index, "text": part.text, "media": [media_out(m) for m in part.media.all()]}
            for part in post.parts.all()
        ],
        "channels": [d.channel.code for d in deliveries],
        "deliveries": [delivery_out(d, post.code) for d in deliveries],
        "dashboard_url": post_url(post),
    }
