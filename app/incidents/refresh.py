"""Recompute an incident's cached attribution from its sightings.

Gathering the attribution's inputs reads the plants of every link involved (0.1 to 0.5 s at
100,000 plants), too slow for the requests that store sightings (a screening hit, a
webhook). Where a job queue is at hand (`serve`, workers), a write that touches incidents
moves their `revision` past `attributed_revision` and defers `incident_refresh` for each:
the job reads its inputs outside any write transaction, then stores the answer in a short
unit of work, unless a newer refresh already did. The job starts REFRESH_DELAY_SECONDS
after the write that deferred it, and deferrals of the same incident meanwhile fold into it:
a campaign of a thousand messages naming one outlet's canaries is weighed a few times, not
a thousand times over ever more sightings (each refresh reads every sighting of the
incident). The periodic `incident_sweep` defers a refresh for any incident still behind (a
job lost when a SQLite `serve` stopped, during its delay or its run). Without a queue (the
CLI's one-off commands, scripts), the writing unit of work recomputes, as an investigator's
merge or split always does. Whether the new answer is announced is
app.incidents.announce's call.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, delete, select

from app.db import Database, utcnow
from app.incidents.announce import Standing, announce
from app.incidents.exposures import canary_sightings, exposure_tree, leaked_records
from app.incidents.grouping import incident_sightings
from app.localtime import shown
from app.models.incidents import Incident, IncidentCandidate
from app.models.sightings import Sighting
from app.queueing.jobs import JobQueue
from attribution.model import Attribution, attribute

SWEEP_BATCH = 1000
REFRESH_DELAY_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Computed:
    """An attribution of an incident's sightings as they were at one revision."""

    result: Attribution
    surfaced: int
    leaked_records: int | None


def compute(session: Session, sightings: list[Sighting], zone: ZoneInfo) -> Computed:
    """Read the attribution's inputs and run it; writes nothing. The explanations write
    their times in `zone` (the deployment's HONEYTRACE_TIME_ZONE), offset included."""

    def clock(moment: datetime) -> str:
        return shown(moment, zone)

    rows = leaked_records(session, sightings)
    result = attribute(
        exposure_tree(session, sightings),
        canary_sightings(session, sightings),
        leaked_records=rows,
        clock=clock,
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
    session: Session, incident: Incident, zone: ZoneInfo, sightings: list[Sighting] | None = None
) -> None:
    """Run the attribution over the incident's sightings and cache its answer, here."""
    if sightings is None:
        sightings = incident_sightings(session, incident.id)
    store(session, incident, compute(session, sightings, zone), incident.revision)


def touched(
    session: Session, incidents: list[Incident], jobs: JobQueue | None, zone: ZoneInfo
) -> None:
    """The incidents' sightings changed: refresh their attribution and raise their alerts,
    in a job when there is a queue, here otherwise."""
    for incident in incidents:
        incident.revision += 1
        session.add(incident)
    session.flush()
    for incident in incidents:
        if jobs is not None:
            jobs.defer(session, "incident_refresh", incident_id=str(incident.id))
            continue
        before = Standing.of(incident)
        refresh_attribution(session, incident, zone)
        announce(session, incident, before)


def refresh_incident(
    database: Database, incident_id: uuid.UUID, zone: ZoneInfo, jobs: JobQueue | None = None
) -> bool:
    """The `incident_refresh` job: bring one incident's attribution up to date. Its inputs
    are read in a plain read (no write lock on SQLite, a snapshot there), the answer
    stored in a short unit of work unless a newer one is there already. True if stored."""
    with database.read() as session:
        incident = session.get(Incident, incident_id)
        if incident is None or not incident.attribution_pending:
            return False
        revision = incident.revision
        computed = compute(session, incident_sightings(session, incident_id), zone)
    with database.write() as session:
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
