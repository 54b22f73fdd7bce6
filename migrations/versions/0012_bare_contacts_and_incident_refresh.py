"""calls without content as sightings, and incident attribution refreshed by a job

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A call or message that names a canary only by the number it reached has no score.
    with op.batch_alter_table("sightings") as batch_op:
        batch_op.alter_column("score", existing_type=sa.Float(), nullable=True)
    # Canaries carrying a number called are looked up by it.
    with op.batch_alter_table("canaries") as batch_op:
        batch_op.create_index(batch_op.f("ix_canaries_mobile"), ["mobile"], unique=False)
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("attributed_revision", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("announced", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Every incident before this revision was announced as it opened.
    op.execute(sa.text("UPDATE incidents SET announced = :yes").bindparams(yes=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.drop_column("announced")
        batch_op.drop_column("attributed_revision")
        batch_op.drop_column("revision")
    with op.batch_alter_table("canaries") as batch_op:
        batch_op.drop_index(batch_op.f("ix_canaries_mobile"))
    bare = op.get_bind().execute(sa.text("SELECT count(*) FROM sightings WHERE score IS NULL"))
    if bare.scalar_one():
        # Evidence is never dropped to go back a version, nor given a score it never had.
        raise RuntimeError(
            "sightings of calls without content exist; revision 0011 cannot hold them"
        )
    with op.batch_alter_table("sightings") as batch_op:
        batch_op.alter_column("score", existing_type=sa.Float(), nullable=False)
