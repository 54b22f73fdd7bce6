"""What the API accepts and shows for alert subscriptions and their deliveries.

A subscription's secret and its URL's path and query are credentials: reads show that a
secret is set and the URL's scheme and host only.
"""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from app.models.alerts import AlertDelivery, AlertSubscription, ChannelKind
from app.text import Label, SafeText

Name = Annotated[Label, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
Url = Annotated[SafeText, StringConstraints(max_length=2000, pattern=r"^https?://\S+$")]
Secret = Annotated[SecretStr, Field(min_length=1, max_length=500)]
SubscribedEvent = Literal["incident.opened", "incident.escalated", "control.sighting"]
Events = Annotated[list[SubscribedEvent], Field(min_length=1, max_length=3)]
Throttle = Annotated[int, Field(ge=0, le=30 * 86400)]


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    kind: ChannelKind
    url: Url = Field(
        description="https (http and private addresses only with "
        "HONEYTRACE_ALERT_PRIVATE_ADDRESSES)."
    )
    secret: Secret | None = Field(
        None,
        description="webhook: the HMAC-SHA256 key (required); dingtalk: the robot's 加签 "
        "secret (SEC…); slack and wecom take none. Write-only.",
    )
    events: Events
    enabled: bool = True
    throttle_seconds: Throttle = Field(
        3600, description="At most one alert per incident and event in this window (0: all)."
    )


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    url: Url | None = None
    secret: Secret | None = None
    events: Events | None = None
    enabled: bool | None = None
    throttle_seconds: Throttle | None = None


def shown_url(url: str) -> str:
    """A URL as reads show it: its path and query may be a credential."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}/…"


class SubscriptionRead(BaseModel):
    id: uuid.UUID
    name: str
    kind: ChannelKind
    url: str = Field(description="Scheme and host only; the rest is withheld.")
    secret: Literal["(set)"] | None = Field(description="Whether a secret is set; never shown.")
    events: list[str]
    enabled: bool
    throttle_seconds: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, subscription: AlertSubscription) -> "SubscriptionRead":
        return cls(
            id=subscription.id,
            name=subscription.name,
            kind=subscription.kind,
            url=shown_url(subscription.url),
            secret="(set)" if subscription.secret else None,
            events=subscription.events,
            enabled=subscription.enabled,
            throttle_seconds=subscription.throttle_seconds,
            created_at=subscription.created_at,
            updated_at=subscription.updated_at,
        )


class DeliveryRead(BaseModel):
    id: uuid.UUID
    subscription_id: uuid.UUID
    event: str
    subject: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    response_status: int | None
    body: dict[str, Any] = Field(description="The event as it was raised.")

    @classmethod
    def of(cls, delivery: AlertDelivery) -> "DeliveryRead":
        return cls.model_validate(delivery, from_attributes=True)
