"""PostgreSQL's job queue: procrastinate, in its own schema (migration 0005).

A job is deferred by writing its row through the deferring session's own connection, so it
exists only if that transaction commits. Workers (`honeytrace worker`, or `serve` with
HONEYTRACE_JOBS_IN_PROCESS) take rows with SKIP LOCKED, run one job per lock at a time,
retry with the job's backoff, and defer periodic jobs once per tick however many run.
procrastinate's SQL, its triggers too, names its tables without a schema: whatever touches
them puts `procrastinate` on the search_path first.
"""

import logging
from collections.abc import Callable
from functools import cache
from typing import Any, Generic

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.types import JSONValue
from sqlalchemy import make_url, text
from sqlmodel import Session

from app.queueing.jobs import Job, JobQueue, JobRegistry, R

log = logging.getLogger("honeytrace.jobs")

SCHEMA = "procrastinate"


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
        task = app.task(name=job.name, pass_context=True, retry=job.retry or False)(_body(job))
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
    url = make_url(runtime.settings.database_url).set(drivername="postgresql")
    connector = procrastinate.PsycopgConnector(
        conninfo=url.render_as_string(hide_password=False),
        kwargs={"options": f"-c search_path={SCHEMA}"},
        # One connection listens for new jobs; each running job needs one to finish.
        min_size=1,
        max_size=concurrency + 2,
    )
    app = procrastinate_app(registry, connector, runtime)
    async with app.open_async():
        await app.run_worker_async(
            concurrency=concurrency,
            wait=wait,
            additional_context={"runtime": runtime},
            install_signal_handlers=install_signal_handlers,
            delete_jobs="successful",
        )
