from django import forms
from django.contrib import messages
from django.db.models import Count, Min, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from channels import limits
from channels.deadline import web_deadline
from channels.models import Channel, Network
from channels.networks.base import AdapterError, AuthorizationLost
from posts import channel_auth, states
from posts.models import Delivery
from workspaces.access import get_for_workspace, safe_next, workspace_view
from workspaces.forms import timezone_choices
from workspaces.models import Perm


class ChannelSettingsForm(forms.ModelForm):
    timezone = forms.ChoiceField(required=False, label="Time zone")

    class Meta:
        model = Channel
        fields = ["timezone"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [("", "Workspace default")] + timezone_choices()


@workspace_view(Perm.VIEW)
def channel_list(request):
    channels = Channel.objects.filter(workspace=request.workspace).order_by("network", "handle")
    return render(request, "channels/list.html", {"channels": channels, "networks": Network})


@workspace_view(Perm.VIEW)
def channel_detail(request, code):
    channel = get_for_workspace(Channel, request.workspace, code=code)
    form = ChannelSettingsForm(request.POST or None, instance=channel)
    if request.method == "POST":
        if not request.membership.can(Perm.MANAGE_CHANNELS):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied("Your role cannot change channels.")
        if form.is_valid():
            form.save()
            messages.success(request, "Channel settings saved.")
            return redirect("channels:detail", slug=request.workspace.slug, code=channel.code)
    S = Delivery.Status
    counts = channel.deliveries.aggregate(
        upcoming=Count("id", filter=Q(status__in=states.UPCOMING)),
        held=Count("id", filter=Q(status=S.HELD)),
        next_time=Min("scheduled_for", filter=Q(status__in=states.UPCOMING)),
    )
    context = {"channel": channel, "form": form, "slots": channel.slots.count(), **counts}
    return render(request, "channels/detail.html", context)


@workspace_view(Perm.MANAGE_CHANNELS)
@require_POST
def pause(request, code):
    channel = get_for_workspace(Channel, request.workspace, code=code)
    Channel.objects.filter(pk=channel.pk, status=Channel.Status.ACTIVE).update(status=Channel.Status.PAUSED)
    messages.success(request, f"{channel} is paused: its queued posts wait until you resume it.")
    return _back(request)


@workspace_view(Perm.MANAGE_CHANNELS)
@require_POST
def resume(request, code):
    channel = get_for_workspace(Channel, request.workspace, code=code)
    Channel.objects.filter(pk=channel.pk, status=Channel.Status.PAUSED).update(status=Channel.Status.ACTIVE)
    messages.success(request, f"{channel} is active again.")
    return _back(request)


def _back(request):
    """Back to the page the button was on (a queue page), or the channel list."""
    return redirect(safe_next(request, reverse("channels:list", kwargs={"slug": request.workspace.slug})))


@workspace_view(Perm.MANAGE_CHANNELS)
@require_POST
def verify(request, code):
    """Check the stored credentials against the network now (one of the few live calls from a view)."""
    channel = get_for_workspace(Channel, request.workspace, code=code)
    note = ""
    try:
        with web_deadline():
            account = channel.adapter().verify()
            try:
                limits.refresh(channel)
            except AdapterError as exc:  # the account works; its old limits stay
                note = f" Its limits could not be read again: {exc.message}"
    except AuthorizationLost as exc:
        channel_auth.authorisation_lost(channel, exc.message)
        messages.error(request, f"{channel} needs to be reconnected: {exc.message}")
    except AdapterError as exc:
        messages.error(request, f"Could not check {channel}: {exc.message}")
    else:
        channel.display_name = account.display_name or channel.display_name
        channel.avatar_url = account.avatar_url or channel.avatar_url
        channel.last_error = ""
        was_lost = channel.status == Channel.Status.NEEDS_RECONNECT
        if was_lost:
            channel.status = Channel.Status.ACTIVE
        channel.save(update_fields=["display_name", "avatar_url", "last_error", "status", "updated"])
        if was_lost:
            channel_auth.reconnected(channel)
        messages.success(request, f"{channel} is connected and working.{note}")
    return redirect("channels:list", slug=request.workspace.slug)


@workspace_view(Perm.MANAGE_CHANNELS)
@require_POST
def disconnect(request, code):
    channel = get_for_workspace(Channel, request.workspace, code=code)
    label = str(channel)
    if channel.deliveries.filter(status__in=states.GOING_OUT).exists():
        messages.error(request, f"{label} is publishing right now; disconnect it again in a minute.")
        return redirect("channels:list", slug=request.workspace.slug)
    # Its deliveries go with it (published ones included); posts on other channels stay.
    channel.delete()
    messages.success(request, f"{label} was disconnected and its stored credentials deleted.")
    return redirect("channels:list", slug=request.workspace.slug)
