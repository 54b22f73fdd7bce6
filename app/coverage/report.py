"""The coverage report: which links canaries are watching now, since when, and which never.

Regulators ask couriers to check every link where user information is collected; this is
that check. Plain functions over a session, so the web page, the CSV download and the CLI
all show the same figures.
"""

import csv
import io
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.csvsafe import spreadsheet_safe
from app.db import utcnow
from app.models.canaries import Canary, CanaryStatus, Plant
from app.models.incidents import IncidentCandidate
from app.models.links import Link
from app.models.sightings import Sighting

_WAITING = (CanaryStatus.READY, CanaryStatus.PENDING)
_STREAM_ROWS = 10_000


@dataclass(frozen=True)
class LinkCoverage:
    """One link's line in the report. `depth` places it in the tree (0: a root)."""

    link_id: uuid.UUID
    name: str
    kind: str
    region_code: str
    parent_id: uuid.UUID | None
    depth: int
    active: bool
    live: int  # planted and not burned: watching the link now
    live_below: int  # live at links below it, whose data it reads too
    waiting: int  # minted for the link (ready or pending), not yet in its feed
    burned: int
    # Burned canaries whose replacement could not be minted yet (the link's number pool is
    # used up): the link is short of canaries until rotation mints them.
    owed: int
    planted: int  # ever
    first_planted_at: datetime | None
    last_planted_at: datetime | None
    last_minted_at: datetime | None  # a rotation mints too
    days_covered: float  # days on which at least one canary was live at the link
    sightings: int  # of the link's own canaries, controls left out
    incidents: int

    @property
    def never_tested(self) -> bool:
        """No canary ever entered the link's feed: nothing could show that it leaks."""
        return self.planted == 0


@dataclass(frozen=True)
class CoverageSummary:
    """The dashboard's view: how many active links are watched, and which are not."""

    active_links: int
    watched: int
    unwatched: list[Link]  # active links without a live canary, the first `limit` by name
    unwatched_total: int
    burned: int


def incidents_per_link(session: Session) -> dict[uuid.UUID, int]:
    """How many incidents name each link as a candidate (merged-away ones have none)."""
    link_id = col(IncidentCandidate.link_id)
    rows = session.exec(select(link_id, func.count()).group_by(link_id)).all()
    return dict(rows)


def coverage_report(session: Session, now: datetime | None = None) -> list[LinkCoverage]:
    """Every link, in tree order (parents before children, siblings by name)."""
    now = now or utcnow()
    links = session.exec(select(Link)).all()
    counts: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
    last_minted: dict[uuid.UUID, datetime] = {}
    canary_rows = session.exec(
        select(Canary.link_id, Canary.status, func.count(), func.max(Canary.minted_at))
        .where(col(Canary.control).is_(False))
        .group_by(col(Canary.link_id), col(Canary.status))
    ).all()
    for link_id, status, count, minted_at in canary_rows:
        counts[link_id][status] = count
        if minted_at is not None:
            last_minted[link_id] = max(minted_at, last_minted.get(link_id, minted_at))
    plants = {
        link_id: (count, first, last)
        for link_id, count, first, last in session.exec(
            select(
                Plant.link_id, func.count(), func.min(Plant.planted_at), func.max(Plant.planted_at)
            ).group_by(col(Plant.link_id))
        ).all()
    }
    sightings = dict(
        session.exec(
            select(Sighting.link_id, func.count())
            .where(col(Sighting.control).is_(False))
            .group_by(col(Sighting.link_id))
        ).all()
    )
    owed = dict(
        session.exec(
            select(Canary.link_id, func.count())
            .where(col(Canary.replacement_owed).is_(True))
            .group_by(col(Canary.link_id))
        ).all()
    )
    covered = _days_covered(session, now)
    incidents = incidents_per_link(session)
    order = list(_tree_order(links))
    in_view: dict[uuid.UUID, int] = defaultdict(int)  # live at the link and below it
    for link, _ in reversed(order):  # children come after their parent: sum bottom-up
        in_view[link.id] += counts.get(link.id, {}).get(CanaryStatus.PLANTED, 0)
        if link.parent_id is not None:
            in_view[link.parent_id] += in_view[link.id]
    report = []
    for link, depth in order:
        by_status = counts.get(link.id, {})
        live = by_status.get(CanaryStatus.PLANTED, 0)
        planted, first, last = plants.get(link.id, (0, None, None))
        report.append(
            LinkCoverage(
                link_id=link.id,
                name=link.name,
                kind=link.kind,
                region_code=link.region_code,
                parent_id=link.parent_id,
                depth=depth,
                active=link.deactivated_at is None,
                live=live,
                live_below=in_view[link.id] - live,
                waiting=sum(by_status.get(s, 0) for s in _WAITING),
                burned=by_status.get(CanaryStatus.BURNED, 0),
                owed=owed.get(link.id, 0),
                planted=planted,
                first_planted_at=first,
                last_planted_at=last,
                last_minted_at=last_minted.get(link.id),
                days_covered=round(covered.get(link.id, 0.0), 1),
                sightings=sightings.get(link.id, 0),
                incidents=incidents.get(link.id, 0),
            )
        )
    return report


