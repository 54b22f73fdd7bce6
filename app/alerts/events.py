"""What an alert is about: the event the incident code (and the sightings) hand to notify."""

import uuid
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.models.alerts import EventKind
from app.models.sightings import Sighting


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


Text = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class AlertEvent(BaseModel):
    """An incident opened or escalated, or a control canary seen.

    The link to the incident's page is made at delivery time from HONEYTRACE_PUBLIC_URL, and
    `payload` is small JSON the generic webhook carries as it is (chat shapes leave it out).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: EventKind
    incident_id: uuid.UUID | None = None
    # A control sighting outside any incident: the sighting, and the control canary seen.
    sighting_id: uuid.UUID | None = None
    canary_id: uuid.UUID | None = None
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    summary_zh: Text
    summary_en: Text
    severity: Severity
    payload: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_its_subject(self) -> Self:
        if self.kind in (EventKind.INCIDENT_OPENED, EventKind.INCIDENT_ESCALATED):
            if self.incident_id is None:
                raise ValueError(f"a {self.kind} event names its incident")
        elif self.incident_id is None and self.sighting_id is None and self.kind != EventKind.TEST:
            raise ValueError("a control sighting names its incident or its sighting")
        return self

    @property
    def subject(self) -> str:
        """What the throttle counts per: the incident; else the control canary (one dump
        carrying a control canary in many rows is one alert); else the sighting."""
        if self.incident_id is not None:
            return f"incident:{self.incident_id}"
        if self.canary_id is not None:
            return f"canary:{self.canary_id}"
        if self.sighting_id is not None:
            return f"sighting:{self.sighting_id}"
        return str(self.kind)

    @property
    def throttle_event(self) -> str:
        """The event as the throttle keys it. An escalation carries its severity, so a rise
        to a new severity always gets through and a repeat of the same one does not."""
        if self.kind == EventKind.INCIDENT_ESCALATED:
            return f"{self.kind}:{self.severity}"
        return str(self.kind)

    @property
    def page_path(self) -> str:
        """Where an investigator reads about it, below HONEYTRACE_PUBLIC_URL."""
        if self.incident_id is not None:
            return f"/incidents/{self.incident_id}"
        if self.canary_id is not None:
            return f"/canaries/{self.canary_id}"
        return "/"


def control_sighting_event(sighting: Sighting, count: int) -> AlertEvent:
    """A control canary surfaced (`count` sightings of it in one batch): noise, or a leak
    inside honeytrace itself, since a control canary is never planted anywhere."""
    place = str(sighting.source)
    if sighting.evidence_sha256:
        place += f" ({sighting.evidence_sha256[:16]})"
    return AlertEvent(
        kind=EventKind.CONTROL_SIGHTING,
        sighting_id=sighting.id,
        canary_id=sighting.canary_id,
        title="对照诱饵运单出现 / Control canary seen",
        summary_zh=(
            f"一条从未投放的对照诱饵运单在{place}中出现（{count} 处，匹配分 {sighting.score:g}）："
            "可能是误报，也可能是 honeytrace 内部泄露。"
        ),
        summary_en=(
            f"A control canary, never planted anywhere, surfaced in {place} ({count} "
            f"sightings, score {sighting.score:g}): noise, or a leak inside honeytrace itself."
        ),
        severity=Severity.HIGH,
        payload={
            "sighting_id": str(sighting.id),
            "canary_id": str(sighting.canary_id),
            "source": str(sighting.source),
            "observed_at": sighting.observed_at.isoformat(),
            "score": sighting.score,
            "sightings": count,
        },
    )
