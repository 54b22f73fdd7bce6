"""what grouping keeps of an open incident between sightings, and the incidents it is kept
apart from (an investigator's split)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Both start empty on existing incidents: a missing profile is rebuilt from the
    # incident's sightings the first time grouping reads it.
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("profile", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("apart", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("apart")
        batch.drop_column("profile")