def _tree_order(links: Iterable[Link]) -> Iterator[tuple[Link, int]]:
    children: dict[uuid.UUID | None, list[Link]] = defaultdict(list)
    for link in links:
        children[link.parent_id].append(link)
    for siblings in children.values():
        siblings.sort(key=lambda link: (link.name, str(link.id)))
    stack = [(link, 0) for link in reversed(children[None])]
    while stack:
        link, depth = stack.pop()
        yield link, depth
        stack.extend((child, depth + 1) for child in reversed(children.get(link.id, [])))


def _days_covered(session: Session, now: datetime) -> dict[uuid.UUID, float]:
    """Per link, the length of the union of its canaries' live spans (plant to burn, or to
    now), so a gap between a burn and the next plant is not counted as covered.

    Streams the plants in order instead of loading them: a store may hold millions.
    """
    rows = session.exec(
        select(Plant.link_id, Plant.planted_at, Canary.retired_at)
        .join(Canary, col(Canary.id) == col(Plant.canary_id))
        .order_by(col(Plant.link_id), col(Plant.planted_at))
        .execution_options(yield_per=_STREAM_ROWS)
    )
    covered: dict[uuid.UUID, timedelta] = defaultdict(timedelta)
    span: tuple[uuid.UUID, datetime, datetime] | None = None
    for link_id, start, retired_at in rows:
        end = max(start, min(retired_at or now, now))
        if span is not None and span[0] == link_id and start <= span[2]:
            span = (link_id, span[1], max(span[2], end))
            continue
        if span is not None:
            covered[span[0]] += span[2] - span[1]
        span = (link_id, start, end)
    if span is not None:
        covered[span[0]] += span[2] - span[1]
    return {link_id: total / timedelta(days=1) for link_id, total in covered.items()}


def coverage_summary(session: Session, limit: int = 20) -> CoverageSummary:
    """Counts only (no spans), cheap enough for every dashboard view."""
    watched_ids = (
        select(Canary.link_id)
        .where(Canary.status == CanaryStatus.PLANTED, col(Canary.control).is_(False))
        .distinct()
    )
    active = select(Link).where(col(Link.deactivated_at).is_(None))
    unwatched = active.where(col(Link.id).not_in(watched_ids))
    active_total = session.exec(select(func.count()).select_from(active.subquery())).one()
    unwatched_total = session.exec(select(func.count()).select_from(unwatched.subquery())).one()
    burned = session.exec(
        select(func.count()).select_from(Canary).where(Canary.status == CanaryStatus.BURNED)
    ).one()
    return CoverageSummary(
        active_links=active_total,
        watched=active_total - unwatched_total,
        unwatched=list(session.exec(unwatched.order_by(col(Link.name)).limit(limit)).all()),
        unwatched_total=unwatched_total,
        burned=burned,
    )


CSV_COLUMNS = (
    "link_id",
    "name",
    "kind",
    "region_code",
    "parent_id",
    "active",
    "live_canaries",
    "live_canaries_below",
    "waiting_canaries",
    "burned_canaries",
    "replacements_owed",
    "planted_ever",
    "first_planted_at",
    "last_planted_at",
    "last_minted_at",
    "days_covered",
    "sightings",
    "incidents",
    "never_tested",
)


def coverage_csv(report: Iterable[LinkCoverage]) -> str:
    """The report as CSV; every text cell is made formula-safe (link names are user input)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in report:
        cells: list[object] = [
            str(row.link_id),
            row.name,
            row.kind,
            row.region_code,
            str(row.parent_id) if row.parent_id else "",
            row.active,
            row.live,
            row.live_below,
            row.waiting,
            row.burned,
            row.owed,
            row.planted,
            _iso(row.first_planted_at),
            _iso(row.last_planted_at),
            _iso(row.last_minted_at),
            row.days_covered,
            row.sightings,
            row.incidents,
            row.never_tested,
        ]
        writer.writerow([spreadsheet_safe(cell) for cell in cells])
    return out.getvalue()


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""
