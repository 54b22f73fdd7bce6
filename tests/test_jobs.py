"""Jobs: queued only with the transaction that defers them, run once by two PostgreSQL
workers, retried with backoff, one site at a time, periodic once per tick; the same job
functions in-process on SQLite; `honeytrace worker` and serve's own worker run the real ones.

The jobs below record each run (key, site, process, start and end) in a table of their own.
"""

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from app.auth.actor import Actor
from app.db import Database, make_engine, upgrade
from app.jobs.commands import worker
from app.jobs.tasks import jobs
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.main import create_app
from app.models.canaries import Canary, CanaryStatus, FeedProfile
from app.models.links import Link
from app.queueing.inprocess import InProcessQueue
from app.queueing.jobs import Backoff, JobRegistry, UnschedulableError, cron_every
from app.queueing.postgres import SCHEMA, PostgresQueue, StalledJobs, retry_stalled_jobs, work
from app.settings import Settings
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from tests.conftest import ROOT, scratch_postgres_database, session_scope

runs = sa.Table(
    "job_runs",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("site", sa.String(64)),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("ended", sa.Float),
)


@dataclass(frozen=True)
class Traced:
    """What this module's jobs run with."""

    engine: Engine
    settings: Settings
    stop: threading.Event = field(default_factory=threading.Event)


traced = JobRegistry[Traced]()


TALLY_DELAY = 0.5


def _run(runtime: Traced, key: str, site: str | None = None, hold: float = 0.0) -> int:
    """Record a run of `key` from start to end; returns how many runs of it there were."""
    with runtime.engine.begin() as connection:
        row = {"key": key, "site": site, "pid": os.getpid(), "started": time.time()}
        run_id = connection.execute(runs.insert().values(row).returning(runs.c.id)).scalar_one()
    time.sleep(hold)
    with runtime.engine.begin() as connection:
        connection.execute(runs.update().where(runs.c.id == run_id).values(ended=time.time()))
        query = sa.select(sa.func.count()).where(runs.c.key == key)
        return int(connection.execute(query).scalar_one())


@traced.job()
def record(runtime: Traced, *, key: str) -> None:
    _run(runtime, key, hold=0.05)


@traced.job(lock="site:{site_id}")
def poll_site(runtime: Traced, *, site_id: str, key: str) -> None:
    _run(runtime, key, site_id, hold=0.2)


@traced.job(queueing_lock="site:{site_id}")
def refresh_site(runtime: Traced, *, site_id: str) -> None:
    _run(runtime, f"refresh-{site_id}")


@traced.job(lock="ledger:{ledger}", queueing_lock="ledger:{ledger}")
def settle(runtime: Traced, *, ledger: str) -> None:
    _run(runtime, f"settle-{ledger}")


@traced.job(lock="tally:{name}", queueing_lock="tally:{name}", delay=TALLY_DELAY)
def tally(runtime: Traced, *, name: str) -> None:
    _run(runtime, f"tally-{name}")


@traced.job(retry=Backoff(max_attempts=3, exponential_wait=2))
def flaky(runtime: Traced, *, key: str, failures: int) -> None:
    if _run(runtime, key) <= failures:
        raise RuntimeError("failing on purpose")


@traced.job(every=lambda settings: settings.rotation_interval_seconds)
def tick(runtime: Traced, *, timestamp: int) -> None:
    _run(runtime, "tick", str(timestamp))


def _ended(engine: Engine, prefix: str) -> list[Any]:
    query = sa.select(runs.c.key, runs.c.site, runs.c.pid, runs.c.started, runs.c.ended).where(
        runs.c.key.startswith(prefix), runs.c.ended.is_not(None)
    )
    with engine.connect() as connection:
        return list(connection.execute(query.order_by(runs.c.started)).all())


def _wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _queued(engine: Engine) -> list[tuple[Any, ...]]:
    query = (
        "SELECT task_name, args, queueing_lock FROM procrastinate.procrastinate_jobs ORDER BY id"
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql(query).all()]


def work_traced_jobs(url: str) -> None:
    """A worker process of this module's jobs, started by the `workers` fixture."""
    settings = Settings(database_url=url, rotation_interval_seconds=1)
    engine = make_engine(url)
    runtime = Traced(engine, settings)
    asyncio.run(work(traced, runtime, concurrency=2))


