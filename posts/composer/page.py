"""What the composer page is given to draw: the channel choices by network, each part with its images,
per-channel texts, counters and messages, the options of the chosen networks, the schedule fields,
the live panel and the labels that depend on what was chosen."""

from __future__ import annotations

from django.urls import reverse

from channels import networks
from channels.models import Channel
from posts import composing
from posts.composer.choices import LANGUAGES, MODES, zone_options
from posts.composer.live import live
from posts.composer.media import media_row
from posts.composer.state import MAX_PARTS, ComposerState, kept_times
from posts.media import max_upload_bytes, max_upload_pixels
from posts.models import Post

MB = 1024 * 1024


def context(request, state: ComposerState, errors: dict, channels, by_code, post: Post | None) -> dict:
    chosen = set(state.chosen)
    live_panel = live(request, state, by_code)
    placed = {
        "text",
        "channels",
        "scheduled_at",
        "media",
        "zone",
        "language",
        *(option.name for spec in networks.specs() for option in spec.options),
    }
    other = [
        message
        for key, messages_ in errors.items()
        if key not in placed and not key.startswith(("channel:", "part:", "upload:"))
        for message in messages_
    ]
    needs_approval = composing.needs_approval(request.membership, request.workspace)
    kept = kept_times(post)
    zones = list(dict.fromkeys([state.zone] + [by_code[c].timezone_name for c in state.chosen]))
    if post is not None:
        form_action = reverse("posts:edit", kwargs={"slug": request.workspace.slug, "code": post.code})
    else:
        form_action = reverse("posts:compose", kwargs={"slug": request.workspace.slug})
    return {
        "post": post,
        "state": state,
        "options": state.options,
        "groups": _channel_groups(channels, chosen, errors),
        "parts": _parts(state, errors, channels, chosen, live_panel),
        "live": live_panel,
        "oob": False,
        "errors": {key: errors.get(key, []) for key in placed},
        "other_errors": other,
        # The summary says the post was not saved, which is only news after the main button.
        "has_errors": bool(errors) and request.POST.get("action", "submit") in ("", "submit"),
        "modes": [(composing.KEEP, "Keep its time")] + MODES if kept else MODES,
        "kept_times": _keep_label(kept),
        "option_groups": _option_groups(state, errors, by_code),
        "languages": LANGUAGES,
        "zone_options": zone_options(state.zone),
        "chosen_zones": [z for z in zones if z],
        "needs_approval": needs_approval,
        "submit_label": _submit_label(state, needs_approval),
        "form_action": form_action,
        "max_upload_mb": f"{max_upload_bytes() / MB:g}",
        "max_upload_bytes": max_upload_bytes(),
        "pixel_limit": _pixel_limit([by_code[code] for code in state.chosen]),
        "max_parts": MAX_PARTS,
        # The form sent back (refused, or after a button without JavaScript) holds what is not saved yet.
        "unsaved": request.method == "POST",
    }


def _channel_groups(channels: list[Channel], chosen: set[str], errors: dict) -> list[dict]:
    """The channels to choose from, by network; one that needs reconnecting can't be newly chosen."""
    groups: dict[str, dict] = {}
    for channel in channels:
        code = str(channel.code)
        disabled = channel.status == Channel.Status.NEEDS_RECONNECT and code not in chosen
        group = groups.setdefault(
            channel.network, {"network": channel.network, "label": channel.get_network_display(), "rows": []}
        )
        group["rows"].append(
            {
                "channel": channel,
                "code": code,
                "chosen": code in chosen,
                "disabled": disabled,
                "errors": errors.get(f"channel:{code}", []),
            }
        )
    return list(groups.values())


def _parts(state: ComposerState, errors: dict, channels, chosen: set[str], live_panel: dict) -> list[dict]:
    parts = []
    for index, part in enumerate(state.parts):
        part_errors = list(errors.get(f"part:{index}", []))
        if index == 0:
            part_errors = errors.get("text", []) + part_errors
        parts.append(
            {
                "index": index,
                "number": index + 1,
                "text": part.text,
                "media": [media_row(m, index) for m in part.media],
                "overrides": [
                    {
                        "channel": channel,
                        "code": str(channel.code),
                        "value": part.overrides.get(str(channel.code), ""),
                        "shown": str(channel.code) in chosen,
                    }
                    # Boxes for the chosen channels (the script adds more as channels are ticked),
                    # and for any channel that has a text, so that unticking one loses nothing.
                    for channel in channels
                    if str(channel.code) in chosen or str(channel.code) in part.overrides
                ],
                "has_overrides": any(code in chosen for code in part.overrides),
                "errors": part_errors,
                "notes": state.notes.get(f"part:{index}", []),
                "upload_errors": errors.get(f"upload:{index}", []),
                "counters": live_panel["counters"][index],
            }
        )
    return parts


def _option_groups(state: ComposerState, errors: dict, by_code: dict[str, Channel]) -> list[dict]:
    """Each network's own options; a group shows while one of its channels is chosen or it has an
    error (hidden, it keeps its values)."""
    chosen = {by_code[code].network for code in state.chosen}
    return [
        {
            "spec": spec,
            "shown": spec.name in chosen or any(errors.get(option.name) for option in spec.options),
            "choices": {option.name: option.choices for option in spec.options if option.choices},
        }
        for spec in networks.specs()
        if spec.options_template
    ]


def _pixel_limit(chosen: list[Channel]) -> dict:
    """The strictest pixel limit for uploads: this server's, or the chosen network's that is lower."""
    pixels, network = max_upload_pixels(), ""
    for channel in chosen:
        most = channel.adapter().max_image_pixels()
        if most and most < pixels:
            pixels, network = most, channel.get_network_display()
    return {"megapixels": f"{pixels / 1_000_000:.1f}".removesuffix(".0"), "network": network}


def _keep_label(kept) -> str:
    if not kept:
        return ""
    shown = []
    for channel, when, in_queue in kept:
        local = when.astimezone(channel.tz)
        where = "queue slot, " if in_queue else ""
        shown.append(
            f"{channel}: {local:%a} {local.day} {local:%b %Y, %H:%M} ({where}{channel.timezone_name})"
        )
    return "; ".join(shown)


def _submit_label(state: ComposerState, needs_approval: bool) -> str:
    if state.mode == Post.Mode.DRAFT:
        return "Save draft"
    if needs_approval:
        return "Submit for approval"
    if state.mode == composing.KEEP:
        return "Save changes"
    return {Post.Mode.NOW: "Share now", Post.Mode.QUEUE: "Add to queue"}.get(state.mode, "Schedule")
