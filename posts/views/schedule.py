"""The posting-schedule editor: a channel's weekly posting times and the zone they are in."""

import functools

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.timezone import now

from posts import scheduling
from posts.models import Delivery, PostingSlot
from posts.views.common import channel_for
from workspaces.access import workspace_view
from workspaces.forms import timezone_choices
from workspaces.models import Perm

WEEKDAY_CHOICES = list(enumerate(PostingSlot.WEEKDAYS))


class AddTimeForm(forms.Form):
    time = forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        error_messages={"required": "Choose a time.", "invalid": "Enter a time such as 09:30."},
    )
    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAY_CHOICES,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one day."},
    )


class RemoveTimeForm(forms.Form):
    time = forms.TimeField()
    weekdays = forms.TypedMultipleChoiceField(choices=WEEKDAY_CHOICES, coerce=int)


@functools.cache
def _zone_choices() -> tuple[tuple[str, str], ...]:
    # Listing the zones reads the whole tz database: once per process, not once per page.
    return tuple(timezone_choices())


class ZoneForm(forms.Form):
    timezone = forms.ChoiceField(required=False, label="Time zone")

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [("", f"The workspace's zone ({workspace.timezone})")] + list(
            _zone_choices()
        )


def _days_label(weekdays) -> str:
    weekdays = sorted(set(weekdays))
    if weekdays == list(range(7)):
        return "every day"
    if weekdays == list(range(5)):
        return "Monday to Friday"
    return ", ".join(PostingSlot.WEEKDAYS[w] for w in weekdays)


def _moved(count: int) -> str:
    if count == 0:
        return "No queued post needed to move."
    if count == 1:
        return "1 queued post moved to a new time."
    return f"{count} queued posts moved to new times."


@workspace_view(Perm.MANAGE_CHANNELS)
def channel_schedule(request, code):
    channel = channel_for(request, code)
    add_form = AddTimeForm(prefix="add", initial={"weekdays": list(range(5))})
    zone_form = ZoneForm(prefix="zone", workspace=request.workspace, initial={"timezone": channel.timezone})
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "add":
                add_form = AddTimeForm(request.POST, prefix="add")
                if add_form.is_valid():
                    at, days = add_form.cleaned_data["time"], add_form.cleaned_data["weekdays"]
                    moved = scheduling.change_schedule(channel, add=[(d, at) for d in days])
                    messages.success(
                        request, f"Posting time {at:%H:%M} added {_days_label(days)}. {_moved(moved)}"
                    )
                    return redirect(request.path)
            elif action == "remove":
                remove = RemoveTimeForm(request.POST, prefix="remove")
                if remove.is_valid():
                    at, days = remove.cleaned_data["time"], remove.cleaned_data["weekdays"]
                    moved = scheduling.change_schedule(channel, remove=[(d, at) for d in days])
                    messages.success(
                        request, f"Posting time {at:%H:%M} removed {_days_label(days)}. {_moved(moved)}"
                    )
                else:
                    messages.error(request, "Choose a posting time to remove.")
                return redirect(request.path)
            elif action == "timezone":
                zone_form = ZoneForm(request.POST, prefix="zone", workspace=request.workspace)
                if zone_form.is_valid():
                    moved = scheduling.change_schedule(channel, timezone=zone_form.cleaned_data["timezone"])
                    messages.success(
                        request, f"Posting times are now in {channel.timezone_name}. {_moved(moved)}"
                    )
                    return redirect(request.path)
        except scheduling.NoSlots:
            messages.error(
                request,
                "Posts are waiting in this channel's queue and need posting times: keep at least one, "
                "or give those posts a fixed time first.",
            )
            return redirect(request.path)

    slots = scheduling.channel_slots(channel)
    times = sorted({at for _, at in slots})
    present = set(slots)
    grid = [
        (at, [(weekday, name, (weekday, at) in present) for weekday, name in WEEKDAY_CHOICES]) for at in times
    ]
    upcoming = list(zip(range(8), scheduling.slot_times(slots, channel.tz, now()), strict=False))
    queued = Delivery.objects.in_queue(channel).count()
    return render(
        request,
        "posts/schedule.html",
        {
            "channel": channel,
            "grid": grid,
            "weekdays": PostingSlot.WEEKDAYS,
            "next_times": [instant for _, instant in upcoming],
            "queued": queued,
            "add_form": add_form,
            "zone_form": zone_form,
        },
    )


urlpatterns = [
    path("w/<slug:slug>/channels/<uuid:code>/schedule/", channel_schedule, name="channel-schedule"),
]
