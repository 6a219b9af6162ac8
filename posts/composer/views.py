"""The composer's views and their URLs: the page for a new post and for an edit, the live panel, the
split of a part, the link card, and (from media.py) the image endpoints."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from posts import composing, states
from posts.composer.actions import apply_action, split_part
from posts.composer.live import live
from posts.composer.media import media_delete, media_update, media_upload, take_uploads
from posts.composer.page import context
from posts.composer.preview import link_card
from posts.composer.state import (
    initial_state,
    read_index,
    read_state,
    read_uuid,
    state_from_post,
    to_draft,
    workspace_channels,
)
from posts.models import Media, Post
from workspaces.access import get_for_workspace, workspace_view
from workspaces.models import Perm


def _page(request, state, errors, channels, by_code, post=None) -> HttpResponse:
    response = render(request, "posts/compose.html", context(request, state, errors, channels, by_code, post))
    patch_vary_headers(response, ["HX-Request"])
    return response


def _parts_fragment(request, state, errors, channels, by_code, post) -> HttpResponse:
    response = render(
        request, "posts/compose.html#parts", context(request, state, errors, channels, by_code, post)
    )
    patch_vary_headers(response, ["HX-Request"])
    # After the swap, so the live check reads the new parts: fired on receipt, it would post the old
    # ones and its answer, arriving last, would put their counters back.
    return trigger_client_event(response, "partsChanged", after="swap")


def _editing(request) -> Post | None:
    """The post an edit form belongs to (fragments posted to shared endpoints say it in a field)."""
    code = read_uuid(request.POST.get("editing", ""))
    if not code:
        return None
    return Post.objects.filter(workspace=request.workspace, code=code).first()


def _editable(post: Post) -> bool:
    return not post.deliveries.filter(status__in=states.BUSY).exists()


def _saved_message(post: Post) -> str:
    if post.status == Post.Status.PENDING_APPROVAL:
        return "Submitted for approval: an editor will review it."
    if post.mode == Post.Mode.DRAFT:
        drafts = reverse("posts:drafts", kwargs={"slug": post.workspace.slug})
        return format_html('Saved as a draft. Find it under <a href="{}">Drafts</a>.', drafts)
    if post.mode == Post.Mode.NOW:
        return "Sharing now."
    first = post.deliveries.select_related("channel", "channel__workspace").order_by("scheduled_for").first()
    if first is None or first.scheduled_for is None:
        return "Scheduled."
    local = first.scheduled_for.astimezone(first.channel.tz)
    when = f"{local:%a} {local.day} {local:%b %Y, %H:%M} ({first.channel.timezone_name})"
    if post.mode == Post.Mode.QUEUE:
        return f"Added to the queue: first out {when} on {first.channel}."
    return f"Scheduled for {when}."


def _composer(request, post: Post | None):
    channels = workspace_channels(request.workspace)
    by_code = {str(c.code): c for c in channels}
    if request.method != "POST":
        if post is not None:
            state = state_from_post(request, post, channels)
        else:
            state = initial_state(request, by_code)
        return _page(request, state, {}, channels, by_code, post)

    state, errors = read_state(request, by_code, post)
    take_uploads(request, state, errors)
    action = request.POST.get("action", "submit") or "submit"
    if action != "submit":
        apply_action(state, action, by_code, errors, nparts=request.POST.get("nparts", ""))
        if request.htmx:
            return _parts_fragment(request, state, errors, channels, by_code, post)
        return _page(request, state, errors, channels, by_code, post)

    draft, draft_errors = to_draft(state, by_code)
    errors.update(draft_errors)
    if not errors:
        try:
            with transaction.atomic():
                for part in state.parts:
                    for media in part.media:
                        Media.objects.filter(pk=media.pk).update(alt_text=media.alt_text)
                saved = composing.compose(
                    workspace=request.workspace, membership=request.membership, draft=draft, post=post
                )
        except composing.PostInvalid as exc:
            for key, messages_ in exc.errors.items():
                errors.setdefault(key, []).extend(messages_)
        else:
            messages.success(request, _saved_message(saved))
            return redirect("posts:detail", slug=request.workspace.slug, code=saved.code)
    return _page(request, state, errors, channels, by_code, post)


@workspace_view(Perm.COMPOSE)
def compose(request):
    return _composer(request, None)


@workspace_view(Perm.COMPOSE)
def edit(request, code):
    post = get_for_workspace(Post, request.workspace, code=code)
    if not post.may_change(request.membership):
        # Otherwise a contributor could pull anyone's approved post back into review by editing it.
        raise PermissionDenied("You can edit your own posts; ask an editor to change this one.")
    if not _editable(post):
        messages.error(request, "This post is being published or was published: it can't be changed.")
        return redirect("posts:detail", slug=request.workspace.slug, code=post.code)
    return _composer(request, post)


@workspace_view(Perm.COMPOSE)
@require_POST
def validate(request):
    """The live panel for the form as it is now: counters, problems, previews. Writes nothing."""
    by_code = {str(c.code): c for c in workspace_channels(request.workspace)}
    state, _ = read_state(request, by_code, _editing(request))
    response = render(
        request, "posts/compose.html#live", {"live": live(request, state, by_code), "oob": True}
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


@workspace_view(Perm.COMPOSE)
@require_POST
def split_thread(request):
    """Split one part (action=split-<n>) so every piece fits the strictest chosen network."""
    channels = workspace_channels(request.workspace)
    by_code = {str(c.code): c for c in channels}
    post = _editing(request)
    state, errors = read_state(request, by_code, post)
    action = request.POST.get("action", "")
    index = (
        read_index(action.removeprefix("split-"), len(state.parts)) if action.startswith("split-") else None
    )
    if index is None:
        index = read_index(request.POST.get("index", "0"), len(state.parts)) or 0
    split_part(state, index, by_code, errors)
    return _parts_fragment(request, state, errors, channels, by_code, post)


@workspace_view(Perm.COMPOSE)
def link_card_preview(request):
    """The card Bluesky (or Mastodon, Threads) would show for a link; quietly nothing on failure."""
    url = (request.GET.get("url") or request.POST.get("url") or "").strip()
    card = link_card(url)
    # Only https images: the page's Content Security Policy (and browsers' mixed-content rules) block others.
    image_url = card.image_url if card and card.image_url.startswith("https://") else ""
    response = render(
        request, "posts/compose.html#link-card", {"card": card, "url": url, "image_url": image_url}
    )
    response["Cache-Control"] = "private, max-age=300"
    return response


urlpatterns = [
    path("w/<slug:slug>/compose/", compose, name="compose"),
    path("w/<slug:slug>/compose/validate/", validate, name="compose-validate"),
    path("w/<slug:slug>/compose/split/", split_thread, name="split-thread"),
    path("w/<slug:slug>/compose/link-card/", link_card_preview, name="link-card-preview"),
    path("w/<slug:slug>/posts/<uuid:code>/edit/", edit, name="edit"),
    path("w/<slug:slug>/media/", media_upload, name="media-upload"),
    path("w/<slug:slug>/media/<uuid:code>/", media_update, name="media-update"),
    path("w/<slug:slug>/media/<uuid:code>/delete/", media_delete, name="media-delete"),
]
