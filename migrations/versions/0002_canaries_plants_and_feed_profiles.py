"""canaries, plants and feed profiles

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 09:20:43.492559
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "canaries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("control", sa.Boolean(), nullable=False),
        sa.Column("courier", sa.String(length=16), nullable=False),
        sa.Column("waybill_no", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("mobile", sa.String(length=40), nullable=False),
        sa.Column("mobile_form", sa.String(length=16), nullable=False),
        sa.Column("mobile_secret", sa.String(length=40), nullable=True),
        sa.Column("province", sa.String(length=32), nullable=False),
        sa.Column("city", sa.String(length=32), nullable=False),
        sa.Column("district", sa.String(length=32), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("identity_key", sa.String(length=64), nullable=False),
        sa.Column("item", sa.String(length=64), nullable=False),
        sa.Column("weight_kg", sa.Float(), nullable=False),
        sa.Column("record_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minted_by", sa.Uuid(), nullable=True),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["link_id"], ["links.id"], name=op.f("fk_canaries_link_id_links")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canaries")),
        sa.UniqueConstraint("identity_key", name=op.f("uq_canaries_identity_key")),
        sa.UniqueConstraint("waybill_no", name=op.f("uq_canaries_waybill_no")),
    )
    with op.batch_alter_table("canaries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_canaries_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_canaries_link_id"), ["link_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_canaries_minted_by"), ["minted_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_canaries_status"), ["status"], unique=False)

    op.create_table(
        "feed_profiles",
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("mobile_form", sa.String(length=16), nullable=False),
        sa.Column("category_mix", sa.JSON(), nullable=True),
        sa.Column("feed_format", sa.String(length=8), nullable=False),
        sa.Column("feed_encoding", sa.String(length=16), nullable=False),
        sa.Column("feed_columns", sa.JSON(), nullable=True),
        sa.Column("interleave_rate", sa.Float(), nullable=False),
        sa.Column("rotation_days", sa.Integer(), nullable=False),
        sa.Column("rotation_batch", sa.Integer(), nullable=False),
        sa.Column("control_share", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_feed_profiles_link_id_links")
        ),
        sa.PrimaryKeyConstraint("link_id", name=op.f("pk_feed_profiles")),
    )
    op.create_table(
        "plants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("canary_id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("planted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["canary_id"], ["canaries.id"], name=op.f("fk_plants_canary_id_canaries")
        ),
        sa.ForeignKeyConstraint(["link_id"], ["links.id"], name=op.f("fk_plants_link_id_links")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plants")),
        sa.UniqueConstraint("canary_id", name=op.f("uq_plants_canary_id")),
    )
    with op.batch_alter_table("plants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plants_link_id"), ["link_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_plants_planted_at"), ["planted_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("plants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plants_planted_at"))
        batch_op.drop_index(batch_op.f("ix_plants_link_id"))

    op.drop_table("plants")
    op.drop_table("feed_profiles")
    with op.batch_alter_table("canaries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_canaries_status"))
        batch_op.drop_index(batch_op.f("ix_canaries_minted_by"))
        batch_op.drop_index(batch_op.f("ix_canaries_link_id"))
        batch_op.drop_index(batch_op.f("ix_canaries_batch_id"))

    op.drop_table("canaries")
