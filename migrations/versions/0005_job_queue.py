"""job queue (procrastinate's schema, PostgreSQL only)

procrastinate's tables, types and functions go into a PostgreSQL schema of their own,
`procrastinate`: app.models never sees them (the models-versus-migrations comparison looks
at the default schema only), and downgrade drops exactly what upgrade made. On SQLite jobs
run in-process and there is nothing to create.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import psycopg
import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "procrastinate"
# procrastinate versions its schema by migration files; this revision applies the schema
# whose newest file is this one. A newer procrastinate needs its own revision applying the
# files after it, and this one must then keep creating this schema, not the newer one.
WRITTEN_FOR = "03.04.00_50_post_add_retry_failed_job_procedure.sql"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    shipped = max(p.name for p in Path(SchemaManager.get_migrations_path()).glob("*.sql"))
    if shipped != WRITTEN_FOR:
        raise RuntimeError(
            f"the installed procrastinate's schema ends at {shipped}, but revision 0005 "
            f"creates the one ending at {WRITTEN_FOR}: install that procrastinate, or add a "
            "revision for the newer schema"
        )
    op.execute(f"CREATE SCHEMA {SCHEMA}")
    search_path = bind.exec_driver_sql("SHOW search_path").scalar_one()
    # The schema's SQL names nothing by schema: it lands in the first one on the path.
    op.execute(f"SET LOCAL search_path TO {SCHEMA}")
    # Many statements in one string: psycopg runs those only without parameters, so the
    # driver's own connection takes it (in the migration's transaction all the same).
    driver = cast(psycopg.Connection[Any], bind.connection.driver_connection)
    driver.execute(SchemaManager.get_schema())
    bind.execute(sa.text("SELECT set_config('search_path', :path, true)"), {"path": search_path})


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
