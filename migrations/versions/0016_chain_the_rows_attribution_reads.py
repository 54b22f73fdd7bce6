"""chain the rows attribution reads that the evidence log does not cover yet

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 12:00:00.000000

From here on links (with their readers), each sighting's incident and the audit log are
chained as they are written, and `honeytrace evidence verify` checks every row of them, of
plants and of sightings against its entry (app.evidence.rows). The rows already there are
chained now, as found (a link's `"change"` and a membership's `"grouping"` say `"found"`;
the entry's time says when), so an untouched database still verifies: every row no entry
chains, plants and sightings older than the log (0006) included. Rows that disagree with
their entries are left for verify to name. No schema change: an entry's kind is a string.

The entries are made by the product's own chain code, the format third parties check.
Downgrading keeps them: the chain is append-only, and older code verifies any kind.
"""

from collections.abc import Sequence
from typing import Any

from alembic import op
from sqlmodel import Session

from app.evidence.facts import Grouping, LinkChange, membership_data
from app.evidence.log import PAGE, Event, append_events
from app.evidence.rows import COVERED, Covered, differences
from app.models.evidence import EntryKind

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _found(kind: EntryKind, values: dict[str, Any]) -> dict[str, Any]:
    if kind == EntryKind.LINK:
        return {**values, "change": LinkChange.FOUND.value}
    if kind == EntryKind.MEMBERSHIP:
        return membership_data(values["sighting_id"], values["incident_id"], Grouping.FOUND)
    return values


def upgrade() -> None:
    with Session(bind=op.get_bind()) as session:
        for covered in COVERED:
            _chain_found(session, covered)


def _chain_found(session: Session, covered: Covered) -> None:
    """Chain each row of the table that no entry chains, a page of entries at a time.
    Appending while the entries are read is safe: PostgreSQL's cursors do not see later
    writes, and a row is found unchained only once the read is past its key."""
    pending: list[Event] = []
    for difference in differences(session, covered):
        if difference.seq is None and difference.values is not None:
            data = _found(covered.kind, difference.values)
            pending.append(Event(covered.kind, difference.key, data))
        if len(pending) == PAGE:
            append_events(session, pending)
            pending = []
    append_events(session, pending)


def downgrade() -> None:
    pass
