"""Connect a bluesky account."""

urlpatterns = []
