"""The link tree, the plants and an incident's sightings, read as attribution takes them.

Records per day: a link's own figure when set (`records_per_day`, editable on the link),
otherwise its kind's default below, the order of magnitude of a Chinese express courier:
a courier handles about a hundred waybills a day, an outlet several couriers' and its
counter's, a region some fifty outlets', the head office and a platform far more. The
figure sets a link's prior and the leak's volume, so a wrong default moves probabilities
between a link and its parent but never makes a link that did not see a canary a candidate.

Only the plants that can matter are read: those of the surfaced canaries, and every plant
from the longest look-back (180 days, or the age of the oldest surfaced canary) up to the
newest sighting, which is what the likelihood counts.
"""

from collections.abc import Sequence
from datetime import timedelta

from sqlmodel import Session, col, select

from app.incidents.attribution import (
    LOOKBACK_DAYS,
    CanarySighting,
    Exposure,
    ExposureTree,
    LinkNode,
)
from app.links.models import Link, LinkKind
from app.planting.models import Plant
from app.sightings.models import Scan, Sighting

DEFAULT_RECORDS_PER_DAY: dict[LinkKind, float] = {
    LinkKind.COURIER_STAFF: 100.0,
    LinkKind.OUTLET: 600.0,
    LinkKind.MERCHANT: 300.0,
    LinkKind.CALL_CENTRE: 2_000.0,
    LinkKind.REGION: 30_000.0,
    LinkKind.VENDOR: 20_000.0,
    LinkKind.HEAD_OFFICE: 300_000.0,
    LinkKind.PLATFORM: 100_000.0,
    LinkKind.SYSTEM: 100_000.0,
}


def records_per_day(link: Link) -> float:
    if link.records_per_day is not None:
        return link.records_per_day
    return DEFAULT_RECORDS_PER_DAY[LinkKind(link.kind)]


def canary_sightings(sightings: Sequence[Sighting]) -> list[CanarySighting]:
    return [
        CanarySighting(s.canary_id, s.observed_at, s.score, control=s.control) for s in sightings
    ]


def exposure_tree(session: Session, sightings: Sequence[Sighting]) -> ExposureTree:
    """Every link (vendors' extra readers are not stored: the tree is by parent only) and
    the plants that can matter for these sightings."""
    links = [
        LinkNode(link.id, link.parent_id, LinkKind(link.kind), link.name, records_per_day(link))
        for link in session.exec(select(Link)).all()
    ]
    canary_ids = {s.canary_id for s in sightings}
    columns = (col(Plant.canary_id), col(Plant.link_id), col(Plant.planted_at))
    own = (
        session.exec(select(*columns).where(col(Plant.canary_id).in_(canary_ids))).all()
        if canary_ids
        else []
    )
    plants = {row[0]: row for row in own}
    if sightings:
        seen = [s.observed_at for s in sightings]
        planted = [row[2] for row in own]
        newest = max(seen + planted)
        since = min([min(seen) - timedelta(days=max(LOOKBACK_DAYS)), *planted])
        window = select(*columns).where(
            col(Plant.planted_at) >= since, col(Plant.planted_at) <= newest
        )
        for row in session.exec(window):
            plants.setdefault(row[0], row)
    exposures = [Exposure(canary, link, at) for canary, link, at in plants.values()]
    return ExposureTree(links, exposures)


def leaked_records(session: Session, sightings: Sequence[Sighting]) -> int | None:
    """How many records the leak showed: the rows of the files behind these sightings (a
    scanned dump, a reported file, a listing's sample), each file once. None when any
    sighting came from something without a row count (a listing's text, a message)."""
    scans = {s.scan_id for s in sightings if s.scan_id is not None}
    scan_rows = (
        dict(session.exec(select(Scan.id, Scan.rows).where(col(Scan.id).in_(scans))).all())
        if scans
        else {}
    )
    per_file: dict[str, int] = {}
    for s in sightings:
        file = s.location.get("file_sha256") or s.location.get("attachment_sha256")
        rows = str(s.location.get("rows", ""))
        if s.scan_id is not None and s.evidence_sha256:
            per_file[s.evidence_sha256] = scan_rows.get(s.scan_id, 0)
        elif file and rows.isdigit():
            per_file[str(file)] = int(rows)
        else:
            return None
    return sum(per_file.values()) or None
