"""The rows attribution reads, checked against the evidence log that chains them.

The chain alone shows that none of its entries changed; it says nothing of the tables beside
it, where moving a plant to another link moves the blame for a leak. So every row
attribution reads is chained as it is written: plants, sightings, which incident each
sighting is in, the links with their readers, and the audit log of who did what.
`verify_evidence` checks the chain, then each table against it: a row must equal its entry
field for field (a link or a membership, which change, its latest entry), no entry's row may
be gone, and no row may be there without an entry. A plant, a sighting and an audit row
never change, so a second entry for one is refused as well.

Both sides are read as streams sorted alike and walked together (a merge join), so memory
stays constant at any size: a table's rows by key, and its kind's entries by subject, then
seq. Keys are strings compared bytewise on both sides: a UUID column sorts as its hex digits
do (PostgreSQL compares its bytes, SQLite keeps the 32 digits), subjects sort in the "C"
collation on PostgreSQL, an audit id sorts as text. A sort that disagreed could only report
rows that are fine, never pass one that is not: unmatched rows and entries are problems.
"""

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import SQLColumnExpression, String, cast, select
from sqlalchemy.sql import Executable
from sqlmodel import Session, col

from app.evidence.facts import (
    AUDIT_FIELDS,
    LINK_FIELDS,
    MEMBERSHIP_FIELDS,
    PLANT_FIELDS,
    SIGHTING_FIELDS,
    LinkChange,
    link_data,
)
from app.evidence.log import PAGE, Anchor, VerifyResult, canonical_value, verify_chain
from app.evidence.store import EvidenceStore
from app.models.audit import AuditEntry
from app.models.canaries import Plant
from app.models.evidence import EntryKind, EvidenceEntry
from app.models.incidents import IncidentSighting
from app.models.links import Link, LinkReader
from app.models.sightings import Sighting

Values = dict[str, Any]
Rows = Iterator[tuple[str, Values]]


def _bytewise(session: Session, expression: SQLColumnExpression[str]) -> SQLColumnExpression[str]:
    if session.get_bind().dialect.name == "postgresql":
        return expression.collate("C")
    return expression  # SQLite's default collation (BINARY) is bytewise


def _stream(session: Session, query: Executable) -> Iterator[Any]:
    """The query's rows a page at a time (a server-side cursor on PostgreSQL)."""
    return iter(session.execute(query, execution_options={"yield_per": PAGE}).mappings())


def _columns(model: Any, fields: Sequence[str]) -> list[Any]:
    return [col(getattr(model, f)) for f in fields]


def _plants(session: Session) -> Rows:
    query = select(*_columns(Plant, PLANT_FIELDS)).order_by(col(Plant.canary_id))
    for row in _stream(session, query):
        yield str(row["canary_id"]), dict(row)


def _sightings(session: Session) -> Rows:
    query = select(*_columns(Sighting, SIGHTING_FIELDS)).order_by(col(Sighting.id))
    for row in _stream(session, query):
        yield str(row["id"]), dict(row)


def _memberships(session: Session) -> Rows:
    query = select(*_columns(IncidentSighting, MEMBERSHIP_FIELDS)).order_by(
        col(IncidentSighting.sighting_id)
    )
    for row in _stream(session, query):
        yield str(row["sighting_id"]), dict(row)


def _links(session: Session) -> Rows:
    query = (
        select(*_columns(Link, LINK_FIELDS[:-1]), col(LinkReader.reader_id))
        .outerjoin(LinkReader, col(LinkReader.link_id) == col(Link.id))
        .order_by(col(Link.id), col(LinkReader.reader_id))
    )
    for link_id, group in groupby(_stream(session, query), key=lambda row: row["id"]):
        rows = list(group)  # one per reader: a handful
        readers = [row["reader_id"] for row in rows if row["reader_id"] is not None]
        yield str(link_id), link_data(rows[0], readers)


def _audit(session: Session) -> Rows:
    query = select(*_columns(AuditEntry, AUDIT_FIELDS)).order_by(
        _bytewise(session, cast(col(AuditEntry.id), String))
    )
    for row in _stream(session, query):
        yield str(row["id"]), dict(row)


@dataclass(frozen=True)
class Covered:
    """A table the chain covers, and how its rows meet their entries."""

    noun: str  # names a row in a problem, before its key
    kind: EntryKind
    fields: tuple[str, ...]  # compared with the entry's data
    rows: Callable[[Session], Rows]  # (key, values) by key, bytewise
    changes: bool  # rows change (the latest entry holds), else one entry a row