@pytest.fixture(scope="module")
def queue_engine() -> Iterator[Engine]:
    """A migrated PostgreSQL database whose queue only the test at hand works."""
    with scratch_postgres_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Two worker processes (two jobs at once each) on a migrated PostgreSQL database."""
    with scratch_postgres_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        runs.create(engine)
        log = tmp_path_factory.mktemp("workers") / "workers.log"
        script = f"from tests.test_jobs import work_traced_jobs; work_traced_jobs({url!r})"
        with log.open("wb") as out:
            processes = [
                subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=out, stderr=out)
                for _ in range(2)
            ]
        try:
            count = "SELECT count(*) FROM procrastinate.procrastinate_workers"

            def registered() -> bool:
                with engine.connect() as connection:
                    return bool(connection.exec_driver_sql(count).scalar_one() == 2)

            _wait_for(registered, 30)
            yield engine
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
            engine.dispose()
        assert [p.returncode for p in processes] == [0, 0], log.read_text()


@pytest.mark.postgres
def test_a_job_is_queued_only_if_its_transaction_commits(queue_engine: Engine) -> None:
    queue = PostgresQueue(traced)
    with Session(queue_engine) as session:
        queue.defer(session, "record", key="rolled-back")
        session.rollback()
    assert _queued(queue_engine) == []

    with Session(queue_engine) as session:
        queue.defer(session, "record", key="committed")
        # A second refresh of the same site while one waits is not queued, and the
        # transaction it was deferred in carries on.
        queue.defer(session, "refresh_site", site_id="s1")
        queue.defer(session, "refresh_site", site_id="s1")
        session.execute(sa.text("SELECT 1"))
        assert session.connection().exec_driver_sql("SHOW search_path").scalar_one() == (
            '"$user", public'
        )
        session.commit()
    assert _queued(queue_engine) == [
        ("record", {"key": "committed"}, None),
        ("refresh_site", {"site_id": "s1"}, "site:s1"),
    ]
    with queue_engine.begin() as connection:  # the real jobs below share this queue
        connection.exec_driver_sql(f"SET LOCAL search_path TO {SCHEMA}")  # for its triggers
        connection.exec_driver_sql("DELETE FROM procrastinate_jobs")


def _job_id(connection: sa.Connection, task: str, args: dict[str, str]) -> int:
    query = "SELECT id FROM procrastinate_jobs WHERE task_name = %s AND args = %s::jsonb"
    return int(connection.exec_driver_sql(query, (task, json.dumps(args))).scalar_one())


@pytest.mark.postgres
def test_the_jobs_of_a_dead_worker_are_retried_or_left_to_the_one_waiting(
    queue_engine: Engine,
) -> None:
    """What a worker killed mid-job leaves: its jobs `doing`, their locks held, and a job
    deferred meanwhile under the same queueing lock waiting for the lock."""
    queue = PostgresQueue(traced)
    with session_scope(queue_engine) as session:
        for ledger in ("a", "b", "c"):
            queue.defer(session, "settle", ledger=ledger)
    with queue_engine.begin() as connection:
        connection.exec_driver_sql(f"SET LOCAL search_path TO {SCHEMA}")
        dead, alive, pruned = (
            connection.exec_driver_sql("SELECT procrastinate_register_worker_v1()").scalar_one()
            for _ in range(3)
        )
        stale = (
            "UPDATE procrastinate_workers SET last_heartbeat = now() - %s::interval WHERE id = %s"
        )
        connection.exec_driver_sql(stale, ("31 seconds", dead))
        connection.exec_driver_sql(stale, ("25 seconds", alive))  # late, but not dead yet
        taken = (
            "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s, attempts = %s "
            "WHERE id = %s"
        )
        a, b, c = (_job_id(connection, "settle", {"ledger": x}) for x in "abc")
        connection.exec_driver_sql(taken, (dead, 0, a))
        connection.exec_driver_sql(taken, (alive, 0, b))
        connection.exec_driver_sql(taken, (pruned, 4, c))  # its fifth run
        # A starting worker prunes the dead one it finds: its jobs lose their worker.
        connection.exec_driver_sql("SELECT procrastinate_unregister_worker_v1(%s)", (pruned,))
    with session_scope(queue_engine) as session:
        queue.defer(session, "settle", ledger="a")  # waits for `a`'s lock
        queue.defer(session, "settle", ledger="a")  # already waiting: not queued

    url = queue_engine.url.render_as_string(hide_password=False)
    assert retry_stalled_jobs(url) == StalledJobs(retried=[], superseded=[a], given_up=[c])
    status = "SELECT task_name, args, status FROM procrastinate.procrastinate_jobs ORDER BY id"
    with queue_engine.connect() as connection:
        assert [tuple(row) for row in connection.exec_driver_sql(status)] == [
            ("settle", {"ledger": "a"}, "aborted"),
            ("settle", {"ledger": "b"}, "doing"),
            ("settle", {"ledger": "c"}, "failed"),
            ("settle", {"ledger": "a"}, "todo"),
        ]
    with queue_engine.begin() as connection:
        connection.exec_driver_sql(f"SET LOCAL search_path TO {SCHEMA}")
        connection.exec_driver_sql(stale, ("31 seconds", alive))  # now dead too
    assert retry_stalled_jobs(url) == StalledJobs(retried=[b], superseded=[], given_up=[])

    runs.create(queue_engine, checkfirst=True)
    settings = Settings(database_url=url, rotation_interval_seconds=0)
    asyncio.run(work(traced, Traced(queue_engine, settings), concurrency=2, wait=False))
    assert Counter(row.key for row in _ended(queue_engine, "settle-")) == {
        "settle-a": 1,
        "settle-b": 1,
    }
    with queue_engine.begin() as connection:
        connection.exec_driver_sql(f"SET LOCAL search_path TO {SCHEMA}")
        connection.exec_driver_sql("DELETE FROM procrastinate_jobs")
        connection.exec_driver_sql("DELETE FROM procrastinate_workers")


BATCH = [f"batch-{n:02}" for n in range(40)]
SITES = ("site-a", "site-b")


@pytest.fixture(scope="module")
def worked(workers: Engine) -> list[Any]:
    """What the two workers ran of a batch, four polls of each of two sites, and a job
    that fails once, all deferred at once: every run, in the order they started."""
    queue = PostgresQueue(traced)
    with session_scope(workers) as session:
        for key in BATCH:
            queue.defer(session, "record", key=key)
        for n in range(4):
            for site in SITES:
                queue.defer(session, "poll_site", site_id=site, key=f"poll-{site}-{n}")
        queue.defer(session, "flaky", key="flaky-pg", failures=1)
    deferred = time.time()
    with workers.begin() as connection:  # when, among the runs
        row = {"key": "deferred-tally", "pid": 0, "started": deferred, "ended": deferred}
        connection.execute(runs.insert().values(row))
    for _ in range(3):  # three writes in a row: one run, after the delay
        with session_scope(workers) as session:
            queue.defer(session, "tally", name="pg")
    expected = len(BATCH) + 4 * len(SITES) + 2 + 2
    _wait_for(lambda: len(_ended(workers, "")) - len(_ended(workers, "tick")) >= expected, 30)
    time.sleep(0.5)  # a second run of any job would show by now
    return _ended(workers, "")


@pytest.mark.postgres
def test_two_workers_run_every_job_exactly_once(worked: list[Any]) -> None:
    batch = [row for row in worked if row.key.startswith("batch-")]
    assert Counter(row.key for row in batch) == Counter(BATCH)
    assert len({row.pid for row in batch}) == 2, "both workers took jobs"


@pytest.mark.postgres
def test_one_site_is_polled_by_one_worker_at_a_time(worked: list[Any]) -> None:
    a, b = ([row for row in worked if row.site == site] for site in SITES)
    for polls in (a, b):
        assert len(polls) == 4
        for earlier, later in itertools.pairwise(polls):
            assert later.started >= earlier.ended, f"{later.site} polled twice at once"
    assert any(x.started < y.ended and y.started < x.ended for x in a for y in b), (
        "different sites are polled side by side"
    )


@pytest.mark.postgres
def test_a_failing_job_is_retried_after_a_backoff_until_it_succeeds(worked: list[Any]) -> None:
    first, second = (row for row in worked if row.key == "flaky-pg")
    assert second.started - first.ended >= 2  # exponential_wait=2: 2 s before the retry


@pytest.mark.postgres
def test_a_delayed_job_starts_after_its_delay_and_folds_what_came_meanwhile(
    worked: list[Any],
) -> None:
    (deferred,) = (row.started for row in worked if row.key == "deferred-tally")
    (run,) = (row for row in worked if row.key == "tally-pg")
    assert run.started - deferred >= TALLY_DELAY


@pytest.mark.postgres
def test_a_periodic_job_runs_once_a_tick_however_many_workers(worked: list[Any]) -> None:
    # Due every second on both workers' schedules, each tick deferred and run once.
    ticks = Counter(int(row.site) for row in worked if row.key == "tick")
    assert len(ticks) >= 3
    assert set(ticks.values()) == {1}
    assert sorted(ticks) == list(range(min(ticks), max(ticks) + 1))


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[Engine, InProcessQueue[Traced]]]:
    """This module's jobs running in-process on SQLite, as `serve` runs them."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    engine = make_engine(url)
    upgrade(engine)
    runs.create(engine)
    queue = InProcessQueue(traced, concurrency=4)
    settings = Settings(database_url=url, rotation_interval_seconds=1)
    queue.start(Traced(engine, settings))
    try:
        yield engine, queue
    finally:
        queue.shutdown()
        engine.dispose()


