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

from api.models import revoke_departed_member
from workspaces.access import get_for_workspace, require, workspace_view
from workspaces.forms import InvitationForm, InvitedSignupForm, RoleForm, SignupForm, WorkspaceForm
from workspaces.models import Invitation, Membership, Perm, Role, UserProfile, Workspace


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


def remember_workspace(request) -> None:
    UserProfile.objects.update_or_create(user=request.user, defaults={"last_workspace": request.workspace})


@workspace_view(Perm.VIEW)
def overview(request):
    """The workspace home: what goes out next, what needs someone, and whether the engine is running."""
    from datetime import timedelta

    from django.db.models import Count, Q
    from django.utils.timezone import now

    from channels.models import Channel
    from posts.models import Delivery, Heartbeat, Notification, Post
    from scheduler_project.health import check_redis, check_workers

    remember_workspace(request)
    workspace = request.workspace
    at = now()
    S = Delivery.Status
    midnight = at.astimezone(workspace.tz).replace(hour=0, minute=0, second=0, microsecond=0)
    deliveries = Delivery.objects.for_workspace(workspace)
    counts = deliveries.aggregate(
        scheduled=Count("id", filter=Q(status__in=[S.SCHEDULED, S.QUEUED, S.PUBLISHING])),
        published_today=Count("id", filter=Q(status=S.PUBLISHED, published_at__gte=midnight)),
        failed=Count("id", filter=Q(status__in=[S.FAILED, S.NEEDS_ATTENTION, S.HELD])),
    )
    counts.update(
        # Both through the post_ws_status index.
        Post.objects.filter(
            workspace=workspace, status__in=[Post.Status.PENDING_APPROVAL, Post.Status.DRAFT]
        ).aggregate(
            pending=Count("id", filter=Q(status=Post.Status.PENDING_APPROVAL)),
            drafts=Count("id", filter=Q(status=Post.Status.DRAFT)),
        )
    )
    counts["unread"] = Notification.objects.filter(workspace=workspace, user=request.user, read=None).count()

    # Late posts that nothing explains: not waiting for a reconnect, a paused queue or a retry's backoff.
    grace = timedelta(minutes=1)
    stuck = (
        Delivery.objects.overdue(at, grace)
        .for_workspace(workspace)
        .exclude(status=S.HELD)
        .exclude(channel__status=Channel.Status.PAUSED)
        .filter(Q(status=S.QUEUED) | Q(next_attempt_at__lt=at - grace))
    )
    overdue = list(
        stuck.select_related("channel__workspace", "post").with_excerpt().order_by("scheduled_for", "id")[:6]
    )

    engine = []
    redis = check_redis()
    if not redis["ok"]:
        engine.append(
            "The job queue (Redis) cannot be reached, so no post can be handed to a worker. "
            "Ask whoever runs this server to check Redis."
        )
    else:
        workers = check_workers()
        if not workers["ok"]:
            engine.append(
                "No publishing worker is running, so scheduled posts will not go out. "
                "Ask whoever runs this server to start the worker process."
            )
    beat = (
        Heartbeat.objects.filter(kind="dispatcher").order_by("-beat").values_list("beat", flat=True).first()
    )
    if beat is None or (at - beat).total_seconds() > settings.WORKER_HEARTBEAT_MAX_AGE:
        engine.append(
            "The dispatcher is not running, so due posts are not handed to the workers. "
            "Ask whoever runs this server to start the dispatcher process."
        )

    channels = list(Channel.objects.filter(workspace=workspace).order_by("network", "handle"))
    upcoming = (
        deliveries.filter(status=S.SCHEDULED, scheduled_for__gte=at)
        .select_related("channel", "post")
        .with_excerpt()
        .order_by("scheduled_for", "id")[:25]
    )
    next_posts = {}
    for delivery in upcoming:
        entry = next_posts.setdefault(delivery.post_id, {"delivery": delivery, "channels": []})
        entry["channels"].append(delivery.channel)
    first_run = first_run_steps(request.membership, channels)
    return render(
        request,
        "workspaces/overview.html",
        {
            "channels": channels,
            "reconnect": [c for c in channels if c.status == Channel.Status.NEEDS_RECONNECT],
            "counts": counts,
            "overdue": overdue[:5],
            "more_overdue": len(overdue) > 5,
            "engine_problems": engine,
            "next_posts": list(next_posts.values())[:5],
            "first_run": first_run,
        },
    )


def first_run_steps(membership: Membership, channels: list) -> list[dict] | None:
    """The new workspace's checklist, or None once every step is done (or this member can do none).

    Each step: its label, whether it is done, and a link for members allowed to do it.
    """
    from posts.models import Post, PostingSlot

    can_connect = membership.can(Perm.MANAGE_CHANNELS)
    can_write = membership.can(Perm.COMPOSE)
    if not (can_connect or can_write):
        return None
    workspace = membership.workspace
    has_slots = bool(channels) and PostingSlot.objects.filter(channel__workspace=workspace).exists()
    has_post = Post.objects.filter(workspace=workspace).exists()
    if channels and has_slots and has_post:
        return None
    slug = workspace.slug
    # Times on any one channel complete the step: the link opens the first channel's schedule.
    schedule_url = (
        reverse("posts:channel-schedule", kwargs={"slug": slug, "code": channels[0].code})
        if channels
        else None
    )
    not_yours = "an owner or admin does this"
    return [
        {
            "label": "Connect a channel",
            "done": bool(channels),
            "url": reverse("channels:list", kwargs={"slug": slug}) if can_connect else None,
            "note": None if can_connect else not_yours,
        },
        {
            "label": "Set posting times",
            "done": has_slots,
            "url": schedule_url if can_connect else None,
            "note": (None if channels else "once a channel is connected") if can_connect else not_yours,
        },
        {
            "label": "Write your first post",
            "done": has_post,
            "url": reverse("posts:compose", kwargs={"slug": slug}) if can_write else None,
            "note": None,
        },
    ]


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
        renewed = revoke_departed_member(workspace=request.workspace, user=target.user)
    if leaving:
        messages.success(request, f"You left {request.workspace.name}.")
        return redirect("workspaces:home")
    messages.success(request, f"{target.user} was removed from the workspace.")
    if renewed:
        messages.info(
            request,
            "The workspace's calendar feeds have new URLs, so the removed member's copies no longer work: "
            "members subscribed in a calendar app copy the new URL from the Calendar feeds page.",
        )
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
