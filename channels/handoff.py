"""Connect flows, one module per network, each exporting `urlpatterns`."""

from urllib.parse import urlsplit

from django.shortcuts import render
from django.utils.cache import add_never_cache_headers


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
