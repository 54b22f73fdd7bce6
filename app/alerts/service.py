"""Alert subscriptions, and `notify`: how an event becomes deliveries.

`notify` runs inside the caller's transaction (the incident code's, the sightings'): it
claims each subscription's throttle, writes a pending delivery, and defers its job, so a
transaction that rolls back sends nothing and one that commits sends once.
"""

import asyncio
import uuid
from datetime import datetime, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, func, select

from app.alerts.delivery import SWEEP_GRACE
from app.alerts.events import AlertEvent, Severity, control_sighting_event
from app.alerts.schemas import SubscriptionCreate, SubscriptionUpdate, shown_url
from app.alerts.sending import SendError, check_target
from app.audit.service import record_audit
from app.auth.actor import Actor
from app.db import utcnow
from app.models.alerts import (
    AlertDelivery,
    AlertSubscription,
    AlertThrottle,
    ChannelKind,
    DeliveryStatus,
    EventKind,
)
from app.models.sightings import Sighting
from app.problems import ConflictError, InvalidError, NotFoundError
from app.queueing.jobs import JobQueue

TEST_EVENT = AlertEvent(
    kind=EventKind.TEST,
    title="honeytrace 测试告警 / test alert",
    summary_zh="这是一条测试告警：订阅可用。",
    summary_en="This is a test alert: the subscription works.",
    severity=Severity.LOW,
)


def _check_channel(kind: ChannelKind, url: str, secret: str | None, allow_private: bool) -> None:
    """Refuse what could never be delivered; the SSRF guard looks again at each delivery,
    as the name may resolve elsewhere by then."""
    if kind == ChannelKind.WEBHOOK and not secret:
        raise InvalidError("A webhook subscription needs a secret: its requests are signed.")
    if kind in (ChannelKind.SLACK, ChannelKind.WECOM) and secret:
        raise InvalidError(f"A {kind} subscription takes no secret: its URL is the credential.")
    try:
        asyncio.run(check_target(url, allow_private=allow_private))
    except SendError as error:
        raise InvalidError(f"The URL is refused: {error.reason}.") from None


def create_subscription(
    session: Session, actor: Actor, body: SubscriptionCreate, *, allow_private: bool
) -> AlertSubscription:
    secret = body.secret.get_secret_value() if body.secret else None
    _check_channel(body.kind, body.url, secret, allow_private)
    subscription = AlertSubscription(
        name=body.name,
        kind=body.kind,
        url=body.url,
        secret=secret,
        events=sorted(set(body.events)),
        enabled=body.enabled,
        throttle_seconds=body.throttle_seconds,
    )
    session.add(subscription)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ConflictError(f"A subscription named {body.name!r} exists already.") from None
    detail = {
        "name": subscription.name,
        "kind": str(subscription.kind),
        "url": shown_url(subscription.url),
        "events": subscription.events,
    }
    record_audit(
        session, actor, "alert_subscription.create", "alert_subscription", subscription.id, detail
    )
    return subscription


def get_subscription(session: Session, subscription_id: uuid.UUID) -> AlertSubscription:
    subscription = session.get(AlertSubscription, subscription_id)
    if subscription is None:
        raise NotFoundError("No such alert subscription.")
    return subscription


def list_subscriptions(session: Session) -> list[AlertSubscription]:
    query = select(AlertSubscription).order_by(col(AlertSubscription.name))
    return list(session.exec(query).all())


def update_subscription(
    session: Session,
    actor: Actor,
    subscription_id: uuid.UUID,
    body: SubscriptionUpdate,
    *,
    allow_private: bool,
) -> AlertSubscription:
    subscription = get_subscription(session, subscription_id)
    changed = sorted(body.model_fields_set)
    if "secret" in body.model_fields_set:  # null clears it
        subscription.secret = body.secret.get_secret_value() if body.secret else None
    if body.url is not None:
        subscription.url = body.url
    if {"url", "secret"} & body.model_fields_set:
        _check_channel(subscription.kind, subscription.url, subscription.secret, allow_private)
    if body.name is not None:
        subscription.name = body.name
    if body.events is not None:
        subscription.events = sorted(set(body.events))
    if body.enabled is not None:
        subscription.enabled = body.enabled
    if body.throttle_seconds is not None:
        subscription.throttle_seconds = body.throttle_seconds
    subscription.updated_at = utcnow()
    session.add(subscription)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ConflictError(f"A subscription named {body.name!r} exists already.") from None
    record_audit(
        session,
        actor,
        "alert_subscription.update",
        "alert_subscription",
        subscription.id,
        {"fields": changed},
    )
    return subscription


