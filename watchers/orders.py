"""Orders being placed, screened for canary recipients: brushing buys leaked addresses and
ships empty parcels to them, so an order addressed to a canary names the merchant (and the
sender account) that bought the data."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from watchers.observations import Evidence, Observation, SourceKind

# The recipient fields an order may carry (the names canaries.matching reads).
ORDER_FIELDS = ("name", "mobile", "address", "province", "city", "district", "waybill_no")


@dataclass(frozen=True)
class Order:
    """One new order as the order platform sent it (`raw`: its JSON, kept as evidence)."""

    order_id: str
    fields: Mapping[str, str]
    placed_at: datetime
    raw: bytes
    sender_id: str | None = None
    merchant_id: str | None = None

    def observations(self) -> list[Observation]:
        """The order's recipient, if it names one."""
        fields = {f: v for f, v in self.fields.items() if f in ORDER_FIELDS and v}
        if not fields:
            return []
        context = {"order_id": self.order_id}
        if self.sender_id:
            context["sender_id"] = self.sender_id
        if self.merchant_id:
            context["merchant_id"] = self.merchant_id
        return [
            Observation(
                kind=SourceKind.ORDER,
                # An order id is unique within its merchant: both name the observation.
                source_id=f"{self.merchant_id or self.sender_id or ''}|{self.order_id}",
                observed_at=self.placed_at,
                fields=fields,
                evidence=Evidence(self.raw, "application/json"),
                context=context,
            )
        ]
