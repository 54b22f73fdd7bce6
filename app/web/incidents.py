"""What the incident pages show: the list, one incident's report, and its evidence downloads.

Incidents are read through app.incidents.service with the actor, so tenancy stays in one
place, although only unscoped roles sign in to the pages (app.web.signin.WEB_ROLES). The
timeline is laid out here, in plain numbers, and drawn by the template as SVG: the pages
carry no script, and the CSP would refuse one.
"""

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from app.auth.actor import Actor
from app.auth.permissions import ROLE_PERMISSIONS, Permission
from app.evidence.store import EvidenceStore
from app.incidents import service
from app.incidents.bundle import bundle_file as write_bundle_file
from app.incidents.grouping import incident_sightings
from app.incidents.schemas import CandidateRead, IncidentRead
from app.incidents.titles import Title, titles
from app.links.tree import ancestor_ids
from app.localtime import local, shown
from app.models.canaries import Canary, Plant
from app.models.incidents import Incident, IncidentStatus
from app.models.links import Link
from app.models.sightings import Sighting, SightingSource
from app.problems import NotFoundError
from app.web.pages import incident_channels

LIST_ROWS = 200
MERGE_CHOICES = 50
SHA256 = re.compile(r"[0-9a-f]{64}")
# Probability bands of a candidate's badge in the link tree.
BAND_HIGH = 0.5
BAND_MID = 0.1


@dataclass(frozen=True)
class IncidentRow:
    """One line of the incident list."""

    incident: Incident
    title: Title
    channels: list[str]
    top_link_name: str | None


def incident_rows(session: Session, actor: Actor, limit: int = LIST_ROWS) -> list[IncidentRow]:
    """Open incidents first, then closed ones, each the most recently seen first."""
    shown: list[Incident] = []
    for status in (IncidentStatus.OPEN, IncidentStatus.CLOSED):
        page, _ = service.list_incidents(session, actor, status=status, limit=limit - len(shown))
        shown += page
        if len(shown) >= limit:
            break
    tops = {i.top_link_id for i in shown if i.top_link_id is not None}
    visible = service.visible_links(session, actor, tops)
    names = dict(session.exec(select(Link.id, Link.name).where(col(Link.id).in_(visible))).all())
    named = titles(session, shown)
    channels = incident_channels(session, [i.id for i in shown])
    return [
        IncidentRow(
            i,
            named[i.id],
            channels.get(i.id, []),
            names.get(i.top_link_id) if i.top_link_id else None,
        )
        for i in shown
    ]


@dataclass
class TreeNode:
    """A link on the path from the root to a candidate or to where a surfaced canary was
    planted; `hidden` counts its children that are on no such path."""

    link: Link
    rank: int | None = None
    probability: float | None = None
    planted: int = 0
    leaker: bool = False
    hidden: int = 0
    children: list["TreeNode"] = field(default_factory=list)

    @property
    def band(self) -> str:
        """How strongly the tree marks a candidate: a 0.01 candidate is not a 0.92 one."""
        if self.probability is None:
            return "none"
        if self.probability >= BAND_HIGH:
            return "high"
        return "mid" if self.probability >= BAND_MID else "low"


@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    label: str
    control: bool = False


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    """Plants and sightings on one time axis (SVG user units), the leak window shaded."""

    width: int
    height: int
    left: int
    right: int
    plant_y: int
    sighting_y: int
    axis_y: int
    plants: list[Mark]
    sightings: list[Mark]
    ticks: list[Tick]
    window: tuple[float, float] | None


@dataclass(frozen=True)
class EvidenceRow:
    sighting: Sighting
    waybill_no: str
    link_name: str
    kept: bool  # its blob is on disk and may be downloaded

    @property
    def where(self) -> str:
        location = self.sighting.location
        return str(location.get("url") or location.get("file") or location.get("source_id", ""))


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    title: Title
    report: IncidentRead
    top: CandidateRead | None
    leakers: list[Link]
    tree: list[TreeNode]
    timeline: Timeline | None  # None when nothing is left to draw (merged away)
    evidence: list[EvidenceRow]
    manageable: bool  # open, not merged away, and the actor may merge, split and close it
    others: list[Incident]  # the other open incidents it could take in
    titles: dict[uuid.UUID, Title]  # of it and of the others


