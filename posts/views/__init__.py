"""Dashboard pages about posts, one module per page family, each exporting `urlpatterns`."""
