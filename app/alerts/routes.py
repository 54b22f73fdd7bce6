"""/v1/alerts: subscriptions to alerts and what was delivered; thin routes over
app.alerts.service (sync: saving a subscription resolves its host, a test sends at once)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.alerts import service
from app.alerts.delivery import deliver
from app.alerts.schemas import (
    DeliveryRead,
    SubscriptionCreate,
    SubscriptionRead,
    SubscriptionUpdate,
)
from app.auth.deps import AlertManager
from app.models.alerts import DeliveryStatus
from app.paging import Offset, Page, limit_query, page_of
from app.problems import NotFoundError
from app.resources import DatabaseDep, ReadSession, SettingsDep, WriteSession

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


@router.post("/subscriptions", status_code=status.HTTP_201_CREATED)
def create_subscription(
    session: WriteSession, actor: AlertManager, settings: SettingsDep, body: SubscriptionCreate
) -> SubscriptionRead:
    """Subscribe a webhook to incident events; its URL must resolve to a public address unless
    private ones are allowed."""
    # The unit of work begins at its first statement: the URL's host is resolved (the SSRF
    # check) before anything is written, so SQLite's one write lock never waits on DNS.
    subscription = service.create_subscription(
        session, actor, body, allow_private=settings.alert_private_addresses
    )
    return SubscriptionRead.of(subscription)


@router.get("/subscriptions")
def list_subscriptions(
    session: ReadSession,
    actor: AlertManager,
    limit: Annotated[int, limit_query(500)] = 100,
    offset: Offset = 0,
) -> Page[SubscriptionRead]:
    """The subscriptions by name."""
    shown = [SubscriptionRead.of(s) for s in service.list_subscriptions(session)]
    return page_of(shown, limit, offset)


@router.get("/subscriptions/{subscription_id}")
def get_subscription(
    session: ReadSession, actor: AlertManager, subscription_id: uuid.UUID
) -> SubscriptionRead:
    """One alert subscription."""
    return SubscriptionRead.of(service.get_subscription(session, subscription_id))


@router.patch("/subscriptions/{subscription_id}")
def update_subscription(
    session: WriteSession,
    actor: AlertManager,
    settings: SettingsDep,
    subscription_id: uuid.UUID,
    body: SubscriptionUpdate,
) -> SubscriptionRead:
    """Change the fields sent (name, URL, secret, events, throttle), or pause it."""
    subscription = service.update_subscription(
        session, actor, subscription_id, body, allow_private=settings.alert_private_addresses
    )
    return SubscriptionRead.of(subscription)


@router.delete("/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_subscription(
    session: WriteSession, actor: AlertManager, subscription_id: uuid.UUID
) -> None:
    """Delete a subscription; nothing more is sent to it."""
    service.delete_subscription(session, actor, subscription_id)


@router.post("/subscriptions/{subscription_id}/test")
def test_subscription(
    database: DatabaseDep,
    actor: AlertManager,
    settings: SettingsDep,
    subscription_id: uuid.UUID,
) -> DeliveryRead:
    """Send a test alert now, once, the way every alert is sent, and answer with how it
    went (`status`, `response_status`, `last_error`)."""
    with database.write() as session:
        delivery = service.create_test_delivery(session, actor, subscription_id)
    # Sent with no unit of work open (on SQLite, no write lock held).
    sent = deliver(database, settings, delivery.id, retry=False)
    if sent is None:
        raise NotFoundError("The subscription was deleted while its test was sent.")
    return DeliveryRead.of(sent)


@router.get("/deliveries")
def list_deliveries(
    session: ReadSession,
    actor: AlertManager,
    subscription_id: uuid.UUID | None = None,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, limit_query(500)] = 100,
    offset: Offset = 0,
) -> Page[DeliveryRead]:
    """Deliveries, newest first: what was sent, what is waiting for a retry, what failed."""
    rows, total = service.list_deliveries(session, subscription_id, delivery_status, limit, offset)
    items = [DeliveryRead.of(d) for d in rows]
    return Page[DeliveryRead](items=items, total=total, limit=limit, offset=offset)