def _tree(
    session: Session, report: IncidentRead, planted_at: dict[uuid.UUID, int]
) -> list[TreeNode]:
    """The links that matter and every link above them, nested from the root down."""
    relevant = {c.link_id for c in report.candidates} | set(report.leakers) | set(planted_at)
    ids: set[uuid.UUID] = set()
    for link_id in relevant:
        ids.update(ancestor_ids(session, link_id))
    links = session.exec(select(Link).where(col(Link.id).in_(ids)).order_by(col(Link.name))).all()
    nodes = {link.id: TreeNode(link) for link in links}
    for rank, candidate in enumerate(report.candidates, start=1):
        node = nodes[candidate.link_id]
        node.rank, node.probability = rank, candidate.probability
    for link_id in report.leakers:
        nodes[link_id].leaker = True
    for link_id, count in planted_at.items():
        nodes[link_id].planted = count
    children = dict(
        session.exec(
            select(Link.parent_id, func.count())
            .where(col(Link.parent_id).in_(ids))
            .group_by(col(Link.parent_id))
        ).all()
    )
    roots: list[TreeNode] = []
    for node in nodes.values():
        parent = node.link.parent_id
        (nodes[parent].children if parent in nodes else roots).append(node)
    for node in nodes.values():
        node.hidden = children.get(node.link.id, 0) - len(node.children)
    return roots


def _stacked(x: float, placed: list[float], base: int) -> float:
    """Marks closer than a few units stack upwards, so each stays visible and countable."""
    near = sum(1 for other in placed if abs(other - x) < 7)
    placed.append(x)
    return base - 9 * (near % 4)


def _timeline(
    plants: list[tuple[datetime, str]],
    sightings: list[tuple[datetime, str, bool]],
    window: tuple[datetime, datetime] | None,
    zone: ZoneInfo,
) -> Timeline | None:
    width, left, right = 960, 120, 940
    plant_y, sighting_y, axis_y = 70, 130, 160
    moments = [at for at, _ in plants] + [at for at, _, _ in sightings] + list(window or ())
    if not moments:
        return None
    start, end = min(moments), max(moments)
    span = max(end - start, timedelta(hours=1))
    start, end = start - span * 0.03, end + span * 0.03
    total = (end - start).total_seconds()

    def x(at: datetime) -> float:
        return round(left + (right - left) * (at - start).total_seconds() / total, 1)

    placed: list[float] = []
    plant_marks = [
        Mark(x(at), _stacked(x(at), placed, plant_y), label) for at, label in sorted(plants)
    ]
    placed = []
    sighting_marks = [
        Mark(x(at), _stacked(x(at), placed, sighting_y), label, control)
        for at, label, control in sorted(sightings)
    ]
    layout = "%Y-%m-%d %H:%M" if end - start < timedelta(days=3) else "%Y-%m-%d"
    ticks = [
        Tick(
            round(left + (right - left) * i / 4, 1),
            f"{local(start + (end - start) * i / 4, zone):{layout}}",
        )
        for i in range(5)
    ]
    return Timeline(
        width=width,
        height=190,
        left=left,
        right=right,
        plant_y=plant_y,
        sighting_y=sighting_y,
        axis_y=axis_y,
        plants=plant_marks,
        sightings=sighting_marks,
        ticks=ticks,
        window=(x(window[0]), x(window[1])) if window else None,
    )


