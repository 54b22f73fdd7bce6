"""a link's learned style: statistics of a sample of its own records, on its feed profile

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 02:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feed_profiles") as batch:
        batch.add_column(sa.Column("style", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_profiles") as batch:
        batch.drop_column("style")
