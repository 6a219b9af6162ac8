"""Post detail, retries and the signed public media URLs.

The delivery helpers here (`describe_delivery`, `deliveries_for_display`) are shared with the review
pages (posts/views/review.py), whose live-status endpoint renders the same fragment
(posts/_delivery_status.html).
"""

import mimetypes

from django.contrib import messages
from django.core import signing
from django.db.models import Prefetch
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from channels.models import Channel
from posts import composing, previews
from posts.models import Comment, Delivery, Media, Post, PostPart, latest_metrics
from workspaces.access import get_for_workspace, safe_next, workspace_view
from workspaces.models import Perm

PUBLIC_MEDIA_MAX_AGE = 2 * 24 * 3600

S = Delivery.Status


def public_media(request, token: str):
    """Media for networks that download it themselves (Threads): a signed URL that expires in two days."""
    try:
        code = signing.loads(token, salt="media", max_age=PUBLIC_MEDIA_MAX_AGE)
    except signing.BadSignature:
        raise Http404("This media link is invalid or has expired.") from None
    media = Media.objects.filter(code=code).first()
    if media is None:
        raise Http404("No such media.")
    content_type = media.mime_type or mimetypes.guess_type(media.file.name)[0] or "application/octet-stream"
    response = FileResponse(media.file.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


def plain_reason(delivery: Delivery) -> str:
    """Why a delivery did not go out, as a sentence or two a marketer can act on."""
    channel = delivery.channel
    if delivery.status == S.HELD:
        why = delivery.last_error or f"{channel} needs reconnecting."
        return f"{why} It goes out once {channel} is reconnected."
    if delivery.status == S.NEEDS_ATTENTION:
        why = delivery.last_error or "We could not tell whether the network received this post."
        return (
            f"{why} Find it on {channel.network_label}: link the post if it is there, or post it if it isn't."
        )
    if delivery.status == S.FAILED:
        return delivery.last_error or "It could not be published, and the network gave no reason."
    return delivery.last_error


def describe_delivery(delivery: Delivery) -> Delivery:
    """Set `reason`, which the delivery-status fragment shows."""
    delivery.reason = plain_reason(delivery)
    return delivery


def deliveries_for_display(queryset):
    """Deliveries with their channel (and its zone), attempt log and latest metrics, in a fixed number
    of queries whatever their count."""
    return (
        queryset.select_related("channel__workspace").with_latest_metric_id().prefetch_related("attempt_log")
    )


def outgoing(post: Post, deliveries, *, link_cards: bool) -> list[dict]:
    """What goes out on each channel, channels that publish the same text together: each part's text
    (the channel's own or the post's, read as the publisher reads it), its images and each channel's
    preview (with link cards if `link_cards`: the member may fetch them). Uses the post's parts and
    media and the deliveries' channels as loaded: prefetched, it runs no query."""
    parts = list(post.parts.all())
    options = post.options or {}
    groups: dict[tuple[str, ...], dict] = {}
    for delivery in deliveries:
        delivery.post = post  # the publisher reads the parts through it: no query of its own
        texts = tuple(content.text for content in delivery.part_contents())
        group = groups.get(texts)
        if group is None:
            group = groups[texts] = {
                "key": str(delivery.code),
                "deliveries": [],
                "parts": [
                    {
                        "number": part.index + 1,
                        "text": text,
                        "own": text != part.text,
                        "media": [previews.media_item(m) for m in part.media.all()],
                    }
                    for part, text in zip(parts, texts, strict=True)
                ],
                "previews": [],
            }
            group["own"] = any(p["own"] for p in group["parts"])
        channel = delivery.channel
        rows = [
            previews.row(
                key=str(delivery.code),
                index=part.index,
                text=text,
                network=channel.network,
                options=options,
                media=list(part.media.all()),
                link_card=link_cards,
            )
            for part, text in zip(parts, texts, strict=True)
        ]
        group["deliveries"].append(delivery)
        group["previews"].append(previews.panel(channel, options, rows))
    return list(groups.values())


def detail_context(request, post: Post) -> dict:
    """Everything the detail page shows; `post` comes from post_for_detail (comments prefetched)."""
    post.can_approve = can_approve(post, request.membership)
    deliveries = latest_metrics(
        deliveries_for_display(post.deliveries.all()).order_by("channel__network", "channel__handle", "id")
    )
    for delivery in deliveries:
        describe_delivery(delivery)
    parts = list(post.parts.all())
    for part in parts:
        part.preview_media = [previews.media_item(m) for m in part.media.all()]
    post.outgoing = outgoing(post, deliveries, link_cards=request.membership.can(Perm.COMPOSE))
    # Edit only while nothing is out or going out (composing.compose refuses otherwise).
    locked = any(d.is_busy for d in deliveries)
    return {
        "post": post,
        "parts": parts,
        "deliveries": deliveries,
        "editable": not locked,
    }


def can_approve(post: Post, membership) -> bool:
    """What composing.approve will allow, so the page offers only buttons that work."""
    if post.status != Post.Status.PENDING_APPROVAL or not membership.can(Perm.PUBLISH):
        return False
    return not (
        post.author_id == membership.user_id
        and membership.workspace.require_approval
        and not membership.can(Perm.MANAGE_WORKSPACE)
    )


def channel_for(request, code) -> Channel:
    """The workspace's channel with this code (404 for any other), its workspace attached."""
    channel = get_for_workspace(Channel, request.workspace, code=code)
    channel.workspace = request.workspace
    return channel


def post_for_detail(workspace, code):
    comments = Comment.objects.select_related("author")
    return get_for_workspace(
        Post.objects.select_related("author", "approved_by").prefetch_related(
            Prefetch("comments", queryset=comments),
            Prefetch("parts", queryset=PostPart.objects.prefetch_related("media")),
        ),
        workspace,
        code=code,
    )


def render_detail(request, post: Post, status: int = 200, **extra):
    context = detail_context(request, post)
    context.update(extra)
    return render(request, "posts/detail.html", context, status=status)


@workspace_view(Perm.VIEW)
def detail(request, code):
    post = post_for_detail(request.workspace, code)
    return render_detail(request, post)


@workspace_view(Perm.PUBLISH)
@require_POST
def retry_delivery(request, code):
    delivery = get_for_workspace(
        Delivery.objects.select_related("post", "channel"), request.workspace, code=code
    )
    try:
        composing.retry(delivery)
    except composing.PostInvalid as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Retrying on {delivery.channel} now.")
    fallback = reverse("posts:detail", kwargs={"slug": request.workspace.slug, "code": delivery.post.code})
    return redirect(safe_next(request, fallback))


urlpatterns = [
    path("m/<str:token>", public_media, name="public-media"),
    path("w/<slug:slug>/posts/<uuid:code>/", detail, name="detail"),
    path("w/<slug:slug>/deliveries/<uuid:code>/retry/", retry_delivery, name="retry-delivery"),
]
