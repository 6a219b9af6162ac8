import functools

from posts.models import Notification


def notifications(request):
    """The navigation's count of unread notifications in the open workspace (counted if a page shows it)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    @functools.cache
    def unread_notifications():
        workspace = getattr(request, "workspace", None)
        if workspace is None:
            return 0
        return Notification.objects.filter(workspace=workspace, user=user, read=None).count()

    return {"unread_notifications": unread_notifications}
