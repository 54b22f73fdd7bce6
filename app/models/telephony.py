"""The operator's own phone numbers, who holds each, and the contacts they receive."""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow


class PhoneNumber(SQLModel, table=True):
    """A number the operator owns (rule 2): only these appear unmasked in canaries."""

    __tablename__ = "phone_numbers"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    number: str = Field(sa_type=sa.String(16), unique=True)  # E.164, +86 and 11 digits
    provider: str = Field(sa_type=sa.String(32))
    capabilities: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    home_district: str | None = Field(default=None, sa_type=sa.String(6))
    privacy: bool = False  # a privacy number: canaries get it with their own extension
    control: bool = False  # never planted: any contact on it is background noise
    link_id: uuid.UUID | None = Field(default=None, foreign_key="links.id", index=True)
    assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PhoneAssignment(SQLModel, table=True):
    """Which link held a number when: attribution reads a contact against this."""

    __tablename__ = "phone_assignments"

    id: int | None = Field(default=None, primary_key=True)
    number_id: uuid.UUID = Field(foreign_key="phone_numbers.id", index=True)
    link_id: uuid.UUID = Field(foreign_key="links.id", index=True)
    assigned_at: datetime = Field(sa_type=UTCDateTime)
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PhoneContact(SQLModel, table=True):
    """A call or message to a pool number, kept whether or not it named a canary, so each
    number's background rate (contacts without content per day) can be measured."""

    __tablename__ = "phone_contacts"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    provider: str = Field(sa_type=sa.String(32))
    sid: str = Field(sa_type=sa.String(64))  # CallSid / MessageSid: one contact, once
    kind: str = Field(sa_type=sa.String(8))  # sms / call
    number_id: uuid.UUID | None = Field(default=None, foreign_key="phone_numbers.id", index=True)
    to_number: str = Field(sa_type=sa.String(32))
    from_number: str = Field(sa_type=sa.String(32))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    matched: bool = False  # named a canary (its sightings hold the evidence)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)

    __table_args__ = (sa.UniqueConstraint("provider", "sid"),)
