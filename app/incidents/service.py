"""Incidents: sightings grouped as they are stored, read, merged, split and closed.

Tenancy: a partner reads an incident only when every sighting in it is of a canary minted
for a link inside its scope (its root and below) and none is of a control canary; it sees
the candidates inside its scope only, and not which canaries surfaced (rule 3). Anything
else answers 404, as if it did not exist.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, text
from sqlmodel import Session, col, func, select

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.db import utcnow
from app.evidence.facts import Grouping
from app.evidence.log import lock_log, log_memberships
from app.incidents.announce import Standing, announce
from app.incidents.exposures import links_tree
from app.incidents.grouping import (
    PARTNER_ROLE,
    attach,
    canary_names,
    incident_sightings,
    keep_profile,
    open_incident,
    open_profiles,
    partner_reported,
    regroup,
    sighting_profile,
    source_keys,
    title_for,
)
from app.incidents.refresh import refresh_attribution, touched
from app.incidents.titles import file_name
from app.links.tree import subtree_ids
from app.models.incidents import Incident, IncidentCandidate, IncidentSighting, IncidentStatus
from app.models.sightings import Sighting
from app.problems import ConflictError, InvalidError, NotFoundError, field_error
from app.queueing.jobs import JobQueue
from attribution.grouping import GROUP_WINDOW, absorb, choose, joins, profile

# pg_advisory_xact_lock's key for "grouping sightings" ("htin" in ASCII): two transactions
# storing sightings of one listing at once must not open two incidents for it.
LOCK_KEY = 0x6874696E


def assign_sightings(
    session: Session, sightings: Sequence[Sighting], jobs: JobQueue | None, zone: ZoneInfo
) -> list[Incident]:
    """Put sightings just stored into incidents (app.incidents.grouping: one leak, one
    incident) and have the attribution of each incident they touched recomputed, with its
    alerts, by a job when there is a queue (app.incidents.refresh.touched); the incidents
    touched, merged-away ones included."""
    if not sightings:
        return []
    _lock_grouping(session)
    tree = links_tree(session)
    names = canary_names(session, sightings)
    touched_ids: dict[uuid.UUID, Incident] = {}
    joined: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]] = []
    keyed = [(s, source_keys(s, names.get(s.canary_id))) for s in sightings]
    for batch in _batches(keyed):
        partner = partner_reported(batch[0][0])
        new = profile([sighting_profile(s, keys) for s, keys in batch], tree)
        candidates = open_profiles(
            session, tree, new.first_seen - GROUP_WINDOW, new.last_seen + GROUP_WINDOW, partner
        )
        chosen = choose([found for _, found in candidates], new, tree)
        if chosen is None:
            first, keys = batch[0]
            incident = open_incident(first, keys)
            session.add(incident)
            session.flush()
            merged = replace(new, id=incident.id)
        else:
            incident = next(row for row, found in candidates if found.id == chosen.id)
            merged = absorb(chosen, new, tree)
        for sighting, keys in batch:
            attach(session, incident, sighting, keys)
            joined.append((sighting.id, incident.id, None))
        folded = False
        for row, other in candidates:
            if row.id != incident.id and joins(merged, other, tree) is not None:
                _fold(session, incident, row)
                merged = absorb(merged, other, tree)
                touched_ids[row.id] = row
                folded = True
        if folded:
            regroup(session, incident)
        keep_profile(incident, merged, partner)
        session.add(incident)
        touched_ids[incident.id] = incident
    log_memberships(session, joined, Grouping.GROUPED)
    incidents = list(touched_ids.values())
    touched(session, incidents, jobs, zone)
    return incidents


def _batches(
    keyed: Sequence[tuple[Sighting, list[str]]],
) -> list[list[tuple[Sighting, list[str]]]]:
    """The sightings that came together from one observation (the same keys: one file, one
    listing, one message), in time order: each batch is grouped as one."""
    runs: dict[tuple[str, ...], list[tuple[Sighting, list[str]]]] = {}
    for sighting, keys in sorted(keyed, key=lambda pair: (pair[0].observed_at, str(pair[0].id))):
        runs.setdefault(tuple(keys), []).append((sighting, keys))
    return sorted(runs.values(), key=lambda run: (run[0][0].observed_at, str(run[0][0].id)))


def _fold(session: Session, target: Incident, other: Incident) -> None:
    """An open incident the new sightings showed to be the same leak as `target`: its
    sightings move into `target` and it is closed as merged, as an investigator's merge
    would, audited as the matcher's."""
    moved = session.exec(
        select(IncidentSighting).where(IncidentSighting.incident_id == other.id)
    ).all()
    for membership in moved:
        membership.incident_id = target.id
        session.add(membership)
    session.flush()
    log_memberships(session, [(m.sighting_id, target.id, other.id) for m in moved], Grouping.MERGED)
    regroup(session, other)
    other.status = IncidentStatus.CLOSED
    other.closed_at = other.closed_at or utcnow()
    other.merged_into_id = target.id
    target.apart = sorted(set(target.apart or []) | set(other.apart or []))
    session.add(other)
    record_audit(
        session,
        Actor.matcher(),
        "incident.merge",
        "incident",
        target.id,
        {"merged": [str(other.id)], "sightings_moved": len(moved), "automatic": True},
    )


