"""Recompute an incident's cached attribution from its sightings, and raise its alerts.

An incident is announced when it opens (`incident.opened`) and again when it gets worse
(`incident.escalated`): its top candidate's probability crosses ESCALATE_AT, or more
planted canaries have surfaced in it than before. The alerts are written in the caller's
transaction (`app.alerts.service.notify`), so a rolled-back change announces nothing, and
the alert sweep sends them.
"""

from dataclasses import dataclass

from sqlmodel import Session, col, delete

from app.alerts.events import AlertEvent, Severity
from app.alerts.models import EventKind
from app.alerts.service import notify
from app.db import utcnow
from app.incidents.attribution import Flag, attribute
from app.incidents.exposures import canary_sightings, exposure_tree, leaked_records
from app.incidents.grouping import incident_sightings
from app.incidents.models import Incident, IncidentCandidate
from app.sightings.models import Sighting

ESCALATE_AT = 0.9
ALERT_TEXT_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Standing:
    """What an incident said before a change, to tell whether the change escalates it."""

    top_probability: float
    surfaced: int

    @classmethod
    def of(cls, incident: Incident) -> "Standing":
        return cls(incident.top_probability or 0.0, incident.surfaced)


def refresh_attribution(
    session: Session, incident: Incident, sightings: list[Sighting] | None = None
) -> None:
    """Run the attribution over the incident's sightings and cache its answer."""
    if sightings is None:
        sightings = incident_sightings(session, incident.id)
    session.exec(delete(IncidentCandidate).where(col(IncidentCandidate.incident_id) == incident.id))
    rows = leaked_records(session, sightings)
    result = attribute(
        exposure_tree(session, sightings), canary_sightings(sightings), leaked_records=rows
    )
    for rank, candidate in enumerate(result.candidates, start=1):
        session.add(
            IncidentCandidate(
                incident_id=incident.id,
                rank=rank,
                link_id=candidate.link_id,
                probability=candidate.probability,
                unguarded=candidate.unguarded,
                explanation_en=candidate.explanation.en,
                explanation_zh=candidate.explanation.zh,
            )
        )
    top = result.candidates[0] if result.candidates else None
    incident.surfaced = len({s.canary_id for s in sightings if not s.control})
    incident.top_link_id = top.link_id if top else None
    incident.top_probability = top.probability if top else None
    incident.window_start = result.window_start
    incident.window_end = result.window_end
    incident.window_volume = result.window_volume
    incident.leaked_records = rows
    incident.noise_probability = result.noise_probability
    incident.leakers = [str(link_id) for link_id in result.leakers]
    incident.flags = sorted(str(flag) for flag in result.flags)
    incident.explanation_en = result.explanation.en
    incident.explanation_zh = result.explanation.zh
    incident.updated_at = utcnow()
    session.add(incident)
    session.flush()


def severity(incident: Incident) -> Severity:
    if incident.control and incident.top_link_id is None:
        return Severity.HIGH  # nothing planted surfaced: noise, or a leak inside honeytrace
    if (incident.top_probability or 0.0) >= ESCALATE_AT:
        return Severity.CRITICAL
    if Flag.WEAK not in incident.flags:
        return Severity.HIGH
    return Severity.MEDIUM


def escalates(before: Standing, incident: Incident) -> bool:
    probability = incident.top_probability or 0.0
    crossed = before.top_probability < ESCALATE_AT <= probability
    return crossed or incident.surfaced > before.surfaced


def announce(session: Session, incident: Incident, before: Standing | None) -> None:
    """`incident.opened` for a new incident (before is None), `incident.escalated` for one
    that got worse, nothing otherwise. The alert sweep sends them: incidents change on the
    sightings path, which has no job queue at hand (app.alerts.service.notify)."""
    if before is None:
        kind = EventKind.INCIDENT_OPENED
    elif escalates(before, incident):
        kind = EventKind.INCIDENT_ESCALATED
    else:
        return
    event = AlertEvent(
        kind=kind,
        incident_id=incident.id,
        title=incident.title,
        summary_zh=incident.explanation_zh[:ALERT_TEXT_CHARS] or incident.title,
        summary_en=incident.explanation_en[:ALERT_TEXT_CHARS] or incident.title,
        severity=severity(incident),
        payload={
            "incident_id": str(incident.id),
            "top_link_id": str(incident.top_link_id) if incident.top_link_id else None,
            "top_probability": incident.top_probability,
            "surfaced": incident.surfaced,
            "sightings": incident.sighting_count,
            "control": incident.control,
            "flags": incident.flags,
        },
    )
    notify(session, None, event)
