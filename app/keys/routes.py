"""/v1/keys: issue, list and revoke API keys (admins only)."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, StringConstraints

from app.audit.service import record_audit
from app.auth import keys
from app.auth.deps import KeyAdmin
from app.models.keys import ApiKey, Role
from app.paging import Offset, Page, limit_query, page_of
from app.resources import ReadSession, WriteSession
from app.text import Label

router = APIRouter(prefix="/v1/keys", tags=["keys"])


class KeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"role": "integration", "name": "西湖网点 dispatch"},
                {
                    "role": "integration",
                    "name": "西湖网点 dispatch, its own feeds only",
                    "scope_link_id": "0369b2b4-5d7e-4c1a-9f0e-2b8c6d4a1e57",
                },
            ]
        },
    )

    role: Role
    name: Annotated[Label, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    scope_link_id: uuid.UUID | None = None


class KeyRead(BaseModel):
    id: uuid.UUID
    prefix: str
    role: Role
    name: str
    scope_link_id: uuid.UUID | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: ApiKey) -> "KeyRead":
        return cls.model_validate(record, from_attributes=True)


class KeyIssued(KeyRead):
    key: str


@router.get("")
def list_keys(
    session: ReadSession,
    _actor: KeyAdmin,
    limit: Annotated[int, limit_query(1000)] = 100,
    offset: Offset = 0,
) -> Page[KeyRead]:
    """The keys, oldest first (never their secrets)."""
    return page_of([KeyRead.of(k) for k in keys.list_keys(session)], limit, offset)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_key(session: WriteSession, actor: KeyAdmin, body: KeyCreate) -> KeyIssued:
    """The full key is in this response only; it is stored as a hash."""
    issued = keys.issue_key(
        session,
        role=body.role,
        name=body.name,
        scope_link_id=body.scope_link_id,
        created_by=actor.key_id,
    )
    record_audit(
        session,
        actor,
        "key.create",
        "api_key",
        issued.record.id,
        {"role": body.role.value, "prefix": issued.record.prefix, "scope": str(body.scope_link_id)},
    )
    return KeyIssued(**KeyRead.of(issued.record).model_dump(), key=issued.secret)


@router.post("/{key_id}/revoke")
def revoke_key(session: WriteSession, actor: KeyAdmin, key_id: uuid.UUID) -> KeyRead:
    """Revoke a key at once; a key cannot revoke itself."""
    record = keys.revoke_key(session, key_id, by=actor.key_id)
    record_audit(session, actor, "key.revoke", "api_key", record.id, {"prefix": record.prefix})
    return KeyRead.of(record)
