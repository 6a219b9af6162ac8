import hashlib
import secrets
import uuid
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.timezone import now


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (use an IANA name such as Europe/Berlin).")


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    CONTRIBUTOR = "contributor", "Contributor"
    VIEWER = "viewer", "Viewer"


class Perm(models.TextChoices):
    """What a member may do. Views and the API check one of these, never a role name."""

    VIEW = "view"
    COMPOSE = "compose"  # write drafts and submit them for approval
    PUBLISH = "publish"  # schedule and publish without approval, approve others' posts
    MANAGE_CHANNELS = "manage_channels"
    MANAGE_MEMBERS = "manage_members"
    MANAGE_WORKSPACE = "manage_workspace"
    DELETE_WORKSPACE = "delete_workspace"


ROLE_PERMS: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({Perm.VIEW}),
    Role.CONTRIBUTOR: frozenset({Perm.VIEW, Perm.COMPOSE}),
    Role.EDITOR: frozenset({Perm.VIEW, Perm.COMPOSE, Perm.PUBLISH}),
    Role.ADMIN: frozenset(
        {
            Perm.VIEW,
            Perm.COMPOSE,
            Perm.PUBLISH,
            Perm.MANAGE_CHANNELS,
            Perm.MANAGE_MEMBERS,
            Perm.MANAGE_WORKSPACE,
        }
    ),
    Role.OWNER: frozenset(Perm.values),
}

# Roles a member with MANAGE_MEMBERS may hand out: only owners make owners.
ASSIGNABLE_ROLES = {
    Role.OWNER: list(Role.values),
    Role.ADMIN: [Role.ADMIN, Role.EDITOR, Role.CONTRIBUTOR, Role.VIEWER],
}


class Workspace(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    require_approval = models.BooleanField(
        default=False, help_text="Posts by editors and contributors wait for approval before scheduling."
    )
    require_alt_text = models.BooleanField(default=False, help_text="Refuse images without alt text.")
    created = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def members_with(self, perm: str):
        roles = [role for role, perms in ROLE_PERMS.items() if perm in perms]
        return Membership.objects.filter(workspace=self, role__in=roles).select_related("user")


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.EDITOR)
    created = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    def can(self, perm: str) -> bool:
        return perm in ROLE_PERMS.get(self.role, frozenset())

    # Template-friendly permission checks.
    can_compose = property(lambda self: self.can(Perm.COMPOSE))
    can_publish = property(lambda self: self.can(Perm.PUBLISH))
    can_manage_channels = property(lambda self: self.can(Perm.MANAGE_CHANNELS))
    can_manage_members = property(lambda self: self.can(Perm.MANAGE_MEMBERS))
    can_manage_workspace = property(lambda self: self.can(Perm.MANAGE_WORKSPACE))

    @property
    def assignable_roles(self) -> list[str]:
        return ASSIGNABLE_ROLES.get(self.role, [])


def hash_invitation_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _invitation_token() -> str:
    # Named by migration 0001 (tokens were stored then); issue() makes the tokens now.
    return secrets.token_urlsafe(32)


def _unopenable_token_hash() -> str:
    # A row made without issue() gets the hash of a token nobody was told: no link opens it.
    return hash_invitation_token(_invitation_token())


def _invitation_expiry():
    return timezone.now() + timedelta(days=settings.INVITATION_DAYS)


class InvitationQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(accepted=None, revoked=None, expires__gt=timezone.now())

    def by_token(self, token: str) -> "Invitation":
        """The invitation this link token opens; raises DoesNotExist for any other string."""
        return self.get(token_hash=hash_invitation_token(token))


class Invitation(models.Model):
    workspace = models.ForeignKey(Workspace, models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.EDITOR)
    # sha256 hex of the link's token; the token itself is only in the email (see issue()).
    token_hash = models.CharField(max_length=64, unique=True, default=_unopenable_token_hash, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(default=now)
    expires = models.DateTimeField(default=_invitation_expiry)
    accepted = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.workspace}"

    @classmethod
    def issue(cls, **fields) -> tuple["Invitation", str]:
        """Create an invitation; returns it and the token for its link, which is stored nowhere."""
        token = _invitation_token()
        return cls.objects.create(token_hash=hash_invitation_token(token), **fields), token

    @property
    def is_expired(self) -> bool:
        return self.expires <= timezone.now()

    def problem_for(self, user) -> str | None:
        """Why this invitation cannot be accepted by this user, as a sentence, or None."""
        if self.revoked:
            return "This invitation was withdrawn. Ask the workspace's admins for a new one."
        if self.accepted:
            return "This invitation has already been used. Each invitation link works once."
        if self.is_expired:
            return "This invitation has expired. Ask the workspace's admins for a new one."
        if user.email.lower() != self.email.lower():
            return (
                f"This invitation is for {self.email}, but you are signed in as "
                f"{user.email or user.username}. "
                "Sign in with the invited address, or ask for an invitation to yours."
            )
        return None

    def accept(self, user) -> Membership:
        """Claim the invitation once; a second caller (double click, two tabs) gets None from the update."""
        now = timezone.now()
        claimed = Invitation.objects.filter(pk=self.pk, accepted=None, revoked=None, expires__gt=now).update(
            accepted=now, accepted_by=user
        )
        if not claimed:
            raise Invitation.AlreadyUsed
        membership, created = Membership.objects.get_or_create(
            workspace=self.workspace, user=user, defaults={"role": self.role}
        )
        return membership

    class AlreadyUsed(Exception):
        pass


class UserProfile(models.Model):
    """Per-user preferences that are not auth: the workspace the dashboard opens on."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, models.CASCADE, related_name="profile")
    last_workspace = models.ForeignKey(Workspace, models.SET_NULL, null=True, blank=True, related_name="+")

    def __str__(self) -> str:
        return f"Profile of {self.user}"

    @classmethod
    def remember_workspace(cls, user, workspace: Workspace) -> None:
        """The workspace `user` opened last: the home page opens it next time."""
        cls.objects.update_or_create(user=user, defaults={"last_workspace": workspace})
