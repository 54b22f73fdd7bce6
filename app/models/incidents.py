"""Incidents as stored: the sightings of one leak, their group keys and the cached attribution.

The attribution (`attribution.model`) is a pure function that takes about a
millisecond, but gathering its inputs reads every plant of the links involved, so its answer
is cached on the incident and recomputed whenever the incident's sightings change: in the
investigator's own transaction for a merge or a split, and by the `incident_refresh` job for
new sightings stored by a process with a job queue (`app.incidents.refresh`). Reads never
recompute; `revision` and `attributed_revision` say whether the cached answer is behind.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow


class IncidentStatus(StrEnum):
    OPEN = "open"  # new sightings sharing a group key join it
    CLOSED = "closed"  # done with (or merged into another); new sightings open a new one


class Incident(SQLModel, table=True):
    __tablename__ = "incidents"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    status: IncidentStatus = Field(default=IncidentStatus.OPEN, sa_type=sa.String(16), index=True)
    title: str = Field(sa_type=sa.String(200))
    # Some sighting is of a control canary: noise, or a leak inside honeytrace itself.
    control: bool = False
    # The group keys (`app.incidents.grouping`) of its sightings, readable, for investigators.
    keys: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    sighting_count: int = 0
    surfaced: int = 0  # distinct planted canaries among its sightings
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    merged_into_id: uuid.UUID | None = Field(default=None, foreign_key="incidents.id")
    # The cached attribution; candidates are rows of incident_candidates.
    top_link_id: uuid.UUID | None = Field(default=None, foreign_key="links.id", index=True)
    top_probability: float | None = None
    window_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    window_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    window_volume: float | None = None
    leaked_records: int | None = None  # rows of the largest file or sample behind it
    noise_probability: float = 1.0
    leakers: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    flags: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    explanation_en: str = Field(default="", sa_type=sa.Text)
    explanation_zh: str = Field(default="", sa_type=sa.Text)
    # Counts the changes to its sightings; the cached attribution is of `attributed_revision`
    # (behind while a refresh job is on its way).
    revision: int = 0
    attributed_revision: int = 0
    # What grouping keeps of it between sightings (app.incidents.grouping: its canaries, the
    # links they were planted at, its channels), None until first needed; and the incidents
    # an investigator split from it, which it never joins again.
    profile: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    apart: list[str] | None = Field(default=None, sa_type=sa.JSON)
    # `incident.opened` was raised. An incident of calls and messages without content is
    # opened quietly and announced once a leak is likelier than background noise.
    announced: bool = False

    @property
    def attribution_pending(self) -> bool:
        return self.attributed_revision < self.revision


class IncidentCandidate(SQLModel, table=True):
    """One ranked candidate link of an incident (rank 1 is the most likely)."""

    __tablename__ = "incident_candidates"

    incident_id: uuid.UUID = Field(foreign_key="incidents.id", primary_key=True)
    rank: int = Field(primary_key=True)
    link_id: uuid.UUID = Field(foreign_key="links.id", index=True)
    probability: float
    unguarded: float  # the model's figure before the rule-4 caps
    explanation_en: str = Field(sa_type=sa.Text)
    explanation_zh: str = Field(sa_type=sa.Text)


class IncidentSighting(SQLModel, table=True):
    """A sighting belongs to exactly one incident."""

    __tablename__ = "incident_sightings"

    sighting_id: uuid.UUID = Field(foreign_key="sightings.id", primary_key=True)
    incident_id: uuid.UUID = Field(foreign_key="incidents.id", index=True)


class IncidentKey(SQLModel, table=True):
    """A group key of an open incident, hashed (a URL may be long), for lookup."""

    __tablename__ = "incident_keys"

    incident_id: uuid.UUID = Field(foreign_key="incidents.id", primary_key=True)
    key_sha256: str = Field(sa_type=sa.String(64), primary_key=True, index=True)
