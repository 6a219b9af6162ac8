"""The one place that decides who may see and do what in a workspace.

Every workspace page is reached as /w/<slug>/...; `workspace_view` loads the caller's membership
(404 for non-members, so a stranger cannot even learn that a workspace exists) and checks the
permission the view needs (403 for a member whose role lacks it). Objects inside a workspace are
then loaded with `get_for_workspace`, which 404s for another workspace's objects.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.http import url_has_allowed_host_and_scheme

from workspaces.models import Membership, Perm, Workspace


def membership_for(user, slug: str) -> Membership:
    membership = (
        Membership.objects.select_related("workspace").filter(workspace__slug=slug, user=user).first()
        if user.is_authenticated
        else None
    )
    if membership is None:
        raise Http404("No such workspace.")
    return membership


def workspace_view(perm: str = Perm.VIEW):
    """Decorate a view taking (request, slug, ...): sets request.workspace and request.membership."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(request, slug, *args, **kwargs):
            membership = membership_for(request.user, slug)
            if not membership.can(perm):
                raise PermissionDenied(f"Your role ({membership.get_role_display()}) cannot do this.")
            request.workspace = membership.workspace
            request.membership = membership
            return view(request, *args, **kwargs)

        wrapper.required_perm = perm
        return wrapper

    return decorator


def require(request, perm: str) -> None:
    """For views that need a stronger permission on some methods only (e.g. POST)."""
    if not request.membership.can(perm):
        raise PermissionDenied(f"Your role ({request.membership.get_role_display()}) cannot do this.")


def get_for_workspace(queryset_or_model, workspace: Workspace, **lookup):
    """Load one object of this workspace, or 404 (never 403: that would confirm it exists elsewhere)."""
    queryset = getattr(queryset_or_model, "objects", queryset_or_model)
    model = queryset.model
    if any(f.name == "workspace" for f in model._meta.get_fields()):
        scoped = queryset.filter(workspace=workspace)
    elif any(f.name == "post" for f in model._meta.get_fields()):
        scoped = queryset.filter(post__workspace=workspace)
    else:
        scoped = queryset.filter(channel__workspace=workspace)
    return get_object_or_404(scoped, **lookup)


def safe_next(request, fallback: str) -> str:
    """The page a form asked to return to (`next`, posted or in the query), if it is on this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback
