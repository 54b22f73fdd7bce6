"""The process's canary index: built from the store once, then topped up with what is new.

Every canary is matched, whatever its status: a burned one is known to buyers and still
surfaces, and one never handed out (ready, expired) or a control surfacing means a leak
inside honeytrace itself, which attribution must see.
"""

import threading
import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlmodel import Session, col

from app.planting.models import Canary
from canaries.index import CanaryIndex, IndexEntry

_PAGE = 50_000
_SLACK = timedelta(minutes=5)


_COLUMNS = [
    col(c)
    for c in (
        Canary.id, Canary.waybill_no, Canary.name, Canary.mobile, Canary.mobile_secret,
        Canary.mobile_form, Canary.district_code, Canary.address, Canary.control,
        Canary.minted_at,
    )
]  # fmt: skip


class IndexHolder:
    """One CanaryIndex per process, refreshed by minted_at watermark under a lock."""

    def __init__(self) -> None:
        self.index = CanaryIndex()
        self._lock = threading.Lock()
        self._watermark: datetime | None = None

    def refresh(self, session: Session) -> int:
        """Add canaries minted since the last refresh; returns how many were added.

        Pages go by (minted_at, id). A refresh re-reads the last `_SLACK` before the previous
        one's newest canary, so a mint committed late with an earlier time is not missed;
        `add` skips the canaries already held.
        """
        with self._lock:
            added = 0
            since = None if self._watermark is None else self._watermark - _SLACK
            after: tuple[datetime, uuid.UUID] | None = None
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
                    break
                after = (rows[-1][9], rows[-1][0])
                if self._watermark is None or after[0] > self._watermark:
                    self._watermark = after[0]
                if len(rows) < _PAGE:
                    break
            self.index.merge()
            return added
