"""Data-trading sites the watcher crawls, and the listings it has seen on each."""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow


class Site(SQLModel, table=True):
    """A site definition (what watchers.sites.SiteDefinition holds) and how its polls went."""

    __tablename__ = "sites"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_type=sa.String(100), unique=True)
    definition: dict[str, Any] = Field(sa_type=sa.JSON)
    poll_interval_seconds: int = 3600
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The last poll's report: pages, listings seen and changed, sightings, errors.
    last_report: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


class SiteListing(SQLModel, table=True):
    """A listing page seen on a site, by the sha256 of its last fetch: a re-poll matches
    only the listings that are new or changed."""

    __tablename__ = "site_listings"

    id: int | None = Field(default=None, primary_key=True)
    site_id: uuid.UUID = Field(foreign_key="sites.id", index=True)
    url: str = Field(sa_type=sa.String(2000))
    sha256: str = Field(sa_type=sa.String(64))
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sightings: int = 0

    __table_args__ = (sa.UniqueConstraint("site_id", "url"),)
