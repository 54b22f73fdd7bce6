"""plants say whether their canary carries a pool number: attribution counts a window's
plants, and those calls and messages can reach, from the plants' index alone

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 19:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("plants") as batch_op:
        batch_op.add_column(
            sa.Column("by_phone", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # A canary's mobile never changes: its plant takes the form it was minted with.
    op.execute(
        "UPDATE plants SET by_phone = EXISTS (SELECT 1 FROM canaries WHERE canaries.id ="
        " plants.canary_id AND canaries.mobile_form <> 'masked')"
    )
    with op.batch_alter_table("plants") as batch_op:
        batch_op.drop_index(batch_op.f("ix_plants_planted_at_link_id_canary_id"))
        batch_op.create_index(
            batch_op.f("ix_plants_planted_at_link_id_canary_id_by_phone"),
            ["planted_at", "link_id", "canary_id", "by_phone"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("plants") as batch_op:
        batch_op.drop_index(batch_op.f("ix_plants_planted_at_link_id_canary_id_by_phone"))
        batch_op.create_index(
            batch_op.f("ix_plants_planted_at_link_id_canary_id"),
            ["planted_at", "link_id", "canary_id"],
            unique=False,
        )
        batch_op.drop_column("by_phone")
