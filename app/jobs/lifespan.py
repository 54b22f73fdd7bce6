"""The jobs of a `honeytrace serve` process, started and stopped with its lifespan."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from app.canary_index import LiveIndex
from app.db import Database
from app.evidence.store import EvidenceStore
from app.jobs.runtime import Runtime
from app.jobs.tasks import jobs
from app.planting.mint_jobs import MINT_JOBS
from app.queueing.inprocess import InProcessQueue
from app.queueing.postgres import PostgresQueue, work
from app.scans.service import SCAN_JOBS
from app.settings import Settings
from app.sites.crawling import CrawlLoop

log = logging.getLogger("honeytrace.jobs")


def _fail_orphaned_jobs(database: Database) -> None:
    """Scans and mints the previous `serve` left queued or running on SQLite will never run:
    say so. A plain read first, so a start with none takes no write lock; a database that
    is not there or not migrated is for readiness to report, not a reason to refuse to start."""
    try:
        with database.read() as session:
            if not any(kind.exist(session, kind.orphaned()) for kind in (SCAN_JOBS, MINT_JOBS)):
                return
        with database.write() as session:
            scans = SCAN_JOBS.fail(session, SCAN_JOBS.orphaned())
            mints = MINT_JOBS.fail(session, MINT_JOBS.orphaned())
    except SQLAlchemyError as error:
        log.warning("orphaned jobs not checked", extra={"error": type(error).__name__})
        return
    log.warning(
        "scans and mints left by the previous process failed",
        extra={"scans": scans, "mints": mints},
    )


@asynccontextmanager
async def serve_jobs(
    settings: Settings,
    database: Database,
    index: LiveIndex,
    evidence: EvidenceStore,
    crawls: CrawlLoop,
) -> AsyncIterator[Runtime]:
    """The runtime requests defer jobs through. On SQLite the jobs (periodic ones too) run
    here; on PostgreSQL they go to the queue, which this process also works when
    HONEYTRACE_JOBS_IN_PROCESS is set."""
    if settings.is_sqlite:
        await run_in_threadpool(_fail_orphaned_jobs, database)
        local = InProcessQueue(jobs, settings.job_concurrency)
        runtime = Runtime.assemble(database, settings, local, crawls, index, evidence)
        local.start(runtime)
        try:
            yield runtime
        finally:
            await run_in_threadpool(local.shutdown)
        return
    runtime = Runtime.assemble(database, settings, PostgresQueue(jobs), crawls, index, evidence)
    worker = None
    if settings.jobs_in_process:
        worker = asyncio.create_task(
            work(jobs, runtime, concurrency=settings.job_concurrency, install_signal_handlers=False)
        )
    try:
        yield runtime
    finally:
        runtime.stop.set()
        if worker is not None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
