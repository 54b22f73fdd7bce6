"""What each investigator page shows, read in plain functions over a session.

The pages are for unscoped internal roles only (app.web.signin.WEB_ROLES), yet links and
canaries are still read through their services with the actor, so tenancy stays in one
place.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.db import utcnow
from app.incidents.titles import Title, titles
from app.links.service import get_link
from app.links.tree import ancestor_ids
from app.models.canaries import Canary, CanaryStatus, Plant
from app.models.incidents import Incident, IncidentSighting, IncidentStatus
from app.models.links import Link
from app.models.sightings import Sighting
from app.models.sites import Site
from app.models.telephony import PhoneContact, PhoneNumber
from app.numbers.background import background_rates
from app.planting.service import get_canary

PAGE_ROWS = 200


@dataclass(frozen=True)
class SightingRow:
    sighting: Sighting
    waybill_no: str
    link_name: str

    @property
    def where(self) -> str:
        """The place it surfaced, as shown: a page's URL, a file's name, or the source id."""
        location: dict[str, Any] = self.sighting.location
        return str(location.get("url") or location.get("file") or location.get("source_id", ""))


@dataclass(frozen=True)
class CanaryRow:
    canary: Canary
    link_name: str


@dataclass(frozen=True)
class OpenIncident:
    """One line of the dashboard's open incidents: what it is, where it surfaced, what to
    beware of, and where it points."""

    id: uuid.UUID
    title: Title
    opened_at: datetime
    sightings: int
    channels: list[str]
    flags: list[str]
    top_link_id: uuid.UUID | None
    top_link_name: str | None
    probability: float | None


def incident_channels(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """The sources (channels) each incident's sightings came through, sorted."""
    rows = session.exec(
        select(IncidentSighting.incident_id, Sighting.source)
        .join(Sighting, col(Sighting.id) == col(IncidentSighting.sighting_id))
        .where(col(IncidentSighting.incident_id).in_(ids))
        .distinct()
    ).all()
    found: dict[uuid.UUID, set[str]] = {}
    for incident_id, source in rows:
        found.setdefault(incident_id, set()).add(str(source))
    return {i: sorted(sources) for i, sources in found.items()}


def open_incidents(session: Session, limit: int = 20) -> list[OpenIncident]:
    """Open incidents, the most recently seen first, for the dashboard."""
    query = (
        select(Incident, Link.name)
        .outerjoin(Link, col(Link.id) == col(Incident.top_link_id))
        .where(Incident.status == IncidentStatus.OPEN)
        .order_by(col(Incident.last_seen_at).desc(), col(Incident.id))
        .limit(limit)
    )
    rows = session.exec(query).all()
    shown = [incident for incident, _ in rows]
    named = titles(session, shown)
    channels = incident_channels(session, [i.id for i in shown])
    return [
        OpenIncident(
            id=incident.id,
            title=named[incident.id],
            opened_at=incident.first_seen_at,
            sightings=incident.sighting_count,
            channels=channels.get(incident.id, []),
            flags=list(incident.flags),
            top_link_id=incident.top_link_id,
            top_link_name=name,
            probability=incident.top_probability,
        )
        for incident, name in rows
    ]


def _sighting_rows(
    session: Session, where: ColumnElement[bool] | None, limit: int
) -> list[SightingRow]:
    query = (
        select(Sighting, Canary.waybill_no, Link.name)
        .join(Canary, col(Canary.id) == col(Sighting.canary_id))
        .join(Link, col(Link.id) == col(Sighting.link_id))
    )
    if where is not None:
        query = query.where(where)
    rows = session.exec(
        query.order_by(col(Sighting.observed_at).desc(), col(Sighting.id)).limit(limit)
    ).all()
    return [SightingRow(sighting, waybill_no, name) for sighting, waybill_no, name in rows]


def recent_sightings(session: Session, limit: int = 20) -> list[SightingRow]:
    return _sighting_rows(session, None, limit)


def burned_canaries(session: Session, limit: int = 20) -> list[CanaryRow]:
    """The most recently burned canaries (each already replaced by a fresh one)."""
    rows = session.exec(
        select(Canary, Link.name)
        .join(Link, col(Link.id) == col(Canary.link_id))
        .where(Canary.status == CanaryStatus.BURNED)
        .order_by(col(Canary.retired_at).desc(), col(Canary.id))
        .limit(limit)
    ).all()
    return [CanaryRow(canary, name) for canary, name in rows]


@dataclass(frozen=True)
class CanaryPage:
    """One page of a link's canaries of one status, and where it stands among all of them."""

    rows: list[Canary]
    total: int
    page: int  # from 1
    pages: int

    @property
    def first(self) -> int:
        return (self.page - 1) * PAGE_ROWS + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * PAGE_ROWS + len(self.rows)


