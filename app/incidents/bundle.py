"""An incident's evidence bundle: one ZIP an investigator hands to the police or a host.

    report.html, report.json   the incident, its candidates and explanation, its sightings,
                               the links named, the exported entries and blobs checked, and
                               the evidence log's head at export
    records.json               the mint and plant records of the canaries that surfaced
    chain.json                 the evidence-log entries of their mint, plant and sighting
                               events, each with prev_hash and hash, and how to recompute them
    evidence/<sha256>          every kept evidence blob behind a sighting (a leaked dump is
                               never kept, rule 5: its sha256 stands in the entries instead)
    manifest.json              the sha256 and size of every other file in the ZIP

The ZIP is written to a file as it is made, blobs copied through in chunks, so memory stays
bounded whatever the blobs weigh.
"""

import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar
from zipfile import ZIP_DEFLATED, ZipFile
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context as JinjaContext
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.db import utcnow
from app.evidence.log import GENESIS, MINT_FIELDS, entry_hash
from app.evidence.store import EvidenceStore
from app.incidents.grouping import incident_sightings
from app.incidents.schemas import IncidentRead
from app.incidents.titles import titles
from app.localtime import shown
from app.models.canaries import Canary, Plant
from app.models.evidence import EvidenceEntry
from app.models.incidents import Incident
from app.models.links import Link
from app.models.sightings import Sighting, SightingSource

T = TypeVar("T")
CHUNK = 1 << 20
# Enough ids per IN (...) for any database's parameter limit.
IDS_PER_QUERY = 500

HOW_TO_VERIFY = {
    "manifest": (
        "Every file in this ZIP except manifest.json is listed with its sha256 (lowercase hex "
        "of the file's bytes) and size; recompute them."
    ),
    "entries": (
        "Each entry's hash is sha256 over the ASCII bytes of prev_hash (64 hex characters), "
        "then the UTF-8 bytes of `entry` exactly as given, then the ASCII bytes of blob_sha256 "
        "(64 hex characters) or nothing when it is null: in Python, "
        "hashlib.sha256((prev_hash + entry + (blob_sha256 or '')).encode()).hexdigest(). "
        f"The first entry of the log (seq 1) has prev_hash {GENESIS}."
    ),
    "chain": (
        "An entry's hash seals its content and the hash of the entry before it (seq - 1), so "
        "entries cannot be changed, reordered or back-dated without changing every hash after "
        "them. report.json gives the log's head at export (seq, hash, UTC day): the daily "
        "anchors published or sent to a third party (`honeytrace evidence anchors`) show the "
        "log as it stood, and `honeytrace evidence verify --anchors` checks the whole log "
        "against them."
    ),
    "blobs": (
        "evidence/<sha256> is a blob chained by the sighting entries whose blob_sha256 it is; "
        "its sha256 is its name."
    ),
}

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@pass_context
def _when(context: JinjaContext, moment: datetime | None) -> str:
    if moment is None:
        return "—"
    zone: ZoneInfo = context["zone"]
    return shown(moment, zone, seconds=True)


_templates.filters["when"] = _when


@dataclass(frozen=True)
class SightingLine:
    """A sighting as report.html lists it: the waybill number, where it was seen (a listing's
    URL, a file's name) and the excerpt, all escaped by the template."""

    observed_at: datetime
    source: str
    waybill_no: str
    control: bool
    score: float | None
    where: str
    excerpt: str
    evidence_sha256: str | None


