"""Connect a Mastodon account (or one on a server speaking Mastodon's API), two ways.

Sign in with your server (OAuth): this site registers itself once per server as an app (a
ServerApp row per domain and callback URL), sends the browser to the server's sign-in page, and
the server sends it back to one fixed callback URL with a code. The callback URL cannot carry the
workspace, so the `state` parameter does: signed, expiring after 15 minutes, naming the user and a
nonce kept in that user's session (one use only). The callback checks all of it, then checks the
membership and the right to manage channels again, since either may have changed meanwhile.

Paste an access token: for servers that refuse outside sign-ins, the user creates an application
in their server's settings and pastes its token.
"""

import secrets
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.db import IntegrityError, transaction
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET

from channels.deadline import web_deadline
from channels.handoff import ServerField, add_connect_error, send_to_server, workspace_for_callback
from channels.models import Channel, ServerApp
from channels.networks.base import ConnectError
from channels.networks.mastodon.connecting import (
    authorization_url,
    connect_with_token,
    exchange_code,
    instance_base_url,
    register_app,
)
from workspaces.access import workspace_view
from workspaces.models import Perm

STATE_SALT = "channels.networks.mastodon.connect.state"
STATE_MAX_AGE = 15 * 60
SESSION_NONCES = "mastodon_oauth_nonces"
# A few sign-ins may be in flight at once (two tabs); older nonces are dropped.
MAX_NONCES = 5


class SignInForm(forms.Form):
    instance_url = ServerField(example="mastodon.social")


class TokenForm(forms.Form):
    instance_url = ServerField(example="mastodon.social")
    access_token = forms.CharField(
        label="Access token",
        max_length=500,
        strip=True,
        # Never echoed back into the page, even when the form has errors.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Shown as \u201cYour access token\u201d on the application's page on your server.",
    )


def callback_url() -> str:
    return settings.SITE_URL.rstrip("/") + reverse("channels:connect-mastodon-callback")


@workspace_view(Perm.MANAGE_CHANNELS)
def connect(request):
    # "Reconnect" links here with ?server= so the user only has to confirm.
    server = request.GET.get("server", "")[:255]
    signin_form = SignInForm(prefix="signin", initial={"instance_url": server})
    token_form = TokenForm(prefix="token", initial={"instance_url": server})
    if request.method == "POST":
        if request.POST.get("method") == "token":
            token_form = TokenForm(request.POST, prefix="token")
            if token_form.is_valid():
                try:
                    with web_deadline():
                        account = connect_with_token(
                            token_form.cleaned_data["instance_url"], token_form.cleaned_data["access_token"]
                        )
                except ConnectError as exc:
                    add_connect_error(token_form, exc)
                else:
                    return _connected(request, request.workspace, account)
        else:
            signin_form = SignInForm(request.POST, prefix="signin")
            if signin_form.is_valid():
                try:
                    with web_deadline():
                        url = _start_sign_in(request, signin_form.cleaned_data["instance_url"])
                except ConnectError as exc:
                    add_connect_error(signin_form, exc)
                else:
                    return send_to_server(request, url)
    return render(
        request,
        "networks/mastodon/connect.html",
        {"signin_form": signin_form, "token_form": token_form, "site_name": settings.SITE_NAME},
    )


def _connected(request, workspace, account):
    channel = Channel.objects.save_connected(workspace, account)
    messages.success(request, f"Connected {channel.handle} on {urlsplit(channel.server_url).netloc}.")
    return redirect("channels:list", slug=workspace.slug)


def _app_for(base_url: str, redirect_uri: str) -> ServerApp:
    """The app registered on this server for our callback URL, registering it on first use."""
    domain = urlsplit(base_url).netloc
    app = ServerApp.objects.filter(network="mastodon", domain=domain, redirect_uri=redirect_uri).first()
    if app is not None:
        return app
    client_id, client_secret = register_app(base_url, redirect_uri)
    try:
        with transaction.atomic():
            return ServerApp.objects.create(
                network="mastodon",
                domain=domain,
                base_url=base_url,
                redirect_uri=redirect_uri,
                client_id=client_id,
                client_secret=client_secret,
            )
    except IntegrityError:
        # Another request registered it at the same moment: use that one.
        return ServerApp.objects.get(network="mastodon", domain=domain, redirect_uri=redirect_uri)


def _start_sign_in(request, instance_url: str) -> str:
    base_url = instance_base_url(instance_url)
    redirect_uri = callback_url()
    app = _app_for(base_url, redirect_uri)
    nonce = secrets.token_urlsafe(16)
    request.session[SESSION_NONCES] = [*request.session.get(SESSION_NONCES, []), nonce][-MAX_NONCES:]
    state = signing.dumps(
        {"w": request.workspace.slug, "u": request.user.pk, "b": base_url, "n": nonce}, salt=STATE_SALT
    )
    return authorization_url(base_url, app.client_id, app.client_secret, redirect_uri, state)


@require_GET
@login_required
def callback(request):
    """Where the server sends the browser back, with ?code=&state= (or ?error=&state=)."""
    state = _checked_state(request)
    if state is None:
        messages.error(request, "This sign-in link is invalid or has expired. Please start again.")
        return redirect("workspaces:home")
    workspace = workspace_for_callback(request, state["w"])
    host = urlsplit(state["b"]).netloc
    start_again = redirect("channels:connect-mastodon", slug=workspace.slug)

    error = request.GET.get("error")
    if error:
        if error == "access_denied":
            messages.error(request, f"You did not allow access on {host}, so nothing was connected.")
        else:
            detail = " ".join(request.GET.get("error_description", error).split())[:200]
            messages.error(request, f"{host} did not complete the sign-in: {detail}")
        return start_again
    code = request.GET.get("code", "")
    app = ServerApp.objects.filter(network="mastodon", domain=host, redirect_uri=callback_url()).first()
    if not code or app is None:
        messages.error(request, f"{host} did not send back a sign-in code. Please start again.")
        return start_again
    try:
        with web_deadline():
            account = exchange_code(app.base_url, app.client_id, app.client_secret, callback_url(), code)
    except ConnectError as exc:
        messages.error(request, exc.message)
        return start_again
    return _connected(request, workspace, account)


def _checked_state(request) -> dict | None:
    """The signed state if it is genuine, fresh, this user's, and not used before; else None."""
    try:
        state = signing.loads(request.GET.get("state", ""), salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.BadSignature:  # also SignatureExpired
        return None
    if not isinstance(state, dict) or state.get("u") != request.user.pk:
        return None
    nonces = request.session.get(SESSION_NONCES, [])
    if state.get("n") not in nonces:
        return None
    nonces.remove(state["n"])
    request.session[SESSION_NONCES] = nonces
    return state


urlpatterns = [
    path("w/<slug:slug>/channels/connect/mastodon/", connect, name="connect-mastodon"),
    # One fixed URL for every workspace: it is registered with each server as the app's redirect URI.
    path("channels/connect/mastodon/callback/", callback, name="connect-mastodon-callback"),
]
