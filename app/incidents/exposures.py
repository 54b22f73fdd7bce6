"""The link tree, the plants and an incident's sightings, read as attribution takes them.

Records per day: a link's own figure when set (`records_per_day`, editable on the link);
otherwise what its kind handles itself (OWN_RECORDS_PER_DAY, the order of magnitude of a
Chinese express courier: a courier about a hundred waybills a day, an outlet its counter's
and pick-ups', a platform its merchants' orders) plus the records of every link below it,
which it reads (a region sees its outlets' records). The figure sets a link's prior and the
leak's volume, so a wrong one moves probabilities between a link and its parent but never
makes a link that did not see a canary a candidate.

Only the plants that can matter are read: those of the surfaced canaries, and every plant
from the longest look-back (180 days, or the age of the oldest surfaced canary) up to the
newest sighting, which is what the likelihood counts.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from app.models.canaries import Plant
from app.models.links import Link, LinkReader
from app.models.sightings import Scan, Sighting
from app.numbers.background import background_rates
from attribution.kinds import LinkKind
from attribution.model import (
    LOOKBACK_DAYS,
    CanarySighting,
    Exposure,
    ExposureTree,
    LinkNode,
    PlantCount,
)

OWN_RECORDS_PER_DAY: dict[LinkKind, float] = {
    LinkKind.COURIER_STAFF: 100.0,
    LinkKind.OUTLET: 600.0,
    LinkKind.MERCHANT: 300.0,
    LinkKind.CALL_CENTRE: 2_000.0,
    LinkKind.REGION: 1_000.0,
    LinkKind.HEAD_OFFICE: 5_000.0,
    LinkKind.VENDOR: 20_000.0,
    LinkKind.PLATFORM: 100_000.0,
    LinkKind.SYSTEM: 100_000.0,
}


def records_per_day(links: Sequence[Link]) -> dict[uuid.UUID, float]:
    """Each link's records a day (see the module): its own figure, or its kind's own plus
    those of the links below it."""
    known = {link.id: link for link in links}
    below: dict[uuid.UUID | None, list[Link]] = {}
    for link in links:
        below.setdefault(link.parent_id if link.parent_id in known else None, []).append(link)
    order: list[Link] = []
    todo = list(below.get(None, []))
    while todo:  # parents before children
        link = todo.pop()
        order.append(link)
        todo.extend(below.get(link.id, []))
    figures: dict[uuid.UUID, float] = {}
    for link in reversed(order):
        own = OWN_RECORDS_PER_DAY[LinkKind(link.kind)]
        children = sum(figures[child.id] for child in below.get(link.id, []))
        figures[link.id] = (
            link.records_per_day if link.records_per_day is not None else own + children
        )
    return figures


def canary_sightings(session: Session, sightings: Sequence[Sighting]) -> list[CanarySighting]:
    """The sightings as attribution takes them. One without a score (a contact without
    content) carries its number's background rate over the 30 days before the incident's
    first such contact on that number."""
    numbers = {s.id: _number_called(s) for s in sightings}
    first: dict[uuid.UUID, datetime] = {}
    for s in sightings:
        if (number_id := numbers[s.id]) is not None:
            first[number_id] = min(first.get(number_id, s.observed_at), s.observed_at)
    rates = {
        number_id: background_rates(session, at, [number_id]).get(number_id, 0.0)
        for number_id, at in first.items()
    }
    return [
        CanarySighting(
            s.canary_id,
            s.observed_at,
            s.score,
            s.control,
            background_rate=None if (n := numbers[s.id]) is None else rates[n],
        )
        for s in sightings
    ]


def _number_called(sighting: Sighting) -> uuid.UUID | None:
    """The pool number a sighting without a score reached (app.telephony.contacts)."""
    number = sighting.location.get("number_id") if sighting.score is None else None
    return uuid.UUID(str(number)) if number else None


def exposure_tree(session: Session, sightings: Sequence[Sighting]) -> ExposureTree:
    """Every link with its readers besides its parent (a vendor reads its clients'), the
    surfaced canaries' plants, and the other plants that can matter counted per link and
    plant time (a batch planted at once is one row)."""
    stored = session.exec(select(Link)).all()
    volumes = records_per_day(stored)
    readers: dict[uuid.UUID, list[uuid.UUID]] = {}
    for client, reader in session.exec(select(LinkReader.link_id, LinkReader.reader_id)):
        readers.setdefault(client, []).append(reader)
    links = [
        LinkNode(
            link.id,
            link.parent_id,
            LinkKind(link.kind),
            link.name,
            volumes[link.id],
            readers=tuple(readers.get(link.id, ())),
        )
        for link in stored
    ]
    canary_ids = {s.canary_id for s in sightings}
    if not canary_ids:
        return ExposureTree(links, ())
    own = session.exec(
        select(col(Plant.canary_id), col(Plant.link_id), col(Plant.planted_at)).where(
            col(Plant.canary_id).in_(canary_ids)
        )
    ).all()
    seen = [s.observed_at for s in sightings]
    planted = [row[2] for row in own]
    since = min([min(seen) - timedelta(days=max(LOOKBACK_DAYS)), *planted])
    link_id, planted_at = col(Plant.link_id), col(Plant.planted_at)
    batches = session.exec(
        select(link_id, planted_at, func.count())
        .where(
            planted_at >= since,
            planted_at <= max(seen + planted),
            col(Plant.canary_id).not_in(canary_ids),
        )
        .group_by(link_id, planted_at)
    ).all()
    return ExposureTree(
        links,
        [Exposure(canary, link, at) for canary, link, at in own],
        [PlantCount(link, at, count) for link, at, count in batches],
    )


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
