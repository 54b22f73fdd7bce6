"""scans and sightings

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 11:10:35.494436
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("bytes_read", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("matches", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("encodings", sa.JSON(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scans_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_scans_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_scans_status"), ["status"], unique=False)

    op.create_table(
        "sightings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("canary_id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("control", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("dedup_key", sa.String(length=64), nullable=False),
        sa.Column("scan_id", sa.Uuid(), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=True),
        sa.Column("location", sa.JSON(), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["canary_id"], ["canaries.id"], name=op.f("fk_sightings_canary_id_canaries")
        ),
        sa.ForeignKeyConstraint(["link_id"], ["links.id"], name=op.f("fk_sightings_link_id_links")),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"], name=op.f("fk_sightings_scan_id_scans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sightings")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_sightings_dedup_key")),
    )
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sightings_canary_id"), ["canary_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sightings_evidence_sha256"), ["evidence_sha256"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sightings_link_id"), ["link_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sightings_observed_at"), ["observed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sightings_scan_id"), ["scan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sightings_source"), ["source"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sightings_source"))
        batch_op.drop_index(batch_op.f("ix_sightings_scan_id"))
        batch_op.drop_index(batch_op.f("ix_sightings_observed_at"))
        batch_op.drop_index(batch_op.f("ix_sightings_link_id"))
        batch_op.drop_index(batch_op.f("ix_sightings_evidence_sha256"))
        batch_op.drop_index(batch_op.f("ix_sightings_canary_id"))

    op.drop_table("sightings")
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scans_status"))
        batch_op.drop_index(batch_op.f("ix_scans_sha256"))
        batch_op.drop_index(batch_op.f("ix_scans_created_at"))

    op.drop_table("scans")
