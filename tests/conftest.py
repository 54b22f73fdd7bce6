"""Fixtures: the real migrations on SQLite and PostgreSQL, one rolled-back transaction a test.

PostgreSQL tests use HONEYTRACE_TEST_POSTGRES_URL (default: the local server, database
`test`); each test run works in a scratch database it creates there and drops afterwards.
Where no server answers they skip, unless HONEYTRACE_REQUIRE_POSTGRES=1 (as .ci/run sets),
which turns the skip into a failure.
"""

import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app.auth.actor import Actor
from app.auth.keys import issue_key
from app.db import Database, make_engine, upgrade
from app.incidents.refresh import pending_refreshes
from app.intake.record import keep_sightings
from app.main import create_app
from app.models.keys import Role
from app.models.links import Link
from app.models.sightings import Sighting, SightingSource
from app.queueing.jobs import JobQueue
from app.settings import Settings
from attribution.kinds import LinkKind
from canaries.couriers import Courier

POSTGRES_URL = os.environ.get(
    "HONEYTRACE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
POSTGRES_REQUIRED = os.environ.get("HONEYTRACE_REQUIRE_POSTGRES") == "1"
# Where the tests' incident explanations write their times (the setting's default).
SHANGHAI = ZoneInfo("Asia/Shanghai")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _postgres_admin_engine() -> Engine | None:
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect():
            return engine
    except OperationalError:
        engine.dispose()
        return None


@contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """A new, empty database on the PostgreSQL server, dropped afterwards."""
    admin = _postgres_admin_engine()
    if admin is None:
        message = (
            f"PostgreSQL does not answer at {make_url(POSTGRES_URL).render_as_string()}; start it "
            "(see ../shared/services.md) or set HONEYTRACE_TEST_POSTGRES_URL to run these tests"
        )
        if POSTGRES_REQUIRED:
            pytest.fail(message + " (HONEYTRACE_REQUIRE_POSTGRES=1 forbids skipping)")
        pytest.skip(message)
    name = f"honeytrace_test_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A new database of `backend` for tests whose code commits (jobs, served apps)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / f'fresh-{secrets.token_hex(4)}.db'}"
        return
    with scratch_postgres_database() as url:
        yield url


@contextmanager
def migrated_database(backend: str, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A fresh database brought to head by the real migrations, and an engine on it."""
    with fresh_database(backend, tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        try:
            yield url, engine
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with scratch_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'honeytrace.db'}"


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a database brought to head by the real migrations."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose every commit is a savepoint inside a transaction rolled back at the end."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


def session_scope(engine: Engine) -> AbstractContextManager[Session]:
    """A unit of work on `engine` (Database.write), for tests that commit."""
    return Database(engine).write()


class SharedSessionDatabase(Database):
    """Every read and unit of work of an app under test in the test's one session: its
    commits are savepoints inside the transaction the test rolls back."""

    def __init__(self, engine: Engine, session: Session) -> None:
        super().__init__(engine)
        self.session = session

    @contextmanager
    def read(self) -> Iterator[Session]:
        yield self.session

    @contextmanager
    def write(self) -> Iterator[Session]:
        try:
            yield self.session
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise


def add_sightings(
    session: Session, sightings: list[Sighting], jobs: JobQueue | None = None
) -> list[Sighting]:
    """Store sightings built by a test through the intake's own hand-offs (a dump's file is
    never kept as a blob; any other evidence sha256 is a kept blob). The ones added."""
    pending = [
        (s, None if s.source == SightingSource.DUMP else s.evidence_sha256) for s in sightings
    ]
    return keep_sightings(session, Actor.cli(), pending, jobs=jobs, zone=SHANGHAI).added


class RecordingQueue(JobQueue):
    """A job queue that only notes what was deferred to it."""

    def __init__(self) -> None:
        self.deferred: list[tuple[str, dict[str, Any]]] = []

    def defer(self, session: Session, job: str, **arguments: Any) -> None:
        self.deferred.append((job, arguments))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        max_body_bytes=64 * 1024,
        max_upload_bytes=4 << 20,
        rotation_interval_seconds=0,
        evidence_dir=str(tmp_path / "evidence"),
        # The test's own key table: the database rolls back after each test, a file would not.
        index_path=str(tmp_path / "canaries.keys"),
    )


@pytest.fixture
def app(settings: Settings, engine: Engine, session: Session) -> FastAPI:
    """The app on the test's session, without a job queue: incidents are attributed in
    the unit of work that stores their sightings."""
    return create_app(settings, SharedSessionDatabase(engine, session), jobs=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


KeyFactory = Callable[..., str]


@pytest.fixture
def make_key(session: Session) -> KeyFactory:
    """Issue a real key in the test's database; returns the bearer secret."""

    def make(role: Role, scope: Link | None = None) -> str:
        issued = issue_key(
            session, role=role, name=f"test {role}", scope_link_id=scope.id if scope else None
        )
        session.commit()
        return issued.secret

    return make


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def admin_headers(make_key: KeyFactory) -> dict[str, str]:
    return bearer(make_key(Role.ADMIN))


LinkFactory = Callable[..., Link]


@pytest.fixture
def make_link(session: Session) -> LinkFactory:
    """Register a link directly through the service, as an admin at the CLI would."""
    from app.links.schemas import LinkCreate
    from app.links.service import create_link

    def make(
        name: str,
        kind: LinkKind = LinkKind.OUTLET,
        parent: Link | None = None,
        region: str = "330106",
    ) -> Link:
        data = LinkCreate(
            name=name,
            kind=kind,
            region=region,
            courier=Courier.ZTO,
            parent_id=parent.id if parent else None,
        )
        link = create_link(session, Actor.cli(), data)
        session.commit()
        return link

    return make


ROOT = Path(__file__).resolve().parent.parent


def secret_part(key: str) -> str:
    """The random part of `ht_<prefix>_<secret>` (which may itself contain `_`)."""
    return key.split("_", 2)[2]


def attributed(engine: Engine, seconds: float = 30.0) -> None:
    """Wait until the incident refresh jobs of a served app have caught up with every
    sighting (app.incidents.refresh); the app must run its jobs (on PostgreSQL, with
    `jobs_in_process`)."""
    deadline = time.monotonic() + seconds
    while True:
        with Session(engine) as session:
            if not pending_refreshes(session):
                return
        assert time.monotonic() < deadline, "the incident refresh jobs did not run"
        time.sleep(0.05)


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database (no tables), on each backend, for migration tests."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    with scratch_postgres_database() as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def job_finished(url: str, headers: dict[str, str], *, within: float) -> dict[str, object]:
    """Poll a job resource (a scan, a mint) until it is `done` or `failed`; its last body.
    Fails the test when it is still going after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        body: dict[str, object] = httpx.get(url, headers=headers).json()
        if body["status"] in ("done", "failed"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)
