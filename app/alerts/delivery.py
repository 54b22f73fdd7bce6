"""Sending a delivery: what the `deliver_alert` job runs, and the sweep that finds lost ones.

An attempt is three steps, so that no transaction (on SQLite, the write lock) is held while
a receiver takes its time: count the attempt and render the request; POST it; record what
came back. The job's lock keeps two attempts at one delivery from running at once, and a
delivery no longer pending is never sent again.
"""

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from app.alerts.events import AlertEvent
from app.alerts.sending import SendError, judge, post
from app.alerts.shapes import Outgoing, render
from app.db import Database, utcnow
from app.models.alerts import (
    AlertDelivery,
    AlertSubscription,
    ChannelKind,
    DeliveryStatus,
    EventKind,
)
from app.queueing.jobs import BACKOFF, JobQueue
from app.settings import Settings

log = logging.getLogger("honeytrace.alerts")

# Every attempt the job's backoff allows: the first, and one per retry.
MAX_ATTEMPTS = (BACKOFF.max_attempts or 0) + 1
# How long past its expected retry a pending delivery waits for its job before the sweep
# queues it again (a job lost with the in-process queue at a restart).
SWEEP_GRACE = timedelta(minutes=5)
SWEEP_BATCH = 100


class DeliveryRetryError(Exception):
    """An attempt that failed in a way a later one may not (5xx, a timeout, a connection
    refused): raised after it is recorded, so the job is retried with its backoff."""


@dataclass(frozen=True)
class _Attempt:
    number: int
    kind: ChannelKind
    outgoing: Outgoing


def _start(
    session: Session, settings: Settings, delivery: AlertDelivery, now: datetime
) -> _Attempt | None:
    subscription = session.get(AlertSubscription, delivery.subscription_id)
    # A test is sent to a disabled subscription too: it is how one is tried before use.
    if subscription is None or not (subscription.enabled or delivery.event == EventKind.TEST):
        delivery.status = DeliveryStatus.FAILED
        delivery.last_error = "the subscription was disabled before the alert was sent"
        session.add(delivery)
        return None
    delivery.attempts += 1
    wait = timedelta(seconds=BACKOFF.exponential_wait**delivery.attempts)
    delivery.next_attempt_at = now + wait + SWEEP_GRACE
    session.add(delivery)
    outgoing = render(
        subscription.kind,
        subscription.url,
        subscription.secret,
        AlertEvent.model_validate(delivery.body),
        delivery_id=delivery.id,
        public_url=settings.public_url,
        now=now,
    )
    return _Attempt(delivery.attempts, subscription.kind, outgoing)


def deliver(
    database: Database, settings: Settings, delivery_id: uuid.UUID, *, retry: bool = True
) -> AlertDelivery | None:
    """Make one attempt at a pending delivery and record it: sent, failed, or (with `retry`,
    before the last attempt) still pending, raising DeliveryRetryError. Returns the delivery
    as recorded (None if it was deleted with its subscription). Two units of work, the
    request sent between them with none open."""
    with database.write() as session:
        delivery = session.get(AlertDelivery, delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return delivery
        attempt = _start(session, settings, delivery, utcnow())
    if attempt is None:
        return delivery
    status: int | None = None
    error: SendError | None = None
    try:
        answer = asyncio.run(post(attempt.outgoing, allow_private=settings.alert_private_addresses))
        status = answer.status
        judge(attempt.kind, answer)
    except SendError as failed:
        error = failed
    again = error is not None and error.retry and retry and attempt.number < MAX_ATTEMPTS
    context = {"delivery_id": str(delivery_id), "attempt": attempt.number, "status": status}
    with database.write() as session:
        delivery = session.get(AlertDelivery, delivery_id)
        if delivery is None:
            return None
        delivery.response_status = status
        if error is None:
            delivery.status = DeliveryStatus.SENT
            delivery.sent_at = utcnow()
            delivery.last_error = None
        else:
            delivery.last_error = error.reason[:500]
            if not again:
                delivery.status = DeliveryStatus.FAILED
        session.add(delivery)
    if error is None:
        log.info("alert sent", extra=context)
        return delivery
    log.warning("alert not sent", extra={**context, "reason": error.reason, "retrying": again})
    if again:
        raise DeliveryRetryError(error.reason)
    return delivery


def sweep_deliveries(database: Database, jobs: JobQueue, now: datetime) -> int:
    """Queue the pending deliveries no job has taken up by their `next_attempt_at`: those
    raised where no queue was at hand (a CLI command) and those whose job was lost.
    Returns how many were queued."""
    query = (
        select(AlertDelivery.id)
        .where(
            AlertDelivery.status == DeliveryStatus.PENDING,
            col(AlertDelivery.next_attempt_at) <= now,
        )
        .order_by(col(AlertDelivery.next_attempt_at))
        .limit(SWEEP_BATCH)
    )
    # A plain read first: with nothing due, the sweep never takes SQLite's write lock.
    with database.read() as session:
        due = list(session.exec(query).all())
    if not due:
        return 0
    still = select(AlertDelivery).where(
        col(AlertDelivery.id).in_(due), AlertDelivery.status == DeliveryStatus.PENDING
    )
    with database.write() as session:
        queued = list(session.exec(still).all())
        for delivery in queued:
            delivery.next_attempt_at = now + SWEEP_GRACE
            session.add(delivery)
            jobs.defer(session, "deliver_alert", delivery_id=str(delivery.id))
    return len(queued)
