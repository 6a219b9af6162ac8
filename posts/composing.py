"""Create, schedule and approve posts: the one implementation behind the dashboard and the API.

`compose()` validates the post for every chosen channel through the adapters, then writes the
post, its parts, media links and one delivery per channel in one transaction, so a post that
cannot go out on one of its channels is refused whole and nothing is half-created.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils.timezone import now

from channels.models import Channel
from channels.networks.base import PartContent, PostOptions, Validation
from posts import clock, notify, scheduling, states
from posts.models import Comment, Delivery, Media, Post, PostPart
from workspaces.models import Perm


class PostInvalid(Exception):
    """Refused with reasons: `errors` maps a field ("text", "channels", "scheduled_at", "channel:<code>",
    "part:<n>", "media") to a list of sentences."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(m for msgs in errors.values() for m in msgs))
        self.errors = errors


# The composer's and the API's mode for an edit that leaves every delivery at its own time.
KEEP = "keep"


@dataclass
class Draft:
    """What the composer or an API client sends."""

    parts: list[str]
    channels: list[Channel]
    mode: str = Post.Mode.DRAFT
    scheduled_at: datetime | None = None  # aware, for mode "at"
    options: dict = field(default_factory=dict)
    overrides: dict[str, list[str | None]] = field(default_factory=dict)  # channel code -> text per part
    media: dict[int, list[Media]] = field(default_factory=dict)  # part index -> media in order


def needs_approval(membership, workspace) -> bool:
    """Contributors always submit for approval; with the workspace setting on, editors do too."""
    if not membership.can(Perm.PUBLISH):
        return True
    return workspace.require_approval and not membership.can(Perm.MANAGE_WORKSPACE)


def part_contents(draft: Draft, channel: Channel) -> list[PartContent]:
    overrides = draft.overrides.get(str(channel.code), [])
    contents = []
    for index, text in enumerate(draft.parts):
        if index < len(overrides) and overrides[index] is not None:
            text = overrides[index]
        items = [m.as_item(public_url="https://public.invalid/") for m in draft.media.get(index, [])]
        contents.append(PartContent(text=text, media=items))
    return contents


def post_options(draft: Draft) -> PostOptions:
    return PostOptions.from_dict(draft.options)


def validate(draft: Draft, workspace) -> tuple[dict[str, list[str]], dict[str, Validation]]:
    """Errors by field, and each channel's full validation (counters and warnings) by channel code."""
    errors: dict[str, list[str]] = {}
    results: dict[str, Validation] = {}
    if not draft.channels:
        errors.setdefault("channels", []).append("Choose at least one channel.")
    for channel in draft.channels:
        # Callers only offer the workspace's own channels; the lists of deliveries rely on it
        # (Delivery.objects.for_workspace goes through the channel), so it is checked here too.
        if channel.workspace_id != workspace.pk:
            errors.setdefault("channels", []).append(f"{channel} is not a channel of this workspace.")
    if not draft.parts or all(not t.strip() for t in draft.parts) and not any(draft.media.values()):
        errors.setdefault("text", []).append("Write something to post.")
    if workspace.require_alt_text:
        for index, items in draft.media.items():
            if any(not m.alt_text.strip() for m in items):
                errors.setdefault("media", []).append(
                    f"Part {index + 1}: every image needs alt text in this workspace."
                )
    options = post_options(draft)
    for channel in draft.channels:
        result = channel.adapter().validate(part_contents(draft, channel), options)
        results[str(channel.code)] = result
        for problem in result.errors:
            where = f" (part {problem.part + 1})" if problem.part is not None and len(draft.parts) > 1 else ""
            errors.setdefault(f"channel:{channel.code}", []).append(f"{channel}{where}: {problem.message}")
    return errors, results


