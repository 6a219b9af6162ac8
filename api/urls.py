from functools import wraps

from django.urls import path

from api import ical, views
from api.api import api
from api.errors import error_response

app_name = "api"


def _json_method_not_allowed(view):
    """ninja answers a wrong method with a plain-text 405; API clients get JSON like every other error."""

    @wraps(view)  # keeps csrf_exempt: API calls carry a token, not a session
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        is_json = response.get("Content-Type", "").startswith("application/json")
        if response.status_code == 405 and not is_json:
            allowed = response.get("Allow", "")
            answer = error_response(405, f"{request.method} is not allowed here; use {allowed}.")
            answer["Allow"] = allowed
            return answer
        return response

    return wrapper


api_patterns, api_app, api_namespace = api.urls
for pattern in api_patterns:
    pattern.callback = _json_method_not_allowed(pattern.callback)

urlpatterns = [
    path("api/v1/docs", views.docs, name="docs"),
    path("api/v1/", (api_patterns, api_app, api_namespace)),
    path("api/v1/<path:rest>", views.not_found),
    path("ical/<str:token>.ics", ical.feed, name="ical-feed"),
    path("w/<slug:slug>/api-tokens/", views.tokens, name="tokens"),
    path("w/<slug:slug>/calendar-feeds/", views.calendar_feeds, name="calendar-feeds"),
]
