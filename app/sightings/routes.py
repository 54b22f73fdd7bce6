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
from app.deps import Scanner, SessionDep
from app.jobs.registry import JobQueue
from app.jobs.tasks import actor_json
from app.jobs.tasks import scan as scan_job
from app.problems import InvalidError, PayloadTooLargeError, TooManyRequestsError
from app.settings import Settings
from app.sightings import service
from app.sightings.schemas import ScanPage, ScanRead

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


def _create(
    session: Session, actor: Actor, settings: Settings, jobs: JobQueue, name: str, path: Path
) -> ScanRead:
    """The scan row and its job, committed together (the job runs only if the row is
    there). Busy is checked again: another upload of the same key may have finished
    meanwhile."""
    _refuse_if_busy(session, actor, settings)
    scan = ScanRead.of(service.create_scan(session, actor, name))
    jobs.defer(session, scan_job, scan_id=str(scan.id), path=str(path), actor=actor_json(actor))
    session.commit()
    return scan


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def start_scan(
    request: Request, response: Response, session: SessionDep, actor: Scanner, name: FileName
) -> ScanRead:
    """Start scanning the uploaded file; poll `GET /v1/scans/{id}` for progress and matches.

    Matches become sightings (source `dump`, the file's sha256 as evidence). The file is
    never kept: only its hash, size, counts and the matched rows.
    """
    settings: Settings = request.app.state.settings
    # Refuse before reading a byte, then end the transaction authentication opened: the
    # upload may take minutes, and SQLite has one writer.
    await run_in_threadpool(_refuse_if_busy, session, actor, settings)
    await run_in_threadpool(session.commit)
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
        jobs: JobQueue = request.app.state.jobs
        scan = await run_in_threadpool(_create, session, actor, settings, jobs, name, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    response.headers["Location"] = f"{SCANS_PATH}/{scan.id}"
    return scan


@router.get("")
def list_scans(
    session: SessionDep,
    actor: Scanner,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ScanPage:
    scans, total = service.list_scans(session, limit, offset)
    return ScanPage(items=[ScanRead.of(s) for s in scans], total=total, limit=limit, offset=offset)


@router.get("/{scan_id}")
def get_scan(session: SessionDep, actor: Scanner, scan_id: uuid.UUID) -> ScanRead:
    """The scan's status, progress and, as they are recorded, its matches."""
    return ScanRead.of(service.get_scan(session, scan_id), with_matches=True)
