"""When an incident is announced: the alert policy.

An incident is announced when it opens (`incident.opened`) and again when it gets worse
(`incident.escalated`): its top candidate's probability crosses ESCALATE_AT, or more
planted canaries have surfaced in it than before. An incident made only of calls and
messages without content (Flag.CALLS_ONLY) is opened quietly: telephony honeypots get about
a call per line every eight days with no leak, and the model starts from even odds between
a leak and noise, so one call already makes a leak look likely. Such an incident is
announced only once the odds are 99 to 1 (noise_probability below QUIET_UNTIL_NOISE): five
calls within minutes to the number of a small outlet's only canary, more where the canary
is one of many records its link holds. The alerts are written in the caller's unit of work
(`app.alerts.service.notify`), so a rolled-back change announces nothing; they are delivered
by jobs when a queue is at hand, else by the alert sweep (the CLI, a merge).
"""

from dataclasses import dataclass

from sqlmodel import Session

from app.alerts.events import AlertEvent, Severity
from app.alerts.service import notify
from app.models.alerts import EventKind
from app.models.incidents import Incident
from app.queueing.jobs import JobQueue
from attribution.model import Flag

ESCALATE_AT = 0.9
QUIET_UNTIL_NOISE = 0.01
ALERT_TEXT_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Standing:
    """What an incident said before a change, to tell whether the change escalates it."""

    top_probability: float
    surfaced: int

    @classmethod
    def of(cls, incident: Incident) -> "Standing":
        return cls(incident.top_probability or 0.0, incident.surfaced)


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


def quiet(incident: Incident) -> bool:
    """Not announced yet: calls and messages without content only, and no likelier a leak
    than noise (see the module)."""
    return Flag.CALLS_ONLY in incident.flags and incident.noise_probability >= QUIET_UNTIL_NOISE


def announce(
    session: Session, incident: Incident, before: Standing, jobs: JobQueue | None = None
) -> None:
    """`incident.opened` the first time the incident is worth an alert, `incident.escalated`
    when it gets worse after that, nothing otherwise. Delivered by jobs deferred to `jobs`,
    or by the alert sweep when there is no queue at hand (app.alerts.service.notify)."""
    if not incident.announced:
        if quiet(incident):
            return
        kind = EventKind.INCIDENT_OPENED
        incident.announced = True
        session.add(incident)
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
    notify(session, jobs, event)
