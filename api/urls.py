from django.urls import path

from api import ical, views
from api.api import api

app_name = "api"

urlpatterns = [
    path("api/v1/docs", views.docs, name="docs"),
    path("api/v1/", api.urls),
    path("api/v1/<path:rest>", views.not_found),
    path("ical/<str:token>.ics", ical.feed, name="ical-feed"),
    path("w/<slug:slug>/api-tokens/", views.tokens, name="tokens"),
    path("w/<slug:slug>/calendar-feeds/", views.calendar_feeds, name="calendar-feeds"),
]
