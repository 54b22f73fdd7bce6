"""How often a pool number is called or messaged with nothing to say: its background rate.

Contacts that named no canary (bare calls, spam, a transcript that says nothing) per day over
the 30 days before a moment. Attribution weighs calls without content against it, and
`GET /v1/numbers` shows it.
"""

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from app.db import utcnow
from app.models.telephony import PhoneContact

BACKGROUND_DAYS = 30


def background_rates(
    session: Session,
    now: datetime | None = None,
    number_ids: Collection[uuid.UUID] | None = None,
) -> dict[uuid.UUID, float]:
    """Contacts without content per day and number over the 30 days before `now` (now
    excluded, so the contacts being weighed are not their own background)."""
    until = now or utcnow()
    query = select(PhoneContact.number_id, func.count()).where(
        col(PhoneContact.number_id).is_not(None),
        col(PhoneContact.matched).is_(False),
        col(PhoneContact.received_at) >= until - timedelta(days=BACKGROUND_DAYS),
        col(PhoneContact.received_at) < until,
    )
    if number_ids is not None:
        query = query.where(col(PhoneContact.number_id).in_(number_ids))
    rows = session.exec(query.group_by(col(PhoneContact.number_id))).all()
    return {number_id: count / BACKGROUND_DAYS for number_id, count in rows if number_id}
