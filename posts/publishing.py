"""Publishing one delivery: claim it, publish its parts in order through the adapter, record the outcome.

Every state change is a conditional update on the delivery's current status and claim (a transition
of posts.states), so a duplicated job, a second worker or a sweeper racing a slow worker can never
publish twice: the loser's update matches no row and it stops.

A Publisher does the work for one process: it signs each claim with the process's Heartbeat name
and keeps the claims a database failure left unsettled until they can be given back. The worker
pool (posts.workers) makes one and binds it to each of its threads; publish(), the job function's
entry, uses the publisher bound to the calling thread, or an unnamed one of its own.
"""

import logging
import random
import threading
import uuid
from collections import deque
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F

from channels.models import Channel
from channels.networks.base import (
    AuthorizationLost,
    ContentRejected,
    OutcomeUnknown,
    PartRequest,
    RemoteRef,
    TransientError,
)
from posts import channel_auth, notify, states
from posts.clock import now
from posts.models import Delivery, DeliveryAttempt

log = logging.getLogger(__name__)
S = Delivery.Status


def backoff(attempt: int) -> float:
    """Seconds before retry number `attempt` (1-based): 30 s, 2 min, 8 min, ... capped at 1 h, with jitter."""
    base = min(settings.PUBLISH_RETRY_BASE * (4 ** (attempt - 1)), 3600)
    return base * random.uniform(0.8, 1.2)


class LostClaim(Exception):
    """Another worker or the sweeper took this delivery over; stop without touching it."""


def claim(delivery_id: int, token: uuid.UUID, worker_name: str = "") -> Delivery | None:
    """Take a delivery that is due for this attempt (marked with `token`); None if another process has it.

    `worker_name` is the Heartbeat name of a worker pool that beats (posts.workers): the sweeper
    recovers a dead pool's deliveries as soon as its beats stop. Other workers (manage.py rqworker)
    leave it empty, and their deliveries are recovered after the job timeout.
    """
    at = now()
    claimed = states.apply(
        "claim",
        delivery_id,
        where={"next_attempt_at__lte": at + timedelta(seconds=5)},
        claim=token,
        claimed_at=at,
        claimed_by=worker_name,
        attempts=F("attempts") + 1,
        updated=at,
    )
    if not claimed:
        return None
    return Delivery.objects.select_related("post", "channel").get(pk=delivery_id)


def _update(delivery: Delivery, token, transition: str | None = None, **fields) -> None:
    """Write to a delivery we hold, and move it on by `transition` if given; raise LostClaim if we no
    longer hold it."""
    fields.setdefault("updated", now())
    if transition is not None:
        if not states.apply(transition, delivery, where={"claim": token}, **fields):
            raise LostClaim
        return
    if not Delivery.objects.filter(pk=delivery.pk, claim=token, status=S.PUBLISHING).update(**fields):
        raise LostClaim
    for name, value in fields.items():
        setattr(delivery, name, value)


# Lost connections, restarts, locks and timeouts. Other database errors (bad data, a constraint) are
# bugs, and stop the delivery in "needs attention" like any other.
DATABASE_AWAY = (OperationalError, InterfaceError)


class Publisher:
    """Publishes deliveries for one process.

    `name` is signed on each claim (see claim()). `unsettled` holds the claims taken here that could
    not be settled because the database failed under them (a restart, a failover): give_back_unsettled()
    returns them as soon as the database answers again, instead of leaving them "publishing" until the
    sweeper's job timeout. Appended by worker threads, drained by the worker pool's main thread.
    """

    def __init__(self, name: str = ""):
        self.name = name
        self.unsettled: deque[tuple[int, uuid.UUID]] = deque()

    def publish(self, delivery_id: int) -> str:
        """Publish a delivery handed out by the dispatcher. Returns what happened, for logs and tests."""
        token = uuid.uuid4()
        try:
            return _publish(delivery_id, token, self.name)
        except DATABASE_AWAY:
            # Whatever was checkpointed is in the database; the next attempt asks the network first.
            self.unsettled.append((delivery_id, token))
            raise

    def give_back_unsettled(self) -> int:
        """Return the claims publish() could not settle to the schedule; stop at the first database error."""
        given = 0
        while self.unsettled:
            delivery_id, token = self.unsettled[0]
            if _give_back(delivery_id, token):
                given += 1
            self.unsettled.popleft()
        return given