@dataclass(frozen=True)
class LinkView:
    link: Link
    ancestors: list[Link]  # the root first, the parent last
    children: list[Link]
    counts: dict[str, int]  # canaries by status, controls left out
    live: CanaryPage
    burned: CanaryPage
    sightings: list[SightingRow]
    sightings_total: int


def _canaries(
    session: Session, link_id: uuid.UUID, status: CanaryStatus, total: int, page: int
) -> CanaryPage:
    pages = max(1, -(-total // PAGE_ROWS))
    page = min(max(page, 1), pages)
    rows = session.exec(
        select(Canary)
        .where(Canary.link_id == link_id, Canary.status == status, col(Canary.control).is_(False))
        .order_by(col(Canary.minted_at).desc(), col(Canary.id))
        .offset((page - 1) * PAGE_ROWS)
        .limit(PAGE_ROWS)
    ).all()
    return CanaryPage(list(rows), total, page, pages)


def link_view(
    session: Session, actor: Actor, link_id: uuid.UUID, live_page: int = 1, burned_page: int = 1
) -> LinkView:
    link = get_link(session, actor, link_id)
    above = ancestor_ids(session, link.id)[1:]
    by_id = {x.id: x for x in session.exec(select(Link).where(col(Link.id).in_(above))).all()}
    children = session.exec(
        select(Link).where(Link.parent_id == link.id).order_by(col(Link.name))
    ).all()
    counts = dict(
        session.exec(
            select(Canary.status, func.count())
            .where(Canary.link_id == link.id, col(Canary.control).is_(False))
            .group_by(col(Canary.status))
        ).all()
    )
    mine = col(Sighting.link_id) == link.id
    total = session.exec(select(func.count()).select_from(Sighting).where(mine)).one()
    return LinkView(
        link=link,
        ancestors=[by_id[i] for i in reversed(above) if i in by_id],
        children=list(children),
        counts={str(status): count for status, count in counts.items()},
        live=_canaries(
            session, link.id, CanaryStatus.PLANTED, counts.get(CanaryStatus.PLANTED, 0), live_page
        ),
        burned=_canaries(
            session, link.id, CanaryStatus.BURNED, counts.get(CanaryStatus.BURNED, 0), burned_page
        ),
        sightings=_sighting_rows(session, mine, PAGE_ROWS),
        sightings_total=total,
    )


@dataclass(frozen=True)
class CanaryView:
    canary: Canary
    link: Link
    plant: Plant | None
    exposure: list[Link]  # where it was planted first, then every link above
    sightings: list[SightingRow]


def canary_view(session: Session, actor: Actor, canary_id: uuid.UUID) -> CanaryView:
    canary, plant, exposure_ids = get_canary(session, actor, canary_id)
    links = {x.id: x for x in session.exec(select(Link).where(col(Link.id).in_(exposure_ids)))}
    return CanaryView(
        canary=canary,
        link=get_link(session, actor, canary.link_id),
        plant=plant,
        exposure=[links[i] for i in exposure_ids if i in links],
        sightings=_sighting_rows(session, col(Sighting.canary_id) == canary.id, PAGE_ROWS),
    )


@dataclass(frozen=True)
class NumberStatus:
    phone: PhoneNumber
    link_name: str | None
    background_per_day: float
    contacts_week: int


@dataclass(frozen=True)
class WatcherStatus:
    sites: list[Site]
    numbers: list[NumberStatus]
    contacts_day: int
    contacts_week: int


def _contacts_since(session: Session, since: datetime) -> int:
    return session.exec(
        select(func.count()).select_from(PhoneContact).where(col(PhoneContact.received_at) >= since)
    ).one()


def watcher_status(session: Session, now: datetime | None = None) -> WatcherStatus:
    """Sites with their last polls, and pool numbers with their background rates."""
    now = now or utcnow()
    week = now - timedelta(days=7)
    sites = session.exec(select(Site).order_by(col(Site.name))).all()
    rates = background_rates(session, now)
    per_number = dict(
        session.exec(
            select(PhoneContact.number_id, func.count())
            .where(col(PhoneContact.received_at) >= week)
            .group_by(col(PhoneContact.number_id))
        ).all()
    )
    rows = session.exec(
        select(PhoneNumber, Link.name)
        .join(Link, col(Link.id) == col(PhoneNumber.link_id), isouter=True)
        .order_by(col(PhoneNumber.number))
    ).all()
    numbers = [
        NumberStatus(phone, name, rates.get(phone.id, 0.0), per_number.get(phone.id, 0))
        for phone, name in rows
    ]
    return WatcherStatus(
        sites=list(sites),
        numbers=numbers,
        contacts_day=_contacts_since(session, now - timedelta(days=1)),
        contacts_week=_contacts_since(session, week),
    )
