"""Engines, sessions and the Alembic migrations that are the only way the schema changes.

Transactions are explicit. A `Database` hands out two kinds of session: `read()`, a plain
read that never takes SQLite's write lock, and `write()`, a unit of work that commits when
its block ends (rolls back if it raises) and is opened only around writes. Services take a
`Session` and never commit; the route (through `ReadSession` / `WriteSession`), the job or
the CLI command that opened the session decides where the transaction ends.
"""

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import Depends
from sqlalchemy import DateTime, Dialect, Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel

import migrations
from app.resources import resource

MIGRATIONS_DIR = Path(migrations.__file__).parent

# Named constraints, so that later migrations (batch mode on SQLite) can find them again.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_engine(url: str, *, busy_timeout: float = 30) -> Engine:
    """`busy_timeout`: how long, in seconds, a SQLite connection waits for another
    process's write lock before it fails."""
    if url.startswith("sqlite"):
        args = {"check_same_thread": False, "timeout": busy_timeout}
        engine = create_engine(url, connect_args=args)
        writer = threading.Lock()
        wait = max(busy_timeout, WRITER_WAIT_SECONDS)

        def begin(connection: Connection) -> None:
            _sqlite_begin(writer, wait, connection)

        def checkin(_dbapi_connection: Any, record: Any) -> None:
            if record.info.pop(_WRITER, False):
                writer.release()

        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", begin)
        event.listen(engine, "checkin", checkin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy's documented recipe
    # turns it off here and emits BEGIN itself in _sqlite_begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(writer: threading.Lock, wait: float, connection: Connection) -> None:
    mode = connection.get_execution_options().get(_BEGIN, "")
    if mode != "IMMEDIATE":
        connection.exec_driver_sql(f"BEGIN {mode}")
        return
    # The lock is the connection's, not a thread's: FastAPI may open a request's unit of
    # work, run the route and commit it on three different threads. Held until check-in.
    taken = not connection.info.get(_WRITER)
    if taken:
        if not writer.acquire(timeout=wait):
            raise sqlite3.OperationalError(
                f"database is locked (waited {wait:.0f} s for this process's other writers)"
            )
        connection.info[_WRITER] = True
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if taken:
            connection.info.pop(_WRITER, None)
            writer.release()
        raise


# Units of work (a request, a job) begin IMMEDIATE on SQLite: they take the write lock at
# once, waiting up to the busy timeout. A deferred BEGIN that reads and then writes fails
# at once (SQLITE_BUSY) when another connection wrote in between, as two concurrent
# requests do. Plain reads (readiness, migrations) stay deferred and never wait.
_BEGIN = "honeytrace_sqlite_begin"


def unit_of_work(engine: Engine) -> Engine:
    """The engine as units of work use it (see _BEGIN); other dialects ignore the option."""
    return engine.execution_options(**{_BEGIN: "IMMEDIATE"})


# SQLite has one writer. A process's units of work queue for it on a lock of the engine,
# taken as a unit begins IMMEDIATE and released when its connection goes back to the pool
# (after its COMMIT or ROLLBACK), rather than in SQLite's busy handler, which polls with
# sleeps of up to 100 ms and lets a newcomer take the lock ahead of a waiter: under 8
# concurrent reports that put the unluckiest request seconds behind (p99 14.6 s in
# benchmarks/write_rate.py). Other processes (a CLI command, a worker) still meet the busy
# timeout. A unit waits for the others at most WRITER_WAIT_SECONDS (or the busy timeout if
# longer), then fails as SQLite would: "database is locked".
WRITER_WAIT_SECONDS = 120.0
_WRITER = "honeytrace_sqlite_writer"


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate up to `revision` (see _migrating)."""
    with _migrating(engine) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate down to `revision` (see _migrating)."""
    with _migrating(engine) as connection:
        command.downgrade(alembic_config(connection), revision)


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction to migrate in. On SQLite, whose ALTER TABLE cannot
    change a column, a migration rebuilds the table (Alembic's batch mode); SQLite's
    procedure for that turns foreign keys off around the transaction (dropping a table that
    other rows refer to fails otherwise) and checks them all before committing."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        driver: Any = connection.connection.driver_connection
        if sqlite:  # outside any transaction: inside one the pragma does nothing
            driver.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
                    if broken is not None:
                        raise RuntimeError(f"migration left a broken foreign key: {broken}")
        finally:
            if sqlite:
                driver.execute("PRAGMA foreign_keys=ON")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


class Database:
    """Sessions on one database: plain reads, and units of work that write (see the module)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads: it never commits, and on SQLite it takes no write lock."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A unit of work: commit when the block ends, roll back if it raises. On SQLite the
        process's units of work take turns (see _WRITER)."""
        with Session(unit_of_work(self.engine), expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise


DatabaseDep = Annotated[Database, Depends(resource(Database))]


def read_session(database: DatabaseDep) -> Iterator[Session]:
    with database.read() as session:
        yield session


def write_session(database: DatabaseDep) -> Iterator[Session]:
    with database.write() as session:
        yield session


# A route's signature says whether it writes: `ReadSession` reads and never commits;
# `WriteSession` is the request's unit of work, committed when the route returns (before
# the response is sent) and rolled back if it raises.
ReadSession = Annotated[Session, Depends(read_session, scope="function")]
WriteSession = Annotated[Session, Depends(write_session, scope="function")]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
