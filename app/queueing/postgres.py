"""PostgreSQL's job queue: procrastinate, in its own schema (migration 0005).

A job is deferred by writing its row through the deferring session's own connection, so it
exists only if that transaction commits. Workers (`honeytrace worker`, or `serve` with
HONEYTRACE_JOBS_IN_PROCESS) take rows with SKIP LOCKED, run one job per lock at a time,
retry with the job's backoff, and defer periodic jobs once per tick however many run. A
worker that dies without finishing (SIGKILL, out of memory, a lost host) leaves its jobs
`doing` and their locks held; `retry_stalled_jobs` puts them back once its heartbeat stops.
procrastinate's SQL, its triggers too, names its tables without a schema: whatever touches
them puts `procrastinate` on the search_path first.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, cast

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued, UniqueViolation
from procrastinate.jobs import Status
from procrastinate.manager import QUEUEING_LOCK_CONSTRAINT, JobManager
from procrastinate.types import JSONValue
from sqlalchemy import make_url, text
from sqlmodel import Session

from app.queueing.jobs import Job, JobQueue, JobRegistry, R

log = logging.getLogger("honeytrace.jobs")

SCHEMA = "procrastinate"

# A worker writes its heartbeat this often; one silent for DEAD_AFTER_SECONDS is taken for
# dead, its jobs with it (procrastinate's own defaults, given to every worker here so that
# `retry_stalled_jobs` agrees with them). A live worker's heartbeat is never that late: it
# comes from the worker's event loop, which sync jobs do not hold (they run on threads).
HEARTBEAT_SECONDS = 10.0
POLL_SECONDS = 1.0
DEAD_AFTER_SECONDS = 30.0
# A job whose worker died under it on its fifth run (retries included) is given up: it may
# be what kills them (a file too big for a worker's memory).
MAX_RUNS = 5


class PostgresQueue(JobQueue, Generic[R]):
    """Defers jobs into the procrastinate queue inside the caller's transaction."""

    def __init__(self, registry: JobRegistry[R]) -> None:
        self.registry = registry
        self._app = _deferring_app(registry)

    def defer(self, session: Session, job: str, **arguments: Any) -> None:
        named = self.registry.named(job)
        lock, queueing_lock = named.locks(arguments)
        task = self._app.tasks[named.name]
        search_path = session.connection().exec_driver_sql("SHOW search_path").scalar_one()
        try:
            # A savepoint: a job already waiting under the queueing lock is a unique
            # violation, which must not abort the caller's transaction.
            with session.begin_nested():
                connection = session.connection()  # emits the SAVEPOINT
                connection.exec_driver_sql(f"SET LOCAL search_path TO {SCHEMA}")
                task.configure(
                    connection=connection.connection.driver_connection,
                    lock=lock,
                    queueing_lock=queueing_lock,
                    schedule_in=(
                        {"milliseconds": round(named.delay * 1000)} if named.delay > 0 else None
                    ),
                ).defer(**arguments)
        except AlreadyEnqueued:
            log.info("job already waiting", extra={"job": named.name})
        finally:
            session.connection().execute(
                text("SELECT set_config('search_path', :path, true)"), {"path": search_path}
            )


@cache
def _deferring_app(registry: JobRegistry[Any]) -> procrastinate.App:
    """One per process (procrastinate re-registers its built-in tasks on every app made).
    Never opened: every deferral runs on the deferring session's connection."""
    return procrastinate_app(registry, procrastinate.SyncPsycopgConnector())


def procrastinate_app(
    registry: JobRegistry[R],
    connector: procrastinate.BaseConnector,
    runtime: R | None = None,
) -> procrastinate.App:
    """A procrastinate app with a task per job; with a runtime, the periodic ones too."""
    app = procrastinate.App(connector=connector)
    for job in registry.jobs.values():
        task = app.task(
            name=job.name, pass_context=True, retry=job.retry.strategy() if job.retry else False
        )(_body(job))
        cron = None if runtime is None else job.cron(runtime.settings)
        if cron is not None:
            lock, queueing_lock = job.locks({})
            app.periodic(cron=cron, lock=lock, queueing_lock=queueing_lock)(task)
    return app


