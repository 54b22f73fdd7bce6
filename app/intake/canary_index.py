"""The process's canary index (`LiveIndex`): built from the store once, then topped up with
what is new, so every match in the process sees every canary minted so far.

Every canary is matched, whatever its status: a burned one is known to buyers and still
surfaces, and one never handed out (ready, expired) or a control surfacing means a leak
inside honeytrace itself, which attribution must see.
"""

import gc
import threading
import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlmodel import Session, col

from app.models.canaries import Canary
from canaries.index import CanaryIndex, IndexEntry
from canaries.matching import Matcher

_PAGE = 50_000
_SLACK = timedelta(minutes=5)
# A refresh that added fewer canaries leaves their keys pending (looked up as they are)
# rather than re-sorting every key of the index: at 100,000 canaries that merge takes about
# 0.4 s, which each screening hit's replacement canaries made the next request pay. The
# index merges by itself once enough keys are pending (canaries.index._MERGE_AT).
_MERGE_AFTER = 1_000


_COLUMNS = [
    col(c)
    for c in (
        Canary.id, Canary.waybill_no, Canary.name, Canary.mobile, Canary.mobile_secret,
        Canary.mobile_form, Canary.district_code, Canary.address, Canary.control,
        Canary.minted_at,
    )
]  # fmt: skip


class LiveIndex:
    """One CanaryIndex per process, refreshed by minted_at watermark under a lock."""

    def __init__(self) -> None:
        self.index = CanaryIndex()
        self._lock = threading.Lock()
        self._after: tuple[datetime, uuid.UUID] | None = None  # the newest canary held
        self._seen: tuple[int, datetime | None] | None = None

    def refresh(self, session: Session) -> int:
        """Add canaries minted since the last refresh; returns how many were added.

        Pages go by (minted_at, id) after the newest canary held. If the store then still
        holds more canaries than the index (a mint committed late, with an earlier time),
        the last `_SLACK` is read again, and failing that everything; `add` skips the
        canaries already held.
        """
        with self._lock:
            # Nothing minted since last time (the usual case, two cheap queries): done. Asked
            # together, SQLite answers count and max by one scan of every row (10 ms at
            # 100,000 canaries); apart, by its count optimisation and the minted_at index.
            count = session.execute(select(func.count()).select_from(Canary)).scalar_one()
            newest = session.execute(select(func.max(col(Canary.minted_at)))).scalar_one()
            state = (int(count), newest)
            if state == self._seen:
                return 0
            added = self._load(session, None, self._after)
            if self.index.rows < state[0] and self._after is not None:
                added += self._load(session, self._after[0] - _SLACK, None)
            if self.index.rows < state[0]:
                added += self._load(session, None, None)
            if added >= _MERGE_AFTER:
                self.index.merge()
                # The index lives as long as the process: keep the cyclic collector off its
                # objects, whose full pass took about 0.2 s at 100,000 canaries and stalled
                # whichever request triggered it (reference counting still frees them).
                gc.freeze()
            self._seen = state
            return added

    def matcher(self, session: Session) -> Matcher:
        """A matcher over every canary stored, the index refreshed first (a plain read)."""
        self.refresh(session)
        return Matcher(self.index)

    def _load(
        self, session: Session, since: datetime | None, after: tuple[datetime, uuid.UUID] | None
    ) -> int:
        added = 0
        while True:
            query = select(*_COLUMNS)
            if since is not None:
                query = query.where(col(Canary.minted_at) >= since)
            if after is not None:
                query = query.where(
                    or_(
                        col(Canary.minted_at) > after[0],
                        and_(col(Canary.minted_at) == after[0], col(Canary.id) > after[1]),
                    )
                )
            rows = session.execute(
                query.order_by(col(Canary.minted_at), col(Canary.id)).limit(_PAGE)
            ).all()
            added += self.index.add(
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
                )
                for row in rows
            )
            if not rows:
                return added
            after = (rows[-1][9], rows[-1][0])
            if self._after is None or after > self._after:
                self._after = after
            if len(rows) < _PAGE:
                return added
