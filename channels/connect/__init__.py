"""Connect flows, one module per network, each exporting `urlpatterns`."""