def _body(job: Job[R]) -> Callable[..., None]:
    def run(context: procrastinate.JobContext, **kwargs: JSONValue) -> None:
        job.func(context.additional_context["runtime"], **kwargs)

    run.__name__ = run.__qualname__ = job.name
    return run


def _connector(database_url: str, max_size: int) -> procrastinate.PsycopgConnector:
    url = make_url(database_url).set(drivername="postgresql")
    return procrastinate.PsycopgConnector(
        conninfo=url.render_as_string(hide_password=False),
        kwargs={"options": f"-c search_path={SCHEMA}"},
        min_size=1,
        max_size=max_size,
    )


async def work(
    registry: JobRegistry[R],
    runtime: R,
    *,
    concurrency: int,
    wait: bool = True,
    install_signal_handlers: bool = True,
) -> None:
    """Work the queue until stopped (a signal, or cancelling this), or until it is empty
    when not `wait`."""
    # One connection listens for new jobs; each running job needs one to finish.
    connector = _connector(runtime.settings.database_url, max_size=concurrency + 2)
    app = procrastinate_app(registry, connector, runtime)
    async with app.open_async():
        await app.run_worker_async(
            concurrency=concurrency,
            wait=wait,
            additional_context={"runtime": runtime},
            install_signal_handlers=install_signal_handlers,
            delete_jobs="successful",
            # A job deferred to start later (a delayed refresh) is noticed by polling, not
            # by the notification its deferral sent: every second, not every five.
            fetch_job_polling_interval=POLL_SECONDS,
            update_heartbeat_interval=HEARTBEAT_SECONDS,
            stalled_worker_timeout=DEAD_AFTER_SECONDS,
        )


@dataclass(frozen=True)
class StalledJobs:
    """What `retry_stalled_jobs` did with the jobs of dead workers (their ids)."""

    retried: list[int]
    # A job like it (the same queueing lock) was deferred while it hung, and does its work.
    superseded: list[int]
    given_up: list[int]


def retry_stalled_jobs(database_url: str) -> StalledJobs:
    """Put the jobs of dead workers back in the queue (procrastinate's stalled-job recovery:
    `doing` jobs whose worker's heartbeat stopped, or whose worker a starting one pruned).
    Until then each holds its lock, and the jobs waiting for that lock wait for ever."""
    return asyncio.run(_retry_stalled_jobs(database_url))


async def _retry_stalled_jobs(database_url: str) -> StalledJobs:
    connector = _connector(database_url, max_size=1)
    await connector.open_async()
    manager = JobManager(connector)
    done = StalledJobs([], [], [])
    try:
        stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=DEAD_AFTER_SECONDS)
        for job in stalled:
            job_id = cast(int, job.id)  # read from the table, so never None
            extra = {"job": job.task_name, "job_id": job_id, "attempts": job.attempts}
            if job.attempts + 1 >= MAX_RUNS:
                await manager.finish_job(job, Status.FAILED, delete_job=False)
                log.error("job given up: its workers died under it", extra=extra)
                done.given_up.append(job_id)
                continue
            try:
                await manager.retry_job(job)
            except UniqueViolation as error:
                # Back in `todo` it would be a second job waiting under its queueing lock,
                # which the queue refuses; the one waiting does the same work, and runs
                # as soon as this one lets go of the lock.
                if error.constraint_name != QUEUEING_LOCK_CONSTRAINT:
                    raise
                await manager.finish_job(job, Status.ABORTED, delete_job=False)
                log.warning("stalled job superseded by one waiting", extra=extra)
                done.superseded.append(job_id)
                continue
            log.warning("stalled job retried: its worker died", extra=extra)
            done.retried.append(job_id)
    finally:
        await connector.close_async()
    return done
