"""What the API accepts and returns for incidents; unknown fields are refused."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.incidents.grouping import incident_sightings, title_for
from app.incidents.service import candidates, visible_links
from app.models.incidents import Incident, IncidentStatus
from app.models.links import Link
from app.models.sightings import SightingSource
from attribution.kinds import LinkKind

MAX_IDS = 500


class LocalText(BaseModel):
    en: str
    zh: str


class CandidateRead(BaseModel):
    link_id: uuid.UUID
    link_name: str
    link_kind: LinkKind
    probability: float = Field(description="After the rule-4 caps (README, Attribution).")
    explanation: LocalText | None = Field(description="Null for a partner.")


class IncidentSightingRead(BaseModel):
    id: uuid.UUID
    # Withheld from partners (null): a link never learns which of its records are canaries.
    canary_id: uuid.UUID | None
    control: bool | None
    source: SightingSource
    observed_at: datetime
    score: float | None = Field(
        description="Bits of the match; null for a call or message that named the canary "
        "only by the number it reached (weighed against the number's background rate)."
    )
    evidence_sha256: str | None
    location: dict[str, Any] | None


class IncidentSummary(BaseModel):
    id: uuid.UUID
    status: IncidentStatus
    title: str
    control: bool
    sighting_count: int
    surfaced: int = Field(description="Distinct planted canaries among its sightings.")
    first_seen_at: datetime
    last_seen_at: datetime
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    merged_into_id: uuid.UUID | None
    top_link_id: uuid.UUID | None
    top_probability: float | None
    flags: list[str]
    attribution_pending: bool = Field(
        description="Sightings arrived since the attribution was computed; a job is "
        "recomputing it (usually within a second)."
    )

    @classmethod
    def of(
        cls, incident: Incident, top_visible: bool = True, staff: bool = True
    ) -> "IncidentSummary":
        """`staff` false for a partner: a leaked file's title keeps its digest, not the name
        of the file an investigator scanned (where it came from is not the partner's)."""
        return cls(
            id=incident.id,
            status=incident.status,
            title=incident.title
            if staff or not incident.keys
            else title_for(list(incident.keys), incident.control),
            control=incident.control,
            sighting_count=incident.sighting_count,
            surfaced=incident.surfaced,
            first_seen_at=incident.first_seen_at,
            last_seen_at=incident.last_seen_at,
            created_at=incident.created_at,
            updated_at=incident.updated_at,
            closed_at=incident.closed_at,
            merged_into_id=incident.merged_into_id,
            top_link_id=incident.top_link_id if top_visible else None,
            top_probability=incident.top_probability if top_visible else None,
            flags=list(incident.flags),
            attribution_pending=incident.attribution_pending,
        )


class IncidentRead(IncidentSummary):
    keys: list[str] = Field(description="The source keys its sightings share (README).")
    candidates: list[CandidateRead] = Field(description="Most likely first.")
    window_start: datetime | None = Field(description="The newest surfaced canary's plant.")
    window_end: datetime | None = Field(description="The first sighting.")
    window_volume: float | None = Field(
        description="Records the top candidate saw in the window: the size of what leaked."
    )
    leaked_records: int | None
    noise_probability: float
    leakers: list[uuid.UUID] = Field(description="When more than one link leaked: all of them.")
    explanation: LocalText | None = Field(
        description="Null for a partner: it names links outside its scope and counts the "
        "canaries a link holds."
    )
    sightings: list[IncidentSightingRead]

    @classmethod
    def build(cls, session: Session, actor: Actor, incident: Incident) -> "IncidentRead":
        """The incident as `actor` may see it (see app.incidents.service on partners)."""
        ranked = candidates(session, incident.id)
        leakers = [uuid.UUID(link_id) for link_id in incident.leakers]
        named = {c.link_id for c in ranked} | set(leakers)
        visible = visible_links(session, actor, named)
        links = {
            link.id: link
            for link in session.exec(select(Link).where(col(Link.id).in_(visible))).all()
        }
        top_visible = incident.top_link_id is None or incident.top_link_id in visible
        explained = top_visible and set(leakers) <= visible
        staff = actor.scope_link_id is None
        summary = IncidentSummary.of(incident, top_visible, staff)
        return cls(
            **summary.model_dump(),
            keys=list(incident.keys) if staff else [],
            candidates=[
                CandidateRead(
                    link_id=c.link_id,
                    link_name=links[c.link_id].name,
                    link_kind=LinkKind(links[c.link_id].kind),
                    probability=c.probability,
                    # Withheld from partners: it counts the canaries a link could see.
                    explanation=(
                        LocalText(en=c.explanation_en, zh=c.explanation_zh) if staff else None
                    ),
                )
                for c in ranked
                if c.link_id in links
            ],
            window_start=incident.window_start,
            window_end=incident.window_end,
            window_volume=incident.window_volume if top_visible else None,
            leaked_records=incident.leaked_records,
            noise_probability=incident.noise_probability,
            leakers=[link_id for link_id in leakers if link_id in visible],
            explanation=(
                LocalText(en=incident.explanation_en, zh=incident.explanation_zh)
                if explained and staff
                else None
            ),
            sightings=[
                IncidentSightingRead(
                    id=s.id,
                    canary_id=s.canary_id if staff else None,
                    control=s.control if staff else None,
                    source=s.source,
                    observed_at=s.observed_at,
                    score=None if s.score is None else round(s.score, 2),
                    evidence_sha256=s.evidence_sha256,
                    location=s.location if staff else None,
                )
                for s in incident_sightings(session, incident.id)
            ],
        )


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_IDS)] = Field(
        description="The incidents to merge into this one."
    )


class SplitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sighting_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_IDS)] = Field(
        description="The sightings to move to a new incident."
    )