def incident_view(
    session: Session,
    actor: Actor,
    store: EvidenceStore,
    incident_id: uuid.UUID,
    zone: ZoneInfo,
) -> IncidentView:
    incident = service.get_incident(session, actor, incident_id)
    report = IncidentRead.build(session, actor, incident)
    sightings = incident_sightings(session, incident.id)
    canary_ids = {s.canary_id for s in sightings}
    waybills = dict(
        session.exec(
            select(Canary.id, Canary.waybill_no).where(col(Canary.id).in_(canary_ids))
        ).all()
    )
    link_ids = {s.link_id for s in sightings}
    link_names = dict(
        session.exec(select(Link.id, Link.name).where(col(Link.id).in_(link_ids))).all()
    )
    plants = session.exec(
        select(Plant).where(col(Plant.canary_id).in_(canary_ids)).order_by(col(Plant.planted_at))
    ).all()
    planted_at: dict[uuid.UUID, int] = {}
    for plant in plants:
        planted_at[plant.link_id] = planted_at.get(plant.link_id, 0) + 1
    window = (
        (incident.window_start, incident.window_end)
        if incident.window_start and incident.window_end
        else None
    )
    timeline = _timeline(
        [(p.planted_at, f"{waybills[p.canary_id]} · {shown(p.planted_at, zone)}") for p in plants],
        [
            (s.observed_at, f"{waybills[s.canary_id]} · {shown(s.observed_at, zone)}", s.control)
            for s in sightings
        ],
        window,
        zone,
    )
    evidence = [
        EvidenceRow(
            sighting=s,
            waybill_no=waybills[s.canary_id],
            link_name=link_names.get(s.link_id, ""),
            kept=_kept(store, s),
        )
        for s in sightings
    ]
    leakers = session.exec(select(Link).where(col(Link.id).in_(report.leakers))).all()
    manageable = (
        may_manage(actor)
        and incident.status == IncidentStatus.OPEN
        and incident.merged_into_id is None
    )
    others: list[Incident] = []
    if manageable:
        open_now, _ = service.list_incidents(
            session, actor, status=IncidentStatus.OPEN, limit=MERGE_CHOICES + 1
        )
        others = [i for i in open_now if i.id != incident.id][:MERGE_CHOICES]
    named = titles(session, [incident, *others])
    return IncidentView(
        incident=incident,
        title=named[incident.id],
        report=report,
        top=report.candidates[0] if report.candidates else None,
        leakers=list(leakers),
        tree=_tree(session, report, planted_at),
        timeline=timeline,
        evidence=evidence,
        manageable=manageable,
        others=others,
        titles=named,
    )


def may_manage(actor: Actor) -> bool:
    return Permission.INCIDENTS_MANAGE in ROLE_PERMISSIONS[actor.role]


def _kept(store: EvidenceStore, sighting: Sighting) -> bool:
    # A leaked dump's sha256 names the file, which is never kept (rule 5).
    digest = sighting.evidence_sha256
    if not digest or sighting.source == SightingSource.DUMP:
        return False
    return store.path(digest).is_file()


# File name extensions of the media types evidence is kept as (app.intake: a listing page,
# a message, a report's text); anything else is .bin.
EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/csv": ".csv",
    "application/json": ".json",
    "application/xml": ".xml",
    "text/xml": ".xml",
    "message/rfc822": ".eml",
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "application/zip": ".zip",
}


def evidence_name(source: str, media_type: object, digest: str) -> str:
    """The download's file name: what it is, a piece of its sha256, and the extension of
    the media type it was kept as, e.g. `evidence-site-3f2a9c01b7e4.html`."""
    base = str(media_type or "").split(";", 1)[0].strip().lower()
    return f"evidence-{source}-{digest[:12]}{EXTENSIONS.get(base, '.bin')}"


def evidence_blob(
    session: Session, actor: Actor, store: EvidenceStore, digest: str
) -> tuple[Path, str]:
    """The blob behind a sighting the actor may read, with the file name to download it
    as; anything else is not found, so the route tells nobody which blobs exist."""
    if not SHA256.fullmatch(digest) or actor.scope_link_id is not None:
        raise NotFoundError("No such evidence.")
    referenced = session.exec(
        select(Sighting.source, Sighting.location)
        .where(
            Sighting.evidence_sha256 == digest,
            col(Sighting.source) != SightingSource.DUMP,
        )
        .order_by(col(Sighting.observed_at))
        .limit(1)
    ).first()
    path = store.path(digest)
    if referenced is None or not path.is_file():
        raise NotFoundError("No such evidence.")
    source, location = referenced
    return path, evidence_name(str(source), location.get("evidence_type"), digest)


def bundle_file(
    session: Session, actor: Actor, store: EvidenceStore, incident_id: uuid.UUID, zone: ZoneInfo
) -> tuple[Incident, Path]:
    """The incident's evidence bundle (app.incidents.bundle) in a temporary file, which the
    caller removes once it is sent."""
    incident = service.get_incident(session, actor, incident_id)
    path, _files = write_bundle_file(session, store, actor, incident, zone)
    return incident, path
