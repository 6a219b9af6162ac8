"""The composer's buttons other than the main one: add, remove or split a part, set the number of
parts, remove an image. Each changes the ComposerState; the page (or its parts) is drawn again."""

from __future__ import annotations

from channels.models import Channel
from posts import composing
from posts.composer.state import MAX_PARTS, ComposerState, PartState, read_index
from posts.threading import network_counter, split_for


def apply_action(
    state: ComposerState, action: str, by_code: dict[str, Channel], errors: dict, *, nparts: str = ""
) -> None:
    parts = state.parts
    if action == "add-part":
        if len(parts) < MAX_PARTS:
            parts.append(PartState())
    elif action.startswith("remove-part-"):
        index = read_index(action.removeprefix("remove-part-"), len(parts))
        if index is not None and len(parts) > 1:
            del parts[index]
    elif action == "parts":
        wanted = read_index(nparts, MAX_PARTS + 1)
        if wanted:  # the "number of parts" field of the composer without JavaScript
            del parts[wanted:]
            parts.extend(PartState() for _ in range(wanted - len(parts)))
    elif action.startswith("split-"):
        index = read_index(action.removeprefix("split-"), len(parts))
        if index is not None:
            split_part(state, index, by_code, errors)
    elif action.startswith("remove-media-"):
        code = action.removeprefix("remove-media-")
        for part in parts:
            part.media = [m for m in part.media if str(m.code) != code]


def split_part(state: ComposerState, index: int, by_code: dict[str, Channel], errors: dict) -> None:
    """Part `index` cut into pieces that each fit the strictest chosen network, with a note (or an
    error) under it saying what happened."""
    part = state.parts[index]
    key = f"part:{index}"
    chosen = [by_code[code] for code in state.chosen]
    if not chosen:
        errors.setdefault(key, []).append(
            "Choose the channels first: the split follows the strictest of their limits."
        )
        return
    if not part.text.strip():
        errors.setdefault(key, []).append("Write the text to split first.")
        return
    options = composing.post_options(composing.Draft(parts=[], channels=[], options=state.options))
    counters = [network_counter(channel.adapter(), options) for channel in chosen]
    for channel, (count, limit) in zip(chosen, counters, strict=True):
        if count("x") > limit:  # the splitter would cut the text to single letters, slowly, in vain
            errors.setdefault(key, []).append(
                f"Not even one letter fits in a part on {channel.handle} with these options: "
                "shorten the content warning first."
            )
            return
    pieces = split_for(part.text, counters, numbering=state.numbering)
    if len(pieces) <= 1:
        state.notes.setdefault(key, []).append("This part already fits every chosen channel.")
        return
    if len(state.parts) - 1 + len(pieces) > MAX_PARTS:
        errors.setdefault(key, []).append(f"That would make more than {MAX_PARTS} parts.")
        return
    new = [PartState(text=pieces[0], media=part.media)] + [PartState(text=p) for p in pieces[1:]]
    state.parts[index : index + 1] = new
    note = f"Split into {len(pieces)} parts."
    if part.overrides:
        note += " Its per-channel texts were set aside: write them again for the new parts if needed."
    state.notes.setdefault(key, []).append(note)
