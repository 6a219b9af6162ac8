"""Images in the composer: files sent with the whole form (without JavaScript) or one at a time from
the drop zone, alt text saved as it is typed, and removal. An image belongs to no post until the post
is saved; until then only this workspace's composer may attach it."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from posts import previews
from posts.composer.state import MAX_ALT_TEXT, MAX_PARTS, ComposerState, read_index, without_nul
from posts.media import UploadRefused, store_upload
from posts.models import Media
from workspaces.access import get_for_workspace, workspace_view
from workspaces.models import Perm


def media_row(media: Media, index: int) -> dict:
    """An image as the part's list shows it: thumbnail, alt text, and whether it saves as typed."""
    return {
        **previews.media_item(media),
        "code": str(media.code),
        "index": index,
        "autosave": media.part_id is None,
    }


def take_uploads(request, state: ComposerState, errors: dict) -> None:
    """Files sent with the whole form (the composer without JavaScript)."""
    for index, part in enumerate(state.parts):
        for upload in request.FILES.getlist(f"upload-{index}"):
            try:
                part.media.append(store_upload(request.workspace, upload))
            except UploadRefused as exc:
                errors.setdefault(f"upload:{index}", []).append(exc.message)


@workspace_view(Perm.COMPOSE)
@require_POST
def media_upload(request):
    """One image from the drop zone: a thumbnail with its alt-text box, or a message beside the field."""
    index = read_index(request.POST.get("part", "0"), MAX_PARTS) or 0
    try:
        media = store_upload(request.workspace, request.FILES.get("file"))
    except UploadRefused as exc:
        return render(request, "posts/compose.html#upload-error", {"e": exc.message})
    return render(request, "posts/compose.html#media-item", {"m": media_row(media, index)})


@workspace_view(Perm.COMPOSE)
@require_POST
def media_update(request, code):
    """Save alt text as it is typed, for an image not yet part of a post.

    An image already in a post changes with the post (through the composer), so that a contributor's
    change to an approved post goes through approval again.
    """
    media = get_for_workspace(Media, request.workspace, code=code)
    data = without_nul(request.POST)
    alt = data.get(f"alt-{media.code}", data.get("alt_text", ""))
    if media.part_id is not None:
        return HttpResponse("This image belongs to a post: its alt text is saved with the post.", status=409)
    Media.objects.filter(pk=media.pk).update(alt_text=alt.strip()[:MAX_ALT_TEXT])
    if request.htmx:
        return HttpResponse(status=204)
    messages.success(request, "Alt text saved.")
    return redirect("posts:compose", slug=request.workspace.slug)


@workspace_view(Perm.COMPOSE)
@require_POST
def media_delete(request, code):
    """Remove an image from the composer; the file goes only if no post uses it yet."""
    media = get_for_workspace(Media, request.workspace, code=code)
    if media.part_id is None:
        media.file.delete(save=False)
        media.delete()
    if request.htmx:
        return trigger_client_event(HttpResponse(""), "partsChanged", after="swap")
    return redirect("posts:compose", slug=request.workspace.slug)
