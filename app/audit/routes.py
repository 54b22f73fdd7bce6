"""/v1/audit: the audit log, newest first (admins only)."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.audit.service import list_audit
from app.auth.deps import AuditReader
from app.paging import MAX_OFFSET, Offset, Page, limit_query
from app.resources import ReadSession
from app.text import SafeText

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
    action: Annotated[SafeText | None, Query(max_length=64)] = None,
    target_id: Annotated[SafeText | None, Query(max_length=64)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_OFFSET)] = None,
    limit: Annotated[int, limit_query(1000)] = 100,
    offset: Offset = 0,
) -> Page[AuditRead]:
    """Audit entries, newest first; `before_id` starts below an entry already seen."""
    entries, total = list_audit(
        session, action=action, target_id=target_id, before_id=before_id, limit=limit,
        offset=offset,
    )  # fmt: skip
    items = [AuditRead.model_validate(e, from_attributes=True) for e in entries]
    return Page[AuditRead](items=items, total=total, limit=limit, offset=offset)
