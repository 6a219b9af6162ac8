from django.urls import include, path

from channels import networks, views

app_name = "channels"

urlpatterns = [
    path("w/<slug:slug>/channels/", views.channel_list, name="list"),
    path("w/<slug:slug>/channels/<uuid:code>/", views.channel_detail, name="detail"),
    path("w/<slug:slug>/channels/<uuid:code>/pause/", views.pause, name="pause"),
    path("w/<slug:slug>/channels/<uuid:code>/resume/", views.resume, name="resume"),
    path("w/<slug:slug>/channels/<uuid:code>/verify/", views.verify, name="verify"),
    path("w/<slug:slug>/channels/<uuid:code>/disconnect/", views.disconnect, name="disconnect"),
] + [path("", include(spec.connect_module)) for spec in networks.specs()]