def delete_subscription(session: Session, actor: Actor, subscription_id: uuid.UUID) -> None:
    """Forget a subscription with its deliveries: a pending one is never sent."""
    subscription = get_subscription(session, subscription_id)
    for table in (AlertThrottle, AlertDelivery):
        session.exec(delete(table).where(col(table.subscription_id) == subscription_id))
    session.delete(subscription)
    record_audit(
        session,
        actor,
        "alert_subscription.delete",
        "alert_subscription",
        subscription_id,
        {"name": subscription.name},
    )


def list_deliveries(
    session: Session,
    subscription_id: uuid.UUID | None,
    status: DeliveryStatus | None,
    limit: int,
    offset: int,
) -> tuple[list[AlertDelivery], int]:
    query = select(AlertDelivery)
    if subscription_id is not None:
        query = query.where(AlertDelivery.subscription_id == subscription_id)
    if status is not None:
        query = query.where(AlertDelivery.status == status)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(AlertDelivery.created_at).desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def _claim(
    session: Session, subscription: AlertSubscription, event: AlertEvent, now: datetime
) -> bool:
    """Whether this transaction may alert `subscription` about `event` now: one upsert that
    inserts the throttle row, or moves its time on if the window has passed. Of two
    transactions claiming at once, the second waits on the first's row (PostgreSQL) or for
    the write lock (SQLite) and then sees the window taken; if the first rolls back, the
    second gets it."""
    table = AlertThrottle.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    row = insert(table).values(
        subscription_id=subscription.id,
        subject=event.subject,
        event=event.throttle_event,
        last_at=now,
    )
    upsert = row.on_conflict_do_update(
        index_elements=["subscription_id", "subject", "event"],
        set_={"last_at": row.excluded.last_at},
        where=table.c.last_at <= now - timedelta(seconds=subscription.throttle_seconds),
    )
    return session.execute(upsert.returning(table.c.id)).first() is not None


def notify(session: Session, jobs: JobQueue | None, event: AlertEvent) -> list[AlertDelivery]:
    """Raise `event`: a pending delivery for each enabled subscription to its kind that the
    throttle lets through, its job deferred in this transaction. Without a queue (a CLI
    command) the deliveries are left to the sweep (`alert_sweep`)."""
    now = utcnow()
    deliveries = []
    enabled = select(AlertSubscription).where(col(AlertSubscription.enabled))
    for subscription in session.exec(enabled.order_by(col(AlertSubscription.created_at))):
        if event.kind not in subscription.events:
            continue
        if subscription.throttle_seconds and not _claim(session, subscription, event, now):
            continue
        delivery = AlertDelivery(
            subscription_id=subscription.id,
            event=str(event.kind),
            subject=event.subject,
            body=event.model_dump(mode="json"),
            next_attempt_at=now if jobs is None else now + SWEEP_GRACE,
        )
        session.add(delivery)
        deliveries.append(delivery)
    session.flush()
    if jobs is not None:
        _defer(session, jobs, deliveries)
    return deliveries


def _defer(session: Session, jobs: JobQueue, deliveries: list[AlertDelivery]) -> None:
    for delivery in deliveries:
        jobs.defer(session, "deliver_alert", delivery_id=str(delivery.id))


def alert_control_sightings(
    session: Session, added: list[Sighting], jobs: JobQueue | None
) -> list[AlertDelivery]:
    """A control.sighting alert per control canary among sightings just added (one for
    however many rows carried it), delivered by jobs when a queue is at hand, else by the
    sweep."""
    by_canary: dict[uuid.UUID, list[Sighting]] = {}
    for sighting in added:
        if sighting.control:
            by_canary.setdefault(sighting.canary_id, []).append(sighting)
    deliveries = []
    for sightings in by_canary.values():
        deliveries += notify(session, jobs, control_sighting_event(sightings[0], len(sightings)))
    return deliveries


def create_test_delivery(
    session: Session, actor: Actor, subscription_id: uuid.UUID
) -> AlertDelivery:
    """A test alert for one subscription, past the throttle, to be sent at once."""
    subscription = get_subscription(session, subscription_id)
    event = TEST_EVENT
    delivery = AlertDelivery(
        subscription_id=subscription.id,
        event=str(event.kind),
        subject=event.subject,
        body=event.model_dump(mode="json"),
        next_attempt_at=utcnow() + SWEEP_GRACE,
    )
    session.add(delivery)
    session.flush()
    record_audit(
        session,
        actor,
        "alert_subscription.test",
        "alert_subscription",
        subscription.id,
        {"delivery_id": str(delivery.id)},
    )
    return delivery
