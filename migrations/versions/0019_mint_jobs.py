"""big mints run as jobs: their progress and result in mint_jobs, and each canary names the
mint job that made it

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mint_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("minted", sa.Integer(), nullable=False),
        sa.Column("controls", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("minted_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["link_id"], ["links.id"], name=op.f("fk_mint_jobs_link_id_links")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mint_jobs")),
    )
    with op.batch_alter_table("mint_jobs", schema=None) as batch_op:
        for column in ("created_at", "link_id", "minted_by", "status"):
            batch_op.create_index(batch_op.f(f"ix_mint_jobs_{column}"), [column], unique=False)
    with op.batch_alter_table("canaries") as batch:
        batch.add_column(sa.Column("mint_id", sa.Uuid(), nullable=True))
        batch.create_index(batch.f("ix_canaries_mint_id"), ["mint_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_canaries_mint_id_mint_jobs"), "mint_jobs", ["mint_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("canaries") as batch:
        batch.drop_constraint("fk_canaries_mint_id_mint_jobs", type_="foreignkey")
        batch.drop_index("ix_canaries_mint_id")
        batch.drop_column("mint_id")
    op.drop_table("mint_jobs")
