"""review pages."""

urlpatterns = []
