"""compose pages."""

urlpatterns = []
