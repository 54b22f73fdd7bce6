"""API keys: stored only as a hash, found by a short public prefix."""

import uuid
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow

# A key's last use is kept to the minute: writing it on every request would make every
# request a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class Role(StrEnum):
    ADMIN = "admin"
    SECURITY = "security"
    INVESTIGATOR = "investigator"
    INTEGRATION = "integration"
    PARTNER = "partner"


# A partner key acts inside the sub-tree below its link (it must have one); an integration
# key may be scoped to the one link whose feeds it uses; no other key has a scope.
SCOPED_ROLES = frozenset({Role.PARTNER, Role.INTEGRATION})
SCOPE_RULE = (
    "(role IN ('partner', 'integration') OR scope_link_id IS NULL)"
    " AND (role <> 'partner' OR scope_link_id IS NOT NULL)"
)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = (sa.CheckConstraint(SCOPE_RULE, name="scope_role"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    prefix: str = Field(sa_type=sa.String(16), unique=True, index=True)
    key_hash: str = Field(sa_type=sa.String(64))
    role: Role = Field(sa_type=sa.String(16))
    scope_link_id: uuid.UUID | None = Field(default=None, foreign_key="links.id", index=True)
    name: str = Field(sa_type=sa.String(200))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: uuid.UUID | None = Field(default=None)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    def stale_use(self) -> bool:
        """Its last-used time is older than the resolution it is kept to."""
        last = self.last_used_at
        return last is None or utcnow() - last > LAST_USED_RESOLUTION
