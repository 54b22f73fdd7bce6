"""links and link readers indexed by their change times: the link tree's stamp reads their
newest change on every sighting stored, without reading the table

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 18:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch_op:
        batch_op.create_index(batch_op.f("ix_links_updated_at"), ["updated_at"], unique=False)
    with op.batch_alter_table("link_readers") as batch_op:
        batch_op.create_index(batch_op.f("ix_link_readers_added_at"), ["added_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("link_readers") as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_readers_added_at"))
    with op.batch_alter_table("links") as batch_op:
        batch_op.drop_index(batch_op.f("ix_links_updated_at"))