def _waybills(session: Session, canary_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    found: dict[uuid.UUID, str] = {}
    for part in _chunks(canary_ids):
        found |= dict(
            session.exec(select(Canary.id, Canary.waybill_no).where(col(Canary.id).in_(part))).all()
        )
    return found


def _lines(session: Session, sightings: list[Sighting]) -> list[SightingLine]:
    waybills = _waybills(session, sorted({s.canary_id for s in sightings}, key=str))
    return [
        SightingLine(
            observed_at=s.observed_at,
            source=str(s.source),
            waybill_no=waybills.get(s.canary_id, ""),
            control=s.control,
            score=s.score,
            where=str(
                s.location.get("url") or s.location.get("file") or s.location.get("source_id", "")
            ),
            excerpt=s.excerpt,
            evidence_sha256=s.evidence_sha256,
        )
        for s in sorted(sightings, key=lambda s: (s.observed_at, str(s.id)))
    ]


@dataclass(frozen=True)
class ManifestFile:
    path: str
    sha256: str
    bytes: int


def _plain(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=_plain).encode()


def _chunks(ids: list[T]) -> Iterable[list[T]]:
    for start in range(0, len(ids), IDS_PER_QUERY):
        yield ids[start : start + IDS_PER_QUERY]


def chain_entries(session: Session, subjects: Iterable[str]) -> list[dict[str, Any]]:
    """The log entries about these subjects (canary ids: mint and plant; sighting ids), in
    chain order, as stored."""
    rows: list[EvidenceEntry] = []
    for part in _chunks(sorted(set(subjects))):
        query = select(EvidenceEntry).where(col(EvidenceEntry.subject_id).in_(part))
        rows += session.exec(query).all()
    return [
        {
            "seq": e.seq,
            "kind": e.kind,
            "subject": e.subject_id,
            "created_at": e.created_at.isoformat(),
            "entry": e.entry,
            "blob_sha256": e.blob_sha256,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }
        for e in sorted(rows, key=lambda e: e.seq)
    ]


def _records(session: Session, canary_ids: list[uuid.UUID]) -> dict[str, Any]:
    canaries: list[Canary] = []
    plants: list[Plant] = []
    for part in _chunks(canary_ids):
        canaries += session.exec(select(Canary).where(col(Canary.id).in_(part))).all()
        plants += session.exec(select(Plant).where(col(Plant.canary_id).in_(part))).all()
    canaries.sort(key=lambda c: (c.minted_at, str(c.id)))
    return {
        "canaries": [{f: getattr(c, f) for f in MINT_FIELDS} for c in canaries],
        "plants": [
            {
                "canary_id": p.canary_id,
                "link_id": p.link_id,
                "planted_at": p.planted_at,
                "channel": p.channel,
                "actor": p.actor,
            }
            for p in sorted(plants, key=lambda p: p.planted_at)
        ],
    }


class _Writer:
    """Adds files to the ZIP, hashing each as it goes in."""

    def __init__(self, archive: ZipFile) -> None:
        self.archive = archive
        self.files: list[ManifestFile] = []

    def add(self, path: str, content: bytes) -> None:
        self.archive.writestr(path, content)
        self.files.append(ManifestFile(path, hashlib.sha256(content).hexdigest(), len(content)))

    def copy(self, path: str, source: IO[bytes]) -> None:
        digest = hashlib.sha256()
        size = 0
        with self.archive.open(path, "w", force_zip64=True) as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        self.files.append(ManifestFile(path, digest.hexdigest(), size))


def _log_head(session: Session) -> dict[str, Any] | None:
    head = session.exec(
        select(EvidenceEntry).order_by(col(EvidenceEntry.seq).desc()).limit(1)
    ).first()
    if head is None:
        return None
    return {"seq": head.seq, "hash": head.hash, "day": head.created_at.date().isoformat()}


def write_bundle(
    session: Session,
    store: EvidenceStore,
    actor: Actor,
    incident: Incident,
    out: IO[bytes],
    zone: ZoneInfo,
) -> list[ManifestFile]:
    """Write the incident's bundle as a ZIP to `out`; the files it lists in its manifest.
    Only the incident's own entries and blobs are checked (the whole log is for
    `honeytrace evidence verify`: it takes seconds per hundred thousand entries). The JSON
    files keep UTC; report.html shows times in `zone`, with their offset."""
    sightings = incident_sightings(session, incident.id)
    canary_ids = sorted({s.canary_id for s in sightings}, key=str)
    report = IncidentRead.build(session, actor, incident)
    named = {c.link_id for c in report.candidates} | {s.link_id for s in sightings}
    links = session.exec(select(Link).where(col(Link.id).in_(named))).all() if named else []
    generated_at = utcnow()
    kept = sorted(
        {
            s.evidence_sha256
            for s in sightings
            if s.evidence_sha256 and s.source != SightingSource.DUMP
        }
    )
    blobs = [digest for digest in kept if store.path(digest).is_file()]
    entries = chain_entries(session, [str(i) for i in [*canary_ids, *(s.id for s in sightings)]])
    with ZipFile(out, "w", ZIP_DEFLATED) as archive:
        writer = _Writer(archive)
        writer.add("records.json", _json(_records(session, canary_ids)))
        writer.add("chain.json", _json({"how_to_verify": HOW_TO_VERIFY, "entries": entries}))
        for digest in blobs:
            with store.path(digest).open("rb") as blob:
                writer.copy(f"evidence/{digest}", blob)
        copied = {f.path: f.sha256 for f in writer.files}
        document = {
            "incident": report.model_dump(mode="json"),
            "links": {
                str(link.id): {"name": link.name, "kind": link.kind, "parent_id": link.parent_id}
                for link in links
            },
            "evidence_check": {
                "entries": len(entries),
                "entries_broken": [
                    e["seq"]
                    for e in entries
                    if entry_hash(e["prev_hash"], e["entry"], e["blob_sha256"]) != e["hash"]
                ],
                "blobs": len(blobs),
                "blobs_altered": [d for d in blobs if copied[f"evidence/{d}"] != d],
                "blobs_missing": [d for d in kept if d not in blobs],
                "log_head": _log_head(session),
            },
            "generated_at": generated_at,
            "generated_by": actor.name,
        }
        writer.add("report.json", _json(document))
        html = _templates.get_template("report.html").render(
            incident=report,
            document=document,
            zone=zone,
            title=titles(session, [incident])[incident.id],
            lines=_lines(session, sightings),
        )
        writer.add("report.html", html.encode())
        manifest = {
            "incident_id": str(incident.id),
            "generated_at": generated_at,
            "algorithm": "sha256",
            "how_to_verify": HOW_TO_VERIFY["manifest"],
            "files": [f.__dict__ for f in writer.files],
        }
        archive.writestr("manifest.json", _json(manifest))
    return writer.files


def bundle_file(
    session: Session, store: EvidenceStore, actor: Actor, incident: Incident, zone: ZoneInfo
) -> tuple[Path, list[ManifestFile]]:
    """The bundle written to a temporary file (bounded memory), which the caller removes
    once it is sent; the API and the investigator pages both serve it."""
    handle, name = tempfile.mkstemp(prefix="honeytrace-bundle-", suffix=".zip")
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            files = write_bundle(session, store, actor, incident, out, zone)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, files
