"""The link tree, the plants and an incident's sightings, read as attribution takes them.

Records per day: a link's own figure when set (`records_per_day`, editable on the link);
otherwise what its kind handles itself (OWN_RECORDS_PER_DAY, the order of magnitude of a
Chinese express courier: a courier about a hundred waybills a day, an outlet its counter's
and pick-ups', a platform its merchants' orders) plus the records of every link below it,
which it reads (a region sees its outlets' records). The figure sets a link's prior and the
leak's volume, so a wrong one moves probabilities between a link and its parent but never
makes a link that did not see a canary a candidate.

Only the plants that can matter are read: those of the surfaced canaries, and every plant
in the range the model's windows can reach (attribution.tree.plant_range), which is what
the likelihood counts.
"""

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import case
from sqlmodel import Session, col, func, select

from app.models.canaries import Plant
from app.models.evidence import EntryKind, EvidenceEntry
from app.models.links import Link, LinkReader
from app.models.sightings import Scan, Sighting, SightingSource
from app.numbers.background import background_rates
from attribution.kinds import Channel, LinkKind
from attribution.model import CanarySighting
from attribution.tree import Exposure, ExposureTree, LinkNode, PlantCount, plant_range

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


class _LinkRow(Protocol):
    """What the tree reads of a link (a row of its columns, not the model: reading 20,000
    links as objects took most of a second)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def parent_id(self) -> uuid.UUID | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def records_per_day(self) -> float | None: ...


def records_per_day(links: Sequence[_LinkRow]) -> dict[uuid.UUID, float]:
    """Each link's records a day (see the module): its own figure, or its kind's own plus
    those of the links below it."""
    known = {link.id: link for link in links}
    below: dict[uuid.UUID | None, list[_LinkRow]] = {}
    for link in links:
        below.setdefault(link.parent_id if link.parent_id in known else None, []).append(link)
    order: list[_LinkRow] = []
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
    """The sightings as attribution takes them, each with the rows of what it was found in
    (a match weighs against the file it was in, not the incident's size). One without a
    score (a contact without content) carries its number's background rate over the 30
    days before the incident's first such contact on that number."""
    numbers = {s.id: _number_called(s) for s in sightings}
    first: dict[uuid.UUID, datetime] = {}
    for s in sightings:
        if (number_id := numbers[s.id]) is not None:
            first[number_id] = min(first.get(number_id, s.observed_at), s.observed_at)
    rates = {
        number_id: background_rates(session, at, [number_id]).get(number_id, 0.0)
        for number_id, at in first.items()
    }
    scans = {s.scan_id for s in sightings if s.scan_id is not None}
    scan_rows = (
        dict(session.exec(select(Scan.id, Scan.rows).where(col(Scan.id).in_(scans))).all())
        if scans
        else {}
    )
    return [
        CanarySighting(
            s.canary_id,
            s.observed_at,
            s.score,
            s.control,
            background_rate=None if (n := numbers[s.id]) is None else rates[n],
            rows=_rows(s, scan_rows),
            channel=Channel(s.source),
        )
        for s in sightings
    ]


def _rows(sighting: Sighting, scan_rows: dict[uuid.UUID, int]) -> int | None:
    """The rows of what the match was found in: a scanned dump's, a reported file's or a
    listing's sample file's; one for a message, a call or an order; unknown otherwise (a
    listing's text)."""
    if sighting.scan_id is not None:
        return scan_rows.get(sighting.scan_id) or None
    rows = str(sighting.location.get("rows", ""))
    if rows.isdigit() and int(rows) > 0:
        return int(rows)
    if sighting.source in (SightingSource.SMS, SightingSource.CALL, SightingSource.ORDER):
        return 1
    return None


def _number_called(sighting: Sighting) -> uuid.UUID | None:
    """The pool number a sighting without a score reached (app.telephony.contacts)."""
    number = sighting.location.get("number_id") if sighting.score is None else None
    return uuid.UUID(str(number)) if number else None


# The links as a process last read them, by database: every sighting stored groups by the
# tree (app.incidents.service) and every refresh weighs over it, and reading 20,000 links
# takes most of a second, in the write transaction that groups. Every change to a link or
# its readers (created, changed, deleted, imported) is chained in the evidence log in the
# same transaction (app.evidence.log.log_links), so the newest link entry, its sequence
# number and hash, says which links a session sees; with it, as a link written around the
# service would not be chained (a repair in SQL), how many links and readers there are and
# their newest change (one statement, read from indexes: 0.5 ms at 20,000 links on SQLite,
# 2 ms on PostgreSQL, whose count reads the whole index). The links are read again when it
# moves.


@dataclass(frozen=True)
class _Held:
    stamp: tuple[object, ...]
    tree: ExposureTree  # the links alone


_held: dict[str, _Held] = {}
_held_lock = threading.Lock()


def links_tree(session: Session) -> ExposureTree:
    """The tree of the links alone, as this session sees them: each link with its records
    a day and its readers besides its parent (a vendor reads its clients'), and their
    exposure sets (what grouping needs); shared while the links do not change."""
    return _links(session).tree


def _stamp() -> sa.Select[tuple[Any, ...]]:
    """One statement: the newest link entry's sequence number and hash, and the count and
    newest change of links and of readers (each newest change read from its index)."""
    newest = (
        sa.select(col(EvidenceEntry.seq), col(EvidenceEntry.hash))
        .where(col(EvidenceEntry.kind) == EntryKind.LINK.value)
        .order_by(col(EvidenceEntry.seq).desc())
        .limit(1)
        .subquery()
    )
    return sa.select(
        sa.select(newest.c.seq).scalar_subquery(),
        sa.select(newest.c.hash).scalar_subquery(),
        sa.select(sa.func.count()).select_from(Link).scalar_subquery(),
        sa.select(sa.func.max(col(Link.updated_at))).scalar_subquery(),
        sa.select(sa.func.count()).select_from(LinkReader).scalar_subquery(),
        sa.select(sa.func.max(col(LinkReader.added_at))).scalar_subquery(),
    )


def _links(session: Session) -> _Held:
    key = session.connection().engine.url.render_as_string(hide_password=True)
    stamp = tuple(session.execute(_stamp()).one())
    with _held_lock:
        held = _held.get(key)
    if held is not None and held.stamp == stamp:
        return held
    held = _Held(stamp, ExposureTree(_read_link_nodes(session)))
    with _held_lock:
        _held[key] = held
    return held


def _read_link_nodes(session: Session) -> list[LinkNode]:
    columns = (Link.id, Link.parent_id, Link.kind, Link.name, Link.records_per_day)
    stored: Sequence[_LinkRow] = session.execute(select(*(col(c) for c in columns))).all()
    volumes = records_per_day(stored)
    readers: dict[uuid.UUID, list[uuid.UUID]] = {}
    for client, reader in session.exec(select(LinkReader.link_id, LinkReader.reader_id)):
        readers.setdefault(client, []).append(reader)
    return [
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


def exposure_tree(session: Session, sightings: Sequence[Sighting]) -> ExposureTree:
    """The link tree, the surfaced canaries' plants, and the other plants that can matter
    (attribution.tree.plant_range) counted per link and plant time (a batch planted at once
    is one row), with how many of them carry a full pool number: calls and messages reach
    only those."""
    links = links_tree(session)
    canary_ids = {s.canary_id for s in sightings}
    if not canary_ids:
        return links
    phone = col(Plant.by_phone)
    own = session.exec(
        select(col(Plant.canary_id), col(Plant.link_id), col(Plant.planted_at), phone).where(
            col(Plant.canary_id).in_(canary_ids)
        )
    ).all()
    since, until = plant_range([row[2] for row in own], [s.observed_at for s in sightings])
    link_id, planted_at = col(Plant.link_id), col(Plant.planted_at)
    # The plants' own index answers this (app.models.canaries.Plant): no canary row is read.
    batches = session.exec(
        select(link_id, planted_at, func.count(), func.sum(case((phone, 1), else_=0)))
        .where(
            planted_at >= since,
            planted_at <= until,
            col(Plant.canary_id).not_in(canary_ids),
        )
        .group_by(link_id, planted_at)
    ).all()
    return links.planted(
        [Exposure(canary, link, at, bool(by_phone)) for canary, link, at, by_phone in own],
        [PlantCount(link, at, count, int(by_phone or 0)) for link, at, count, by_phone in batches],
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
