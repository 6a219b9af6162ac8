"""Error pages: 403 with the reason when it is one of our own sentences, 500 that renders whatever broke.

404 is Django's own handler with templates/404.html (it renders with the request, like any page).
"""

import logging

from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

# Only messages raised by these packages are shown: they are sentences written for users ("Your role
# (Contributor) cannot do this."). A library's or Django's message may carry internals.
OUR_PACKAGES = {"workspaces", "channels", "posts", "api", "scheduler_project"}

# When 500.html itself cannot be rendered (templates or static files are what broke).
BARE_500 = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Something went wrong</title></head>'
    "<body><main><h1>Something went wrong</h1><p>The error has been logged. Try again in a moment.</p>"
    '<p><a href="/">Back to your workspaces</a></p></main></body></html>'
)


def reason_for(exception) -> str:
    """The exception's message if our own code raised it as a short sentence, else ""."""
    message = str(exception) if exception is not None else ""
    if not message or "\n" in message or len(message) > 300:
        return ""
    tb = exception.__traceback__
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "")
    return message if module.split(".")[0] in OUR_PACKAGES else ""


def permission_denied(request, exception=None):
    match = request.resolver_match
    context = {
        "reason": reason_for(exception),
        # Only a member reaches a 403 on a workspace page (strangers get 404), so the link leaks nothing.
        "workspace_slug": match.kwargs.get("slug") if match else None,
    }
    return render(request, "403.html", context, status=403)


def server_error(request):
    """No context and no request: the database or a context processor may be what failed."""
    try:
        body = render_to_string("500.html")
    except Exception:  # e.g. static files never collected: the manifest lookup fails here too
        logger.exception("The 500 page could not be rendered")
        body = BARE_500
    return HttpResponseServerError(body)