def test_in_process_jobs_run_after_commit_and_never_after_rollback(
    local: tuple[Engine, InProcessQueue[Traced]],
) -> None:
    engine, queue = local
    with Session(engine) as session:
        queue.defer(session, "record", key="local-rolled-back")
        session.rollback()
    with Session(engine) as session:
        queue.defer(session, "record", key="local-committed")
        queue.defer(session, "refresh_site", site_id="s1")
        queue.defer(session, "refresh_site", site_id="s1")
        session.commit()
    _wait_for(lambda: len(_ended(engine, "local-committed")) == 1, 10)
    queue.shutdown()  # waits for every job it started
    assert [row.key for row in _ended(engine, "local-")] == ["local-committed"]
    assert len(_ended(engine, "refresh-s1")) == 1


def test_in_process_jobs_wait_for_the_transaction_not_for_a_savepoint_in_it(
    local: tuple[Engine, InProcessQueue[Traced]],
) -> None:
    """SQLAlchemy announces a savepoint's release as a commit: a job deferred before one
    (the incident refresh before a burn's replacement) must still wait for the real commit,
    or it runs before what it reads is there."""
    engine, queue = local
    with session_scope(engine) as session:
        queue.defer(session, "record", key="after-savepoint")
        with session.begin_nested():
            session.execute(sa.text("SELECT 1"))
        time.sleep(0.5)  # a job started by the savepoint's release would have run by now
        assert _ended(engine, "after-savepoint") == []
        session.rollback()
    with session_scope(engine) as session:
        queue.defer(session, "record", key="after-savepoint-committed")
        with session.begin_nested():
            session.execute(sa.text("SELECT 1"))
    _wait_for(lambda: len(_ended(engine, "after-savepoint-committed")) == 1, 10)
    assert [r.key for r in _ended(engine, "after-savepoint")] == ["after-savepoint-committed"]


