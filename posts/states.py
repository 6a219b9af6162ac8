"""A delivery's states: the statuses, the groups of them the pages and queries use, and the transitions.

Every change of a delivery's status goes through apply(): one conditional UPDATE that matches only
rows in one of the transition's declared source statuses (and the caller's guards, such as the claim
token), so two processes racing for the same delivery never both win: the loser's update matches no
row. A transition not declared here is refused before the database is touched.

    transition  from                                            to               by
    schedule    draft                                           scheduled        composing.schedule
    unschedule  draft, scheduled, held, failed, needs_attention draft            composing (edit, cancel)
    dispatch    scheduled                                       queued           dispatch.dispatch_due
    claim       queued, scheduled (and due)                     publishing       publishing.claim
    publish     publishing                                      published        publishing
    fail        publishing                                      failed           publishing
    flag        publishing                                      needs_attention  publishing
    lose_auth   publishing                                      held             publishing
    give_back   publishing                                      scheduled        publishing, dispatch.sweep
    hold        scheduled                                       held             channel_auth.hold_due
    release     held                                            scheduled        channel_auth, dispatch.sweep
    retry       failed, needs_attention, held                   scheduled        composing.retry (a person)
    link        needs_attention                                 published        attention (a person)
    link_part   needs_attention                                 scheduled        attention (a person)
    post_anyway needs_attention                                 scheduled        attention (a person)

Transitions out of "publishing" belong to the claim's holder: each needs the `claim` guard.

"Needs attention" means an attempt's outcome could not be known. A person who found the post on the
network links it: the last part (or the only one) makes the delivery published ("link"); an earlier
part of a thread is added to `remote_parts` and the delivery is scheduled again ("link_part"), and the
engine, which resumes after the parts already published, goes on with the next part. A person who did
not find it posts it anyway ("post_anyway"): the part's checkpointed state is set aside under
`part_state["posted_anyway"]`, so the next attempt has nothing to ask find_published about and sends
the part (a duplicate is possible, and the page says so).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import models
from django.utils.timezone import now


class Status(models.TextChoices):
    DRAFT = "draft", "Not scheduled"  # the post is a draft or waits for approval
    SCHEDULED = "scheduled", "Scheduled"
    QUEUED = "queued", "Queued"  # handed to a worker
    PUBLISHING = "publishing", "Publishing"
    PUBLISHED = "published", "Published"
    FAILED = "failed", "Failed"
    HELD = "held", "Held: channel needs reconnecting"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"


S = Status

# Status groups. Tuples, in a fixed order, so the index conditions built from them never change.

# Handed to a worker or being published: shown as "Publishing…".
GOING_OUT = (S.QUEUED, S.PUBLISHING)
# Not out yet but on its way: the queue pages, slot computation and the calendar.
UPCOMING = (S.SCHEDULED, S.QUEUED, S.PUBLISHING, S.HELD)
# On its way with nothing stopping it: the overview's "scheduled" count.
ON_TRACK = (S.SCHEDULED, *GOING_OUT)
# Out or going out: its post can no longer be changed, unscheduled or deleted.
BUSY = (S.QUEUED, S.PUBLISHING, S.PUBLISHED)
NOT_BUSY = tuple(s for s in S if s not in BUSY)
# On the calendars (the web page and the iCal feed) and counted against a network's daily quota.
ON_CALENDAR = (*UPCOMING, S.PUBLISHED)
# Stopped without going out: only a person sends them again.
STOPPED = (S.FAILED, S.NEEDS_ATTENTION)
# What the failed page lists and a person may retry: stopped, or held for a reconnect.
NEEDS_ACTION = (*STOPPED, S.HELD)
# Waiting for its time or a worker, not being published: late once its time has passed.
WAITING = (S.SCHEDULED, S.QUEUED, S.HELD)
# Its time may still change (moved in the queue or the calendar, rescheduled).
MOVABLE = (S.SCHEDULED, S.HELD)
# Its time has come at least once (an edit that keeps the time sends these out at once if it passed).
WAS_DUE = (S.SCHEDULED, S.HELD, S.FAILED, S.NEEDS_ATTENTION)
# Nothing more happens to it without a person.
DONE = (S.PUBLISHED, *STOPPED)

# How close to its time a scheduled delivery counts as live: it is about to be handed out.
LIVE_LOOKAHEAD = timedelta(seconds=60)


def is_live(status: str, next_attempt_at: datetime | None, at: datetime | None = None) -> bool:
    """Going out now or in a moment: its live status (posts/_delivery_status.html) polls while this holds."""
    if status in GOING_OUT:
        return True
    at = at or now()
    return status == S.SCHEDULED and next_attempt_at is not None and next_attempt_at <= at + LIVE_LOOKAHEAD


@dataclass(frozen=True)
class Transition:
    name: str
    sources: tuple[str, ...]
    target: str
    # Guards every caller must give (a keyword of the UPDATE's filter), such as the claim token.
    needs: tuple[str, ...] = ()


_CLAIMED = ("claim",)

TRANSITIONS = {
    t.name: t
    for t in (
        Transition("schedule", (S.DRAFT,), S.SCHEDULED),
        Transition("unschedule", NOT_BUSY, S.DRAFT),
        Transition("dispatch", (S.SCHEDULED,), S.QUEUED),
        Transition("claim", (S.QUEUED, S.SCHEDULED), S.PUBLISHING, needs=("next_attempt_at__lte",)),
        Transition("publish", (S.PUBLISHING,), S.PUBLISHED, needs=_CLAIMED),
        Transition("fail", (S.PUBLISHING,), S.FAILED, needs=_CLAIMED),
        Transition("flag", (S.PUBLISHING,), S.NEEDS_ATTENTION, needs=_CLAIMED),
        Transition("lose_auth", (S.PUBLISHING,), S.HELD, needs=_CLAIMED),
        Transition("give_back", (S.PUBLISHING,), S.SCHEDULED, needs=_CLAIMED),
        Transition("hold", (S.SCHEDULED,), S.HELD),
        Transition("release", (S.HELD,), S.SCHEDULED),
        Transition("retry", NEEDS_ACTION, S.SCHEDULED),
        Transition("link", (S.NEEDS_ATTENTION,), S.PUBLISHED),
        Transition("link_part", (S.NEEDS_ATTENTION,), S.SCHEDULED),
        Transition("post_anyway", (S.NEEDS_ATTENTION,), S.SCHEDULED),
    )
}


class UndeclaredTransition(Exception):
    """A status change no transition declares (or without the guards it needs): a bug, refused."""


def transition(name: str) -> Transition:
    try:
        return TRANSITIONS[name]
    except KeyError:
        raise UndeclaredTransition(f"No delivery transition is called {name!r}.") from None


def apply(name: str, rows, *, where: dict | None = None, **fields) -> int:
    """Apply transition `name` to `rows` (a Delivery, a delivery's pk or a queryset of deliveries) as
    one conditional UPDATE: only rows in a source status that match `where` change, to the target
    status with `fields` written alongside. Returns how many rows changed (0: another process got
    there first, or the row had moved on). A Delivery passed in gets the new status and fields.
    """
    from posts.models import Delivery

    step = transition(name)
    where = where or {}
    missing = [guard for guard in step.needs if guard not in where]
    if missing:
        raise UndeclaredTransition(f"The {name!r} transition needs the guard {', '.join(missing)}.")
    if "status" in fields:
        raise UndeclaredTransition("A transition decides the status; it is not a field to write.")
    instance = rows if isinstance(rows, Delivery) else None
    if instance is not None:
        rows = Delivery.objects.filter(pk=instance.pk)
    elif not isinstance(rows, models.QuerySet):
        rows = Delivery.objects.filter(pk=rows)
    changed = rows.filter(status__in=step.sources, **where).update(status=step.target, **fields)
    if changed and instance is not None:
        instance.status = step.target
        for field, value in fields.items():
            if not hasattr(value, "resolve_expression"):  # an F() expression: the row has the value
                setattr(instance, field, value)
    return changed
