"""Engines, sessions and the Alembic migrations that are the only way the schema changes.

Transactions are explicit. A `Database` hands out two kinds of session: `read()`, a plain
read that never takes SQLite's write lock, and `write()`, a unit of work that commits when
its block ends (rolls back if it raises) and is opened only around writes. Services take a
`Session` and never commit; the route (through app.resources' `ReadSession` /
`WriteSession`), the job or the CLI command that opened the session decides where the
transaction ends.
"""

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Dialect, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel

import migrations

if TYPE_CHECKING:
    from alembic.config import Config

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


# Alembic is imported only to migrate (or where the migration files are not one line of
# history): every CLI command checks the schema, and importing Alembic takes longer (about a
# third of a second) than the rest of a one-row scan's start-up together.


def alembic_config(connection: Connection | None = None, url: str | None = None) -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate up to `revision` (see _migrating)."""
    from alembic import command

    with _migrating(engine) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate down to `revision` (see _migrating)."""
    from alembic import command

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


# A migration file's own `revision = "0018"` and `down_revision = "0017"` lines.
_REVISION_LINE = re.compile(
    r"""^(revision|down_revision)\b[^=\n]*=\s*(?:"([^"\n]+)"|'([^'\n]+)'|(None))\s*$""",
    re.MULTILINE,
)


def head_revision() -> str | None:
    """The newest migration, as Alembic names it. Read from the migration files' revision
    lines when they make one line of history, as ours do; Alembic's ScriptDirectory decides
    anything else (a branch, a merge, a line this reading does not understand)."""
    down_of: dict[str, str | None] = {}
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        lines = _REVISION_LINE.findall(path.read_text("utf-8"))
        found = {name: None if none else double or single for name, double, single, none in lines}
        revision = found.get("revision")
        if len(lines) != 2 or revision is None or "down_revision" not in found:
            return _alembic_head()
        if revision in down_of:  # two files claim one revision
            return _alembic_head()
        down_of[revision] = found["down_revision"]
    downs = list(down_of.values())
    heads = set(down_of) - set(downs)
    if len(heads) != 1 or len(set(downs)) != len(downs) or None not in downs:
        return _alembic_head()
    return heads.pop()


def _alembic_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database's alembic_version table holds (None: never migrated), read
    as Alembic's MigrationContext reads it, without importing Alembic."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    versions = list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    if len(versions) > 1:
        raise RuntimeError(f"the database records more than one head: {', '.join(versions)}")
    return versions[0] if versions else None


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
