"""an integration key may be scoped to one link (whose feeds it alone may use): the rule of
which keys have a scope is now kept by the database too

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 05:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As app.models.keys.SCOPE_RULE on the day this was written (a migration never imports it).
SCOPE_RULE = (
    "(role IN ('partner', 'integration') OR scope_link_id IS NULL)"
    " AND (role <> 'partner' OR scope_link_id IS NOT NULL)"
)


def upgrade() -> None:
    # Keys issued before held the older rule (only partners scoped, always), which fits.
    with op.batch_alter_table("api_keys") as batch:
        batch.create_check_constraint(op.f("ck_api_keys_scope_role"), SCOPE_RULE)


def downgrade() -> None:
    # The older code would take a scoped integration key for an unscoped one on its other
    # routes (screening, metrics): such keys are revoked, so that going back fails closed.
    revoke = sa.text(
        "UPDATE api_keys SET revoked_at = :now"
        " WHERE role = 'integration' AND scope_link_id IS NOT NULL AND revoked_at IS NULL"
    ).bindparams(sa.bindparam("now", datetime.now(UTC), type_=sa.DateTime(timezone=True)))
    op.get_bind().execute(revoke)
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint(op.f("ck_api_keys_scope_role"), type_="check")
