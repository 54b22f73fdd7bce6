"""Storing what observations named, inside the caller's unit of work, and handing it off.

`record` builds the sightings (app.intake.sightings) and `keep_sightings` stores the new
ones and hands them off in one order: the evidence chain, control alerts, incidents, burns.
A sighting never depends on what comes after it: a surfaced canary whose replacement cannot
be minted (its number pool used up) is retired all the same, and the missing replacement is
reported as a coverage problem (app.planting.service.burn_canary).
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.alerts.service import alert_control_sightings
from app.auth.actor import Actor
from app.evidence.log import log_sightings
from app.evidence.store import EvidenceStore
from app.incidents.service import assign_sightings
from app.intake.sightings import Seen, build_sighting
from app.models.canaries import Canary, CanaryStatus
from app.models.sightings import Sighting
from app.planting.service import burn_canary
from app.queueing.jobs import JobQueue


@dataclass(frozen=True)
class Recorded:
    """The sightings this unit of work added (a sighting stored before is not among them)."""

    added: list[Sighting] = field(default_factory=list)

    def by_key(self) -> Mapping[str, Sighting]:
        return {s.dedup_key: s for s in self.added}


def record(
    session: Session,
    actor: Actor,
    seen: Sequence[Seen],
    *,
    evidence: EvidenceStore,
    jobs: JobQueue | None,
    zone: ZoneInfo,
) -> Recorded:
    """Store what the observations named, each (observation, canary, part) once, with the
    evidence of the observations that named something (nothing of the others is kept:
    it is somebody else's data)."""
    named = [s for s in seen if s.found]
    if not named:
        return Recorded()
    ids = {f.canary_id for s in named for f in s.found}
    links = dict(
        session.exec(select(Canary.id, Canary.link_id).where(col(Canary.id).in_(ids))).all()
    )
    pending: list[tuple[Sighting, str | None]] = []
    for s in named:
        observation = s.observation
        digest: str | None = observation.file_sha256
        blob: str | None = None
        content_type: str | None = None
        if observation.evidence is not None:
            digest = blob = evidence.put(observation.evidence)
            content_type = observation.evidence.content_type
        pending += [
            (build_sighting(s, f, links[f.canary_id], digest, content_type), blob)
            for f in s.found
            if f.canary_id in links
        ]
    return keep_sightings(session, actor, pending, jobs=jobs, zone=zone)


def keep_sightings(
    session: Session,
    actor: Actor,
    pending: Sequence[tuple[Sighting, str | None]],
    *,
    jobs: JobQueue | None,
    zone: ZoneInfo,
) -> Recorded:
    """Store the sightings not stored before (by dedup key: a retried, repeated or
    concurrent delivery adds each once; `str` is the evidence blob a sighting chains, if
    one is kept) and hand the new ones off (see the module)."""
    keys = [s.dedup_key for s, _ in pending]
    existing = (
        set(session.exec(select(Sighting.dedup_key).where(col(Sighting.dedup_key).in_(keys))).all())
        if keys
        else set()
    )
    added: list[tuple[Sighting, str | None]] = []
    for sighting, blob in pending:
        if sighting.dedup_key in existing:
            continue
        existing.add(sighting.dedup_key)
        try:
            with session.begin_nested():
                session.add(sighting)
        except IntegrityError:
            continue  # the same observation recorded concurrently: it is there once
        added.append((sighting, blob))
    sightings = [s for s, _ in added]
    log_sightings(session, added)
    alert_control_sightings(session, sightings, jobs)
    assign_sightings(session, sightings, jobs, zone)
    _burn_surfaced(session, actor, sightings)
    session.flush()
    return Recorded(sightings)


def _burn_surfaced(session: Session, actor: Actor, sightings: Sequence[Sighting]) -> None:
    """Retire the planted canaries that surfaced by a match: buyers now hold them. A
    sighting without a score (a call that said nothing) burns nothing: it may be noise."""
    reasons: dict[uuid.UUID, str] = {}
    for s in sightings:
        if not s.control and s.score is not None:
            where = str(s.location.get("source_id", ""))[:60]
            reasons.setdefault(s.canary_id, f"seen in {s.source} {where} (by {actor.name})")
    for canary_id, reason in reasons.items():
        canary = session.get(Canary, canary_id)
        if canary is not None and canary.status == CanaryStatus.PLANTED:
            burn_canary(session, Actor.matcher(), canary_id, reason)
