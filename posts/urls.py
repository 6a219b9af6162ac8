from django.urls import include, path

app_name = "posts"

urlpatterns = [
    path("", include("posts.views.common")),
    path("", include("posts.composer.views")),
    path("", include("posts.views.queue")),
    path("", include("posts.views.calendar")),
    path("", include("posts.views.review")),
    path("", include("posts.views.drafts")),
]
