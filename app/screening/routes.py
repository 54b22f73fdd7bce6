"""/v1/screen: new orders checked against the canaries as they are placed.

Brushing buys leaked addresses and ships empty parcels to them, so an order addressed to a
canary names the merchant that bought the data. The order platform (integration role
only, rate-limited, audited) sends batches of new orders; the hits become sightings
(source `order`) that name the sender and the merchant.
"""

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from app.audit.service import record_audit
from app.db import utcnow
from app.deps import OrderScreener, SessionDep
from app.evidence.store import EvidenceStore
from app.ratelimit import RateLimited
from app.settings import Settings
from app.sightings.index import IndexHolder
from app.sightings.observe import dedup_key, record_matches
from canaries.matching import Matcher
from watchers.observations import Evidence, Observation, SourceKind

router = APIRouter(prefix="/v1/screen", tags=["screening"])
MAX_BATCH = 10_000
SCREEN_PATH = "/v1/screen"
# A full batch of orders at their longest stays under this; larger bodies get 413.
MAX_SCREEN_BYTES = MAX_BATCH * 1024
ORDER_FIELDS = ("name", "mobile", "address", "province", "city", "district", "waybill_no")
Short = Annotated[str, StringConstraints(max_length=64)]
Long = Annotated[str, StringConstraints(max_length=200)]


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    name: Short | None = None
    mobile: Short | None = None
    address: Long | None = None
    province: Short | None = None
    city: Short | None = None
    district: Short | None = None
    waybill_no: Short | None = None
    sender_id: Short | None = None
    merchant_id: Short | None = None
    placed_at: AwareDatetime | None = None


class ScreenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    orders: Annotated[list[Order], Field(min_length=1, max_length=MAX_BATCH)]


class Hit(BaseModel):
    order_id: str
    score: float
    sighting_id: uuid.UUID | None = Field(
        description="The sighting this order made; null when the order was screened before."
    )


class ScreenResult(BaseModel):
    screened: int
    hits: list[Hit]


def _observation(order: Order) -> Observation:
    fields = {f: v for f in ORDER_FIELDS if (v := getattr(order, f))}
    context = {"order_id": order.order_id}
    for key in ("sender_id", "merchant_id"):
        if value := getattr(order, key):
            context[key] = value
    raw = json.dumps(order.model_dump(mode="json", exclude_none=True), ensure_ascii=False)
    return Observation(
        kind=SourceKind.ORDER,
        # An order id is unique within its merchant: both name the observation.
        source_id=f"{order.merchant_id or order.sender_id or ''}|{order.order_id}",
        observed_at=order.placed_at or utcnow(),
        fields=fields,
        evidence=Evidence(raw.encode(), "application/json"),
        context=context,
    )


@router.post("", dependencies=[RateLimited])
def screen(
    request: Request, session: SessionDep, actor: OrderScreener, body: ScreenRequest
) -> ScreenResult:
    """Which of these new orders are addressed to canaries (up to 10,000 a batch)."""
    settings: Settings = request.app.state.settings
    holder: IndexHolder = request.app.state.index_holder
    holder.refresh(session)
    # Match outside any transaction: on SQLite a unit of work holds the one write lock, and
    # most batches write nothing but their audit entry.
    session.commit()
    matcher = Matcher(holder.index)
    records = [
        {f: v for f in ORDER_FIELDS if (v := getattr(order, f)) is not None}
        for order in body.orders
    ]
    hits: list[Hit] = []
    store = EvidenceStore(settings.evidence_path)
    for row, match in matcher.match_records(records):
        order = body.orders[row]
        observation = _observation(order)
        excerpt = " ".join(f"{k}={v}" for k, v in records[row].items())
        added = record_matches(session, actor, store, observation, [(excerpt, match)])
        canary_id = uuid.UUID(bytes=match.canary.id)
        key = dedup_key(observation, canary_id)
        sighting = next((s for s in added if s.dedup_key == key), None)
        hits.append(
            Hit(
                order_id=order.order_id,
                score=round(match.score, 2),
                sighting_id=sighting.id if sighting else None,
            )
        )
    record_audit(
        session,
        actor,
        "orders.screen",
        "orders",
        None,
        {"orders": len(body.orders), "hits": len(hits)},
    )
    return ScreenResult(screened=len(body.orders), hits=hits)
