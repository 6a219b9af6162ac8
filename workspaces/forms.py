import zoneinfo

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.password_validation import validate_password
from django.utils.text import slugify

from workspaces.models import Role, Workspace


def timezone_choices():
    return [(name, name) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


class WorkspaceForm(forms.ModelForm):
    timezone = forms.ChoiceField(choices=timezone_choices, initial="UTC", label="Default time zone")

    class Meta:
        model = Workspace
        fields = ["name", "slug", "timezone", "require_approval", "require_alt_text"]
        help_texts = {"slug": "Used in the workspace's addresses: letters, digits and hyphens."}
        labels = {
            "require_approval": "Require approval before posts are scheduled",
            "require_alt_text": "Require alt text on every image",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False

    def clean_slug(self):
        slug = self.cleaned_data.get("slug") or slugify(self.cleaned_data.get("name", ""))[:50]
        if not slug:
            raise forms.ValidationError("Choose an address for the workspace (letters, digits and hyphens).")
        clash = Workspace.objects.filter(slug=slug).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("That address is taken; choose another.")
        return slug


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.EDITOR)

    def __init__(self, *args, assignable_roles: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(r, Role(r).label) for r in assignable_roles]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)

    def __init__(self, *args, assignable_roles: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(r, Role(r).label) for r in assignable_roles]


class InvitedSignupForm(forms.Form):
    """Create an account for an invited address (the address comes from the invitation)."""

    name = forms.CharField(max_length=150, required=False, label="Your name")
    password = forms.CharField(widget=forms.PasswordInput, label="Choose a password")

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean_password(self):
        password = self.cleaned_data["password"]
        user = get_user_model()(username=self.email, email=self.email)
        validate_password(password, user)
        return password

    def clean(self):
        User = get_user_model()
        if (
            User.objects.filter(username__iexact=self.email).exists()
            or User.objects.filter(email__iexact=self.email).exists()
        ):
            raise forms.ValidationError("An account with this address exists already: sign in to accept.")
        return super().clean()

    def save(self):
        User = get_user_model()
        return User.objects.create_user(
            username=self.email,
            email=self.email,
            password=self.cleaned_data["password"],
            first_name=self.cleaned_data.get("name", ""),
        )


class SignupForm(UserCreationForm):
    """Anyone's sign-up when SIGNUP is open: a user name, an address and the password twice."""

    email = forms.EmailField(label="Email address")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ["username", "email"]
        help_texts = {"username": "Up to 150 characters: letters, digits and . + - _"}

    def clean_username(self):
        username = super().clean_username()
        # People sign in with their user name or their address; an "@" would make the two ambiguous.
        if username and "@" in username:
            raise forms.ValidationError(
                "Choose a user name without “@” (you can sign in with your address too)."
            )
        return username

    def clean_email(self):
        email = self.cleaned_data["email"].strip()
        User = get_user_model()
        if (
            User.objects.filter(email__iexact=email).exists()
            or User.objects.filter(username__iexact=email).exists()
        ):
            raise forms.ValidationError("An account with this address exists already: log in instead.")
        return email