def test_in_process_jobs_retry_lock_and_tick_as_on_workers(
    local: tuple[Engine, InProcessQueue[Traced]],
) -> None:
    engine, queue = local
    with session_scope(engine) as session:
        queue.defer(session, "flaky", key="flaky-local", failures=1)
        for n in range(4):
            queue.defer(session, "poll_site", site_id="site-a", key=f"poll-local-{n}")
        queue.defer(session, "record", key="after-polls")
    _wait_for(lambda: len(_ended(engine, "flaky-local")) == 2, 15)
    _wait_for(lambda: len(_ended(engine, "poll-local-")) == 4, 15)
    polls = _ended(engine, "poll-local-")
    for earlier, later in itertools.pairwise(polls):
        assert later.started >= earlier.ended, "one site polled twice at once"
    # Polls waiting for their site hold no thread: a job deferred after them runs at once.
    (other,) = _ended(engine, "after-polls")
    assert other.ended < polls[1].started
    first, second = _ended(engine, "flaky-local")
    assert second.started - first.ended >= 2
    assert len(_ended(engine, "tick")) >= 2


def test_in_process_delayed_jobs_fold_the_deferrals_made_while_they_wait(
    local: tuple[Engine, InProcessQueue[Traced]],
) -> None:
    engine, queue = local
    deferred = time.time()
    for _ in range(3):  # three units of work in a row, each deferring the same tally
        with session_scope(engine) as session:
            queue.defer(session, "tally", name="local")
    _wait_for(lambda: len(_ended(engine, "tally-local")) == 1, 10)
    (first,) = _ended(engine, "tally-local")
    assert first.started - deferred >= TALLY_DELAY
    with session_scope(engine) as session:  # after it started: a run of its own
        queue.defer(session, "tally", name="local")
    _wait_for(lambda: len(_ended(engine, "tally-local")) == 2, 10)
    time.sleep(TALLY_DELAY * 2)  # a third run would show by now
    earlier, later = _ended(engine, "tally-local")
    assert later.started - earlier.ended >= TALLY_DELAY


