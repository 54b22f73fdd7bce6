"""Scans of leaked files and the sightings they make: one code path for the CLI and the API.

A scan reads the file once (canaries/ and watchers/ do the work), keeps the file's hash,
size and counts and the matched rows, and never the file: the API's spooled copy is
deleted when the scan ends, whatever way it ends.
"""

import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from app.alerts.service import alert_control_sightings
from app.audit.service import record_audit
from app.auth.actor import Actor
from app.db import session_scope, utcnow
from app.evidence.log import log_sightings
from app.incidents.refresh import RefreshLater, refresh_later
from app.incidents.service import assign_sightings
from app.models.canaries import Canary, CanaryStatus
from app.models.sightings import Scan, ScanStatus, Sighting, SightingSource
from app.planting.service import burn_canary
from app.problems import NotFoundError
from app.sightings.index import IndexHolder
from app.sightings.schemas import ScanMatch
from canaries.matching import Matcher, RowMatch
from watchers.dumps import DumpLimits
from watchers.scan import ScanProgress, ScanResult, scan_stream

log = logging.getLogger("honeytrace.scans")
EXCERPT_CHARS = 2000
PROGRESS_EVERY_SECONDS = 1.0
INTERRUPTED = "interrupted: the service stopped before the scan finished; upload the file again"
# A running scan reports progress about once a second; one silent this long died with its
# process (a restart, a crash), whichever replica looks.
STALE_AFTER = timedelta(minutes=10)


class ScanInterruptedError(Exception):
    """The service is shutting down: the scan ends as interrupted."""


def match_views(session: Session, matches: list[RowMatch]) -> list[ScanMatch]:
    """Each matched row as the CLI's --json and the API show it."""
    ids = {uuid.UUID(bytes=m.match.canary.id) for m in matches}
    links = (
        dict(session.exec(select(Canary.id, Canary.link_id).where(col(Canary.id).in_(ids))).all())
        if ids
        else {}
    )
    return [
        ScanMatch(
            canary_id=(canary_id := uuid.UUID(bytes=m.match.canary.id)),
            link_id=links.get(canary_id),
            control=m.match.canary.control,
            member=m.member,
            row=m.row,
            score=round(m.match.score, 2),
            fields=m.match.explanation(),
        )
        for m in matches
    ]


def _dedup_key(file_sha256: str, view: ScanMatch) -> str:
    text = f"{SightingSource.DUMP}|{file_sha256}|{view.member}|{view.row}|{view.canary_id}"
    return hashlib.sha256(text.encode()).hexdigest()


def record_sightings(
    session: Session,
    actor: Actor,
    scan: Scan,
    result: ScanResult,
) -> list[Sighting]:
    """Finish the scan with its result, store each match as a sighting (once: a repeated
    scan of the same file adds none) and burn the planted canaries that surfaced, so their
    links get fresh ones."""
    views = match_views(session, result.matches)
    finish_scan(scan, result, views)
    pending = [
        Sighting(
            canary_id=view.canary_id,
            link_id=view.link_id,
            control=view.control,
            source=SightingSource.DUMP,
            dedup_key=_dedup_key(result.sha256, view),
            scan_id=scan.id,
            score=view.score,
            fields=view.fields,
            evidence_sha256=result.sha256,
            location={"file": result.name, "member": view.member, "row": view.row},
            excerpt=match.line[:EXCERPT_CHARS],
        )
        for view, match in zip(views, result.matches, strict=True)
        if view.link_id is not None
    ]
    return add_sightings(session, actor, pending, f"seen in dump {result.sha256[:16]}")


def add_sightings(
    session: Session, actor: Actor, pending: list[Sighting], reason: str
) -> list[Sighting]:
    """Store the sightings not stored before (by dedup key: a retried, repeated or
    concurrent delivery of one observation adds each once) and burn the planted canaries
    that surfaced by a match, so their links get fresh ones. Returns the ones added."""
    keys = [s.dedup_key for s in pending]
    existing = (
        set(session.exec(select(Sighting.dedup_key).where(col(Sighting.dedup_key).in_(keys))).all())
        if keys
        else set()
    )
    added: list[Sighting] = []
    for sighting in pending:
        if sighting.dedup_key in existing:
            continue
        existing.add(sighting.dedup_key)
        try:
            with session.begin_nested():
                session.add(sighting)
        except IntegrityError:
            continue  # the same observation recorded concurrently: it is there once
        added.append(sighting)
    log_sightings(session, added)
    alert_control_sightings(session, added)
    assign_sightings(session, added)
    # A sighting without a score (a call that said nothing) burns nothing: it may be noise.
    for canary_id in {s.canary_id for s in added if not s.control and s.score is not None}:
        canary = session.get(Canary, canary_id)
        if canary is not None and canary.status == CanaryStatus.PLANTED:
            burn_canary(session, Actor.matcher(), canary_id, f"{reason} (by {actor.name})")
    session.flush()
    return added


def close_scan(session: Session, actor: Actor, scan: Scan, result: ScanResult) -> list[Sighting]:
    """Record the scan's result and sightings, and audit it (the API's job and the CLI)."""
    added = record_sightings(session, actor, scan, result)
    detail = {
        "sha256": scan.sha256,
        "rows": scan.rows,
        "matches": scan.matches,
        "sightings": len(added),
        "status": scan.status.value,
    }
    record_audit(session, actor, "scan.finish", "scan", scan.id, detail)
    return added


