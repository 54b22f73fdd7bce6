"""burned canaries whose replacement could not be minted yet are owed one

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("canaries") as batch:
        batch.add_column(
            sa.Column("replacement_owed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index("ix_canaries_replacement_owed", ["replacement_owed"])


def downgrade() -> None:
    with op.batch_alter_table("canaries") as batch:
        batch.drop_index("ix_canaries_replacement_owed")
        batch.drop_column("replacement_owed")
