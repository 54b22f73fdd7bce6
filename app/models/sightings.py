"""Scans of leaked files and the sightings they (and, later, the watchers) produce."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow


class ScanStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # read to the end
    FAILED = "failed"  # stopped early: `error` says why, the counts say how far it got


class SightingSource(StrEnum):
    """Where a canary surfaced (watchers.observations.SourceKind, one for one)."""

    DUMP = "dump"
    SITE = "site"
    SMS = "sms"
    CALL = "call"
    ORDER = "order"
    REPORT = "report"


class Scan(SQLModel, table=True):
    """One leaked file scanned: its hash, size and counts. The file itself is never kept."""

    __tablename__ = "scans"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    file_name: str = Field(sa_type=sa.String(255))
    sha256: str | None = Field(default=None, sa_type=sa.String(64), index=True)
    size: int = Field(default=0, sa_type=sa.BigInteger)
    status: ScanStatus = Field(sa_type=sa.String(16), index=True)
    bytes_read: int = Field(default=0, sa_type=sa.BigInteger)
    rows: int = Field(default=0, sa_type=sa.BigInteger)
    matches: int = 0
    skipped: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)
    encodings: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)
    members: int = 0
    # The matches (canary, link, member, row, score, fields): the scan's answer, also when its
    # sightings were already recorded by an earlier scan of the same file.
    results: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    error: str | None = Field(default=None, sa_type=sa.String(500))
    actor: str = Field(sa_type=sa.String(64))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Touched as a running scan reports progress: a stale one died with its process.
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Sighting(SQLModel, table=True):
    """Canary C surfaced at a place, at a time, matching this well: attribution's input."""

    __tablename__ = "sightings"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    canary_id: uuid.UUID = Field(foreign_key="canaries.id", index=True)
    # The link the canary was minted for (a control canary's too: attribution flags it).
    link_id: uuid.UUID = Field(foreign_key="links.id", index=True)
    control: bool = False
    source: SightingSource = Field(sa_type=sa.String(16), index=True)
    # Unique per observation and canary, so a retried or repeated scan adds nothing twice.
    dedup_key: str = Field(sa_type=sa.String(64), unique=True)
    scan_id: uuid.UUID | None = Field(default=None, foreign_key="scans.id", index=True)
    observed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # Bits (canaries.scoring); None for a call or message that named the canary only by the
    # number it reached, which attribution weighs against the number's background rate.
    score: float | None = None
    fields: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    # Where: the file's sha256 and name, the member inside a container and the data row.
    evidence_sha256: str | None = Field(default=None, sa_type=sa.String(64), index=True)
    location: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    # The matched row as it stood in the source: the canary's own record, not a real person's.
    excerpt: str = Field(sa_type=sa.Text)
