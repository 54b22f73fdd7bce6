"""index canaries by minted_at, plants by time, link and canary

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 15:00:00.000000

The canary index held by each process asks for the newest canary on every matching request
and pages new canaries by (minted_at, id): without the first index both read every canary.
Attribution counts a window's plants by link and time: the second answers it alone.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("canaries") as batch_op:
        batch_op.create_index(batch_op.f("ix_canaries_minted_at"), ["minted_at"], unique=False)
    with op.batch_alter_table("plants") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_plants_planted_at_link_id_canary_id"),
            ["planted_at", "link_id", "canary_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("plants") as batch_op:
        batch_op.drop_index(batch_op.f("ix_plants_planted_at_link_id_canary_id"))
    with op.batch_alter_table("canaries") as batch_op:
        batch_op.drop_index(batch_op.f("ix_canaries_minted_at"))
