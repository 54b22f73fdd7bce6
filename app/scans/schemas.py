"""What the scan API returns."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from app.models.sightings import Scan, ScanStatus


class ScanMatch(BaseModel):
    canary_id: uuid.UUID
    link_id: uuid.UUID | None
    control: bool
    member: str
    row: int
    score: float
    fields: dict[str, Any]


class ScanRead(BaseModel):
    id: uuid.UUID
    file_name: str
    status: ScanStatus
    sha256: str | None
    size: int
    bytes_read: int
    rows: int
    match_count: int
    skipped: dict[str, int]
    encodings: dict[str, int]
    members: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    matches: list[ScanMatch] | None = None  # in the single-scan view, once it is done

    @classmethod
    def of(cls, scan: Scan, with_matches: bool = False) -> "ScanRead":
        return cls(
            id=scan.id,
            file_name=scan.file_name,
            status=scan.status,
            sha256=scan.sha256,
            size=scan.size,
            bytes_read=scan.bytes_read,
            rows=scan.rows,
            match_count=scan.matches,
            skipped=scan.skipped,
            encodings=scan.encodings,
            members=scan.members,
            error=scan.error,
            created_at=scan.created_at,
            started_at=scan.started_at,
            finished_at=scan.finished_at,
            matches=[ScanMatch.model_validate(r) for r in scan.results] if with_matches else None,
        )
