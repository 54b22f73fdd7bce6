"""Recompute an incident's cached attribution from its sightings, and raise its alerts.

Where. Gathering the attribution's inputs reads the plants of every link involved (0.1 to
0.5 s at 100,000 plants), too slow for the requests that store sightings (a screening hit, a
webhook). A process with a job queue (`serve`, workers) marks the incidents a write touched
(their `revision` moves past `attributed_revision`) and defers `incident_refresh` for each:
the job reads its inputs outside any write transaction, then stores the answer in a short
one, unless a newer refresh already did. The periodic `incident_sweep` defers a refresh for
any incident still behind (a job lost when a SQLite `serve` stopped). A process without a
queue (the CLI's one-off commands, scripts, tests) recomputes in the writing transaction,
as an investigator's merge or split always does.

Alerts. An incident is announced when it opens (`incident.opened`) and again when it gets
worse (`incident.escalated`): its top candidate's probability crosses ESCALATE_AT, or more
planted canaries have surfaced in it than before. An incident made only of calls and
messages without content (Flag.CALLS_ONLY) is opened quietly: telephony honeypots get about
a call per line every eight days with no leak, and the model starts from even odds between
a leak and noise, so one call already makes a leak look likely. Such an incident is
announced only once the odds are 99 to 1 (noise_probability below QUIET_UNTIL_NOISE): five
calls within minutes to the number of a small outlet's only canary, more where the canary
is one of many records its link holds. The alerts are written in the
caller's transaction (`app.alerts.service.notify`), so a rolled-back change announces
nothing; the refresh job defers their delivery, and the alert sweep sends those raised
where no job queue is at hand (the CLI, a merge).
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, delete, select

from app.alerts.events import AlertEvent, Severity
from app.alerts.service import notify
from app.db import session_scope, utcnow
from app.incidents.exposures import canary_sightings, exposure_tree, leaked_records
from app.incidents.grouping import incident_sightings
from app.jobs.registry import JobQueue
from app.models.alerts import EventKind
from app.models.incidents import Incident, IncidentCandidate
from app.models.sightings import Sighting
from attribution.model import Attribution, Flag, attribute

ESCALATE_AT = 0.9
QUIET_UNTIL_NOISE = 0.01
ALERT_TEXT_CHARS = 2000
SWEEP_BATCH = 1000

# Session.info's key for how this session's writes hand their incidents to a job.
_LATER = "honeytrace.incident_refresh"
RefreshLater = Callable[[Session, uuid.UUID], None]


def refresh_later(session: Session, defer: RefreshLater) -> None:
    """Incidents this session's sightings touch are refreshed by `defer` (a job deferred in
    the session's transaction) instead of in the session."""
    session.info[_LATER] = defer


@dataclass(frozen=True, slots=True)
class Standing:
    """What an incident said before a change, to tell whether the change escalates it."""

    top_probability: float
    surfaced: int

    @classmethod
    def of(cls, incident: Incident) -> "Standing":
        return cls(incident.top_probability or 0.0, incident.surfaced)


@dataclass(frozen=True, slots=True)
class Computed:
    """An attribution of an incident's sightings as they were at one revision."""

    result: Attribution
    surfaced: int
    leaked_records: int | None


def compute(session: Session, sightings: list[Sighting]) -> Computed:
    """Read the attribution's inputs and run it; writes nothing."""
    rows = leaked_records(session, sightings)
    result = attribute(
        exposure_tree(session, sightings),
        canary_sightings(session, sightings),
        leaked_records=rows,
    )
    surfaced = len({s.canary_id for s in sightings if not s.control})
    return Computed(result, surfaced, rows)


def store(session: Session, incident: Incident, computed: Computed, revision: int) -> None:
    """Cache the attribution on the incident, as of `revision`."""
    result = computed.result
    session.exec(delete(IncidentCandidate).where(col(IncidentCandidate.incident_id) == incident.id))
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
    incident.surfaced = computed.surfaced
    incident.top_link_id = top.link_id if top else None
    incident.top_probability = top.probability if top else None
    incident.window_start = result.window_start
    incident.window_end = result.window_end
    incident.window_volume = result.window_volume
    incident.leaked_records = computed.leaked_records
    incident.noise_probability = result.noise_probability
    incident.leakers = [str(link_id) for link_id in result.leakers]
    incident.flags = sorted(str(flag) for flag in result.flags)
    incident.explanation_en = result.explanation.en
    incident.explanation_zh = result.explanation.zh
    incident.attributed_revision = revision
    incident.updated_at = utcnow()
    session.add(incident)
    session.flush()


def refresh_attribution(
    session: Session, incident: Incident, sightings: list[Sighting] | None = None
) -> None:
    """Run the attribution over the incident's sightings and cache its answer, here."""
    if sightings is None:
        sightings = incident_sightings(session, incident.id)
    store(session, incident, compute(session, sightings), incident.revision)


def touched(session: Session, incidents: list[Incident]) -> None:
    """The incidents' sightings changed: refresh their attribution and raise their alerts,
    in a job when the session has one (`refresh_later`), here otherwise."""
    later: RefreshLater | None = session.info.get(_LATER)
    for incident in incidents:
        incident.revision += 1
        session.add(incident)
    session.flush()
    for incident in incidents:
        if later is not None:
            later(session, incident.id)
            continue
        before = Standing.of(incident)
        refresh_attribution(session, incident)
        announce(session, incident, before)


def refresh_incident(engine: Engine, incident_id: uuid.UUID, jobs: JobQueue | None = None) -> bool:
    """The `incident_refresh` job: bring one incident's attribution up to date. Its inputs
    are read in a plain read (no write lock on SQLite, a snapshot there), the answer
    stored in a short unit of work unless a newer one is there already. True if stored."""
    with Session(engine) as session:
        incident = session.get(Incident, incident_id)
        if incident is None or not incident.attribution_pending:
            return False
        revision = incident.revision
        computed = compute(session, incident_sightings(session, incident_id))
    with session_scope(engine) as session:
        incident = session.get(Incident, incident_id, with_for_update=True)
        if incident is None or incident.attributed_revision >= revision:
            return False
        before = Standing.of(incident)
        store(session, incident, computed, revision)
        announce(session, incident, before, jobs)
    return True


def pending_refreshes(session: Session, limit: int = SWEEP_BATCH) -> list[uuid.UUID]:
    """Incidents whose cached attribution is behind their sightings, oldest change first."""
    query = (
        select(Incident.id)
        .where(col(Incident.attributed_revision) < col(Incident.revision))
        .order_by(col(Incident.last_seen_at))
        .limit(limit)
    )
    return list(session.exec(query).all())


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