def _lock_grouping(session: Session) -> None:
    """One transaction at a time changes which sightings incidents hold (storing sightings,
    a merge, a split): on PostgreSQL an advisory lock until the transaction ends; SQLite's
    units of work already hold its one write lock. Each change is chained, and storing
    sightings holds the evidence log's lock before this one: so does every caller, or two
    would each wait for the other's."""
    lock_log(session)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def _partner_filter(scope: uuid.UUID) -> list[ColumnElement[bool]]:
    """Incidents a partner may see: every sighting of a canary inside its scope, none of a
    control canary, and none reported by a partner (app.incidents.grouping keeps those
    apart, so a partner's report never opens or changes an incident a partner sees)."""
    reporter_role = col(Sighting.location)["reporter_role"].as_string()
    outside = (
        select(IncidentSighting.incident_id)
        .join(Sighting, col(Sighting.id) == col(IncidentSighting.sighting_id))
        .where(
            or_(
                col(Sighting.link_id).not_in(subtree_ids(scope)),
                func.coalesce(reporter_role, "") == PARTNER_ROLE,
            )
        )
    )
    return [
        col(Incident.control).is_(False),
        col(Incident.merged_into_id).is_(None),
        col(Incident.sighting_count) > 0,
        col(Incident.id).not_in(outside),
    ]


def list_incidents(
    session: Session,
    actor: Actor,
    *,
    status: IncidentStatus | None = None,
    link_id: uuid.UUID | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Incident], int]:
    """Newest sighting first. `link_id`: incidents naming the link among their candidates;
    `since`: incidents with a sighting at or after that time."""
    query = select(Incident)
    if actor.scope_link_id is not None:
        query = query.where(*_partner_filter(actor.scope_link_id))
    if status is not None:
        query = query.where(Incident.status == status)
    if link_id is not None:
        naming = select(IncidentCandidate.incident_id).where(IncidentCandidate.link_id == link_id)
        query = query.where(col(Incident.id).in_(naming))
    if since is not None:
        query = query.where(col(Incident.last_seen_at) >= since)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = session.exec(
        query.order_by(col(Incident.last_seen_at).desc(), col(Incident.id))
        .limit(limit)
        .offset(offset)
    ).all()
    return list(page), total


def get_incident(session: Session, actor: Actor, incident_id: uuid.UUID) -> Incident:
    query = select(Incident).where(Incident.id == incident_id)
    if actor.scope_link_id is not None:
        query = query.where(*_partner_filter(actor.scope_link_id))
    incident = session.exec(query).first()
    if incident is None:
        raise NotFoundError(f"Incident {incident_id} not found.")
    return incident


def candidates(session: Session, incident_id: uuid.UUID) -> list[IncidentCandidate]:
    query = (
        select(IncidentCandidate)
        .where(IncidentCandidate.incident_id == incident_id)
        .order_by(col(IncidentCandidate.rank))
    )
    return list(session.exec(query).all())


