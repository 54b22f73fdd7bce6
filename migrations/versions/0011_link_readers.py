"""link readers (a vendor reads its clients' data)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 15:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_readers",
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("reader_id", sa.Uuid(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_link_readers_link_id_links")
        ),
        sa.ForeignKeyConstraint(
            ["reader_id"], ["links.id"], name=op.f("fk_link_readers_reader_id_links")
        ),
        sa.PrimaryKeyConstraint("link_id", "reader_id", name=op.f("pk_link_readers")),
    )
    with op.batch_alter_table("link_readers") as batch_op:
        batch_op.create_index(batch_op.f("ix_link_readers_reader_id"), ["reader_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("link_readers") as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_readers_reader_id"))
    op.drop_table("link_readers")
