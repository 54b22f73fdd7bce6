"""canaries record when a pull handed them out: a hand-out expires a day after the pull, not
a day after the canary was minted (a replacement or rotation's floor canary waits ready for
the pull, sometimes for days)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 21:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("canaries") as batch_op:
        batch_op.add_column(sa.Column("handed_out_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("canaries") as batch_op:
        batch_op.drop_column("handed_out_at")