_bound = threading.local()


def bind(publisher: Publisher | None) -> None:
    """Make `publisher` the one publish() uses in the calling thread (None: an unnamed one per call)."""
    _bound.publisher = publisher


def publish(delivery_id: int) -> str:
    """Publish a delivery with the publisher bound to this thread (the job function's entry).

    Outside a worker pool (manage.py rqworker, tests) an unnamed publisher of its own publishes it;
    a claim a database failure leaves unsettled there is recovered by the sweeper after the job timeout.
    """
    publisher = getattr(_bound, "publisher", None) or Publisher()
    return publisher.publish(delivery_id)


def _give_back(delivery_id: int, token: uuid.UUID) -> bool:
    """Return one unsettled claim to the schedule (or stop it, after the last attempt). False if the
    claim was never taken or was settled after all."""
    at = now()
    attempts = (
        Delivery.objects.filter(pk=delivery_id, claim=token, status=S.PUBLISHING)
        .values_list("attempts", flat=True)
        .first()
    )
    if attempts is None:
        return False
    if attempts >= settings.PUBLISH_MAX_ATTEMPTS:
        # The same database error on every attempt is no outage: stop and show it.
        name, fields = "flag", {"last_error": "A database error stopped every attempt."}
    else:
        name, fields = (
            "give_back",
            {
                "next_attempt_at": at,
                "last_error": "The database was unreachable while publishing; checking the network before "
                "trying again.",
            },
        )
    with transaction.atomic():
        if not states.apply(name, delivery_id, where={"claim": token}, claim=None, updated=at, **fields):
            return False
        delivery = Delivery.objects.select_related("post").get(pk=delivery_id)
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            started=delivery.claimed_at or at,
            finished=at,
            outcome=DeliveryAttempt.Outcome.RECOVERED,
            message="The database was unreachable during this attempt.",
        )
        delivery.post.refresh_status()
    if delivery.status == S.NEEDS_ATTENTION:
        notify.delivery_failed(delivery)
    return True


def _publish(delivery_id: int, token: uuid.UUID, worker_name: str = "") -> str:
    delivery = claim(delivery_id, token, worker_name)
    if delivery is None:
        return "not-claimed"
    channel = delivery.channel
    if channel.status == Channel.Status.NEEDS_RECONNECT:
        _release(delivery, token, "lose_auth", error=channel_auth.HELD_REASON)
        return "held"
    if channel.status == Channel.Status.PAUSED:
        _release(delivery, token, "give_back", next_attempt_at=delivery.scheduled_for, error="")
        return "paused"

    # Written with the outcome, in the same transaction (_finish). A worker that dies mid-attempt
    # leaves the claim behind, and the sweeper records the attempt as interrupted.
    attempt = DeliveryAttempt(
        delivery=delivery,
        number=delivery.attempts,
        started=delivery.claimed_at,
        outcome=DeliveryAttempt.Outcome.ERROR,
    )
    try:
        outcome = _publish_parts(delivery, token, attempt)
    except LostClaim:
        log.warning("delivery %s: claim lost mid-publish; another process owns it now", delivery.pk)
        return "lost-claim"
    except TransientError as exc:
        outcome = _retry_or_give_up(delivery, token, attempt, exc)
    except ContentRejected as exc:
        _finish(delivery, token, attempt, "fail", DeliveryAttempt.Outcome.REJECTED, exc.message)
        notify.delivery_failed(delivery)
        outcome = "failed"
    except AuthorizationLost as exc:
        _finish(delivery, token, attempt, "lose_auth", DeliveryAttempt.Outcome.AUTH_LOST, exc.message)
        channel_auth.authorisation_lost(channel, exc.message)
        outcome = "held"
    except OutcomeUnknown as exc:
        _finish(delivery, token, attempt, "flag", DeliveryAttempt.Outcome.UNKNOWN, exc.message)
        notify.delivery_failed(delivery)
        outcome = "needs-attention"
    except DATABASE_AWAY:
        raise  # not the delivery's fault: publish() gives the claim back once the database is back
    except Exception:
        # A bug. The post may or may not be out, so don't guess: stop and show it, and let the error
        # reach the logs and RQ's failed-job registry.
        message = "An unexpected error stopped this delivery. Check the post on the network before retrying."
        try:
            _finish(delivery, token, attempt, "flag", DeliveryAttempt.Outcome.ERROR, message)
            notify.delivery_failed(delivery)
        except LostClaim:
            pass
        raise
    return outcome


