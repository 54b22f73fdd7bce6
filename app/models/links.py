"""Links: the parties and systems of the data chain, a tree by who can read whose data."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow
from attribution.kinds import LinkKind
from canaries.couriers import Courier


class Link(SQLModel, table=True):
    __tablename__ = "links"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_type=sa.String(200))
    kind: LinkKind = Field(sa_type=sa.String(32))
    region_code: str = Field(sa_type=sa.String(6), index=True)
    courier: Courier = Field(sa_type=sa.String(16))
    parent_id: uuid.UUID | None = Field(default=None, foreign_key="links.id", index=True)
    external_ref: str | None = Field(default=None, sa_type=sa.String(100), unique=True)
    # Records the link sees a day, for attribution's priors and volumes; unset, its kind's
    # own figure plus the links' below it (app.incidents.exposures.records_per_day).
    records_per_day: float | None = None
    valid_from: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deactivated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Indexed: the link tree's stamp reads the newest change (app.incidents.exposures).
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class LinkReader(SQLModel, table=True):
    """A link that reads another's data besides its parent: a printing-software vendor reads
    its clients' waybills. Their canaries are in its exposure set too."""

    __tablename__ = "link_readers"

    link_id: uuid.UUID = Field(foreign_key="links.id", primary_key=True)
    reader_id: uuid.UUID = Field(foreign_key="links.id", primary_key=True, index=True)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