def _check_schedule(
    draft: Draft, errors: dict, *, mode: str, timed: set[int], post: Post | None = None
) -> None:
    """`mode` is the post's mode once saved; `timed` the ids of channels whose delivery keeps its time."""
    if draft.mode == Post.Mode.AT:
        if draft.scheduled_at is None:
            errors.setdefault("scheduled_at", []).append("Choose a date and time.")
        elif draft.scheduled_at < now() - timedelta(minutes=1):
            errors.setdefault("scheduled_at", []).append("That time has passed: choose a time in the future.")
        elif not scheduling.in_range(draft.scheduled_at):
            errors.setdefault("scheduled_at", []).append(scheduling.out_of_range_message())
    for channel in draft.channels:
        if mode == Post.Mode.DRAFT:
            continue
        if channel.status == Channel.Status.ACTIVE:
            _check_daily_quota(channel, draft, errors, post)
        if channel.status == Channel.Status.NEEDS_RECONNECT:
            errors.setdefault("channels", []).append(
                f"{channel} needs reconnecting before posts can be scheduled."
            )
        elif channel.pk in timed:
            continue  # it keeps its time: neither a paused queue nor missing slots stop an edit
        elif channel.status == Channel.Status.PAUSED and mode in (Post.Mode.QUEUE, Post.Mode.NOW):
            errors.setdefault("channels", []).append(f"{channel}'s queue is paused: resume it first.")
        elif mode == Post.Mode.QUEUE and not channel.slots.exists():
            errors.setdefault("channels", []).append(
                f"{channel} has no posting times yet: set its schedule, or pick a date and time."
            )


def _check_daily_quota(channel, draft: Draft, errors: dict, post: Post | None = None) -> None:
    """Refuse to schedule beyond a network's daily quota of posts per account (its spec's daily_posts).

    Counted from our own deliveries within a day either side of the new post's time, which is
    stricter than a rolling window but never lets one through that the network would refuse.
    """
    limit = channel.spec.daily_posts(channel.limits)
    if limit is None:
        return
    if draft.mode == Post.Mode.AT and draft.scheduled_at:
        when = draft.scheduled_at
    elif draft.mode == Post.Mode.QUEUE:
        slots = scheduling.next_free_slots(channel, 1)
        when = slots[0] if slots else now()
    else:
        when = now()
    used = (
        Delivery.objects.filter(
            channel=channel,
            status__in=states.ON_CALENDAR,
            scheduled_for__gt=when - timedelta(hours=24),
            scheduled_for__lt=when + timedelta(hours=24),
        )
        .exclude(post=post)  # an edited post's own delivery is not one more
        .count()
    )
    if used >= limit:
        errors.setdefault("channels", []).append(
            f"{channel} already has {used} posts within a day of that time; {channel.spec.label} allows "
            f"{limit} a day. Pick another day."
        )


