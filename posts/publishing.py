"""Publishing one delivery: claim it, publish its parts in order through the adapter, record the outcome.

Every state change is a conditional update on the delivery's current status and claim, so a
duplicated job, a second worker or a sweeper racing a slow worker can never publish twice: the
loser's update matches no row and it stops.
"""

import logging
import random
import uuid
from collections import deque
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F

from channels.adapters.base import (
    AuthorizationLost,
    ContentRejected,
    OutcomeUnknown,
    PartRequest,
    RemoteRef,
    TransientError,
)
from channels.models import Channel
from posts import channel_auth, notify
from posts.clock import now
from posts.models import Delivery, DeliveryAttempt

log = logging.getLogger(__name__)
S = Delivery.Status

# The Heartbeat name of this process when it is a worker pool that beats (posts.workers), written on
# each claim: the sweeper recovers a dead pool's deliveries as soon as its beats stop. Other workers
# (manage.py rqworker) leave it empty, and their deliveries are recovered after the job timeout.
worker_name = ""


def backoff(attempt: int) -> float:
    """Seconds before retry number `attempt` (1-based): 30 s, 2 min, 8 min, ... capped at 1 h, with jitter."""
    base = min(settings.PUBLISH_RETRY_BASE * (4 ** (attempt - 1)), 3600)
    return base * random.uniform(0.8, 1.2)


class LostClaim(Exception):
    """Another worker or the sweeper took this delivery over; stop without touching it."""


def claim(delivery_id: int, token: uuid.UUID) -> Delivery | None:
    """Take a delivery that is due for this attempt (marked with `token`); None if another process has it."""
    at = now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, status__in=[S.QUEUED, S.SCHEDULED], next_attempt_at__lte=at + timedelta(seconds=5)
    ).update(
        status=S.PUBLISHING,
        claim=token,
        claimed_at=at,
        claimed_by=worker_name,
        attempts=F("attempts") + 1,
        updated=at,
    )
    if not claimed:
        return None
    return Delivery.objects.select_related("post", "channel").get(pk=delivery_id)


def _update(delivery: Delivery, token, **fields) -> None:
    """Write to a delivery we hold; raise LostClaim if we no longer do."""
    fields.setdefault("updated", now())
    if not Delivery.objects.filter(pk=delivery.pk, claim=token, status=S.PUBLISHING).update(**fields):
        raise LostClaim
    for name, value in fields.items():
        setattr(delivery, name, value)


# Claims this process took but could not settle because the database failed under it (a restart, a
# failover): given back by give_back_unsettled() as soon as the database answers again, instead of
# staying "publishing" until the sweeper's job timeout. Appended by worker threads, drained by the
# worker pool's main thread.
_unsettled: deque[tuple[int, uuid.UUID]] = deque()
# Lost connections, restarts, locks and timeouts. Other database errors (bad data, a constraint) are
# bugs, and stop the delivery in "needs attention" like any other.
DATABASE_AWAY = (OperationalError, InterfaceError)


def publish(delivery_id: int) -> str:
    """Publish a delivery handed out by the dispatcher. Returns what happened, for logs and tests."""
    token = uuid.uuid4()
    try:
        return _publish(delivery_id, token)
    except DATABASE_AWAY:
        # Whatever was checkpointed is in the database; the next attempt asks the network first.
        _unsettled.append((delivery_id, token))
        raise


def give_back_unsettled() -> int:
    """Return the claims publish() could not settle to the schedule; stop at the first database error."""
    given = 0
    while _unsettled:
        delivery_id, token = _unsettled[0]
        at = now()
        held = Delivery.objects.filter(pk=delivery_id, claim=token, status=S.PUBLISHING)
        # Nothing matches if the claim was never taken or was settled after all.
        attempts = held.values_list("attempts", flat=True).first()
        if attempts is not None and attempts >= settings.PUBLISH_MAX_ATTEMPTS:
            # The same database error on every attempt is no outage: stop and show it.
            fields = {"status": S.NEEDS_ATTENTION, "last_error": "A database error stopped every attempt."}
        else:
            fields = {
                "status": S.SCHEDULED,
                "next_attempt_at": at,
                "last_error": "The database was unreachable while publishing; checking the network before "
                "trying again.",
            }
        delivery = None
        with transaction.atomic():
            if attempts is not None and held.update(claim=None, updated=at, **fields):
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
                given += 1
        _unsettled.popleft()
        if delivery is not None and delivery.status == S.NEEDS_ATTENTION:
            notify.delivery_failed(delivery)
    return given


def _publish(delivery_id: int, token: uuid.UUID) -> str:
    delivery = claim(delivery_id, token)
    if delivery is None:
        return "not-claimed"
    channel = delivery.channel
    if channel.status == Channel.Status.NEEDS_RECONNECT:
        _release(delivery, token, status=S.HELD, error=channel_auth.HELD_REASON)
        return "held"
    if channel.status == Channel.Status.PAUSED:
        _release(delivery, token, status=S.SCHEDULED, next_attempt_at=delivery.scheduled_for, error="")
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
        _finish(delivery, token, attempt, S.FAILED, DeliveryAttempt.Outcome.REJECTED, exc.message)
        notify.delivery_failed(delivery)
        outcome = "failed"
    except AuthorizationLost as exc:
        _finish(delivery, token, attempt, S.HELD, DeliveryAttempt.Outcome.AUTH_LOST, exc.message)
        channel_auth.authorisation_lost(channel, exc.message)
        outcome = "held"
    except OutcomeUnknown as exc:
        _finish(delivery, token, attempt, S.NEEDS_ATTENTION, DeliveryAttempt.Outcome.UNKNOWN, exc.message)
        notify.delivery_failed(delivery)
        outcome = "needs-attention"
    except DATABASE_AWAY:
        raise  # not the delivery's fault: publish() gives the claim back once the database is back
    except Exception:
        # A bug. The post may or may not be out, so don't guess: stop and show it, and let the error
        # reach the logs and RQ's failed-job registry.
        message = "An unexpected error stopped this delivery. Check the post on the network before retrying."
        try:
            _finish(delivery, token, attempt, S.NEEDS_ATTENTION, DeliveryAttempt.Outcome.ERROR, message)
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
        S.PUBLISHED,
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
        _finish(delivery, token, attempt, S.FAILED, DeliveryAttempt.Outcome.GAVE_UP, message)
        notify.delivery_failed(delivery)
        return "failed"
    delay = max(exc.retry_after or 0, backoff(delivery.attempts))
    _finish(
        delivery,
        token,
        attempt,
        S.SCHEDULED,
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


def _finish(delivery, token, attempt, status, outcome, message, **fields) -> None:
    with transaction.atomic():
        _update(delivery, token, status=status, last_error=message[:1000], claim=None, **fields)
        attempt.outcome = outcome
        attempt.message = message[:1000]
        attempt.finished = now()
        attempt.save()
        delivery.post.refresh_status()
        if status == S.PUBLISHED:
            notify.delivery_published(delivery)


def _release(delivery, token, *, status, error: str, **fields) -> None:
    """Give back a claimed delivery without an attempt (channel paused or disconnected)."""
    with transaction.atomic():
        _update(
            delivery, token, status=status, last_error=error, claim=None, attempts=F("attempts") - 1, **fields
        )
        delivery.post.refresh_status()
