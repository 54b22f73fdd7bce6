"""The evidence log as stored: one row per event, each sealed by the hash of the one before."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime


class EntryKind(StrEnum):
    MINT = "mint"  # a canary came into existence, with the record a buyer would hold
    PLANT = "plant"  # a canary entered one link's feed
    SIGHTING = "sighting"  # a canary surfaced, with the sha256 of the evidence behind it
    MEMBERSHIP = "membership"  # a sighting joined an incident (grouped, merged or split off)
    LINK = "link"  # a link's place in the tree and its readers, as created, changed or deleted
    AUDIT = "audit"  # an audit log entry: who did what, when


class EvidenceEntry(SQLModel, table=True):
    """Append-only: rows are only ever inserted, under the lock in `app.evidence.log`."""

    __tablename__ = "evidence_log"
    # The newest entry of a kind, found at once: the newest link entry stamps the link tree
    # each process keeps (app.incidents.exposures).
    __table_args__ = (sa.Index(None, "kind", "seq"),)

    # The primary key is also what makes a fork impossible: two appenders that read the
    # same head cannot both insert its successor.
    seq: int = Field(
        primary_key=True, sa_type=sa.BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    kind: str = Field(sa_type=sa.String(16))
    subject_id: str = Field(sa_type=sa.String(64), index=True)
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)
    # The canonical JSON exactly as hashed (Text, not JSON: the bytes must never be re-encoded).
    entry: str = Field(sa_type=sa.Text)
    blob_sha256: str | None = Field(default=None, sa_type=sa.String(64))
    prev_hash: str = Field(sa_type=sa.String(64))
    hash: str = Field(sa_type=sa.String(64))
