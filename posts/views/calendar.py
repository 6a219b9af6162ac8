"""calendar pages."""

urlpatterns = []