def test_intervals_become_cron_lines_every_process_agrees_on() -> None:
    assert cron_every("j", 1) == "* * * * * */1"
    assert cron_every("j", 30) == "* * * * * */30"
    assert cron_every("j", 300) == "*/5 * * * *"
    assert cron_every("j", 3600) == "0 */1 * * *"
    assert cron_every("j", 21600) == "0 */6 * * *"
    assert cron_every("j", 86400) == "0 0 * * *"
    for seconds in (7, 90, 5400, 172800):
        with pytest.raises(UnschedulableError, match="divides a minute"):
            cron_every("j", seconds)


def _outlet(session: Session, name: str) -> Link:
    link = create_link(
        session,
        Actor.cli(),
        LinkCreate(name=name, kind=LinkKind.OUTLET, region="330106", courier=Courier.EMS),
    )
    session.add(FeedProfile(link_id=link.id, rotation_batch=3, control_share=0))
    return link


def _ready(engine: Engine, link: Link) -> int:
    with Session(engine) as session:
        query = select(Canary).where(Canary.link_id == link.id, Canary.status == CanaryStatus.READY)
        return len(session.exec(query).all())


def _worker_command(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`honeytrace worker` as its own process (the CLI wires this very function)."""
    script = "import typer; from app.jobs.commands import worker; typer.run(worker)"
    env = {
        **os.environ,
        "HONEYTRACE_DATABASE_URL": url,
        "HONEYTRACE_ROTATION_INTERVAL_SECONDS": "0",
    }
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.postgres
def test_the_worker_command_runs_queued_jobs(queue_engine: Engine) -> None:
    with session_scope(queue_engine) as session:
        link = _outlet(session, "网点甲")
        PostgresQueue(jobs).defer(session, "rotation", timestamp=int(time.time()))
    url = queue_engine.url.render_as_string(hide_password=False)
    done = _worker_command(url, "--once", "--concurrency", "2")
    assert done.returncode == 0, done.stderr
    assert _ready(queue_engine, link) == 1  # the floor, one at a time
    assert _queued(queue_engine) == []  # done, and deleted as it succeeded


def test_the_worker_command_refuses_sqlite(tmp_path: Path) -> None:
    command = typer.Typer()
    command.command()(worker)
    env = {"HONEYTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    refused = CliRunner().invoke(command, [], env=env)
    assert refused.exit_code == 1
    assert "`honeytrace serve` runs the jobs in-process" in refused.stderr


@pytest.mark.postgres
def test_serve_works_the_queue_itself_when_told_to(queue_engine: Engine) -> None:
    with session_scope(queue_engine) as session:
        link = _outlet(session, "网点乙")
    url = queue_engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, rotation_interval_seconds=1, jobs_in_process=True)
    with TestClient(create_app(settings, Database(queue_engine))):
        _wait_for(lambda: _ready(queue_engine, link) == 1, 20)
