"""/v1/screen: new orders checked against the canaries as they are placed.

Brushing buys leaked addresses and ships empty parcels to them, so an order addressed to a
canary names the merchant that bought the data. The order platform (integration role
only, rate-limited, audited) sends batches of new orders; the hits become sightings
(source `order`) that name the sender and the merchant.
"""

import json
import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlmodel import Session

from app.audit.service import record_audit
from app.auth.deps import OrderScreener
from app.db import utcnow
from app.intake.deps import IntakeDep
from app.intake.record import Recorded
from app.intake.sightings import Seen
from app.ratelimit import RATE_LIMITED_RESPONSES, RateLimited
from app.text import FreeText, SafeText
from watchers.orders import ORDER_FIELDS, Order

router = APIRouter(prefix="/v1/screen", tags=["screening"])
MAX_BATCH = 10_000
SCREEN_PATH = "/v1/screen"
# A full batch of orders at their longest stays under this; larger bodies get 413.
MAX_SCREEN_BYTES = MAX_BATCH * 1024
Short = Annotated[FreeText, StringConstraints(max_length=64)]
Long = Annotated[FreeText, StringConstraints(max_length=200)]


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: Annotated[SafeText, StringConstraints(min_length=1, max_length=64)]
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
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "orders": [
                        {
                            "order_id": "TB20260301-0001",
                            "name": "张伟",
                            "mobile": "13800138000",
                            "province": "浙江省",
                            "city": "杭州市",
                            "district": "西湖区",
                            "address": "文三路90号",
                            "placed_at": "2026-03-01T14:05:09+08:00",
                        }
                    ]
                }
            ]
        },
    )

    orders: Annotated[list[OrderIn], Field(min_length=1, max_length=MAX_BATCH)]


class Hit(BaseModel):
    order_id: str
    score: float
    sighting_id: uuid.UUID | None = Field(
        description="The sighting this order made; null when the order was screened before."
    )


class ScreenResult(BaseModel):
    screened: int
    hits: list[Hit]


def _order(order: OrderIn) -> Order:
    return Order(
        order_id=order.order_id,
        fields={f: v for f in ORDER_FIELDS if (v := getattr(order, f))},
        placed_at=order.placed_at or utcnow(),
        raw=json.dumps(
            order.model_dump(mode="json", exclude_none=True), ensure_ascii=False
        ).encode(),
        sender_id=order.sender_id,
        merchant_id=order.merchant_id,
    )


@router.post("", dependencies=[RateLimited], responses=RATE_LIMITED_RESPONSES)
def screen(intake: IntakeDep, actor: OrderScreener, body: ScreenRequest) -> ScreenResult:
    """Which of these new orders are addressed to canaries (up to 10,000 a batch)."""
    screened = [(order, o) for order in body.orders for o in _order(order).observations()]
    hits: list[Hit] = []

    def audit(session: Session, seen: Sequence[Seen], recorded: Recorded) -> None:
        added = recorded.by_key()
        for (order, _), found in zip(screened, seen, strict=True):
            for item, key in zip(found.found, found.keys(), strict=True):
                sighting = added.get(key)
                hits.append(
                    Hit(
                        order_id=order.order_id,
                        score=round(item.score or 0.0, 2),
                        sighting_id=sighting.id if sighting else None,
                    )
                )
        detail = {"orders": len(body.orders), "hits": len(hits)}
        record_audit(session, actor, "orders.screen", "orders", None, detail)

    intake.take(actor, [o for _, o in screened], then=audit)
    return ScreenResult(screened=len(body.orders), hits=hits)
