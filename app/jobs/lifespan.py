"""The jobs of a `honeytrace serve` process, started and stopped with its lifespan."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.db import session_scope
from app.jobs.inprocess import InProcessQueue
from app.jobs.queue import PostgresQueue, work
from app.jobs.registry import JobQueue, Runtime
from app.jobs.tasks import jobs
from app.settings import Settings
from app.sightings.index import IndexHolder
from app.sightings.service import fail_orphaned_scans, orphaned_scans
from app.sites.crawling import CrawlLoop

log = logging.getLogger("honeytrace.jobs")


def _fail_orphaned_scans(engine: Engine) -> None:
    """Scans the previous `serve` left queued or running on SQLite will never run: say so.
    A plain read first, so a start with none takes no write lock; a database that is not
    there or not migrated is for readiness to report, not a reason to refuse to start."""
    try:
        with Session(engine) as session:
            if not orphaned_scans(session):
                return
        with session_scope(engine) as session:
            failed = fail_orphaned_scans(session)
    except SQLAlchemyError as error:
        log.warning("orphaned scans not checked", extra={"error": type(error).__name__})
        return
    log.warning("scans left by the previous process failed", extra={"scans": failed})


@asynccontextmanager
async def serve_jobs(
    settings: Settings, engine: Engine, holder: IndexHolder, crawls: CrawlLoop
) -> AsyncIterator[JobQueue]:
    """Where requests defer jobs to. On SQLite the jobs (periodic ones too) run here; on
    PostgreSQL they go to the queue, which this process also works when
    HONEYTRACE_JOBS_IN_PROCESS is set."""
    if settings.is_sqlite:
        await run_in_threadpool(_fail_orphaned_scans, engine)
        local = InProcessQueue(jobs, settings.job_concurrency)
        local.start(Runtime(engine, settings, holder, local, crawls=crawls))
        try:
            yield local
        finally:
            await run_in_threadpool(local.shutdown)
        return
    queue = PostgresQueue(jobs)
    runtime = Runtime(engine, settings, holder, queue, crawls=crawls)
    worker = None
    if settings.jobs_in_process:
        worker = asyncio.create_task(
            work(jobs, runtime, concurrency=settings.job_concurrency, install_signal_handlers=False)
        )
    try:
        yield queue
    finally:
        runtime.stop.set()
        if worker is not None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
