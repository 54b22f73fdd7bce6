"""incidents, their sightings, group keys and candidates; records per day on links

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch_op:
        batch_op.add_column(sa.Column("records_per_day", sa.Float(), nullable=True))
    op.create_table(
        "incidents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("control", sa.Boolean(), nullable=False),
        sa.Column("keys", sa.JSON(), nullable=False),
        sa.Column("sighting_count", sa.Integer(), nullable=False),
        sa.Column("surfaced", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merged_into_id", sa.Uuid(), nullable=True),
        sa.Column("top_link_id", sa.Uuid(), nullable=True),
        sa.Column("top_probability", sa.Float(), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_volume", sa.Float(), nullable=True),
        sa.Column("leaked_records", sa.Integer(), nullable=True),
        sa.Column("noise_probability", sa.Float(), nullable=False),
        sa.Column("leakers", sa.JSON(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("explanation_en", sa.Text(), nullable=False),
        sa.Column("explanation_zh", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["incidents.id"], name=op.f("fk_incidents_merged_into_id_incidents")
        ),
        sa.ForeignKeyConstraint(
            ["top_link_id"], ["links.id"], name=op.f("fk_incidents_top_link_id_links")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.create_index(batch_op.f("ix_incidents_status"), ["status"])
        batch_op.create_index(batch_op.f("ix_incidents_last_seen_at"), ["last_seen_at"])
        batch_op.create_index(batch_op.f("ix_incidents_top_link_id"), ["top_link_id"])
    op.create_table(
        "incident_candidates",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("unguarded", sa.Float(), nullable=False),
        sa.Column("explanation_en", sa.Text(), nullable=False),
        sa.Column("explanation_zh", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_candidates_incident_id_incidents"),
        ),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_incident_candidates_link_id_links")
        ),
        sa.PrimaryKeyConstraint("incident_id", "rank", name=op.f("pk_incident_candidates")),
    )
    with op.batch_alter_table("incident_candidates") as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_candidates_link_id"), ["link_id"])
    op.create_table(
        "incident_sightings",
        sa.Column("sighting_id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_sightings_incident_id_incidents"),
        ),
        sa.ForeignKeyConstraint(
            ["sighting_id"],
            ["sightings.id"],
            name=op.f("fk_incident_sightings_sighting_id_sightings"),
        ),
        sa.PrimaryKeyConstraint("sighting_id", name=op.f("pk_incident_sightings")),
    )
    with op.batch_alter_table("incident_sightings") as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_sightings_incident_id"), ["incident_id"])
    op.create_table(
        "incident_keys",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_keys_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("incident_id", "key_sha256", name=op.f("pk_incident_keys")),
    )
    with op.batch_alter_table("incident_keys") as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_keys_key_sha256"), ["key_sha256"])


def downgrade() -> None:
    with op.batch_alter_table("incident_keys") as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_keys_key_sha256"))
    op.drop_table("incident_keys")
    with op.batch_alter_table("incident_sightings") as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_sightings_incident_id"))
    op.drop_table("incident_sightings")
    with op.batch_alter_table("incident_candidates") as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_candidates_link_id"))
    op.drop_table("incident_candidates")
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.drop_index(batch_op.f("ix_incidents_top_link_id"))
        batch_op.drop_index(batch_op.f("ix_incidents_last_seen_at"))
        batch_op.drop_index(batch_op.f("ix_incidents_status"))
    op.drop_table("incidents")
    with op.batch_alter_table("links") as batch_op:
        batch_op.drop_column("records_per_day")
