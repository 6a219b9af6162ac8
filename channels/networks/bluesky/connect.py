"""Connect a Bluesky account with its handle and an app password (on bsky.social or any PDS)."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path

from channels.addresses import BadAddress, server_base_url
from channels.deadline import web_deadline
from channels.models import Channel
from channels.networks.base import ConnectError
from channels.networks.bluesky.connecting import connect
from workspaces.access import workspace_view
from workspaces.models import Perm


class BlueskyConnectForm(forms.Form):
    handle = forms.CharField(
        label="Handle",
        max_length=253,
        help_text="Your Bluesky name, such as alice.bsky.social or your own domain.",
        widget=forms.TextInput(
            attrs={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )
    app_password = forms.CharField(
        label="App password",
        max_length=100,
        help_text="Create one in Bluesky under Settings > Privacy and security > App passwords.",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False),
    )
    pds_url = forms.CharField(
        label="Server (PDS)",
        max_length=500,
        help_text="Change this only if you run your own PDS or your account lives on another server.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pds_url"].initial = settings.BLUESKY_DEFAULT_PDS

    def clean_pds_url(self):
        try:
            return server_base_url(self.cleaned_data["pds_url"], example="bsky.social")
        except BadAddress as exc:
            raise forms.ValidationError(exc.message, code="invalid") from None


@workspace_view(Perm.MANAGE_CHANNELS)
def connect_bluesky(request):
    # "Reconnect" links here with ?handle=&server= so only a new app password is needed.
    initial = {"handle": request.GET.get("handle", "")[:253]}
    if request.GET.get("server"):
        initial["pds_url"] = request.GET["server"][:500]
    form = BlueskyConnectForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with web_deadline():
                account = connect(data["handle"], data["app_password"], data["pds_url"])
        except ConnectError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            channel = Channel.objects.save_connected(request.workspace, account)
            messages.success(request, f"{channel} is connected.")
            return redirect("channels:list", slug=request.workspace.slug)
    return render(request, "networks/bluesky/connect.html", {"form": form})


urlpatterns = [
    path("w/<slug:slug>/channels/connect/bluesky/", connect_bluesky, name="connect-bluesky"),
]
