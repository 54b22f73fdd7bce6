"""The audit log: who changed what, when. Never holds a secret."""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_key_id: uuid.UUID | None = Field(default=None, index=True)
    actor: str = Field(sa_type=sa.String(64))
    action: str = Field(sa_type=sa.String(64), index=True)
    target_type: str = Field(sa_type=sa.String(32))
    target_id: str | None = Field(default=None, sa_type=sa.String(64))
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    request_id: str | None = Field(default=None, sa_type=sa.String(64))
