"""/v1/scans: upload a leaked file to be scanned for canaries, then poll the scan.

The body is the file itself (any content type), streamed to a spool file that is deleted
when the scan ends; `?name=` says what the file was called.
"""

import os
import tempfile
import uuid
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request, Response, status
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.auth.actor import Actor
from app.auth.deps import Scanner
from app.db import Database
from app.paging import Offset, Page, limit_query
from app.problems import InvalidError, PayloadTooLargeError, TooManyRequestsError
from app.queueing.jobs import JobQueue
from app.resources import DatabaseDep, JobsDep, ReadSession, SettingsDep
from app.scans import service
from app.scans.schemas import ScanRead
from app.settings import Settings

router = APIRouter(prefix="/v1/scans", tags=["scans"])
SCANS_PATH = "/v1/scans"
FileName = Annotated[
    str,
    Query(
        min_length=1,
        max_length=255,
        pattern=r"^[^\x00-\x1f\x7f/\\]+$",
        description="The leaked file's name (no path); its extension helps tell the format.",
    ),
]


def _refuse_if_busy(session: Session, actor: Actor, settings: Settings) -> None:
    if service.running_scans(session, actor) >= settings.max_running_scans:
        raise TooManyRequestsError(
            f"{settings.max_running_scans} of your scans are still running; wait for one to finish."
        )


def _check_busy(database: Database, actor: Actor, settings: Settings) -> None:
    with database.read() as session:
        _refuse_if_busy(session, actor, settings)


def _create(
    database: Database, actor: Actor, settings: Settings, jobs: JobQueue, name: str, path: Path
) -> ScanRead:
    """The scan row and its job, committed together (the job runs only if the row is
    there). Busy is checked again: another upload of the same key may have finished
    meanwhile."""
    with database.write() as session:
        _refuse_if_busy(session, actor, settings)
        scan = ScanRead.of(service.create_scan(session, actor, name))
        jobs.defer(session, "scan", scan_id=str(scan.id), path=str(path), actor=actor.to_json())
    return scan


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def start_scan(
    request: Request,
    response: Response,
    database: DatabaseDep,
    settings: SettingsDep,
    jobs: JobsDep,
    actor: Scanner,
    name: FileName,
) -> ScanRead:
    """Start scanning the uploaded file; poll `GET /v1/scans/{id}` for progress and matches.

    Matches become sightings (source `dump`, the file's sha256 as evidence). The file is
    never kept: only its hash, size, counts and the matched rows.
    """
    # Refuse before reading a byte; the upload may take minutes and holds no transaction.
    await run_in_threadpool(_check_busy, database, actor, settings)
    spool = Path(settings.scan_spool_dir or tempfile.gettempdir())
    handle, spooled = tempfile.mkstemp(prefix="honeytrace-scan-", suffix=".part", dir=spool)
    path = Path(spooled)
    try:
        size = 0
        with os.fdopen(handle, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > settings.max_scan_bytes:
                    raise PayloadTooLargeError(
                        f"The file is over the limit of {settings.max_scan_bytes} bytes."
                    )
                await anyio.to_thread.run_sync(out.write, chunk)
        if size == 0:
            raise InvalidError("The upload is empty: send the file as the request body.")
        scan = await run_in_threadpool(_create, database, actor, settings, jobs, name, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    response.headers["Location"] = f"{SCANS_PATH}/{scan.id}"
    return scan


@router.get("")
def list_scans(
    database: DatabaseDep,
    session: ReadSession,
    actor: Scanner,
    limit: Annotated[int, limit_query(200)] = 50,
    offset: Offset = 0,
) -> Page[ScanRead]:
    """The scans of leaked files, newest first, with their state and what they found."""
    service.SCAN_JOBS.fail_stale(database)
    scans, total = service.list_scans(session, limit, offset)
    return Page[ScanRead](
        items=[ScanRead.of(s) for s in scans], total=total, limit=limit, offset=offset
    )


@router.get("/{scan_id}")
def get_scan(
    database: DatabaseDep, session: ReadSession, actor: Scanner, scan_id: uuid.UUID
) -> ScanRead:
    """The scan's status, progress and, as they are recorded, its matches."""
    service.SCAN_JOBS.fail_stale(database)
    return ScanRead.of(service.get_scan(session, scan_id), with_matches=True)
