"""The process's canary index (`LiveIndex`): loaded from the key table on disk, then topped up
with what the database holds beyond it, so every match in the process sees every canary
minted so far without any process reading every canary.

The key table (canaries.keytable) is a cache of the database kept beside it: a process
loads it in one read, appends the canaries it finds newer than the table's watermark, and
sees what other processes appended at its next refresh. A table that does not check out is
deleted and built again from the database; the database stays the truth.

Every canary is matched, whatever its status: a burned one is known to buyers and still
surfaces, and one never handed out (ready, expired) or a control surfacing means a leak
inside honeytrace itself, which attribution must see.
"""

import gc
import hashlib
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, func, make_url, or_, select
from sqlmodel import Session, col

from app.models.canaries import Canary
from app.settings import Settings
from canaries.index import CanaryIndex, IndexEntry
from canaries.keytable import KeyTable, KeyTableError
from canaries.matching import Matcher

_PAGE = 50_000
_SLACK = timedelta(minutes=5)
# A refresh that added fewer canaries leaves their keys pending (looked up as they are)
# rather than re-sorting every key of the index: at 100,000 canaries that merge takes about
# 0.4 s, which each screening hit's replacement canaries made the next request pay. The
# index merges by itself once enough keys are pending (canaries.index._MERGE_AT).
_MERGE_AFTER = 1_000
# How often a refresh counts the canaries, to find those committed late (see refresh).
COUNT_EVERY_SECONDS = 10.0


_COLUMNS = [
    col(c)
    for c in (
        Canary.id, Canary.waybill_no, Canary.name, Canary.mobile, Canary.mobile_secret,
        Canary.mobile_form, Canary.district_code, Canary.address, Canary.control,
        Canary.minted_at,
    )
]  # fmt: skip


def key_table_path(settings: Settings) -> Path | None:
    """Where the key table is kept: HONEYTRACE_INDEX_PATH, else beside the SQLite file, else
    (PostgreSQL) in the temporary directory, named after the database. None for an
    in-memory database, whose canaries die with the process."""
    if settings.index_path:
        return Path(settings.index_path)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return Path(f"{url.database}.keys") if url.database not in (None, "", ":memory:") else None
    name = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"honeytrace-{name}.keys"


class LiveIndex:
    """One CanaryIndex per process, refreshed by minted_at watermark under a lock; kept in a
    key table file when given one (see the module)."""

    def __init__(
        self,
        table_path: Path | None = None,
        *,
        count_every: float = COUNT_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._own = CanaryIndex()
        self._table = KeyTable(table_path) if table_path is not None else None
        self._lock = threading.Lock()
        self._after: tuple[datetime, uuid.UUID] | None = None  # the newest canary held
        self._newest: datetime | None = None  # the newest minted_at the store showed
        self._count: int | None = None  # how many canaries it held at the last count
        self._counted_at: float | None = None
        self._count_every = count_every
        self._clock = clock

    @property
    def index(self) -> CanaryIndex:
        return self._table.index if self._table is not None else self._own

    def refresh(self, session: Session) -> int:
        """Add canaries minted since the last refresh; returns how many were added.

        Pages go by (minted_at, id) after the newest canary held: one query on the
        minted_at index when nothing is new (the usual case). Every `count_every` seconds the
        canaries are counted too (a count reads every row, or a whole index: 55-70 ms at
        1,000,000 on PostgreSQL, which every matching request paid): if the store holds more
        than the index (a mint committed late, with an earlier time than the newest held),
        the last `_SLACK` is read again, and failing that everything; canaries already held
        are skipped. A canary committed late is matched within `count_every` seconds, long
        before it can reach a feed and leak.
        """
        with self._lock:
            loaded = self._load_table()
            newest = session.execute(select(func.max(col(Canary.minted_at)))).scalar_one()
            now = self._clock()
            count: int | None = None
            if self._counted_at is None or now - self._counted_at >= self._count_every:
                count = int(session.execute(select(func.count()).select_from(Canary)).scalar_one())
                self._counted_at = now
                if self._table is not None and self.index.rows > count:
                    # More canaries than the database holds: the file belongs to another
                    # database (one deleted and made again under the same name). Start over.
                    loaded = self._restart_table()
            unchanged = newest == self._newest and count in (None, self._count)
            if unchanged and not loaded:
                return 0
            added = self._load(session, None, self._after)
            if count is not None:
                if self.index.rows < count and self._after is not None:
                    added += self._load(session, self._after[0] - _SLACK, None)
                if self.index.rows < count:
                    added += self._load(session, None, None)
                self._count = count
            if added >= _MERGE_AFTER and self._table is None:
                self._own.merge()
            if added + loaded >= _MERGE_AFTER:
                # The index lives as long as the process: keep the cyclic collector off its
                # objects, whose full pass took about 0.2 s at 100,000 canaries and stalled
                # whichever request triggered it (reference counting still frees them).
                gc.freeze()
            self._newest = newest
            return added

    def matcher(self, session: Session) -> Matcher:
        """A matcher over every canary stored (the index refreshed first, a plain read)."""
        self.refresh(session)
        store = None
        if self._table is not None:
            store = self._table.path.with_name(self._table.path.name + ".columns")
        return Matcher(self.index, columns_store=store)

    def _load_table(self) -> int:
        """What other processes appended to the table; a table that does not check out is
        started again (it is rebuilt from the database by this refresh)."""
        if self._table is None:
            return 0
        try:
            loaded = self._table.load()
        except KeyTableError:
            return self._restart_table()
        mark = self._table.watermark
        if mark is not None and (self._after is None or mark > self._after):
            self._after = mark
        return loaded

    def _restart_table(self) -> int:
        if self._table is None:
            return 0
        path = self._table.path
        path.unlink(missing_ok=True)
        self._table = KeyTable(path)
        self._after = None
        self._newest = None
        self._count = None
        return 0

    def _add(self, entries: list[IndexEntry]) -> int:
        if self._table is not None:
            return self._table.append(entries)
        return self._own.add(entries)

    def _load(
        self, session: Session, since: datetime | None, after: tuple[datetime, uuid.UUID] | None
    ) -> int:
        added = 0
        while True:
            query = select(*_COLUMNS)
            if since is not None:
                query = query.where(col(Canary.minted_at) >= since)
            if after is not None:
                # The first bound is implied by the second; stated, it lets the minted_at
                # index start at the watermark (without it SQLite walked the whole index:
                # 0.2 s of every start at 1,000,000 canaries).
                query = query.where(col(Canary.minted_at) >= after[0]).where(
                    or_(
                        col(Canary.minted_at) > after[0],
                        and_(col(Canary.minted_at) == after[0], col(Canary.id) > after[1]),
                    )
                )
            rows = session.execute(
                query.order_by(col(Canary.minted_at), col(Canary.id)).limit(_PAGE)
            ).all()
            added += self._add(
                [
                    IndexEntry(
                        id=row[0],
                        waybill_no=row[1],
                        name=row[2],
                        mobile=row[3],
                        mobile_secret=row[4],
                        mobile_form=row[5],
                        district_code=row[6],
                        address=row[7],
                        control=row[8],
                        minted_at=row[9],
                    )
                    for row in rows
                ]
            )
            if not rows:
                return added
            after = (rows[-1][9], rows[-1][0])
            if self._after is None or after > self._after:
                self._after = after
            if len(rows) < _PAGE:
                return added
