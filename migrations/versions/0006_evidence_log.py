"""evidence log

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_evidence_log")),
    )
    with op.batch_alter_table("evidence_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_log_created_at"), ["created_at"])
        batch_op.create_index(batch_op.f("ix_evidence_log_subject_id"), ["subject_id"])


def downgrade() -> None:
    with op.batch_alter_table("evidence_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_log_subject_id"))
        batch_op.drop_index(batch_op.f("ix_evidence_log_created_at"))
    op.drop_table("evidence_log")
