"""queue pages."""

urlpatterns = []
