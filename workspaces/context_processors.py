def workspaces(request):
    """The workspace switcher: the user's workspaces, loaded lazily (one query, only if a page uses it)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def switcher():
        from workspaces.models import Workspace

        return list(Workspace.objects.filter(memberships__user=user).order_by("name").only("name", "slug"))

    return {
        "current_workspace": getattr(request, "workspace", None),
        "current_membership": getattr(request, "membership", None),
        "my_workspaces": switcher,
    }
