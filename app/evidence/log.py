"""The append-only, hash-chained evidence log (DESIGN rule 5): tampering shows on verify.

Every entry is one event (a canary minted, planted or seen; a sighting put in an incident; a
link created, changed or deleted; an audit log entry) stored as canonical JSON:

    {"at": CREATED_AT, "data": {...}, "kind": KIND, "seq": SEQ, "subject": SUBJECT_ID}

with keys sorted at every level, no whitespace (separators "," and ":"), non-ASCII text
as UTF-8 (not escaped), UUIDs as lowercase hyphenated strings and datetimes in UTC as
`YYYY-MM-DDTHH:MM:SS.ffffffZ`. The `entry` column holds exactly these characters, so a
third party never needs to re-serialise anything. An entry's hash is

    hash = sha256(prev_hash || entry || blob_sha256)

over the bytes: `prev_hash` as its 64 lowercase hex characters in ASCII, `entry` in UTF-8,
and `blob_sha256` as 64 lowercase hex characters in ASCII, or no bytes at all when the
entry has no blob; `hash` is written as 64 lowercase hex characters. The first entry
(seq 1) has a prev_hash of 64 zeros ("0" * 64). In Python:
`hashlib.sha256((prev_hash + entry + (blob_sha256 or "")).encode()).hexdigest()`.

Appends are serialised so the chain cannot fork: on PostgreSQL by a transaction-level
advisory lock taken before the head is read (held until the appending transaction ends,
at the default READ COMMITTED isolation), on SQLite by the write lock every unit of work
already holds (`app.db`); the primary key on `seq` refuses a second successor of one head
even if a lock were missed. The lock is held until the appending transaction ends, so a
unit of work that also takes another lock (incidents' grouping lock) takes this one first.
The chain proves order and integrity from its first entry on; removing entries from its end
is caught only by comparing with a published daily anchor. The tables beside it are checked
against it by app.evidence.rows.
"""

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, insert, select, text
from sqlmodel import Session, col

from app.db import utcnow
from app.evidence.facts import (
    AUDIT_FIELDS,
    SIGHTING_FIELDS,
    Grouping,
    LinkChange,
    link_data,
    membership_data,
)
from app.evidence.store import EvidenceStore
from app.models.audit import AuditEntry
from app.models.evidence import EntryKind, EvidenceEntry
from app.models.links import Link, LinkReader
from app.models.sightings import Sighting

GENESIS = "0" * 64
# pg_advisory_xact_lock's key for "the evidence log head" ("htev" in ASCII).
LOCK_KEY = 0x68746576
PAGE = 1000
# Ids per IN list: within the bound-parameter limits of SQLite and PostgreSQL.
IDS_PER_QUERY = 5000
BLOB_CHUNK = 1 << 20

# What a minted canary's entry keeps: the record as a buyer would hold it, its link and
# time. Not the hidden mobile middle or pool number: entries go to third parties.
MINT_FIELDS = (
    "id", "link_id", "control", "courier", "waybill_no", "name", "mobile", "mobile_form",
    "province", "city", "district", "district_code", "address", "item", "weight_kg",
    "record_created_at", "minted_at", "minted_by",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Event:
    kind: EntryKind
    subject_id: str
    data: Mapping[str, Any]
    blob_sha256: str | None = None


def canonical_value(value: object) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in an evidence entry")
        # isoformat is strftime("%Y-%m-%dT%H:%M:%S.%f") for four-digit years, and faster.
        return value.astimezone(UTC).replace(tzinfo=None).isoformat("T", "microseconds") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no canonical JSON form")


# One encoder for every entry: json.dumps with options builds a new one per call.
_CANONICAL = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    default=canonical_value,
)


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


def entry_hash(prev_hash: str, entry: str, blob_sha256: str | None) -> str:
    return hashlib.sha256((prev_hash + entry + (blob_sha256 or "")).encode()).hexdigest()


