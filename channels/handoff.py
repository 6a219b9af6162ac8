"""What every network's connect pages share: the hand-off to a server's sign-in page, the server address
field, where a failed connect's sentence goes, and the checks when a server sends the browser back."""

from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from channels.addresses import BadAddress, server_base_url
from channels.networks.base import ConnectError
from workspaces.access import membership_for
from workspaces.models import Perm


def send_to_server(request, url: str, *, server: str = ""):
    """Send the browser on to a server's sign-in page (OAuth), after a form POST.

    Not a redirect: browsers apply the page's Content Security Policy `form-action 'self'` to every
    redirect that follows a form submission, so a 302 to another site is dropped (Chromium does, and
    Firefox since 2023). A page of ours that moves on by itself (a meta refresh, which no CSP directive
    governs) with a plain link as a fallback keeps the policy strict for every other form.
    """
    host = server or urlsplit(url).netloc
    response = render(request, "channels/oauth_handoff.html", {"url": url, "server": host})
    # It carries a one-time state: never cache it, never send it as a referrer.
    add_never_cache_headers(response)
    response["Referrer-Policy"] = "no-referrer"
    return response


class ServerField(forms.CharField):
    """A server's address as people type it ("mastodon.social"), cleaned to a base URL or refused with the
    sentence of channels.addresses, which names `example`."""

    def __init__(self, *, example: str, **kwargs):
        self.example = example
        super().__init__(
            label="Your server",
            max_length=255,
            help_text=f"The address of the server your account is on, such as {example}.",
            widget=forms.TextInput(attrs={"placeholder": example, "autocomplete": "url"}),
            **kwargs,
        )

    def clean(self, value):
        try:
            return server_base_url(super().clean(value), example=self.example)
        except BadAddress as exc:
            raise forms.ValidationError(exc.message, code="invalid") from None


def add_connect_error(form: forms.Form, exc: ConnectError) -> None:
    """A failed connect's sentence next to the field it names, or at the top of the form."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def workspace_for_callback(request, slug: str):
    """The workspace a sign-in started in, checked again when the server sends the browser back: the
    person may have left it (404) or lost the right to connect channels (403) meanwhile."""
    membership = membership_for(request.user, slug)
    if not membership.can(Perm.MANAGE_CHANNELS):
        raise PermissionDenied(f"Your role ({membership.get_role_display()}) cannot connect channels.")
    return membership.workspace
