"""Web sessions: one row per sign-in, so that signing out ends the session on the server."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow


class WebSession(SQLModel, table=True):
    __tablename__ = "web_sessions"

    # SHA-256 of the random session id the cookie carries, never the id: a copy of this
    # table opens no session.
    id_hash: str = Field(sa_type=sa.String(64), primary_key=True)
    key_id: uuid.UUID = Field(foreign_key="api_keys.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
