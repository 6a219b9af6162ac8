from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST

from workspaces.access import get_for_workspace, require, workspace_view
from workspaces.forms import InvitationForm, InvitedSignupForm, RoleForm, SignupForm, WorkspaceForm
from workspaces.models import Invitation, Membership, Perm, Role, UserProfile, Workspace
from workspaces.signals import member_left


@login_required
def home(request):
    """Open the workspace used last, or the first one, or offer to create one."""
    profile = UserProfile.objects.filter(user=request.user).select_related("last_workspace").first()
    if profile and profile.last_workspace:
        if Membership.objects.filter(user=request.user, workspace=profile.last_workspace).exists():
            return redirect("workspaces:overview", slug=profile.last_workspace.slug)
    first = Workspace.objects.filter(memberships__user=request.user).order_by("name").first()
    if first:
        return redirect("workspaces:overview", slug=first.slug)
    return redirect("workspaces:create")


def invitations_create_accounts() -> bool:
    """Under SIGNUP=closed only the operator creates accounts; invitations add people who have one."""
    return settings.SIGNUP in ("invite-only", "open")


def signup(request):
    """Anyone may create an account when SIGNUP is open; the page does not exist otherwise."""
    if settings.SIGNUP != "open":
        raise Http404("Sign-up is not open on this server.")
    if request.user.is_authenticated:
        return redirect("workspaces:home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="workspaces.backends.EmailOrUsernameBackend")
        messages.success(request, "Welcome! Create your first workspace to start.")
        return redirect("workspaces:create")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def create(request):
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            workspace = form.save()
            Membership.objects.create(workspace=workspace, user=request.user, role=Role.OWNER)
        messages.success(request, f"Workspace “{workspace.name}” created.")
        return redirect("workspaces:overview", slug=workspace.slug)
    return render(request, "workspaces/create.html", {"form": form})


@workspace_view(Perm.MANAGE_WORKSPACE)
def settings_page(request):
    workspace = request.workspace
    old_slug = workspace.slug
    form = WorkspaceForm(request.POST or None, instance=workspace)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Workspace settings saved.")
        return redirect("workspaces:settings", slug=workspace.slug)
    workspace.slug = old_slug  # an invalid form must not change the URLs on the page
    return render(request, "workspaces/settings.html", {"form": form})


@workspace_view(Perm.VIEW)
def members(request):
    memberships = request.workspace.memberships.select_related("user").order_by("user__username")
    invitations = request.workspace.invitations.pending().select_related("invited_by")
    form = InvitationForm(assignable_roles=request.membership.assignable_roles)
    return render(
        request,
        "workspaces/members.html",
        {"memberships": memberships, "invitations": invitations, "form": form, "roles": Role},
    )


@workspace_view(Perm.MANAGE_MEMBERS)
@require_POST
def invite(request):
    form = InvitationForm(request.POST, assignable_roles=request.membership.assignable_roles)
    if form.is_valid():
        email = form.cleaned_data["email"].lower()
        if request.workspace.memberships.filter(user__email__iexact=email).exists():
            form.add_error("email", "This person is already a member of the workspace.")
        else:
            invitation, token = Invitation.issue(
                workspace=request.workspace,
                email=email,
                role=form.cleaned_data["role"],
                invited_by=request.user,
            )
            send_invitation(request, invitation, token)
            messages.success(request, f"Invitation sent to {email}.")
            if (
                not invitations_create_accounts()
                and not get_user_model().objects.filter(email__iexact=email).exists()
            ):
                messages.warning(
                    request,
                    f"No account uses {email} yet, and this server does not create accounts from "
                    "invitations: ask whoever runs it to create one, then the invitation can be accepted.",
                )
            return redirect("workspaces:members", slug=request.workspace.slug)
    memberships = request.workspace.memberships.select_related("user").order_by("user__username")
    invitations = request.workspace.invitations.pending()
    return render(
        request,
        "workspaces/members.html",
        {"memberships": memberships, "invitations": invitations, "form": form, "roles": Role},
        status=400,
    )


def send_invitation(request, invitation: Invitation, token: str) -> None:
    link = settings.SITE_URL + reverse("workspaces:accept-invitation", args=[token])
    context = {"invitation": invitation, "link": link, "inviter": request.user}
    send_mail(
        subject=f"You are invited to {invitation.workspace.name}",
        message=render_to_string("workspaces/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


@workspace_view(Perm.MANAGE_MEMBERS)
@require_POST
def revoke_invitation(request, invitation_id: int):
    from django.utils import timezone

    invitation = get_for_workspace(Invitation, request.workspace, pk=invitation_id)
    Invitation.objects.filter(pk=invitation.pk, accepted=None).update(revoked=timezone.now())
    messages.success(request, f"Invitation of {invitation.email} withdrawn.")
    return redirect("workspaces:members", slug=request.workspace.slug)


def _owner_count(workspace) -> int:
    return workspace.memberships.filter(role=Role.OWNER).count()


@workspace_view(Perm.MANAGE_MEMBERS)
@require_POST
def change_role(request, membership_id: int):
    target = get_for_workspace(Membership, request.workspace, pk=membership_id)
    assignable = request.membership.assignable_roles
    if target.role not in assignable:
        raise PermissionDenied("Only owners can change an owner's role.")
    form = RoleForm(request.POST, assignable_roles=assignable)
    if not form.is_valid():
        messages.error(request, "Choose a role you are allowed to give.")
    elif (
        target.role == Role.OWNER
        and form.cleaned_data["role"] != Role.OWNER
        and _owner_count(request.workspace) == 1
    ):
        messages.error(request, "A workspace needs at least one owner: make someone else owner first.")
    else:
        target.role = form.cleaned_data["role"]
        target.save(update_fields=["role"])
        messages.success(request, f"{target.user} is now {target.get_role_display().lower()}.")
    return redirect("workspaces:members", slug=request.workspace.slug)


@workspace_view(Perm.VIEW)
@require_POST
def remove_member(request, membership_id: int):
    target = get_for_workspace(Membership, request.workspace, pk=membership_id)
    leaving = target.user_id == request.user.id
    if not leaving:
        require(request, Perm.MANAGE_MEMBERS)
        if target.role not in request.membership.assignable_roles:
            raise PermissionDenied("Only owners can remove an owner.")
    if target.role == Role.OWNER and _owner_count(request.workspace) == 1:
        messages.error(request, "A workspace needs at least one owner: make someone else owner first.")
        return redirect("workspaces:members", slug=request.workspace.slug)
    with transaction.atomic():
        target.delete()
        replies = member_left.send(sender=Membership, workspace=request.workspace, user=target.user)
    if leaving:
        messages.success(request, f"You left {request.workspace.name}.")
        return redirect("workspaces:home")
    messages.success(request, f"{target.user} was removed from the workspace.")
    for _receiver, notice in replies:
        if notice:
            messages.info(request, notice)
    return redirect("workspaces:members", slug=request.workspace.slug)


def accept_invitation(request, token: str):
    try:
        invitation = Invitation.objects.select_related("workspace").by_token(token)
    except Invitation.DoesNotExist:
        raise Http404("No such invitation.") from None
    if not request.user.is_authenticated:
        # A page that says what's wrong even before signing in: expired and used links say so.
        if invitation.revoked or invitation.accepted or invitation.is_expired:
            problem = invitation.problem_for(_Anonymous(invitation.email))
            return render(
                request,
                "workspaces/invitation.html",
                {"invitation": invitation, "problem": problem},
                status=410,
            )
        if not invitations_create_accounts():
            # SIGNUP=closed: the invited person needs an account the operator made; no form to make one.
            return render(
                request, "workspaces/invitation.html", {"invitation": invitation, "log_in_only": True}
            )
        form = InvitedSignupForm(request.POST or None, email=invitation.email)
        if request.method == "POST" and form.is_valid():
            user = form.save()
            login(request, user, backend="workspaces.backends.EmailOrUsernameBackend")
            return _accept(request, invitation)
        return render(request, "workspaces/invitation.html", {"invitation": invitation, "form": form})

    problem = invitation.problem_for(request.user)
    if problem:
        return render(
            request,
            "workspaces/invitation.html",
            {"invitation": invitation, "problem": problem},
            status=410 if invitation.accepted or invitation.revoked or invitation.is_expired else 403,
        )
    if request.method == "POST":
        return _accept(request, invitation)
    return render(request, "workspaces/invitation.html", {"invitation": invitation})


class _Anonymous:
    def __init__(self, email):
        self.email = email
        self.username = email


def _accept(request, invitation: Invitation):
    try:
        invitation.accept(request.user)
    except Invitation.AlreadyUsed:
        return render(
            request,
            "workspaces/invitation.html",
            {
                "invitation": invitation,
                "problem": "This invitation has already been used. Each link works once.",
            },
            status=410,
        )
    messages.success(request, f"Welcome to {invitation.workspace.name}.")
    return redirect("workspaces:overview", slug=invitation.workspace.slug)