def compose(*, workspace, membership, draft: Draft, post: Post | None = None) -> Post:
    """Create a post, or change one in place, and schedule it as `draft.mode` says.

    Editing keeps each delivery (its code, attempt log, published parts and, with mode KEEP, its own
    time as moved in the calendar or queue); a channel taken off drops its delivery, one added gets a
    new delivery timed by the post's mode. Any other mode gives every delivery the new time.
    """
    keep = draft.mode == KEEP
    timed: set[int] = set()
    if keep:
        if post is not None:
            timed = set(
                post.deliveries.filter(scheduled_for__isnull=False).values_list("channel_id", flat=True)
            )
        if post is None or post.mode == Post.Mode.DRAFT or not timed:
            raise PostInvalid({"mode": ["This post has no time yet: choose when it goes out."]})
    mode = post.mode if keep else draft.mode
    errors, _ = validate(draft, workspace) if mode != Post.Mode.DRAFT else _draft_checks(draft, workspace)
    _check_schedule(draft, errors, mode=mode, timed=timed, post=post)
    if errors:
        raise PostInvalid(errors)
    approval = mode != Post.Mode.DRAFT and needs_approval(membership, workspace)
    was_pending = post is not None and post.status == Post.Status.PENDING_APPROVAL
    with transaction.atomic():
        existing: dict[int, Delivery] = {}
        if post is None:
            post = Post(workspace=workspace, author=membership.user)
        else:
            # Locked: the dispatcher skips locked rows, so none is handed out while it changes.
            existing = {d.channel_id: d for d in post.deliveries.select_for_update()}
            if any(d.is_busy for d in existing.values()):
                raise PostInvalid(
                    {"post": ["This post is being published or was published: it can't be changed."]}
                )
            Media.objects.filter(part__post=post).update(part=None)
            post.parts.all().delete()
        post.mode = mode
        post.options = PostOptions.known(draft.options)
        post.status = Post.Status.PENDING_APPROVAL if approval else Post.Status.DRAFT
        post.approved_by = None
        post.approved_at = None
        post.save()
        for index, text in enumerate(draft.parts):
            part = PostPart.objects.create(post=post, index=index, text=text)
            for position, media in enumerate(draft.media.get(index, [])):
                Media.objects.filter(pk=media.pk, workspace=workspace).update(part=part, position=position)
        chosen = {channel.pk for channel in draft.channels}
        Delivery.objects.filter(pk__in=[d.pk for c, d in existing.items() if c not in chosen]).delete()
        at = now()
        # A channel added to a post kept at a fixed time goes out at that time (the earliest, if moved).
        kept_time = min(
            (d.scheduled_for for d in existing.values() if d.scheduled_for and not d.in_queue), default=None
        )
        for channel in draft.channels:
            delivery = existing.get(channel.pk)
            if delivery is None:
                delivery = Delivery(post=post, channel=channel)
                if keep and mode == Post.Mode.AT and kept_time:
                    delivery.scheduled_for = delivery.next_attempt_at = max(kept_time, at)
            delivery.text_overrides = draft.overrides.get(str(channel.code), [])
            if mode == Post.Mode.DRAFT:
                delivery.scheduled_for = delivery.next_attempt_at = None
                delivery.in_queue = False
            elif not keep:
                # A new time for every delivery: fixed, or placed by schedule() (queue, now).
                fixed = draft.scheduled_at if mode == Post.Mode.AT else None
                delivery.scheduled_for = delivery.next_attempt_at = fixed
                delivery.in_queue = False
            elif delivery.scheduled_for and delivery.status in states.WAS_DUE:
                # Kept, and it was already due (failed, held, overdue): it goes out as soon as it can.
                delivery.scheduled_for = max(delivery.scheduled_for, at)
            if delivery.pk is None:
                delivery.save()  # a new delivery starts as a draft
            else:
                # Locked above and not busy: a draft again until schedule() gives it its time.
                states.apply(
                    "unschedule",
                    delivery,
                    text_overrides=delivery.text_overrides,
                    scheduled_for=delivery.scheduled_for,
                    next_attempt_at=delivery.next_attempt_at,
                    in_queue=delivery.in_queue,
                    updated=at,
                )
        if mode != Post.Mode.DRAFT and not approval:
            schedule(post)
    if approval:
        notify.approval_requested(post)
    elif was_pending:
        notify.approval_settled(post)  # edited back to a draft, or scheduled by someone who may
    return post


def _draft_checks(draft: Draft, workspace):
    """Drafts may be incomplete or too long; they only need something in them."""
    errors = {}
    if not any(t.strip() for t in draft.parts) and not any(draft.media.values()):
        errors["text"] = ["Write something to save."]
    return errors, {}


def schedule(post: Post) -> None:
    """Give every delivery of an approved (or approval-free) post its time and make it due.

    A delivery that has a time keeps it (set by "at a time", or kept through an edit); one placed in
    the queue whose slot has passed (the approval came late) takes the next free slot; one without a
    time takes the channel's next free slot (queue) or goes now. compose() gives "at a time" deliveries,
    and channels added to such a post, their time before this runs.
    """
    at = now()
    with transaction.atomic():
        deliveries = list(post.deliveries.select_related("channel", "channel__workspace").select_for_update())
        for delivery in deliveries:
            when, in_queue = delivery.scheduled_for, delivery.in_queue
            if when is not None and when < at - timedelta(minutes=1):
                if not in_queue:
                    raise PostInvalid(
                        {"scheduled_at": ["Its time has passed: edit the post and pick a new time."]}
                    )
                when = None
            if when is not None:
                when = max(when, at)
            elif post.mode == Post.Mode.QUEUE:
                slots = scheduling.next_free_slots(delivery.channel, 1, after=at)
                if not slots:
                    raise PostInvalid({"channels": [f"{delivery.channel} has no posting times yet."]})
                when, in_queue = slots[0], True
            else:
                # Share now: a time the dispatcher compares on the database's clock, not this machine's.
                when, in_queue = clock.now(), False
            scheduled = states.apply(
                "schedule",
                delivery,
                scheduled_for=when,
                next_attempt_at=when,
                in_queue=in_queue,
                attempts=0,
                last_error="",
                updated=at,
            )
            if not scheduled:  # locked above: only a delivery that is not a draft gets here
                raise PostInvalid({"post": ["Part of this post is already scheduled: reload and try again."]})
        Post.objects.filter(pk=post.pk).update(status=Post.Status.SCHEDULED, updated=at)
        post.status = Post.Status.SCHEDULED
    post.refresh_status()


