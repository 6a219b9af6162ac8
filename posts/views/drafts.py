"""Drafts: posts that are not going out. Saved with "Save as draft", unscheduled from the queue, or
sent back by an approver, they all end in status `draft`, and this page is where they are found again.
"""

from django.core.paginator import Paginator
from django.db.models import OuterRef, Prefetch, Subquery
from django.db.models.functions import Substr
from django.shortcuts import render
from django.urls import path

from posts.models import Comment, Delivery, Post, PostPart
from workspaces.access import workspace_view
from workspaces.models import Perm

PAGE_SIZE = 50
EXCERPT_LENGTH = 120
MINE, EVERYONE = "mine", "everyone"


def draft_posts(workspace):
    """The workspace's drafts with their excerpt, author, channels and latest review, newest change first,
    in a fixed number of queries whatever their count."""
    first_part = PostPart.objects.filter(post=OuterRef("pk"), index=0).values("text")[:1]
    # One character more than shown, so that the excerpt filter can cut after a whole word.
    excerpt = Substr(Subquery(first_part), 1, EXCERPT_LENGTH + 1)
    deliveries = (
        Delivery.objects.select_related("channel")
        .only("post", "channel__network", "channel__handle")
        .order_by("channel__network", "channel__handle", "id")
    )
    # The latest approval or sending back: a post sent back, then approved and unscheduled, was not
    # sent back for the reason given then.
    reviews = (
        Comment.objects.filter(kind__in=[Comment.Kind.CHANGES_REQUESTED, Comment.Kind.APPROVED])
        .select_related("author")
        .order_by("-created", "-id")
    )
    return (
        Post.objects.filter(workspace=workspace, status=Post.Status.DRAFT)
        .select_related("author")
        .only("code", "status", "updated", "author__username")
        .annotate(excerpt=excerpt)
        .prefetch_related(
            Prefetch("deliveries", queryset=deliveries),
            Prefetch("comments", queryset=reviews, to_attr="reviews"),
        )
        .order_by("-updated", "-id")
    )


def _whose(request) -> str:
    """Whose drafts to list: as asked, else a contributor's own (they may only change those) and
    everyone's for the others."""
    asked = request.GET.get("who")
    if asked in (MINE, EVERYONE):
        return asked
    membership = request.membership
    return MINE if membership.can(Perm.COMPOSE) and not membership.can(Perm.PUBLISH) else EVERYONE


@workspace_view(Perm.VIEW)
def drafts(request):
    whose = _whose(request)
    posts = draft_posts(request.workspace)
    if whose == MINE:
        posts = posts.filter(author=request.user)
    page = Paginator(posts, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    membership = request.membership
    for post in rows:
        latest = post.reviews[0] if post.reviews else None
        post.sent_back = latest if latest and latest.kind == Comment.Kind.CHANGES_REQUESTED else None
        post.can_edit = post.may_change(membership)
        post.can_delete = post.may_delete(membership)
    context = {
        "page": page,
        "posts": rows,
        "whose": whose,
    }
    return render(request, "posts/drafts.html", context)


urlpatterns = [
    path("w/<slug:slug>/drafts/", drafts, name="drafts"),
]
