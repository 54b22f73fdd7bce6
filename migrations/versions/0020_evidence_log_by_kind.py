"""the evidence log indexed by kind and seq: the newest link entry is the link tree's stamp

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 16:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("evidence_log") as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_log_kind_seq"), ["kind", "seq"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evidence_log") as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_log_kind_seq"))
