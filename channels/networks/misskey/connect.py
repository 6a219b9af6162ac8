"""Connect a Misskey account, two ways.

MiAuth: the person names their server; the browser goes to the server's MiAuth page with a new
session id and the permissions the product needs, and comes back to one fixed callback URL with
`?session=<id>`. The callback cannot carry the workspace, so the user's own session keeps, per MiAuth
session started (signed, expiring after 15 minutes, one use), the workspace, the user and the server.
The callback checks all of it, then the membership and the right to manage channels again, and asks
the server for the token.

Paste an access token: the person makes one in Settings > API on their server.
"""

import uuid

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET

from channels.deadline import web_deadline
from channels.handoff import ServerField, add_connect_error, send_to_server, workspace_for_callback
from channels.models import Channel
from channels.networks.base import ConnectError
from channels.networks.misskey.connecting import (
    PERMISSIONS,
    check_miauth,
    connect_with_token,
    miauth_url,
)
from channels.networks.misskey.connecting import server_base_url as checked_base_url
from workspaces.access import workspace_view
from workspaces.models import Perm

STATE_SALT = "channels.networks.misskey.connect.miauth"
STATE_MAX_AGE = 15 * 60
SESSION_KEY = "misskey_miauth_sessions"
# A few sign-ins may be in flight at once (two tabs); older ones are dropped.
MAX_SESSIONS = 5


class MiAuthForm(forms.Form):
    server_url = ServerField(example="misskey.io")


class TokenForm(forms.Form):
    server_url = ServerField(example="misskey.io")
    access_token = forms.CharField(
        label="Access token",
        max_length=500,
        strip=True,
        # Never echoed back into the page, even when the form has errors.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Shown once when you make the token on your server.",
    )


def callback_url() -> str:
    return settings.SITE_URL.rstrip("/") + reverse("channels:connect-misskey-callback")


@workspace_view(Perm.MANAGE_CHANNELS)
def connect(request):
    server = request.GET.get("server", "")[:255]
    miauth_form = MiAuthForm(prefix="miauth", initial={"server_url": server})
    token_form = TokenForm(prefix="token", initial={"server_url": server})
    if request.method == "POST":
        if request.POST.get("method") == "token":
            token_form = TokenForm(request.POST, prefix="token")
            if token_form.is_valid():
                try:
                    with web_deadline():
                        account = connect_with_token(
                            token_form.cleaned_data["server_url"], token_form.cleaned_data["access_token"]
                        )
                except ConnectError as exc:
                    add_connect_error(token_form, exc)
                else:
                    return _connected(request, request.workspace, account)
        else:
            miauth_form = MiAuthForm(request.POST, prefix="miauth")
            if miauth_form.is_valid():
                try:
                    url = _start_miauth(request, miauth_form.cleaned_data["server_url"])
                except ConnectError as exc:
                    add_connect_error(miauth_form, exc)
                else:
                    return send_to_server(request, url)
    return render(
        request,
        "networks/misskey/connect.html",
        {
            "miauth_form": miauth_form,
            "token_form": token_form,
            "site_name": settings.SITE_NAME,
            "permissions": PERMISSIONS,
        },
    )


def _connected(request, workspace, account):
    channel = Channel.objects.save_connected(workspace, account)
    messages.success(request, f"Connected {channel.handle}.")
    return redirect("channels:list", slug=workspace.slug)


def _start_miauth(request, server: str) -> str:
    base_url = checked_base_url(server)
    session = str(uuid.uuid4())
    state = signing.dumps(
        {"s": session, "w": request.workspace.slug, "u": request.user.pk, "b": base_url}, salt=STATE_SALT
    )
    request.session[SESSION_KEY] = [*request.session.get(SESSION_KEY, []), state][-MAX_SESSIONS:]
    return miauth_url(base_url, session, callback_url())


@require_GET
@login_required
def callback(request):
    """Where the server sends the browser back, with ?session=<id>."""
    state = _checked_state(request, request.GET.get("session", ""))
    if state is None:
        messages.error(request, "This sign-in link is invalid or has expired. Please start again.")
        return redirect("workspaces:home")
    workspace = workspace_for_callback(request, state["w"])
    try:
        with web_deadline():
            account = check_miauth(state["b"], state["s"])
    except ConnectError as exc:
        messages.error(request, exc.message)
        return redirect("channels:connect-misskey", slug=workspace.slug)
    return _connected(request, workspace, account)


def _checked_state(request, session: str) -> dict | None:
    """The state kept for this MiAuth session if it is genuine, fresh, this user's and unused; else None."""
    kept = request.session.get(SESSION_KEY, [])
    for signed in kept:
        try:
            state = signing.loads(signed, salt=STATE_SALT, max_age=STATE_MAX_AGE)
        except signing.BadSignature:  # also SignatureExpired
            continue
        if isinstance(state, dict) and session and state.get("s") == session:
            request.session[SESSION_KEY] = [s for s in kept if s != signed]
            return state if state.get("u") == request.user.pk else None
    return None


urlpatterns = [
    path("w/<slug:slug>/channels/connect/misskey/", connect, name="connect-misskey"),
    # One fixed URL for every workspace: MiAuth sends the browser back here.
    path("channels/connect/misskey/callback/", callback, name="connect-misskey-callback"),
]
