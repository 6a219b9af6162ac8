"""A way out of "needs attention": the account's posts around the attempt, and the person's answer.

When an attempt's outcome cannot be known, the delivery stops in "needs attention". The delivery page
lists the account's own posts from around the attempt (through the adapter's recent_posts); the person
either links the one that went out (link) or says it is not there and posts it anyway (post_anyway).
Both are transitions of posts.states, taken only from "needs attention", so a second click or a
worker racing the person changes nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core import signing
from django.db import transaction

from channels.models import Channel
from channels.networks.base import RecentPost, RemoteRef
from posts import clock, notify, states
from posts.models import Delivery, Post

S = Delivery.Status

# The network's clock may differ from ours, and a post is dated when the network made it.
BEFORE = timedelta(minutes=15)
AFTER = timedelta(hours=1)
SHOWN = 20
_SALT = "posts.attention.link"
ANYWAY = "posted_anyway"  # the key in part_state that keeps what the part's attempts had checkpointed


class Refused(Exception):
    """The delivery no longer needs attention, or the answer is for another part: a sentence to show."""


@dataclass
class Window:
    since: datetime
    until: datetime


def open_part(delivery: Delivery) -> int:
    """The part whose outcome is unknown: the first one not recorded as published."""
    return len(delivery.remote_parts or [])


def part_count(delivery: Delivery) -> int:
    return delivery.post.parts.count()


def window(delivery: Delivery) -> Window:
    """From a little before the last attempt started to an hour after it ended (never past now)."""
    attempts = list(delivery.attempt_log.all())
    last = max(attempts, key=lambda a: a.number) if attempts else None
    started = (last.started if last else None) or delivery.claimed_at or delivery.next_attempt_at
    started = started or delivery.scheduled_for or clock.now()
    ended = (last.finished if last else None) or started
    return Window(since=started - BEFORE, until=min(clock.now(), ended + AFTER))


def recent_posts(delivery: Delivery) -> list[RecentPost]:
    """The account's posts around the attempt (network errors and NotImplementedError pass through)."""
    span = window(delivery)
    return delivery.channel.adapter().recent_posts(span.since, span.until, limit=SHOWN)


def link_token(delivery: Delivery, part: int, ref: RemoteRef) -> str:
    """What a "This is it" button sends: the post as the network listed it, signed, so the form cannot
    link anything the network did not show."""
    return signing.dumps({"d": str(delivery.code), "part": part, "ref": ref.as_dict()}, salt=_SALT)


def read_link_token(delivery: Delivery, token: str) -> tuple[int, RemoteRef]:
    try:
        data = signing.loads(token, salt=_SALT, max_age=24 * 3600)
    except signing.BadSignature:
        raise Refused("That choice has expired. Look at the list again.") from None
    if data.get("d") != str(delivery.code):
        raise Refused("That post was listed for another delivery.")
    return int(data["part"]), RemoteRef.from_dict(data["ref"])


def _check(delivery: Delivery, part: int) -> None:
    if delivery.status != S.NEEDS_ATTENTION:
        raise Refused("This delivery no longer needs attention.")
    if part != open_part(delivery):
        raise Refused("This delivery has moved on since the page was shown. Look at it again.")
    if delivery.channel.status == Channel.Status.NEEDS_RECONNECT:
        raise Refused(f"Reconnect {delivery.channel} first.")


def link(delivery: Delivery, part: int, ref: RemoteRef) -> str:
    """The person found part `part` on the network as `ref`. The last part: the delivery is published.
    An earlier part of a thread: it is recorded and the thread goes on from the next part now.
    Returns the transition taken."""
    _check(delivery, part)
    at = clock.now()
    published = [*delivery.published_refs(), ref]
    fields = {"remote_parts": [r.as_dict() for r in published], "last_error": "", "updated": at}
    done = len(published) >= part_count(delivery)
    with transaction.atomic():
        if done:
            name = "link"
            fields.update(published_at=at, remote_url=published[0].url)
        else:
            name = "link_part"
            fields.update(next_attempt_at=at, attempts=0)
        if not states.apply(name, delivery, **fields):
            raise Refused("This delivery no longer needs attention.")
        if not done:
            Post.objects.filter(pk=delivery.post_id).update(status=Post.Status.SCHEDULED)
        delivery.post.refresh_status()
        if done:
            notify.attention_resolved(delivery)
    return name


def post_anyway(delivery: Delivery, part: int) -> None:
    """The person did not find part `part`: send it now without asking the network about the earlier
    attempt (its checkpointed state is set aside under part_state[ANYWAY], so the engine has nothing to
    ask find_published about). A duplicate is possible if the earlier attempt did go out."""
    _check(delivery, part)
    at = clock.now()
    part_state = dict(delivery.part_state or {})
    earlier = part_state.pop(str(part), {})
    part_state[ANYWAY] = {"part": part, "at": at.isoformat(), "state": earlier}
    with transaction.atomic():
        changed = states.apply(
            "post_anyway",
            delivery,
            part_state=part_state,
            next_attempt_at=at,
            attempts=0,
            last_error="",
            updated=at,
        )
        if not changed:
            raise Refused("This delivery no longer needs attention.")
        Post.objects.filter(pk=delivery.post_id).update(status=Post.Status.SCHEDULED)
        delivery.post.refresh_status()
