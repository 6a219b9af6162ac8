"""Post detail, retries and the signed public media URLs."""

import mimetypes

from django.contrib import messages
from django.core import signing
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from posts import composing
from posts.models import Delivery, Media, Post
from workspaces.access import get_for_workspace, workspace_view
from workspaces.models import Perm

PUBLIC_MEDIA_MAX_AGE = 2 * 24 * 3600


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


@workspace_view(Perm.VIEW)
def detail(request, code):
    post = get_for_workspace(Post, request.workspace, code=code)
    deliveries = post.deliveries.select_related("channel").prefetch_related("attempt_log")
    return render(
        request,
        "posts/detail.html",
        {
            "post": post,
            "parts": post.parts.prefetch_related("media"),
            "deliveries": deliveries,
            "comments": post.comments.select_related("author"),
        },
    )


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
    return redirect("posts:detail", slug=request.workspace.slug, code=delivery.post.code)


urlpatterns = [
    path("m/<str:token>", public_media, name="public-media"),
    path("w/<slug:slug>/posts/<uuid:code>/", detail, name="detail"),
    path("w/<slug:slug>/deliveries/<uuid:code>/retry/", retry_delivery, name="retry-delivery"),
]
