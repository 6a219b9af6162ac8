"""Approvals, comments, published and failed deliveries, live delivery status and notifications.

The approve / send back / comment forms appear on the approvals page and on the post detail page;
their `return_to` field says which page to go back to, and which page to re-render with the errors
beside the field when the form is refused. With htmx only the form's fragment is swapped.
"""

import logging

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Prefetch
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.timezone import now
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from channels.models import Channel
from posts import composing, notify, states
from posts.models import Comment, Delivery, Notification, Post, PostPart, latest_metrics
from posts.views import attention
from posts.views.common import (
    can_approve,
    deliveries_for_display,
    describe_delivery,
    outgoing,
    plain_reason,
    render_detail,
)
from workspaces.access import get_for_workspace, workspace_view
from workspaces.models import Perm

log = logging.getLogger(__name__)

PAGE_SIZE = 50
COMMENT_MAX_LENGTH = 5000
S = Delivery.Status


def review_posts(workspace):
    """Posts with everything the approval card shows, in a fixed number of queries."""
    return (
        Post.objects.filter(workspace=workspace)
        .select_related("author")
        .prefetch_related(
            Prefetch("parts", queryset=PostPart.objects.prefetch_related("media")),
            Prefetch(
                "deliveries",
                queryset=Delivery.objects.select_related("channel").order_by(
                    "channel__network", "channel__handle", "id"
                ),
            ),
            Prefetch("comments", queryset=Comment.objects.select_related("author")),
        )
    )


def _return_to(request) -> str:
    return "approvals" if request.POST.get("return_to") == "approvals" else "detail"


def _back(request, post: Post, anchor: str = ""):
    """After a successful POST: back to the page the form was on."""
    slug = request.workspace.slug
    if _return_to(request) == "approvals":
        url = reverse("posts:approvals", kwargs={"slug": slug})
    else:
        url = reverse("posts:detail", kwargs={"slug": slug, "code": post.code})
    url += f"#{anchor}" if anchor else ""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _typed(request, name: str) -> str:
    """A text typed in a form, without NUL characters (no one types them; PostgreSQL refuses them)."""
    return request.POST.get(name, "").replace("\x00", "")


def _refused(request, post: Post, fragment: str, **errors):
    """Re-render the form's fragment (htmx) or its whole page with the errors and the text kept."""
    return_to = _return_to(request)
    full = review_posts(request.workspace).get(pk=post.pk)
    full.can_approve = can_approve(full, request.membership)
    for name, value in errors.items():
        setattr(full, name, value)
    if request.htmx:
        # htmx swaps 2xx answers only; the alert role tells the refusal to screen readers.
        return render(request, f"posts/detail.html#{fragment}", {"post": full, "return_to": return_to})
    if return_to == "approvals":
        return _render_approvals(request, refused=full, status=400)
    return render_detail(request, full, status=400)


