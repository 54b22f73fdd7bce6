"""Alert subscriptions, the deliveries made for them, and the per-incident throttle."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow


class ChannelKind(StrEnum):
    """The shape a subscription's requests take."""

    WEBHOOK = "webhook"  # our JSON, signed with HMAC-SHA256 over timestamp and body
    SLACK = "slack"  # a Slack incoming webhook
    DINGTALK = "dingtalk"  # a DingTalk group's custom robot
    WECOM = "wecom"  # a WeCom (企业微信) group robot


class EventKind(StrEnum):
    INCIDENT_OPENED = "incident.opened"
    INCIDENT_ESCALATED = "incident.escalated"
    CONTROL_SIGHTING = "control.sighting"
    # Sent by `POST /v1/alerts/subscriptions/{id}/test` only; nobody subscribes to it.
    TEST = "test"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not sent yet: waiting for its job, or for a retry
    SENT = "sent"
    FAILED = "failed"  # refused (4xx, an errcode, the SSRF guard) or out of attempts


class AlertSubscription(SQLModel, table=True):
    """Where alerts go. `url` and `secret` are credentials (a Slack path, a DingTalk
    access_token, a WeCom key, an HMAC secret): stored, used to send, never shown back."""

    __tablename__ = "alert_subscriptions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_type=sa.String(100), unique=True)
    kind: ChannelKind = Field(sa_type=sa.String(16))
    url: str = Field(sa_type=sa.String(2000))
    secret: str | None = Field(default=None, sa_type=sa.String(500))
    events: list[str] = Field(sa_type=sa.JSON)
    enabled: bool = True
    # At most one delivery per incident and event kind in this many seconds (0: every one).
    throttle_seconds: int = 3600
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AlertDelivery(SQLModel, table=True):
    """One event for one subscription: rendered and signed afresh at each attempt."""

    __tablename__ = "alert_deliveries"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    subscription_id: uuid.UUID = Field(foreign_key="alert_subscriptions.id", index=True)
    event: str = Field(sa_type=sa.String(32))
    # What the throttle counts per: "incident:<id>", "canary:<id>" or "sighting:<id>".
    subject: str = Field(sa_type=sa.String(64))
    body: dict[str, Any] = Field(sa_type=sa.JSON)  # the AlertEvent, as JSON
    status: DeliveryStatus = Field(default=DeliveryStatus.PENDING, sa_type=sa.String(16))
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=sa.String(500))
    # When the sweep takes a pending delivery up if no job has by then (one lost with an
    # in-process queue at a restart, or raised where no queue was at hand).
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    response_status: int | None = None

    # The sweep's query: pending deliveries by when they are due.
    __table_args__ = (
        sa.Index("ix_alert_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )


class AlertThrottle(SQLModel, table=True):
    """When a subscription was last sent an event about a subject. Claimed by one atomic
    upsert, so two transactions notifying at once deliver once (app.alerts.service)."""

    __tablename__ = "alert_throttles"

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: uuid.UUID = Field(foreign_key="alert_subscriptions.id")
    subject: str = Field(sa_type=sa.String(64))
    # The event kind; an escalation's carries its severity (see app.alerts.events).
    event: str = Field(sa_type=sa.String(48))
    last_at: datetime = Field(sa_type=UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("subscription_id", "subject", "event"),)