def lock_log(session: Session) -> None:
    """Hold the log's head until the transaction ends (see the module: PostgreSQL only)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def append_events(session: Session, events: Iterable[Event]) -> int:
    """Append the events in order, in one bulk insert; the number appended."""
    pending = list(events)
    if not pending:
        return 0
    lock_log(session)
    connection = session.connection()
    head = connection.execute(
        select(col(EvidenceEntry.seq), col(EvidenceEntry.hash), col(EvidenceEntry.created_at))
        .order_by(col(EvidenceEntry.seq).desc())
        .limit(1)
    ).first()
    seq, prev, at = (0, GENESIS, utcnow()) if head is None else head
    # Never earlier than the head, even if the clock steps back: days stay in chain order.
    at = max(at, utcnow())
    stamp = canonical_value(at)
    rows: list[dict[str, Any]] = []
    for event in pending:
        seq += 1
        entry = canonical_json(
            {
                "seq": seq,
                "kind": event.kind.value,
                "subject": event.subject_id,
                "at": stamp,
                "data": event.data,
            }
        )
        digest = entry_hash(prev, entry, event.blob_sha256)
        rows.append(
            {
                "seq": seq,
                "kind": event.kind.value,
                "subject_id": event.subject_id,
                "created_at": at,
                "entry": entry,
                "blob_sha256": event.blob_sha256,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    connection.execute(insert(EvidenceEntry), rows)
    return len(rows)


def log_minted(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """One entry per canary just stored (rows as inserted): it existed, with this record."""
    return append_events(
        session,
        (Event(EntryKind.MINT, str(row["id"]), {f: row[f] for f in MINT_FIELDS}) for row in rows),
    )


def log_planted(
    session: Session,
    canary_ids: Sequence[uuid.UUID],
    link_id: uuid.UUID,
    planted_at: datetime,
    channel: str,
    actor: str,
) -> int:
    """One entry per canary that entered the link's feed at `planted_at`."""
    return append_events(
        session,
        (
            Event(
                EntryKind.PLANT,
                str(canary_id),
                {
                    "canary_id": canary_id,
                    "link_id": link_id,
                    "planted_at": planted_at,
                    "channel": channel,
                    "actor": actor,
                },
            )
            for canary_id in canary_ids
        ),
    )


def log_sightings(session: Session, sightings: Sequence[tuple[Sighting, str | None]]) -> int:
    """One entry per sighting stored, with the evidence blob it keeps chained too (None
    when none is kept: a leaked file's sha256 stays in the entry as a fact, rule 5)."""
    return append_events(
        session,
        (
            Event(EntryKind.SIGHTING, str(s.id), {f: getattr(s, f) for f in SIGHTING_FIELDS}, blob)
            for s, blob in sightings
        ),
    )


def log_memberships(
    session: Session,
    moves: Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]],
    grouping: Grouping,
) -> int:
    """One entry per sighting that joined an incident: (sighting, incident, the incident
    it left, if any). Attribution reads an incident's sightings by these rows."""
    return append_events(
        session,
        (
            Event(EntryKind.MEMBERSHIP, str(sighting), membership_data(sighting, to, grouping, was))
            for sighting, to, was in moves
        ),
    )


def link_states(session: Session, link_ids: Sequence[uuid.UUID]) -> Iterator[dict[str, Any]]:
    """The links as now stored (flushed) with their readers, in the order given."""
    for start in range(0, len(link_ids), IDS_PER_QUERY):
        part = link_ids[start : start + IDS_PER_QUERY]
        rows = session.execute(
            select(
                col(Link.id),
                col(Link.name),
                col(Link.kind),
                col(Link.parent_id),
                col(Link.records_per_day),
            ).where(col(Link.id).in_(part))
        )
        stored = {row.id: dict(row._mapping) for row in rows}
        readers: dict[uuid.UUID, list[uuid.UUID]] = {}
        for link_id, reader_id in session.execute(
            select(col(LinkReader.link_id), col(LinkReader.reader_id)).where(
                col(LinkReader.link_id).in_(part)
            )
        ):
            readers.setdefault(link_id, []).append(reader_id)
        for link_id in part:
            if link_id in stored:
                yield link_data(stored[link_id], readers.get(link_id, ()))


def log_links(session: Session, link_ids: Sequence[uuid.UUID], change: LinkChange) -> int:
    """One entry per link with its state as now stored: after it was created or changed
    and flushed, or just before it is deleted (the entry then holds its last state)."""
    return append_events(
        session,
        (
            Event(EntryKind.LINK, str(state["id"]), {**state, "change": change.value})
            for state in link_states(session, link_ids)
        ),
    )


def log_audit(session: Session, entry: AuditEntry) -> int:
    """The audit entry just stored (flushed, so it has its id), chained as written."""
    return append_events(
        session,
        [Event(EntryKind.AUDIT, str(entry.id), {f: getattr(entry, f) for f in AUDIT_FIELDS})],
    )


class Anchor(BaseModel):
    """An entry's hash as published on its day: the chain up to it cannot be rewritten."""

    day: date
    seq: int = Field(ge=1)
    hash: str = Field(pattern="^[0-9a-f]{64}$")


@dataclass(frozen=True)
class VerifyResult:
    entries: int
    blobs: int
    anchors: int
    head: Anchor | None
    broken_seq: int | None = None  # the entry that failed, if any did
    problem: str | None = None
    rows: int = 0  # table rows checked against the chain (app.evidence.rows)

    @property
    def ok(self) -> bool:
        return self.problem is None


