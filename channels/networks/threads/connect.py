"""Connect a Threads account: OAuth through the operator's Meta app, or a pasted long-lived token.

The OAuth callback URL is fixed (SITE_URL + /channels/connect/threads/callback/) because Meta only
redirects to addresses registered in the app; the workspace travels in the signed `state`, together with
the user id and a nonce kept in the session, and is checked again (membership and permission) on return.
"""

import secrets

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from channels.deadline import web_deadline
from channels.handoff import send_to_server
from channels.models import Channel
from channels.networks.base import ConnectError
from channels.networks.threads.connecting import authorization_url, connect_with_code, connect_with_token
from channels.networks.threads.rules import media_public_url_available
from workspaces.access import membership_for, workspace_view
from workspaces.models import Perm

STATE_SALT = "channels.networks.threads.connect"
STATE_MAX_AGE = 15 * 60
NONCES = "threads_oauth_nonces"


class ThreadsTokenForm(forms.Form):
    access_token = forms.CharField(
        label="Long-lived access token",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=(
            "A Threads user access token with the threads_basic and threads_content_publish permissions."
        ),
    )


def callback_url() -> str:
    return settings.SITE_URL.rstrip("/") + reverse("channels:connect-threads-callback")


def _page(request, form=None, oauth_error: str = "", status: int = 200):
    context = {
        "form": form or ThreadsTokenForm(),
        "oauth_error": oauth_error,
        "app_configured": bool(settings.THREADS_APP_ID and settings.THREADS_APP_SECRET),
        "callback_url": callback_url(),
        "media_possible": media_public_url_available(),
    }
    return render(request, "networks/threads/connect.html", context, status=status)


def _connected(request, account):
    channel = Channel.objects.save_connected(request.workspace, account)
    messages.success(request, f"Threads account {channel.handle} is connected.")
    return redirect("channels:list", slug=request.workspace.slug)


@workspace_view(Perm.MANAGE_CHANNELS)
def connect(request):
    """The page: connect through Meta's consent screen, or paste a token."""
    form = ThreadsTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with web_deadline():
                account = connect_with_token(form.cleaned_data["access_token"])
        except ConnectError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return _connected(request, account)
    return _page(request, form, status=400 if form.errors else 200)


@workspace_view(Perm.MANAGE_CHANNELS)
@require_POST
def start(request):
    nonce = secrets.token_urlsafe(16)
    state = signing.dumps(
        {"ws": request.workspace.slug, "uid": request.user.pk, "nonce": nonce}, salt=STATE_SALT
    )
    try:
        url = authorization_url(callback_url(), state)
    except ConnectError as exc:
        return _page(request, oauth_error=exc.message, status=400)
    # A few pending nonces, so that two tabs connecting at once both work.
    request.session[NONCES] = [*request.session.get(NONCES, [])[-4:], nonce]
    return send_to_server(request, url, server="Threads")


@login_required
def callback(request):
    try:
        state = signing.loads(request.GET.get("state", ""), salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.BadSignature:
        messages.error(request, "The Threads connection expired or was not started here. Please start again.")
        return redirect("workspaces:home")
    membership = membership_for(request.user, state.get("ws", ""))
    if not membership.can(Perm.MANAGE_CHANNELS):
        raise PermissionDenied(f"Your role ({membership.get_role_display()}) cannot do this.")
    request.workspace, request.membership = membership.workspace, membership
    pending = request.session.get(NONCES, [])
    if state.get("uid") != request.user.pk or state.get("nonce") not in pending:
        messages.error(
            request, "The Threads connection was not started in this browser session. Please start again."
        )
        return redirect("channels:connect-threads", slug=request.workspace.slug)
    request.session[NONCES] = [n for n in pending if n != state["nonce"]]
    if request.GET.get("error"):
        reason = request.GET.get("error_description") or "access was not granted"
        return _page(request, oauth_error=f"Threads did not connect: {reason[:200]}.", status=400)
    try:
        with web_deadline():
            account = connect_with_code(request.GET.get("code", ""), callback_url())
    except ConnectError as exc:
        return _page(request, oauth_error=exc.message, status=400)
    return _connected(request, account)


urlpatterns = [
    path("w/<slug:slug>/channels/connect/threads/", connect, name="connect-threads"),
    path("w/<slug:slug>/channels/connect/threads/start/", start, name="connect-threads-start"),
    path("channels/connect/threads/callback/", callback, name="connect-threads-callback"),
]
