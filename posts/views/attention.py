"""The way out of "needs attention": find the post on the network, link it or post it anyway.

The page (also loaded into the post page's delivery row) lists the account's posts from around the
attempt, read from the network under the web request's deadline; a network that cannot list them or
does not answer gets a sentence. The answers are POSTs with the same permission as Retry.
"""

import logging

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from channels.deadline import out_of_time, web_deadline
from channels.networks.base import AdapterError, AuthorizationLost
from posts import attention
from posts.models import Delivery
from workspaces.access import get_for_workspace, safe_next, workspace_view
from workspaces.models import Perm

log = logging.getLogger(__name__)
S = Delivery.Status


def _delivery(request, code) -> Delivery:
    return get_for_workspace(
        Delivery.objects.select_related("post", "channel__workspace").prefetch_related("attempt_log"),
        request.workspace,
        code=code,
    )


def _listed(delivery: Delivery) -> tuple[list, str]:
    """The account's posts around the attempt, or none and the sentence that says why."""
    channel = delivery.channel
    label = channel.network_label
    try:
        with web_deadline():
            return attention.recent_posts(delivery), ""
    except NotImplementedError:
        return [], f"{label} gives no way to list {channel.handle}'s posts here: look at the profile itself."
    except AuthorizationLost as exc:
        return [], f"{channel} needs to be reconnected before its posts can be listed: {exc.message}"
    except AdapterError as exc:
        return [], f"{label} did not list the posts just now: {exc.message} Try again in a moment."
    except OSError:
        log.info("listing recent posts of channel %s failed", channel.pk, exc_info=True)
        return [], out_of_time(label) or f"{label} could not be reached just now. Try again in a moment."


def find_context(request, delivery: Delivery) -> dict:
    part = attention.open_part(delivery)
    parts = delivery.part_contents()
    context = {"d": delivery, "part": part, "parts": len(parts), "window": attention.window(delivery)}
    if delivery.status != S.NEEDS_ATTENTION:
        return {**context, "settled": True}
    posts, problem = _listed(delivery)
    context.update(
        settled=False,
        wanted=parts[part] if part < len(parts) else None,
        found=[{"post": p, "token": attention.link_token(delivery, part, p.ref)} for p in posts],
        problem=problem,
        back=request.GET.get("next") or "",
    )
    return context


@workspace_view(Perm.VIEW)
@vary_on_headers("HX-Request")
def find(request, code):
    """The account's posts around the attempt (the whole page, or its list for the post page)."""
    delivery = _delivery(request, code)
    context = find_context(request, delivery)
    template = "posts/find.html#find-it" if request.htmx else "posts/find.html"
    return render(request, template, context)


def _answered(request, delivery: Delivery):
    fallback = reverse("posts:detail", kwargs={"slug": request.workspace.slug, "code": delivery.post.code})
    return redirect(safe_next(request, fallback))


@workspace_view(Perm.PUBLISH)
@require_POST
def link(request, code):
    """ "This is it": the listed post is the one the attempt published."""
    delivery = _delivery(request, code)
    try:
        part, ref = attention.read_link_token(delivery, request.POST.get("post", ""))
        taken = attention.link(delivery, part, ref)
    except attention.Refused as exc:
        messages.error(request, str(exc))
    else:
        if taken == "link":
            messages.success(request, f"Linked: the post is published on {delivery.channel}.")
        else:
            messages.success(
                request, f"Linked part {part + 1}: the rest of the thread goes out on {delivery.channel} now."
            )
    return _answered(request, delivery)


@workspace_view(Perm.PUBLISH)
@require_POST
def post_anyway(request, code):
    """ "It is not there: post it": send the part again without asking the network."""
    delivery = _delivery(request, code)
    try:
        part = int(request.POST.get("part", ""))
    except ValueError:
        part = -1
    try:
        attention.post_anyway(delivery, part)
    except attention.Refused as exc:
        messages.error(request, str(exc))
    else:
        messages.warning(
            request,
            f"Posting it on {delivery.channel} now. If the earlier attempt did go out, there will be two.",
        )
    return _answered(request, delivery)


urlpatterns = [
    path("w/<slug:slug>/deliveries/<uuid:code>/find/", find, name="find-delivery"),
    path("w/<slug:slug>/deliveries/<uuid:code>/link/", link, name="link-delivery"),
    path("w/<slug:slug>/deliveries/<uuid:code>/post-anyway/", post_anyway, name="post-anyway-delivery"),
]
