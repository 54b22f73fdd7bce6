"""Writing and reading the audit log. Callers pass only non-secret detail.

Every entry is chained in the evidence log as it is written (DESIGN rule 5), so an audit row
edited or deleted afterwards fails `honeytrace evidence verify`.
"""

from typing import Any

from sqlmodel import Session, col, func, select

from app.auth.actor import Actor
from app.evidence.log import log_audit
from app.models.audit import AuditEntry
from app.request_context import current_request_id


def record_audit(
    session: Session,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: object | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor_key_id=actor.key_id,
        actor=actor.name,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        detail=detail or {},
        request_id=current_request_id(),
    )
    session.add(entry)
    session.flush()  # its id is chained with it
    log_audit(session, entry)
    return entry


def list_audit(
    session: Session,
    *,
    action: str | None = None,
    target_id: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AuditEntry], int]:
    """Newest first; and how many match in all."""
    query = select(AuditEntry)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    if before_id is not None:
        query = query.where(col(AuditEntry.id) < before_id)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = query.order_by(col(AuditEntry.id).desc()).limit(limit).offset(offset)
    return list(session.exec(page).all()), total
