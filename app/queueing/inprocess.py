"""The embedded default's job runner: jobs run on threads inside `honeytrace serve`.

SQLite has no job queue to write to, so a deferred job waits in the session until it
commits and then runs here, with the same locks, queueing locks, retries and periodic
schedule as on PostgreSQL workers. What waits here (a retry's delay, the next tick) is lost
when the process stops; the next periodic run picks the work up again.
"""

import heapq
import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Generic

from croniter import croniter  # type: ignore[import-untyped]
from procrastinate.jobs import Job as QueuedJob
from procrastinate.types import JSONDict
from sqlalchemy import event
from sqlmodel import Session

from app.queueing.jobs import Job, JobQueue, JobRegistry, R

log = logging.getLogger("honeytrace.jobs")

_PENDING = "honeytrace_jobs_pending"


@dataclass(order=True)
class _Due:
    at: float  # time.monotonic()
    seq: int
    start: Callable[[], None] = field(compare=False)


class InProcessQueue(JobQueue, Generic[R]):
    """Runs deferred and periodic jobs on a pool of threads in this process."""

    def __init__(self, registry: JobRegistry[R], concurrency: int) -> None:
        self.registry = registry
        self.concurrency = concurrency
        self._runtime: R | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._wake = threading.Condition()
        self._due: list[_Due] = []
        self._seq = itertools.count()
        self._stopping = False
        self._waiting: set[str] = set()  # queueing locks of jobs not started yet
        # The locks held by running jobs, each with the jobs waiting for it (in order),
        # which wait here rather than on a thread of the pool.
        self._held: dict[str, deque[tuple[Job[R], JSONDict, int]]] = {}
        self._scheduler: threading.Thread | None = None

    def start(self, runtime: R) -> None:
        self._runtime = runtime
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="job")
        for job, cron in self.registry.periodic(runtime.settings):
            self._tick(job, cron, time.time())
        self._scheduler = threading.Thread(target=self._schedule, name="jobs", daemon=True)
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop the schedule, tell running jobs to stop, and wait for them."""
        if self._runtime is not None:
            self._runtime.stop.set()
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._scheduler is not None:
            self._scheduler.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def defer(self, session: Session, job: str, **arguments: Any) -> None:
        named = self.registry.named(job)
        # As through the queue's table: what cannot be JSON fails here, not in the job.
        self._defer(session, named, json.loads(json.dumps(arguments)))

    def _defer(self, session: Session, job: Job[R], arguments: JSONDict) -> None:
        pending: list[tuple[Job[R], JSONDict]] | None = session.info.get(_PENDING)
        if pending is None:
            pending = session.info[_PENDING] = []
            event.listen(session, "after_commit", self._after_commit)
            event.listen(session, "after_rollback", self._after_rollback)
        _, queueing_lock = job.locks(arguments)
        if queueing_lock is not None and any(
            queueing_lock == waiting.locks(queued)[1] for waiting, queued in pending
        ):
            log.info("job already waiting", extra={"job": job.name})
            return
        pending.append((job, arguments))

    def _after_commit(self, session: Session) -> None:
        # SQLAlchemy also announces a savepoint's release as a commit: the jobs wait for
        # the transaction itself, or they would run before what they read is there.
        if session.get_nested_transaction() is not None:
            return
        pending: list[tuple[Job[R], JSONDict]] = session.info[_PENDING]
        committed, pending[:] = list(pending), []
        for job, arguments in committed:
            self._submit(job, arguments)

    def _after_rollback(self, session: Session) -> None:
        session.info[_PENDING].clear()

    def _submit(self, job: Job[R], arguments: JSONDict, attempts: int = 0) -> None:
        lock, queueing_lock = job.locks(arguments)
        with self._wake:
            if self._stopping or self._runtime is None or self._pool is None:
                log.warning("job dropped: shutting down", extra={"job": job.name})
                return
            if queueing_lock is not None and attempts == 0:
                if queueing_lock in self._waiting:
                    log.info("job already waiting", extra={"job": job.name})
                    return
                self._waiting.add(queueing_lock)
            run = partial(self._run, self._runtime, job, arguments, attempts, lock, queueing_lock)
            if job.delay > 0 and attempts == 0:
                self._at(job.delay, lambda: self._start(job, run))
            else:
                self._pool.submit(run)

    def _start(self, job: Job[R], run: Callable[[], None]) -> None:
        """A delayed job's start, unless the queue stopped while it waited."""
        with self._wake:
            if self._stopping or self._pool is None:
                log.warning("job dropped: shutting down", extra={"job": job.name})
                return
            self._pool.submit(run)

    def _run(
        self,
        runtime: R,
        job: Job[R],
        arguments: JSONDict,
        attempts: int,
        lock: str | None,
        queueing_lock: str | None,
        holding: bool = False,
    ) -> None:
        with self._wake:
            if queueing_lock is not None:
                self._waiting.discard(queueing_lock)
            if lock is not None and not holding:
                if lock in self._held:
                    self._held[lock].append((job, arguments, attempts))
                    return
                self._held[lock] = deque()
        try:
            job.func(runtime, **arguments)
        except Exception as error:
            self._retry_or_give_up(job, arguments, attempts, error)
        finally:
            if lock is not None:
                self._hand_over(runtime, lock)

    def _hand_over(self, runtime: R, lock: str) -> None:
        """The next job waiting for `lock` runs now, holding it; with none, it is free."""
        with self._wake:
            behind = self._held[lock]
            if not behind or self._stopping or self._pool is None:
                del self._held[lock]
                return
            job, arguments, attempts = behind.popleft()
            self._pool.submit(self._run, runtime, job, arguments, attempts, lock, None, True)

    def _retry_or_give_up(
        self, job: Job[R], arguments: JSONDict, attempts: int, error: Exception
    ) -> None:
        # The job's own procrastinate strategy decides, as it does on workers.
        queued = QueuedJob(
            id=None,
            queue="default",
            lock=None,
            queueing_lock=None,
            task_name=job.name,
            task_kwargs=arguments,
            attempts=attempts,
        )
        decision = (
            None
            if job.retry is None
            else job.retry.strategy().get_retry_decision(exception=error, job=queued)
        )
        if decision is None:
            log.exception("job failed", extra={"job": job.name, "attempts": attempts + 1})
            return
        retry_at = decision.retry_at or datetime.now(UTC)
        delay = max(0.0, (retry_at - datetime.now(UTC)).total_seconds())
        log.warning(
            "job failed; retrying",
            exc_info=True,
            extra={"job": job.name, "attempts": attempts + 1, "retry_in": round(delay, 1)},
        )
        self._at(delay, lambda: self._submit(job, arguments, attempts + 1))

    def _tick(self, job: Job[R], cron: str, after: float) -> None:
        """Run `job` at its cron line's next tick after `after` (ticks missed while the
        process was busy are skipped, not run in a burst), and so on."""
        at = croniter(cron, max(after, time.time())).get_next(float)

        def start() -> None:
            self._submit(job, {"timestamp": round(at)})
            self._tick(job, cron, at)

        self._at(at - time.time(), start)

    def _at(self, delay: float, start: Callable[[], None]) -> None:
        with self._wake:
            heapq.heappush(self._due, _Due(time.monotonic() + delay, next(self._seq), start))
            self._wake.notify()

    def _schedule(self) -> None:
        with self._wake:
            while not self._stopping:
                now = time.monotonic()
                if self._due and self._due[0].at <= now:
                    heapq.heappop(self._due).start()
                else:
                    self._wake.wait(self._due[0].at - now if self._due else None)