COVERED = (
    Covered("link", EntryKind.LINK, LINK_FIELDS, _links, changes=True),
    Covered("plant of canary", EntryKind.PLANT, PLANT_FIELDS, _plants, changes=False),
    Covered("sighting", EntryKind.SIGHTING, SIGHTING_FIELDS, _sightings, changes=False),
    Covered(
        "incident membership of sighting",
        EntryKind.MEMBERSHIP,
        MEMBERSHIP_FIELDS,
        _memberships,
        changes=True,
    ),
    Covered("audit row", EntryKind.AUDIT, AUDIT_FIELDS, _audit, changes=False),
)


@dataclass(frozen=True)
class Chained:
    """A subject's latest entry of one kind."""

    subject: str
    seq: int
    data: Values
    earlier: int | None  # the entry before it of the same subject, if any


def _chained(session: Session, kind: EntryKind) -> Iterator[Chained]:
    query = (
        select(col(EvidenceEntry.seq), col(EvidenceEntry.subject_id), col(EvidenceEntry.entry))
        .where(col(EvidenceEntry.kind) == kind.value)
        .order_by(_bytewise(session, col(EvidenceEntry.subject_id)), col(EvidenceEntry.seq))
    )
    for subject, group in groupby(_stream(session, query), key=lambda row: row["subject_id"]):
        entries = iter(group)  # one subject's, in chain order: one, or a few for a link
        latest, earlier = next(entries), None
        for later in entries:
            earlier, latest = latest["seq"], later
        yield Chained(subject, latest["seq"], json.loads(latest["entry"])["data"], earlier)


@dataclass(frozen=True)
class Difference:
    """Where a table and the chain disagree; `seq` is the entry, when there is one."""

    covered: Covered
    key: str
    seq: int | None
    what: str
    values: Values | None = None  # the row as it stands, when it is there

    @property
    def problem(self) -> str:
        return f"{self.covered.noun} {self.key}: {self.what}"


def _as_chained(value: Any) -> Any:
    """A column's value as its entry's JSON holds it: UUIDs and times as strings (JSON
    columns come back as JSON already; a StrEnum equals its string)."""
    return canonical_value(value) if isinstance(value, (uuid.UUID, datetime)) else value


def _differing(fields: Sequence[str], values: Values, data: Values) -> list[str]:
    """The fields whose value in the row is not what the entry holds (numbers compare as
    numbers: a score chained as 45 agrees with 45.0)."""
    return [f for f in fields if f not in data or _as_chained(values[f]) != data[f]]


def _compare(covered: Covered, key: str, values: Values, chained: Chained) -> Difference | None:
    seq = chained.seq
    if chained.earlier is not None and not covered.changes:
        return Difference(covered, key, seq, f"chained twice (entries {chained.earlier}, {seq})")
    if chained.data.get("change") == LinkChange.DELETED:
        return Difference(covered, key, seq, f"there, though entry {seq} deleted it", values)
    changed = _differing(covered.fields, values, chained.data)
    if changed:
        what = f"differs from entry {seq} in {', '.join(changed)}"
        return Difference(covered, key, seq, what, values)
    return None


def differences(
    session: Session, covered: Covered, rows: Rows | None = None
) -> Iterator[Difference]:
    """Every disagreement between the table's rows (by default, all of them) and their
    entries, in key order."""
    rows = covered.rows(session) if rows is None else rows
    entries = _chained(session, covered.kind)
    row, chained = next(rows, None), next(entries, None)
    while row is not None or chained is not None:
        if row is not None and (chained is None or row[0] < chained.subject):
            yield Difference(covered, row[0], None, "no entry chains it", row[1])
            row = next(rows, None)
        elif chained is not None and (row is None or chained.subject < row[0]):
            if chained.data.get("change") != LinkChange.DELETED:
                yield Difference(
                    covered, chained.subject, chained.seq, f"gone (entry {chained.seq})"
                )
            chained = next(entries, None)
        elif row is not None and chained is not None:  # the same key on both sides
            found = _compare(covered, row[0], row[1], chained)
            if found is not None:
                yield found
            row, chained = next(rows, None), next(entries, None)


def verify_evidence(
    session: Session, store: EvidenceStore, anchors: Sequence[Anchor] = ()
) -> VerifyResult:
    """The chain (app.evidence.log.verify_chain), then every covered table against it;
    names the first problem. On PostgreSQL, run it in one REPEATABLE READ transaction so
    the chain and the tables are read as of one moment."""
    result = verify_chain(session, store, anchors)
    if not result.ok:
        return result
    checked = 0

    def counted(rows: Rows) -> Rows:
        nonlocal checked
        for row in rows:
            checked += 1
            yield row

    for covered in COVERED:
        first = next(differences(session, covered, counted(covered.rows(session))), None)
        if first is not None:
            return replace(result, broken_seq=first.seq, problem=first.problem, rows=checked)
    return replace(result, rows=checked)