def approve(post: Post, membership) -> None:
    if post.status != Post.Status.PENDING_APPROVAL:
        raise PostInvalid({"post": ["This post is not waiting for approval."]})
    if (
        post.author_id == membership.user_id
        and post.workspace.require_approval
        and not membership.can(Perm.MANAGE_WORKSPACE)
    ):
        raise PostInvalid({"post": ["Someone else must approve your post."]})
    with transaction.atomic():
        post.approved_by = membership.user
        post.approved_at = now()
        post.status = Post.Status.SCHEDULED
        post.save(update_fields=["approved_by", "approved_at", "status", "updated"])
        Comment.objects.create(post=post, author=membership.user, kind=Comment.Kind.APPROVED)
        schedule(post)
    notify.approved(post, membership.user)


def send_back(post: Post, membership, comment: str) -> None:
    if post.status != Post.Status.PENDING_APPROVAL:
        raise PostInvalid({"post": ["This post is not waiting for approval."]})
    if not comment.strip():
        raise PostInvalid({"comment": ["Say what should change."]})
    with transaction.atomic():
        Post.objects.filter(pk=post.pk).update(status=Post.Status.DRAFT, updated=now())
        post.status = Post.Status.DRAFT
        Comment.objects.create(
            post=post, author=membership.user, kind=Comment.Kind.CHANGES_REQUESTED, text=comment.strip()
        )
    notify.sent_back(post, membership.user, comment.strip())


def retry(delivery: Delivery) -> None:
    """A failed or stuck delivery goes out again now (the user decided)."""
    if not delivery.needs_action:
        raise PostInvalid({"delivery": ["Only failed or held deliveries can be retried."]})
    if delivery.channel.status == Channel.Status.NEEDS_RECONNECT:
        raise PostInvalid({"delivery": [f"Reconnect {delivery.channel} first."]})
    at = clock.now()  # compared by the dispatcher: the database's clock
    states.apply(
        "retry",
        delivery.pk,
        where={"status": delivery.status},  # as the person saw it
        next_attempt_at=at,
        attempts=0,
        last_error="",
        updated=at,
    )
    Post.objects.filter(pk=delivery.post_id).update(status=Post.Status.SCHEDULED)
    delivery.post.refresh_status()


def cancel(post: Post) -> None:
    """Unschedule: back to draft. Refused once any delivery is out or going out."""
    with transaction.atomic():
        busy = post.deliveries.select_for_update().filter(status__in=states.BUSY)
        if busy.exists():
            raise PostInvalid(
                {"post": ["Part of this post is out or going out now; it can't be unscheduled."]}
            )
        states.apply(
            "unschedule",
            post.deliveries.all(),
            scheduled_for=None,
            next_attempt_at=None,
            in_queue=False,
            updated=now(),
        )
        Post.objects.filter(pk=post.pk).update(status=Post.Status.DRAFT, mode=Post.Mode.DRAFT, updated=now())


def delete_post_if_unsent(post: Post) -> None:
    """Delete a post unless one of its deliveries is out or going out (then PostInvalid)."""
    with transaction.atomic():
        # Lock every delivery: the dispatcher skips locked rows, so none is claimed meanwhile.
        statuses = list(post.deliveries.select_for_update().values_list("status", flat=True))
        if set(states.BUSY).intersection(statuses):
            raise PostInvalid({"post": ["Part of this post is out or going out now; it can't be deleted."]})
        post.delete()