def _render_approvals(request, refused: Post | None = None, status: int = 200):
    pending = review_posts(request.workspace).filter(status=Post.Status.PENDING_APPROVAL)
    page = Paginator(pending.order_by("-created", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    posts = list(page.object_list)
    if refused is not None:
        posts = [refused if p.pk == refused.pk else p for p in posts]
        if all(p.pk != refused.pk for p in posts):
            posts.insert(0, refused)
    link_cards = request.membership.can(Perm.COMPOSE)
    for post in posts:
        if not hasattr(post, "can_approve"):
            post.can_approve = can_approve(post, request.membership)
        post.outgoing = outgoing(post, post.deliveries.all(), link_cards=link_cards)
    return render(request, "posts/approvals.html", {"page": page, "posts": posts}, status=status)


@workspace_view(Perm.VIEW)
def approvals(request):
    return _render_approvals(request)


@workspace_view(Perm.PUBLISH)
@require_POST
def approve_post(request, code):
    post = get_for_workspace(Post.objects.select_related("workspace"), request.workspace, code=code)
    try:
        composing.approve(post, request.membership)
    except composing.PostInvalid as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Approved: it goes out {notify.going_out(post)}.")
    return _back(request, post)


@workspace_view(Perm.PUBLISH)
@require_POST
@vary_on_headers("HX-Request")
def send_back_post(request, code):
    post = get_for_workspace(Post.objects.select_related("author", "workspace"), request.workspace, code=code)
    text = _typed(request, "comment")
    try:
        composing.send_back(post, request.membership, text)
    except composing.PostInvalid as exc:
        if "comment" in exc.errors:
            return _refused(
                request,
                post,
                "approval-actions",
                send_back_errors=exc.errors["comment"],
                send_back_text=text,
            )
        messages.error(request, str(exc))
    else:
        who = post.author.get_username() if post.author else "its author"
        messages.success(request, f"Sent back to {who} with your comment. It waits under Drafts.")
    return _back(request, post)


@workspace_view(Perm.COMPOSE)
@require_POST
@vary_on_headers("HX-Request")
def comment_post(request, code):
    post = get_for_workspace(Post.objects.select_related("author", "workspace"), request.workspace, code=code)
    typed = _typed(request, "text")
    text = typed.strip()
    problem = None
    if not text:
        problem = "Write a comment first."
    elif len(text) > COMMENT_MAX_LENGTH:
        problem = f"Keep comments under {COMMENT_MAX_LENGTH:,} characters (this one has {len(text):,})."
    if problem:
        return _refused(request, post, "comments", comment_errors=[problem], comment_text=typed)
    comment = Comment.objects.create(post=post, author=request.user, kind=Comment.Kind.COMMENT, text=text)
    notify.commented(comment)
    messages.success(request, "Comment added.")
    anchor = f"comments-{post.code}"
    return _back(request, post, anchor=anchor)


def _channel_filter(request):
    """The workspace's channels for the filter, and the chosen one (None for all)."""
    channels = list(Channel.objects.filter(workspace=request.workspace).order_by("network", "handle"))
    wanted = request.GET.get("channel", "")
    chosen = next((c for c in channels if str(c.code) == wanted), None)
    return channels, chosen


@workspace_view(Perm.VIEW)
@vary_on_headers("HX-Request")
def published(request):
    channels, chosen = _channel_filter(request)
    deliveries = Delivery.objects.for_workspace(request.workspace).filter(status=S.PUBLISHED)
    if chosen:
        deliveries = deliveries.filter(channel=chosen)
    deliveries = (
        deliveries.select_related("channel__workspace", "post")
        .with_excerpt()
        .with_latest_metric_id()
        .order_by("-published_at", "-id")
    )
    page = Paginator(deliveries, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "deliveries": latest_metrics(page.object_list),
        "channels": channels,
        "chosen": chosen,
    }
    template = "posts/published.html#published-list" if request.htmx else "posts/published.html"
    return render(request, template, context)


@workspace_view(Perm.VIEW)
@vary_on_headers("HX-Request")
def failed(request):
    channels, chosen = _channel_filter(request)
    deliveries = Delivery.objects.for_workspace(request.workspace).needing_action()
    if chosen:
        deliveries = deliveries.filter(channel=chosen)
    out_elsewhere = Delivery.objects.filter(post=OuterRef("post"), status__in=states.BUSY)
    deliveries = (
        deliveries.select_related("channel__workspace", "post")
        .with_excerpt()
        .prefetch_related("attempt_log")
        # composing.compose refuses to edit a post once any of it is out or going out.
        .annotate(post_locked=Exists(out_elsewhere))
        .order_by("-updated", "-id")
    )
    page = Paginator(deliveries, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    for delivery in rows:
        delivery.reason = plain_reason(delivery)
    context = {"page": page, "deliveries": rows, "channels": channels, "chosen": chosen}
    template = "posts/failed.html#failed-list" if request.htmx else "posts/failed.html"
    return render(request, template, context)


@workspace_view(Perm.VIEW)
@vary_on_headers("HX-Request")
def delivery_status(request, code):
    """One delivery's live status (posts/_delivery_status.html; `?brief=1` for queue rows and calendar
    chips); once it is no longer live the answer is 286, so htmx stops polling."""
    delivery = get_for_workspace(
        deliveries_for_display(Delivery.objects.select_related("post")), request.workspace, code=code
    )
    describe_delivery(delivery)
    context = {"d": delivery, "brief": bool(request.GET.get("brief"))}
    html = render_to_string("posts/_delivery_status.html", context, request=request)
    if request.htmx and not delivery.is_live:
        return HttpResponseStopPolling(html)
    return HttpResponse(html)


@workspace_view(Perm.VIEW)
def notifications(request):
    mine = Notification.objects.filter(workspace=request.workspace, user=request.user)
    page = Paginator(mine.select_related("post", "channel").order_by("-created", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    unread = mine.filter(read=None).count()
    return render(request, "posts/notifications.html", {"page": page, "unread": unread})


@workspace_view(Perm.VIEW)
@require_POST
def notifications_read(request):
    count = Notification.objects.filter(workspace=request.workspace, user=request.user, read=None).update(
        read=now()
    )
    if count:
        messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} as read.")
    url = reverse("posts:notifications", kwargs={"slug": request.workspace.slug})
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


urlpatterns = [
    path("w/<slug:slug>/approvals/", approvals, name="approvals"),
    path("w/<slug:slug>/posts/<uuid:code>/approve/", approve_post, name="approve-post"),
    path("w/<slug:slug>/posts/<uuid:code>/send-back/", send_back_post, name="send-back-post"),
    path("w/<slug:slug>/posts/<uuid:code>/comment/", comment_post, name="comment-post"),
    path("w/<slug:slug>/published/", published, name="published"),
    path("w/<slug:slug>/failed/", failed, name="failed"),
    path("w/<slug:slug>/deliveries/<uuid:code>/status/", delivery_status, name="delivery-status"),
    path("w/<slug:slug>/notifications/", notifications, name="notifications"),
    path("w/<slug:slug>/notifications/read/", notifications_read, name="notifications-read"),
    *attention.urlpatterns,
]
