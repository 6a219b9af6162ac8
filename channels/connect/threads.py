"""Connect a threads account."""

urlpatterns = []
