"""Canaries as stored, the plants that put each at exactly one link, and per-link feed profiles."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow


class CanaryStatus(StrEnum):
    READY = "ready"  # minted for a link, not yet handed out
    PENDING = "pending"  # handed to a dispatch system in a pull batch, not yet acknowledged
    PLANTED = "planted"  # in the link's feed; watched
    BURNED = "burned"  # surfaced somewhere; retired from feeds, still matched
    EXPIRED = "expired"  # never planted, past its time: nobody outside saw it
    CONTROL = "control"  # minted the same way, never planted


class PlantChannel(StrEnum):
    API = "api"
    CLI = "cli"
    PULL = "pull"
    INTERLEAVE = "interleave"


class Canary(SQLModel, table=True):
    __tablename__ = "canaries"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    link_id: uuid.UUID = Field(foreign_key="links.id", index=True)
    status: CanaryStatus = Field(sa_type=sa.String(16), index=True)
    control: bool = Field(default=False)
    courier: str = Field(sa_type=sa.String(16))
    waybill_no: str = Field(sa_type=sa.String(40), unique=True)
    name: str = Field(sa_type=sa.String(32))
    mobile: str = Field(sa_type=sa.String(40), index=True)
    mobile_form: str = Field(sa_type=sa.String(16))
    # The hidden middle of a masked mobile, or the pool number behind a privacy extension:
    # never returned by the API, only used to recognise the canary when it surfaces.
    mobile_secret: str | None = Field(default=None, sa_type=sa.String(40))
    province: str = Field(sa_type=sa.String(32))
    city: str = Field(sa_type=sa.String(32))
    district: str = Field(sa_type=sa.String(32))
    district_code: str = Field(sa_type=sa.String(6))
    address: str = Field(sa_type=sa.String(200))
    identity_key: str = Field(sa_type=sa.String(64), unique=True)
    item: str = Field(sa_type=sa.String(64))
    weight_kg: float
    record_created_at: datetime = Field(sa_type=UTCDateTime)
    minted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # Partners see only the canaries their own keys minted (rule 3: a link never learns its own).
    minted_by: uuid.UUID | None = Field(default=None, index=True)
    batch_id: uuid.UUID | None = Field(default=None, index=True)
    # When a pull handed it out (it then waits `pending` for the ack: the hand-out expires a
    # day after this, or after minted_at for one minted by the pull itself), or a streamed
    # feed claimed it while `ready` (rotation releases a claim a day old).
    handed_out_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The mint job that made it (a big mint through the API), whose result lists it.
    mint_id: uuid.UUID | None = Field(default=None, foreign_key="mint_jobs.id", index=True)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Burned, and its link's replacement could not be minted yet (its number pool used up):
    # rotation mints it once it can; the coverage report shows the link short meanwhile.
    replacement_owed: bool = Field(default=False, index=True)


class MintJobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # stopped early: `error` says why, `minted` how many are stored


class MintJob(SQLModel, table=True):
    """A big mint run as a job: its progress, then its result (the canaries whose
    `mint_id` is this job's)."""

    __tablename__ = "mint_jobs"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    link_id: uuid.UUID = Field(foreign_key="links.id", index=True)
    count: int
    status: MintJobStatus = Field(sa_type=sa.String(16), index=True)
    minted: int = 0  # stored and planted so far (controls apart)
    controls: int = 0
    error: str | None = Field(default=None, sa_type=sa.String(500))
    actor: str = Field(sa_type=sa.String(64))
    # The key that asked: a partner reads only its own keys' jobs, as with canaries.
    minted_by: uuid.UUID | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Touched as a running mint reports progress: a stale one died with its process.
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Plant(SQLModel, table=True):
    """Canary C entered link L's feed at time T: the fact attribution stands on."""

    __tablename__ = "plants"

    id: int | None = Field(default=None, primary_key=True)
    canary_id: uuid.UUID = Field(foreign_key="canaries.id", unique=True)
    link_id: uuid.UUID = Field(foreign_key="links.id", index=True)
    planted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    channel: PlantChannel = Field(sa_type=sa.String(16))
    actor: str = Field(sa_type=sa.String(64))
    # Whether the canary carries a pool number (a full or privacy mobile, which calls and
    # messages can reach), copied from the canary as it is planted; a canary's mobile never
    # changes. Defaulted by the database, so a plant written without it is a masked one.
    by_phone: bool = Field(
        default=False,
        sa_column=sa.Column(sa.Boolean(), nullable=False, server_default=sa.false()),
    )

    # Attribution counts the plants of a window by link and time, and those by phone,
    # leaving out the surfaced canaries: this index answers it alone. Joined to the canaries
    # for their mobiles instead, the count read every canary's row: 200 ms at 100,000
    # plants in the window on SQLite, against 20 ms.
    __table_args__ = (sa.Index(None, "planted_at", "link_id", "canary_id", "by_phone"),)


class FeedProfile(SQLModel, table=True):
    """How a link's feed looks, so its canaries look the same."""

    __tablename__ = "feed_profiles"

    link_id: uuid.UUID = Field(foreign_key="links.id", primary_key=True)
    mobile_form: str = Field(default="masked", sa_type=sa.String(16))
    category_mix: dict[str, float] | None = Field(default=None, sa_type=sa.JSON)
    feed_format: str = Field(default="json", sa_type=sa.String(8))
    feed_encoding: str = Field(default="utf-8", sa_type=sa.String(16))
    feed_columns: list[Any] | None = Field(default=None, sa_type=sa.JSON)
    interleave_rate: float = Field(default=0.002)
    rotation_days: int = Field(default=30)
    rotation_batch: int = Field(default=10)
    control_share: float = Field(default=0.05)
    # Statistics learned from a sample of the link's own records (canaries.style): shares
    # and counts only, never a row. None: the default style.
    style: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
