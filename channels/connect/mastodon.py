"""Connect a mastodon account."""

urlpatterns = []
