"""Jobs: what a job is, the registry that names them, and where they are deferred to.

A job is a thin function over a runtime (what a process made once: the database, the index,
the queue...): it opens its own unit of work and calls a plain, tested function. Its keyword
arguments are JSON (ids as strings) because on PostgreSQL they travel through the queue's
table, and they are logged, so they never carry a secret. The same definition runs inside
`honeytrace serve` on SQLite (app.queueing.inprocess) and on `honeytrace worker` processes
through procrastinate on PostgreSQL (app.queueing.postgres).

Code below the top of the app defers a job by its name (`jobs.defer(session,
"deliver_alert", delivery_id=...)`): the registry is assembled at the top (app.jobs.tasks),
so no domain imports the jobs that run it.
"""

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar

from sqlmodel import Session

from app.problems import ServiceUnavailableError
from app.settings import Settings

if TYPE_CHECKING:
    from procrastinate import RetryStrategy
    from procrastinate.types import JSONValue

P = ParamSpec("P")


class JobRuntime(Protocol):
    """What every runtime offers the queues: the settings (periodic jobs' intervals, the
    database) and the event set when the process shuts down (long jobs stop early)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def stop(self) -> threading.Event: ...


R = TypeVar("R", bound=JobRuntime)


@dataclass(frozen=True)
class Backoff:
    """How a failed job is retried: procrastinate's RetryStrategy, made by the queue that
    runs the job (`strategy`), so that code which only names or defers jobs (a CLI command
    recording sightings) does not import procrastinate."""

    max_attempts: int
    exponential_wait: int

    def strategy(self) -> "RetryStrategy":
        from procrastinate import RetryStrategy

        return RetryStrategy(max_attempts=self.max_attempts, exponential_wait=self.exponential_wait)


# Waits of 4, 16, 64, 256 s: a dependency that is down for minutes (a webhook receiver, a
# trading site) is caught up with; one that is down for good gives up in about six minutes.
BACKOFF = Backoff(max_attempts=4, exponential_wait=4)


class JobQueue:
    """Where jobs are deferred to: a queue on PostgreSQL, this process on SQLite."""

    def defer(self, session: Session, job: str, **arguments: Any) -> None:
        """Run the job named `job` once `session` commits; nothing happens if it rolls back."""
        raise NotImplementedError


class NoQueue(JobQueue):
    """The queue of an app started without jobs: whatever needs one is refused."""

    def defer(self, session: Session, job: str, **arguments: Any) -> None:
        raise ServiceUnavailableError(
            "This service runs no job queue, so it cannot start this; use `honeytrace serve`."
        )


@dataclass(frozen=True)
class Job(Generic[R]):
    """A registered job. `lock` and `queueing_lock` are templates over the job's arguments
    (`"site:{site_id}"`): jobs with the same lock never run at the same time, and a job is
    not deferred while one with its queueing lock is still waiting."""

    name: str
    func: Callable[..., None]  # (runtime, **arguments)
    retry: Backoff | None
    lock: str | None
    queueing_lock: str | None
    # Seconds between runs from the settings (0: off); None: the job is never periodic. A
    # periodic job takes `timestamp`, the tick it runs for (Unix seconds), as procrastinate
    # passes it: the same tick on every worker, and each tick is run once.
    every: Callable[[Settings], int] | None
    # Seconds a deferred run waits before it may start; deferrals meanwhile under the same
    # queueing lock fold into it (a burst of sightings of one incident: one recomputation).
    delay: float = 0.0

    def locks(self, kwargs: Mapping[str, "JSONValue"]) -> tuple[str | None, str | None]:
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


class JobRegistry(Generic[R]):
    """The jobs one process knows by name; `job` registers a function as one."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job[R]] = {}

    def job(
        self,
        *,
        retry: Backoff | None = BACKOFF,
        lock: str | None = None,
        queueing_lock: str | None = None,
        every: Callable[[Settings], int] | None = None,
        delay: float = 0.0,
    ) -> Callable[[Callable[Concatenate[R, P], None]], Callable[Concatenate[R, P], None]]:
        def register(func: Callable[Concatenate[R, P], None]) -> Callable[Concatenate[R, P], None]:
            if func.__name__ in self.jobs:
                raise ValueError(f"a job named {func.__name__!r} is already registered")
            self.jobs[func.__name__] = Job(
                func.__name__, func, retry, lock, queueing_lock, every, delay
            )
            return func

        return register

    def named(self, name: str) -> Job[R]:
        job = self.jobs.get(name)
        if job is None:
            raise LookupError(f"no job named {name!r} is registered")
        return job

    def periodic(self, settings: Settings) -> list[tuple[Job[R], str]]:
        """The jobs that run by themselves under these settings, with their cron lines."""
        return [(job, cron) for job in self.jobs.values() if (cron := job.cron(settings))]