def visible_links(session: Session, actor: Actor, link_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these links the actor may see named (a partner: those inside its scope)."""
    if actor.scope_link_id is None or not link_ids:
        return set(link_ids)
    inside = session.exec(subtree_ids(actor.scope_link_id)).all()
    return link_ids & set(inside)


@dataclass(frozen=True)
class Change:
    """An incident changed by an investigator, and the ones it made or ended."""

    incident: Incident
    others: list[Incident]


def _managed(session: Session, incident_id: uuid.UUID) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFoundError(f"Incident {incident_id} not found.")
    if incident.merged_into_id is not None:
        raise ConflictError(
            f"Incident {incident_id} was merged into {incident.merged_into_id}; work on that one."
        )
    return incident


def merge_incidents(
    session: Session,
    actor: Actor,
    incident_id: uuid.UUID,
    other_ids: Sequence[uuid.UUID],
    zone: ZoneInfo,
) -> Change:
    """Move every sighting of the others into this incident; the others are closed as
    merged into it. Its attribution is recomputed (and may escalate it), its explanation
    written in `zone`."""
    _lock_grouping(session)
    target = _managed(session, incident_id)
    if target.status != IncidentStatus.OPEN:
        raise ConflictError("Only an open incident can take others in.")
    ids = list(dict.fromkeys(other_ids))
    if incident_id in ids:
        raise InvalidError(
            "An incident cannot be merged into itself.",
            errors=[field_error("incident_ids", "names the incident itself")],
        )
    others = [_managed(session, other) for other in ids]
    before = Standing.of(target)
    moved = session.exec(
        select(IncidentSighting).where(col(IncidentSighting.incident_id).in_(ids))
    ).all()
    changes = [(m.sighting_id, target.id, m.incident_id) for m in moved]
    for membership in moved:
        membership.incident_id = target.id
        session.add(membership)
    session.flush()
    log_memberships(session, changes, Grouping.MERGED)
    now = utcnow()
    for other in others:
        regroup(session, other)
        other.revision += 1
        refresh_attribution(session, other, zone, [])
        other.status = IncidentStatus.CLOSED
        other.closed_at = other.closed_at or now
        other.merged_into_id = target.id
        session.add(other)
    sightings = regroup(session, target)
    target.revision += 1
    refresh_attribution(session, target, zone, sightings)
    announce(session, target, before)
    record_audit(
        session,
        actor,
        "incident.merge",
        "incident",
        target.id,
        {"merged": [str(i) for i in ids], "sightings_moved": len(moved)},
    )
    return Change(target, others)


def split_incident(
    session: Session,
    actor: Actor,
    incident_id: uuid.UUID,
    sighting_ids: Sequence[uuid.UUID],
    zone: ZoneInfo,
) -> Change:
    """Move these sightings into a new open incident; both are regrouped and recomputed.
    An investigator's split opens no alert: they are the one who made it."""
    _lock_grouping(session)
    source = _managed(session, incident_id)
    ids = set(sighting_ids)
    memberships = session.exec(
        select(IncidentSighting).where(IncidentSighting.incident_id == source.id)
    ).all()
    mine = {m.sighting_id for m in memberships}
    foreign = ids - mine
    if foreign:
        named = ", ".join(sorted(map(str, foreign))[:10])
        raise InvalidError(
            "Some sightings are not in this incident.",
            errors=[field_error("sighting_ids", f"not in the incident: {named}")],
        )
    if ids == mine:
        raise InvalidError(
            "A split must leave at least one sighting behind.",
            errors=[field_error("sighting_ids", "names every sighting of the incident")],
        )
    moving = [s for s in incident_sightings(session, source.id) if s.id in ids]
    now = utcnow()
    first = moving[0]
    keys = source_keys(first, canary_names(session, [first]).get(first.canary_id))
    split = Incident(
        title=title_for(keys, first.control, file_name(first.location)),
        first_seen_at=first.observed_at,
        last_seen_at=first.observed_at,
        created_at=now,
        updated_at=now,
        announced=True,  # the investigator who split it knows of it
    )
    session.add(split)
    session.flush()
    # A split stays split: neither part ever joins the other again (app.incidents.grouping).
    split.apart = sorted({*(source.apart or []), str(source.id)})
    source.apart = sorted({*(source.apart or []), str(split.id)})
    for membership in memberships:
        if membership.sighting_id in ids:
            membership.incident_id = split.id
            session.add(membership)
    session.flush()
    log_memberships(
        session, [(m, split.id, source.id) for m in sorted(ids, key=str)], Grouping.SPLIT
    )
    for incident in (source, split):
        sightings = regroup(session, incident)
        incident.revision += 1
        refresh_attribution(session, incident, zone, sightings)
    record_audit(
        session,
        actor,
        "incident.split",
        "incident",
        source.id,
        {"new_incident": str(split.id), "sightings": sorted(str(i) for i in ids)},
    )
    return Change(source, [split])


def close_incident(session: Session, actor: Actor, incident_id: uuid.UUID) -> Incident:
    """Closed: new sightings of its sources open a new incident. Closing twice is a no-op.
    The locks come before the incident's row, in the order storing sightings takes them:
    that holds the evidence log's and then waits for this row, the audit entry the other
    way round."""
    _lock_grouping(session)
    incident = _managed(session, incident_id)
    if incident.status == IncidentStatus.CLOSED:
        return incident
    incident.status = IncidentStatus.CLOSED
    incident.closed_at = incident.updated_at = utcnow()
    session.add(incident)
    session.flush()
    record_audit(session, actor, "incident.close", "incident", incident.id)
    return incident
