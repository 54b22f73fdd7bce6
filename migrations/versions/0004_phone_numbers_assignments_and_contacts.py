"""phone numbers, assignments and contacts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:06:05.017005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "phone_numbers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("home_district", sa.String(length=6), nullable=True),
        sa.Column("privacy", sa.Boolean(), nullable=False),
        sa.Column("control", sa.Boolean(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_phone_numbers_link_id_links")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_numbers")),
        sa.UniqueConstraint("number", name=op.f("uq_phone_numbers_number")),
    )
    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phone_numbers_link_id"), ["link_id"], unique=False)

    op.create_table(
        "phone_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number_id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_phone_assignments_link_id_links")
        ),
        sa.ForeignKeyConstraint(
            ["number_id"],
            ["phone_numbers.id"],
            name=op.f("fk_phone_assignments_number_id_phone_numbers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_assignments")),
    )
    with op.batch_alter_table("phone_assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phone_assignments_link_id"), ["link_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_phone_assignments_number_id"), ["number_id"], unique=False
        )

    op.create_table(
        "phone_contacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("number_id", sa.Uuid(), nullable=True),
        sa.Column("to_number", sa.String(length=32), nullable=False),
        sa.Column("from_number", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("matched", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["number_id"],
            ["phone_numbers.id"],
            name=op.f("fk_phone_contacts_number_id_phone_numbers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_contacts")),
        sa.UniqueConstraint("provider", "sid", name=op.f("uq_phone_contacts_provider_sid")),
    )
    with op.batch_alter_table("phone_contacts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_phone_contacts_number_id"), ["number_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_phone_contacts_received_at"), ["received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("phone_contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phone_contacts_received_at"))
        batch_op.drop_index(batch_op.f("ix_phone_contacts_number_id"))
    op.drop_table("phone_contacts")
    with op.batch_alter_table("phone_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phone_assignments_number_id"))
        batch_op.drop_index(batch_op.f("ix_phone_assignments_link_id"))
    op.drop_table("phone_assignments")
    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phone_numbers_link_id"))
    op.drop_table("phone_numbers")
