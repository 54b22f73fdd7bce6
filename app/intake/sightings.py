"""What an observation matched, and the one builder that makes sightings of it.

A `Found` is one canary an observation names: with a score (a record, a row or a text
matched it) or without one (a call or message that reached the canary's number and said
nothing that names it). A `Seen` is an observation with everything it was found to name.
Each (observation, canary, part) is stored once, whatever delivers it again: its dedup key
is the sha256 of `kind|source_id|[part|]canary_id`, where `part` tells apart what one
observation holds several of (a leaked file's rows: `member|row`; a call's line sighting:
`line`).
"""

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.models.sightings import Sighting, SightingSource
from canaries.hostile import clean_text
from canaries.scoring import Match
from watchers.observations import Observation

EXCERPT_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Found:
    """One canary an observation names, and how well."""

    canary_id: uuid.UUID
    control: bool
    score: float | None  # bits; None: reached by the number it carries only
    fields: Mapping[str, Any]  # each field's agreement level and weight
    excerpt: str  # the record, row or text as it stood
    part: str = ""
    where: Mapping[str, Any] = field(default_factory=dict)  # added to the sighting's location

    @classmethod
    def of(
        cls, excerpt: str, match: Match, *, part: str = "", where: Mapping[str, Any] | None = None
    ) -> "Found":
        return cls(
            canary_id=uuid.UUID(bytes=match.canary.id),
            control=match.canary.control,
            score=match.score,
            fields=match.explanation(),
            excerpt=excerpt,
            part=part,
            where=where or {},
        )


@dataclass(frozen=True, slots=True)
class Seen:
    """An observation and what it names (nothing, most of the time)."""

    observation: Observation
    found: tuple[Found, ...] = ()
    scan_id: uuid.UUID | None = None  # a scan of a leaked file, for its counts

    def keys(self) -> list[str]:
        return [dedup_key(self.observation, f.canary_id, f.part) for f in self.found]


def dedup_key(observation: Observation, canary_id: uuid.UUID, part: str = "") -> str:
    parts = [observation.kind.value, observation.source_id]
    if part:
        parts.append(part)
    parts.append(str(canary_id))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def build_sighting(
    seen: Seen,
    found: Found,
    link_id: uuid.UUID,
    evidence_sha256: str | None,
    content_type: str | None,
) -> Sighting:
    """The sighting of one canary in one observation (see the module for its key)."""
    observation = seen.observation
    location: dict[str, Any] = {"source_id": observation.source_id, **observation.context}
    if content_type is not None:
        location["evidence_type"] = content_type
    for name, value in found.where.items():
        location[name] = clean_text(value) if isinstance(value, str) else value
    return Sighting(
        canary_id=found.canary_id,
        link_id=link_id,
        control=found.control,
        source=SightingSource(observation.kind.value),
        dedup_key=dedup_key(observation, found.canary_id, found.part),
        scan_id=seen.scan_id,
        observed_at=observation.observed_at,
        score=found.score,
        fields=dict(found.fields),
        evidence_sha256=evidence_sha256,
        location=location,
        excerpt=clean_text(found.excerpt)[:EXCERPT_CHARS],
    )