def finish_scan(scan: Scan, result: ScanResult, views: list[ScanMatch]) -> None:
    report = result.report
    scan.results = [view.model_dump(mode="json") for view in views]
    scan.sha256 = result.sha256
    scan.size = result.size
    scan.bytes_read = result.size
    scan.rows = report.rows
    scan.matches = len(result.matches)
    scan.skipped = dict(report.skipped)
    scan.encodings = dict(report.encodings)
    scan.members = len(report.members)
    scan.error = None if result.error is None else result.error[:500]
    scan.status = ScanStatus.DONE if result.complete else ScanStatus.FAILED
    scan.finished_at = scan.updated_at = utcnow()


def scan_file(
    path: Path,
    name: str,
    holder: IndexHolder,
    engine: Engine,
    limits: DumpLimits | None = None,
    on_progress: Callable[[ScanProgress], None] | None = None,
) -> ScanResult:
    """Refresh the index, then scan with no transaction open (SQLite has one writer)."""
    with session_scope(engine) as session:
        holder.refresh(session)
    with path.open("rb") as stream:
        return scan_stream(stream, name, Matcher(holder.index), limits, on_progress)


def create_scan(session: Session, actor: Actor, file_name: str) -> Scan:
    scan = Scan(file_name=file_name[:255], status=ScanStatus.QUEUED, actor=actor.name)
    session.add(scan)
    session.flush()
    record_audit(session, actor, "scan.start", "scan", scan.id, {"file": scan.file_name})
    return scan


def run_scan_job(
    engine: Engine,
    holder: IndexHolder,
    actor: Actor,
    scan_id: uuid.UUID,
    path: Path,
    limits: DumpLimits | None = None,
    stop: threading.Event | None = None,
    refresh: RefreshLater | None = None,
) -> None:
    """Scan a spooled upload, recording progress and then sightings; the file is deleted.
    With `refresh`, the incidents they touch are recomputed by jobs (app.incidents.refresh)."""
    try:
        with session_scope(engine) as session:
            scan = session.get(Scan, scan_id)
            if scan is None:
                return
            scan.status = ScanStatus.RUNNING
            scan.started_at = scan.updated_at = utcnow()
            file_name = scan.file_name
        last = 0.0

        def progress(p: ScanProgress) -> None:
            nonlocal last
            if stop is not None and stop.is_set():
                raise ScanInterruptedError
            if p.seconds - last < PROGRESS_EVERY_SECONDS:
                return
            last = p.seconds
            with session_scope(engine) as session:
                running = session.get(Scan, scan_id)
                if running is not None:
                    running.bytes_read, running.rows, running.matches = (
                        p.bytes_read, p.rows, p.matches
                    )  # fmt: skip
                    running.updated_at = utcnow()

        result = scan_file(path, file_name, holder, engine, limits, progress)
        with session_scope(engine) as session:
            if refresh is not None:
                refresh_later(session, refresh)
            scan = session.get(Scan, scan_id)
            if scan is None:
                return
            close_scan(session, actor, scan, result)
        log.info(
            "scan finished",
            extra={"scan_id": str(scan_id), "rows": result.report.rows,
                   "matches": len(result.matches), "seconds": round(result.seconds, 2)},
        )  # fmt: skip
    except Exception as error:
        if isinstance(error, ScanInterruptedError):
            reason = INTERRUPTED
        else:
            log.exception("scan failed", extra={"scan_id": str(scan_id)})
            reason = f"internal error ({type(error).__name__}); see the service log"
        with session_scope(engine) as session:
            scan = session.get(Scan, scan_id)
            if scan is not None:
                scan.status = ScanStatus.FAILED
                scan.error = reason
                scan.finished_at = scan.updated_at = utcnow()
    finally:
        path.unlink(missing_ok=True)


def fail_interrupted_scans(session: Session) -> int:
    """Running scans that stopped reporting progress died with their process: say so (run
    whenever scans are read, so any replica notices, and none has to at start-up). A queued
    scan is waiting its turn in the job queue, however long the queue is."""
    stale = session.exec(
        select(Scan).where(
            Scan.status == ScanStatus.RUNNING,
            col(Scan.updated_at) < utcnow() - STALE_AFTER,
        )
    ).all()
    return _fail_interrupted(session, stale)


def orphaned_scans(session: Session) -> Sequence[Scan]:
    """On SQLite the scans' queue lives in the `serve` process: at its start, scans still
    queued or running were left by the previous one and will never run."""
    return session.exec(
        select(Scan).where(col(Scan.status).in_([ScanStatus.QUEUED, ScanStatus.RUNNING]))
    ).all()


def fail_orphaned_scans(session: Session) -> int:
    return _fail_interrupted(session, orphaned_scans(session))


def _fail_interrupted(session: Session, scans: Sequence[Scan]) -> int:
    for scan in scans:
        scan.status = ScanStatus.FAILED
        scan.error = INTERRUPTED
        scan.finished_at = utcnow()
        session.add(scan)
    return len(scans)


def running_scans(session: Session, actor: Actor) -> int:
    return session.exec(
        select(func.count())
        .select_from(Scan)
        .where(
            Scan.actor == actor.name,
            col(Scan.status).in_([ScanStatus.QUEUED, ScanStatus.RUNNING]),
        )
    ).one()


def get_scan(session: Session, scan_id: uuid.UUID) -> Scan:
    fail_interrupted_scans(session)
    scan = session.get(Scan, scan_id)
    if scan is None:
        raise NotFoundError("Scan not found.")
    return scan


def list_scans(session: Session, limit: int, offset: int) -> tuple[list[Scan], int]:
    fail_interrupted_scans(session)
    total = session.exec(select(func.count()).select_from(Scan)).one()
    page = session.exec(
        select(Scan).order_by(col(Scan.created_at).desc()).limit(limit).offset(offset)
    ).all()
    return list(page), total
