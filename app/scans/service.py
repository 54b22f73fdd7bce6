"""Scans of leaked files and the sightings they make: one code path for the CLI and the API.

A scan reads the file once through the intake (canaries/ and watchers/ do the work), keeps
the file's hash, size and counts and the matched rows, and never the file: the API's
spooled copy is deleted when the scan ends, whatever way it ends.
"""

import logging
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session, col, func, select

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.auth.keys import reauthorise
from app.auth.permissions import Permission
from app.db import utcnow
from app.intake.matching import seen_in_file
from app.intake.pipeline import Intake
from app.models.canaries import Canary
from app.models.sightings import Scan, ScanStatus
from app.problems import DomainError, NotFoundError
from app.progress_jobs import ProgressJobs
from app.scans.schemas import ScanMatch
from canaries.matching import RowMatch
from watchers.dumps import DumpLimits
from watchers.leaked_files import dump_observation
from watchers.scan import ScanProgress, ScanResult

if TYPE_CHECKING:
    from app.intake.record import Recorded

log = logging.getLogger("honeytrace.scans")
PROGRESS_EVERY_SECONDS = 1.0
INTERRUPTED = "interrupted: the service stopped before the scan finished; upload the file again"
SCAN_JOBS = ProgressJobs(Scan, INTERRUPTED)


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


def close_scan(
    session: Session, intake: Intake, actor: Actor, scan: Scan, result: ScanResult
) -> "Recorded":
    """Finish the scan with its result, store each matched row as a sighting (once: a
    repeated scan of the same file adds none; the planted canaries that surfaced are burned
    so their links get fresh ones) and audit it: the API's job and the CLI's --record."""
    views = match_views(session, result.matches)
    finish_scan(scan, result, views)
    observation = dump_observation(result, utcnow())
    seen = replace(seen_in_file(observation, result, rows_apart=True), scan_id=scan.id)
    recorded = intake.record(session, actor, [seen])
    detail = {
        "sha256": scan.sha256,
        "rows": scan.rows,
        "matches": scan.matches,
        "sightings": len(recorded.added),
        "status": scan.status.value,
    }
    record_audit(session, actor, "scan.finish", "scan", scan.id, detail)
    return recorded


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


def create_scan(session: Session, actor: Actor, file_name: str) -> Scan:
    scan = Scan(file_name=file_name[:255], status=ScanStatus.QUEUED, actor=actor.name)
    session.add(scan)
    session.flush()
    record_audit(session, actor, "scan.start", "scan", scan.id, {"file": scan.file_name})
    return scan


def run_scan_job(
    intake: Intake,
    actor: Actor,
    scan_id: uuid.UUID,
    path: Path,
    limits: DumpLimits | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Scan a spooled upload, recording progress and then sightings; the file is deleted.
    The file is read with no transaction open; progress and the result are short units,
    each of which asks again whether the actor still may scan (its key not revoked)."""
    database = intake.database
    try:
        with database.write() as session:
            reauthorise(session, actor, Permission.SCANS)
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
            with database.write() as session:
                reauthorise(session, actor, Permission.SCANS)
                running = session.get(Scan, scan_id)
                if running is not None:
                    running.bytes_read, running.rows, running.matches = (
                        p.bytes_read, p.rows, p.matches
                    )  # fmt: skip
                    running.updated_at = utcnow()

        with path.open("rb") as stream:
            result = intake.scan(stream, file_name, limits, progress)
        with database.write() as session:
            scan = session.get(Scan, scan_id)
            if scan is None:
                return
            close_scan(session, intake, reauthorise(session, actor, Permission.SCANS), scan, result)
        log.info(
            "scan finished",
            extra={"scan_id": str(scan_id), "rows": result.report.rows,
                   "matches": len(result.matches), "seconds": round(result.seconds, 2)},
        )  # fmt: skip
    except Exception as error:
        if isinstance(error, ScanInterruptedError):
            reason = INTERRUPTED
        elif isinstance(error, DomainError):
            reason = f"refused: {str(error)[:300]} It stopped before recording any sighting."
            log.warning("scan refused", extra={"scan_id": str(scan_id), "why": reason})
        else:
            log.exception("scan failed", extra={"scan_id": str(scan_id)})
            reason = f"internal error ({type(error).__name__}); see the service log"
        with database.write() as session:
            scan = session.get(Scan, scan_id)
            if scan is not None:
                scan.status = ScanStatus.FAILED
                scan.error = reason
                scan.finished_at = scan.updated_at = utcnow()
    finally:
        path.unlink(missing_ok=True)


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
    scan = session.get(Scan, scan_id)
    if scan is None:
        raise NotFoundError("Scan not found.")
    return scan


def list_scans(session: Session, limit: int, offset: int) -> tuple[list[Scan], int]:
    total = session.exec(select(func.count()).select_from(Scan)).one()
    page = session.exec(
        select(Scan).order_by(col(Scan.created_at).desc()).limit(limit).offset(offset)
    ).all()
    return list(page), total
