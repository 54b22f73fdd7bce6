"""Jobs whose row reports their progress (scans, big mints): one life cycle, written once.

Such a row goes queued, running, then done or failed, and a running one touches its
`updated_at` as it works. One silent for STALE_AFTER died with its process (a restart, a
crash), whichever replica looks; on SQLite the queue lives in the `serve` process, so at its
start every row still queued or running was left by the previous one and will never run.
Either way the row is failed with the kind's own "interrupted" reason; what the job stored
stays.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel, select

from app.db import Database, utcnow

# A running job reports progress every second or so (a scan) or every chunk (a mint).
STALE_AFTER = timedelta(minutes=10)
# Both kinds' status enums (ScanStatus, MintJobStatus) store these values.
QUEUED, RUNNING, FAILED = "queued", "running", "failed"


@dataclass(frozen=True)
class ProgressJobs:
    """The rows of one kind of job, and the reason an interrupted one gives."""

    model: type[SQLModel]
    interrupted: str

    def stale(self) -> ColumnElement[bool]:
        """Running, and silent too long: it died with its process. A queued one is
        waiting its turn in the job queue, however long the queue is."""
        silent = self._column("updated_at") < utcnow() - STALE_AFTER
        return sa.and_(self._column("status") == RUNNING, silent)

    def orphaned(self) -> ColumnElement[bool]:
        """Queued or running: at a SQLite `serve`'s start, left by the previous one."""
        return self._column("status").in_([QUEUED, RUNNING])

    def exist(self, session: Session, which: ColumnElement[bool]) -> bool:
        found = session.exec(select(sa.literal(1)).select_from(self.model).where(which).limit(1))
        return found.first() is not None

    def fail(self, session: Session, which: ColumnElement[bool]) -> int:
        """Say of these jobs that they were interrupted; how many there were."""
        now = utcnow()
        failed = (
            sa.update(self.model)
            .where(which)
            .values(status=FAILED, error=self.interrupted, finished_at=now, updated_at=now)
        )
        return session.exec(failed).rowcount

    def fail_stale(self, database: Database) -> int:
        """Fail the stale jobs, whenever their rows are read, so any replica notices: a
        plain read first, and a write only when there are some."""
        with database.read() as session:
            if not self.exist(session, self.stale()):
                return 0
        with database.write() as session:
            return self.fail(session, self.stale())

    def _column(self, name: str) -> ColumnElement[Any]:
        column: ColumnElement[Any] = sa.inspect(self.model).columns[name]
        return column
