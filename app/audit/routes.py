"""/v1/audit: the audit log, newest first (admins only)."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.audit.service import list_audit
from app.auth.deps import AuditReader
from app.db import ReadSession

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class AuditRead(BaseModel):
    id: int
    at: datetime
    actor_key_id: uuid.UUID | None
    actor: str
    action: str
    target_type: str
    target_id: str | None
    detail: dict[str, Any]
    request_id: str | None


@router.get("")
def read_audit(
    session: ReadSession,
    _actor: AuditReader,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    before_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditRead]:
    entries = list_audit(
        session, action=action, target_id=target_id, before_id=before_id, limit=limit
    )
    return [AuditRead.model_validate(e, from_attributes=True) for e in entries]