ENTRY_COLUMNS = [
    col(EvidenceEntry.seq),
    col(EvidenceEntry.kind),
    col(EvidenceEntry.subject_id),
    col(EvidenceEntry.created_at),
    col(EvidenceEntry.entry),
    col(EvidenceEntry.blob_sha256),
    col(EvidenceEntry.prev_hash),
    col(EvidenceEntry.hash),
]


def _entries(session: Session) -> Iterator[Any]:
    """Every entry in chain order, a page at a time (constant memory, no ORM objects)."""
    last = 0
    while True:
        page = session.execute(
            select(*ENTRY_COLUMNS)
            .where(col(EvidenceEntry.seq) > last)
            .order_by(col(EvidenceEntry.seq))
            .limit(PAGE)
        ).all()
        yield from page
        if len(page) < PAGE:
            return
        last = page[-1].seq


def _file_sha256(store: EvidenceStore, sha256: str) -> str | None:
    try:
        with store.path(sha256).open("rb") as blob:
            return hashlib.file_digest(blob, "sha256").hexdigest()
    except (FileNotFoundError, ValueError):
        return None


def _entry_problem(row: Any, prev: str) -> str | None:
    if row.prev_hash != prev:
        return "its prev_hash is not the hash of the entry before it"
    if entry_hash(prev, row.entry, row.blob_sha256) != row.hash:
        return "its hash does not match its content"
    try:
        sealed = json.loads(row.entry)
    except ValueError:
        return "its entry is not JSON"
    shown = (row.seq, row.kind, row.subject_id, canonical_value(row.created_at))
    if (sealed.get("seq"), sealed.get("kind"), sealed.get("subject"), sealed.get("at")) != shown:
        return "its columns disagree with its hashed entry"
    return None


def verify_chain(
    session: Session, store: EvidenceStore, anchors: Sequence[Anchor] = ()
) -> VerifyResult:
    """Recompute every hash in order, check kept blobs against their sha256 and the given
    anchors; name the first entry that fails."""
    pinned = {a.seq: a for a in anchors}
    # A page snapshot behind many sightings is chained once per sighting: hash it once.
    blob_sha256 = lru_cache(maxsize=4096)(lambda digest: _file_sha256(store, digest))
    entries = blobs = checked = 0
    prev, head = GENESIS, None

    def broken(seq: int, problem: str) -> VerifyResult:
        return VerifyResult(entries, blobs, checked, head, seq, f"entry {seq}: {problem}")

    for row in _entries(session):
        expected = entries + 1
        if row.seq != expected:
            return broken(expected, f"missing (the chain goes on at entry {row.seq})")
        problem = _entry_problem(row, prev)
        if problem is not None:
            return broken(row.seq, problem)
        if row.blob_sha256 is not None:
            found = blob_sha256(row.blob_sha256)
            if found is None:
                return broken(row.seq, f"its evidence blob {row.blob_sha256} is missing")
            if found != row.blob_sha256:
                return broken(row.seq, f"its evidence blob {row.blob_sha256} was altered")
            blobs += 1
        day = row.created_at.astimezone(UTC).date()
        anchor = pinned.get(row.seq)
        if anchor is not None:
            if (anchor.hash, anchor.day) != (row.hash, day):
                return broken(
                    row.seq,
                    f"differs from the anchor of {anchor.day}: it or an entry before it "
                    "was rewritten",
                )
            checked += 1
        entries, prev = row.seq, row.hash
        head = Anchor(day=day, seq=row.seq, hash=row.hash)
    beyond = sorted(seq for seq in pinned if seq > entries)
    if beyond:
        anchor = pinned[beyond[0]]
        return broken(
            anchor.seq,
            f"anchored for {anchor.day} but gone: the chain now ends at entry {entries}",
        )
    return VerifyResult(entries, blobs, checked, head)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def daily_anchors(session: Session, since: date | None = None) -> list[Anchor]:
    """Per UTC day with entries (from `since` on), the hash of that day's last entry; the
    current day's is the newest entry so far. Two indexed queries per day."""
    created = col(EvidenceEntry.created_at)
    start = _midnight(since) if since is not None else None
    anchors: list[Anchor] = []
    while True:
        first = select(func.min(created))
        if start is not None:
            first = first.where(created >= start)
        earliest = session.execute(first).scalar_one()
        if earliest is None:
            return anchors
        day = earliest.astimezone(UTC).date()
        start = _midnight(day + timedelta(days=1))
        last = session.execute(
            select(func.max(EvidenceEntry.seq)).where(created >= _midnight(day), created < start)
        ).scalar_one()
        entry = session.get(EvidenceEntry, last)
        if entry is not None:
            anchors.append(Anchor(day=day, seq=entry.seq, hash=entry.hash))
