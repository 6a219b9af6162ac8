from django.urls import path

from posts import views

app_name = "posts"

urlpatterns = [
    path("m/<str:token>", views.public_media, name="public-media"),
    path("w/<slug:slug>/posts/<uuid:code>/", views.detail, name="detail"),
    path("w/<slug:slug>/deliveries/<uuid:code>/retry/", views.retry_delivery, name="retry-delivery"),
]
