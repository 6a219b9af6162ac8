"""Dashboard pages of the API app: API tokens, calendar feeds, and the interactive API docs."""

import uuid

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.timezone import now
from django.views.decorators.http import require_safe

from api.auth import rate_limit_per_minute
from api.models import APIToken, CalendarFeed
from channels.models import Channel
from workspaces.access import get_for_workspace, require, workspace_view
from workspaces.models import Perm

# More than this many live tokens per person and workspace is a sign of tokens never revoked.
MAX_TOKENS_PER_USER = 25


class TokenForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What uses it, such as “Zapier” or “blog publishing script”.",
    )


def _site(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _uuid_or_none(value: str):
    try:
        return uuid.UUID(value)
    except (TypeError, ValueError):
        return None


@workspace_view(Perm.VIEW)
def tokens(request):
    """Everyone may hold tokens (acting with their own role); admins may revoke anyone's."""
    form = TokenForm()
    issued = None
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "revoke":
            return _revoke(request)
        if action == "create":
            form = TokenForm(request.POST)
            live = APIToken.objects.active().filter(workspace=request.workspace, user=request.user).count()
            if live >= MAX_TOKENS_PER_USER:
                form.add_error(None, f"You have {live} tokens here already: revoke unused ones first.")
            if form.is_valid():
                token, secret = APIToken.issue(
                    workspace=request.workspace, user=request.user, name=form.cleaned_data["name"]
                )
                issued = {"token": token, "secret": secret}
                form = TokenForm()
                status = 201
            else:
                status = 400
        else:
            messages.error(request, "Nothing was changed: that action is unknown.")
            return redirect("api:tokens", slug=request.workspace.slug)
    live = APIToken.objects.active().filter(workspace=request.workspace).select_related("user")
    mine = [t for t in live if t.user_id == request.user.id]
    others = (
        [t for t in live if t.user_id != request.user.id] if request.membership.can_manage_workspace else []
    )
    response = render(
        request,
        "api/tokens.html",
        {
            "form": form,
            "issued": issued,
            "mine": mine,
            "others": others,
            "api_base": _site("/api/v1/"),
            "docs_url": reverse("api:docs"),
            "rate_limit": rate_limit_per_minute(),
        },
        status=status,
    )
    # The new token is on this page and nowhere else: keep it out of every cache.
    response["Cache-Control"] = "no-store"
    return response


def _revoke(request):
    code = _uuid_or_none(request.POST.get("token", ""))
    live = APIToken.objects.active()
    if not request.membership.can(Perm.MANAGE_WORKSPACE):
        live = live.filter(user=request.user)
    if code is None:
        messages.error(request, "Choose a token to revoke.")
        return redirect("api:tokens", slug=request.workspace.slug)
    token = get_for_workspace(live, request.workspace, code=code)
    token.revoke()
    messages.success(request, f"The token “{token.name}” is revoked: it no longer works.")
    return redirect("api:tokens", slug=request.workspace.slug)


def feed_url(feed: CalendarFeed) -> str:
    return _site(reverse("api:ical-feed", kwargs={"token": feed.token}))


@workspace_view(Perm.VIEW)
def calendar_feeds(request):
    """Members see and copy the feed URLs; workspace managers create, regenerate and revoke them."""
    if request.method == "POST":
        require(request, Perm.MANAGE_WORKSPACE)
        return _change_feed(request)
    channels = list(Channel.objects.filter(workspace=request.workspace).order_by("network", "handle"))
    feeds = {f.channel_id: f for f in CalendarFeed.objects.active().filter(workspace=request.workspace)}
    rows = [{"channel": None, "feed": feeds.get(None)}] + [
        {"channel": c, "feed": feeds.get(c.pk)} for c in channels
    ]
    for row in rows:
        if row["feed"]:
            row["url"] = feed_url(row["feed"])
            row["webcal"] = "webcal://" + row["url"].split("://", 1)[1]
    return render(request, "api/calendar_feeds.html", {"rows": rows})


def _change_feed(request):
    action = request.POST.get("action")
    if action not in ("create", "regenerate", "revoke"):
        messages.error(request, "Nothing was changed: that action is unknown.")
        return redirect("api:calendar-feeds", slug=request.workspace.slug)
    scope = request.POST.get("channel", "")
    channel = None
    if scope:
        code = _uuid_or_none(scope)
        if code is None:
            messages.error(request, "Nothing was changed: that channel is unknown.")
            return redirect("api:calendar-feeds", slug=request.workspace.slug)
        channel = get_for_workspace(Channel, request.workspace, code=code)
    label = str(channel) if channel else "the whole workspace"
    with transaction.atomic():
        current = (
            CalendarFeed.objects.active()
            .select_for_update()
            .filter(workspace=request.workspace, channel=channel)
            .first()
        )
        if current and action in ("regenerate", "revoke"):
            current.revoked = now()
            current.save(update_fields=["revoked"])
        if action == "regenerate" or (action == "create" and current is None):
            CalendarFeed.objects.create(workspace=request.workspace, channel=channel, created_by=request.user)
    if action == "revoke":
        messages.success(request, f"The calendar feed of {label} is revoked: its URL no longer works.")
    elif action == "regenerate":
        messages.success(request, f"The calendar feed of {label} has a new URL; the old one no longer works.")
    else:
        messages.success(request, f"The calendar feed of {label} is ready: copy its URL below.")
    return redirect("api:calendar-feeds", slug=request.workspace.slug)


@require_safe
def docs(request):
    return render(request, "api/docs.html", {"openapi_url": reverse("api:v1:openapi-json")})


def not_found(request, rest: str = ""):
    return JsonResponse(
        {"error": "There is no such API endpoint. See /api/v1/docs for the list."}, status=404
    )
