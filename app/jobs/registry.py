"""Job definitions: what a job is, the registry that holds them, and what they run with.

A job is a thin function over a Runtime: it opens its own unit of work and calls a plain,
tested function. Its keyword arguments are JSON (ids as strings) because on PostgreSQL they
travel through the queue's table, and they are logged, so they never carry a secret. The
same definition runs inside `honeytrace serve` on SQLite (app.jobs.inprocess) and on
`honeytrace worker` processes through procrastinate on PostgreSQL (app.jobs.queue).
"""

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Concatenate, Generic, ParamSpec, Protocol

from procrastinate import BaseRetryStrategy, RetryStrategy
from procrastinate.types import JSONValue
from sqlalchemy import Engine
from sqlmodel import Session

from app.settings import Settings
from app.sightings.index import IndexHolder
from app.sites.crawling import CrawlLoop

P = ParamSpec("P")

# Waits of 4, 16, 64, 256 s: a dependency that is down for minutes (a webhook receiver, a
# trading site) is caught up with; one that is down for good gives up in about six minutes.
BACKOFF = RetryStrategy(max_attempts=4, exponential_wait=4)


class JobQueue(Protocol):
    """Where a job is deferred to: a queue on PostgreSQL, this process on SQLite."""

    def defer(self, session: Session, job: "Job[P]", *args: P.args, **kwargs: P.kwargs) -> None:
        """Run `job` once `session` commits; nothing happens if it rolls back."""


@dataclass(frozen=True)
class Runtime:
    """What jobs run with, made once per process (serve's lifespan, a worker's start)."""

    engine: Engine
    settings: Settings
    index_holder: IndexHolder
    jobs: JobQueue
    # Set when the process shuts down: long jobs (scans) stop early.
    stop: threading.Event = field(default_factory=threading.Event)
    # The site watcher's one HTTP client for this process (never fetches private addresses
    # unless made with HONEYTRACE_FETCH_PRIVATE_ADDRESSES).
    crawls: CrawlLoop = field(default_factory=CrawlLoop)


@dataclass(frozen=True)
class Job(Generic[P]):
    """A registered job. `lock` and `queueing_lock` are templates over the job's arguments
    (`"site:{site_id}"`): jobs with the same lock never run at the same time, and a job is
    not deferred while one with its queueing lock is still waiting."""

    name: str
    func: Callable[Concatenate[Runtime, P], None]
    retry: BaseRetryStrategy | None
    lock: str | None
    queueing_lock: str | None
    # Seconds between runs from the settings (0: off); None: the job is never periodic. A
    # periodic job takes `timestamp`, the tick it runs for (Unix seconds), as procrastinate
    # passes it: the same tick on every worker, and each tick is run once.
    every: Callable[[Settings], int] | None

    def locks(self, kwargs: Mapping[str, JSONValue]) -> tuple[str | None, str | None]:
        return (
            None if self.lock is None else self.lock.format(**kwargs),
            None if self.queueing_lock is None else self.queueing_lock.format(**kwargs),
        )

    def cron(self, settings: Settings) -> str | None:
        """When the job runs by itself (a cron line), or None when it does not."""
        seconds = 0 if self.every is None else self.every(settings)
        return cron_every(self.name, seconds) if seconds else None


class UnschedulableError(ValueError):
    """A periodic job's interval that no cron line keeps in step with the clock."""


def cron_every(name: str, seconds: int) -> str:
    """A cron line (a sixth field for seconds, as procrastinate and croniter read it) that
    fires every `seconds`, on the same ticks in every process."""
    minutes, hours = seconds // 60, seconds // 3600
    if 0 < seconds < 60 and 60 % seconds == 0:
        return f"* * * * * */{seconds}"
    if seconds % 60 == 0 and 0 < minutes < 60 and 60 % minutes == 0:
        return f"*/{minutes} * * * *"
    if seconds % 3600 == 0 and 0 < hours < 24 and 24 % hours == 0:
        return f"0 */{hours} * * *"
    if seconds == 86400:
        return "0 0 * * *"
    raise UnschedulableError(
        f"job {name!r} cannot run every {seconds} s: choose an interval that divides a "
        "minute, an hour or a day (for example 30, 300, 3600 or 86400)"
    )


class JobRegistry:
    """The jobs one process knows by name; `job` registers a function as one."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job[Any]] = {}

    def job(
        self,
        *,
        retry: BaseRetryStrategy | None = BACKOFF,
        lock: str | None = None,
        queueing_lock: str | None = None,
        every: Callable[[Settings], int] | None = None,
    ) -> Callable[[Callable[Concatenate[Runtime, P], None]], Job[P]]:
        def register(func: Callable[Concatenate[Runtime, P], None]) -> Job[P]:
            if func.__name__ in self.jobs:
                raise ValueError(f"a job named {func.__name__!r} is already registered")
            job = Job(func.__name__, func, retry, lock, queueing_lock, every)
            self.jobs[job.name] = job
            return job

        return register

    def periodic(self, settings: Settings) -> list[tuple[Job[Any], str]]:
        """The jobs that run by themselves under these settings, with their cron lines."""
        return [(job, cron) for job in self.jobs.values() if (cron := job.cron(settings))]
