"""What the API shows of a stored sighting."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.models.sightings import Sighting, SightingSource


class SightingRead(BaseModel):
    id: uuid.UUID
    canary_id: uuid.UUID
    link_id: uuid.UUID
    control: bool
    source: SightingSource
    observed_at: datetime
    score: float | None = Field(
        description="Bits of the match; null for a call or message that named the canary "
        "only by the number it reached (weighed against the number's background rate)."
    )
    fields: dict[str, Any]
    evidence_sha256: str | None
    location: dict[str, Any]
    excerpt: str

    @classmethod
    def of(cls, s: Sighting) -> "SightingRead":
        return cls(
            id=s.id,
            canary_id=s.canary_id,
            link_id=s.link_id,
            control=s.control,
            source=s.source,
            observed_at=s.observed_at,
            score=None if s.score is None else round(s.score, 2),
            fields=s.fields,
            evidence_sha256=s.evidence_sha256,
            location=s.location,
            excerpt=s.excerpt,
        )