def _publish_parts(delivery: Delivery, token, attempt: DeliveryAttempt) -> str:
    adapter = delivery.channel.adapter()
    parts = delivery.part_contents()
    options = delivery.post.post_options()
    published = delivery.published_refs()
    for index in range(len(published), len(parts)):
        attempt.part = index
        state = dict(delivery.part_state.get(str(index), {}))
        # Goes out with the adapter's first checkpoint, which comes before any call that could
        # create the post (the adapter contract): one UPDATE fewer than a checkpoint of its own.
        started = {"started": now().isoformat()}

        def checkpoint(new_state, index=index, started=started):
            merged = {**delivery.part_state.get(str(index), {}), **started, **new_state}
            started.clear()
            _update(delivery, token, part_state={**delivery.part_state, str(index): merged})

        request = PartRequest(
            key=f"{delivery.code}:{index}",
            index=index,
            part=parts[index],
            options=options,
            reply_to=published[-1] if published else None,
            root=published[0] if published else None,
            state=state,
            checkpoint=checkpoint,
        )
        ref = None
        if state:
            # An earlier attempt checkpointed this part, so it may have reached the network: ask
            # whether the part went out before sending it again.
            ref = adapter.find_published(request)
            request.state = dict(delivery.part_state.get(str(index), {}))
        if ref is None:
            ref = adapter.publish_part(request)
        published.append(ref)
        if len(published) < len(parts):
            _update(delivery, token, remote_parts=[r.as_dict() for r in published])
    first: RemoteRef = published[0]
    # The last part's reference is written with the final state, one UPDATE fewer per delivery. If
    # the process dies before it, the adapter's checkpoint makes the next attempt ask the network.
    _finish(
        delivery,
        token,
        attempt,
        "publish",
        DeliveryAttempt.Outcome.PUBLISHED,
        "",
        remote_parts=[r.as_dict() for r in published],
        published_at=now(),
        remote_url=first.url,
    )
    return "published"


def _retry_or_give_up(delivery, token, attempt, exc: TransientError) -> str:
    if exc.retry_after and exc.retry_after > 60:
        # A rate limit or an outage of the whole account: hold the channel's other posts back too.
        Channel.objects.filter(pk=delivery.channel_id).update(
            rate_limited_until=now() + timedelta(seconds=exc.retry_after)
        )
    if delivery.attempts >= settings.PUBLISH_MAX_ATTEMPTS:
        message = f"Gave up after {delivery.attempts} attempts. Last error: {exc.message}"
        _finish(delivery, token, attempt, "fail", DeliveryAttempt.Outcome.GAVE_UP, message)
        notify.delivery_failed(delivery)
        return "failed"
    delay = max(exc.retry_after or 0, backoff(delivery.attempts))
    _finish(
        delivery,
        token,
        attempt,
        "give_back",
        DeliveryAttempt.Outcome.RETRY,
        f"{exc.message} Trying again in {_human(delay)}.",
        next_attempt_at=now() + timedelta(seconds=delay),
    )
    return "retry"


def _human(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} seconds"
    if seconds < 5400:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"


def _finish(delivery, token, attempt, transition: str, outcome, message, **fields) -> None:
    """End the attempt: move the delivery on by `transition` and write the attempt's record."""
    with transaction.atomic():
        _update(delivery, token, transition=transition, last_error=message[:1000], claim=None, **fields)
        attempt.outcome = outcome
        attempt.message = message[:1000]
        attempt.finished = now()
        attempt.save()
        delivery.post.refresh_status()
        if delivery.status == S.PUBLISHED:
            notify.delivery_published(delivery)


def _release(delivery, token, transition: str, *, error: str, **fields) -> None:
    """Give back a claimed delivery without an attempt (channel paused or disconnected)."""
    with transaction.atomic():
        _update(
            delivery,
            token,
            transition=transition,
            last_error=error,
            claim=None,
            attempts=F("attempts") - 1,
            **fields,
        )
        delivery.post.refresh_status()
