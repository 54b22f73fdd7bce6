"""`honeytrace worker`: work the PostgreSQL job queue (deferred and periodic jobs)."""

import asyncio
from typing import Annotated

import typer

from app.console import load_settings, ready_database
from app.jobs.runtime import Runtime
from app.jobs.tasks import jobs
from app.ops.logs import configure_logging
from app.queueing.postgres import PostgresQueue, work
from app.sites.crawling import CrawlLoop


def worker(
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Jobs run at once [HONEYTRACE_JOB_CONCURRENCY]")
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Exit when the queue is empty instead of waiting.")
    ] = False,
) -> None:
    """Run jobs from the PostgreSQL queue until stopped (Ctrl-C or SIGTERM end the running
    jobs first). Any number of workers may share one database."""
    settings = load_settings()
    if settings.is_sqlite:
        typer.echo(
            "error: the database is SQLite, where `honeytrace serve` runs the jobs in-process; "
            "workers need PostgreSQL (HONEYTRACE_DATABASE_URL)",
            err=True,
        )
        raise typer.Exit(1)
    configure_logging(settings.log_level)
    database = ready_database(settings)
    crawls = CrawlLoop(allow_private=settings.fetch_private_addresses)
    runtime = Runtime.assemble(database, settings, PostgresQueue(jobs), crawls)
    try:
        asyncio.run(
            work(jobs, runtime, concurrency=concurrency or settings.job_concurrency, wait=not once)
        )
    finally:
        crawls.close()
        database.engine.dispose()
