"""Registering links and keeping the tree sound; every function takes the acting key.

Every change to what attribution reads of a link (its place in the tree, kind, name, volume
and readers) is chained in the evidence log with the link's new state (app.evidence).

Tenancy: a scoped (partner) actor sees its scope root and everything below it, and changes
only links strictly below the root. Anything else is reported as not found, never as
forbidden, so a partner cannot learn what exists outside its sub-tree.
"""

import uuid
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, or_, select

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.db import utcnow
from app.evidence.facts import LinkChange
from app.evidence.log import log_links
from app.links.schemas import LinkCreate, LinkUpdate
from app.links.tree import ancestor_ids, exposure_ids, subtree_ids
from app.models.canaries import Canary, FeedProfile, MintJob, MintJobStatus
from app.models.keys import ApiKey
from app.models.links import Link, LinkReader
from app.problems import ConflictError, InvalidError, NotFoundError, field_error
from attribution.kinds import LinkKind
from canaries.divisions import division_table


def _not_found(link_id: uuid.UUID) -> NotFoundError:
    return NotFoundError(f"Link {link_id} not found.")


def _in_scope(session: Session, actor: Actor, link_id: uuid.UUID, *, below: bool) -> bool:
    if actor.scope_link_id is None:
        return True
    chain = ancestor_ids(session, link_id)
    return actor.scope_link_id in (chain[1:] if below else chain)


def get_link(session: Session, actor: Actor, link_id: uuid.UUID) -> Link:
    link = session.get(Link, link_id)
    if link is None or not _in_scope(session, actor, link_id, below=False):
        raise _not_found(link_id)
    return link


def _writable_link(session: Session, actor: Actor, link_id: uuid.UUID) -> Link:
    link = get_link(session, actor, link_id)
    if not _in_scope(session, actor, link_id, below=True):
        # The partner can read its own root but not change it; still, say no more than 404.
        raise _not_found(link_id)
    return link


def _check_region(code: str) -> None:
    if code not in division_table():
        raise InvalidError(
            f"Unknown region code {code}.",
            errors=[field_error("region", f"{code} is not a GB/T 2260 division code")],
        )


def _check_parent(session: Session, actor: Actor, parent_id: uuid.UUID | None) -> None:
    if parent_id is None:
        if actor.is_scoped:
            raise InvalidError(
                "A partner's links must sit inside its sub-tree.",
                errors=[field_error("parent_id", "required for a partner key")],
            )
        return
    parent = session.get(Link, parent_id)
    if parent is None or not _in_scope(session, actor, parent_id, below=False):
        raise NotFoundError(
            f"Parent link {parent_id} not found.",
            errors=[field_error("parent_id", "no such link")],
        )


def _check_external_ref(session: Session, ref: str | None, own_id: uuid.UUID | None) -> None:
    if ref is None:
        return
    clash = session.exec(select(Link.id).where(Link.external_ref == ref)).first()
    if clash is not None and clash != own_id:
        raise ConflictError(
            f"external_ref {ref!r} is already used by another link.",
            errors=[field_error("external_ref", "already used")],
        )


def create_link(session: Session, actor: Actor, data: LinkCreate) -> Link:
    _check_region(data.region)
    _check_parent(session, actor, data.parent_id)
    _check_external_ref(session, data.external_ref, None)
    now = utcnow()
    link = Link(
        name=data.name,
        kind=data.kind,
        region_code=data.region,
        courier=data.courier,
        parent_id=data.parent_id,
        external_ref=data.external_ref,
        records_per_day=data.records_per_day,
        valid_from=data.valid_from or now,
        valid_until=data.valid_until,
        created_at=now,
        updated_at=now,
    )
    session.add(link)
    session.flush()
    log_links(session, [link.id], LinkChange.CREATED)
    record_audit(session, actor, "link.create", "link", link.id, _audit_fields(data))
    return link


def update_link(session: Session, actor: Actor, link_id: uuid.UUID, patch: LinkUpdate) -> Link:
    link = _writable_link(session, actor, link_id)
    changes = patch.model_dump(exclude_unset=True)
    for required in ("name", "kind", "region", "courier", "valid_from"):
        if required in changes and changes[required] is None:
            raise InvalidError(
                f"{required} cannot be null.", errors=[field_error(required, "cannot be null")]
            )
    if "region" in changes:
        _check_region(changes["region"])
    if "parent_id" in changes:
        new_parent = changes["parent_id"]
        _check_parent(session, actor, new_parent)
        if new_parent is not None and link.id in ancestor_ids(session, new_parent):
            raise ConflictError(
                "That parent would put the link below itself (a cycle).",
                errors=[field_error("parent_id", "is the link itself or one of its descendants")],
            )
    if "external_ref" in changes:
        _check_external_ref(session, changes["external_ref"], link.id)
    valid_from = changes.get("valid_from", link.valid_from)
    valid_until = changes.get("valid_until", link.valid_until)
    if valid_until is not None and valid_until <= valid_from:
        raise InvalidError(
            "valid_until must be after valid_from.",
            errors=[field_error("valid_until", "must be after valid_from")],
        )
    for field, value in changes.items():
        setattr(link, "region_code" if field == "region" else field, value)
    link.updated_at = utcnow()
    session.add(link)
    session.flush()
    log_links(session, [link.id], LinkChange.UPDATED)
    record_audit(session, actor, "link.update", "link", link.id, _jsonable(changes))
    return link


def deactivate_link(session: Session, actor: Actor, link_id: uuid.UUID) -> Link:
    link = _writable_link(session, actor, link_id)
    if link.deactivated_at is None:
        link.deactivated_at = link.updated_at = utcnow()
        session.add(link)
        session.flush()
        record_audit(session, actor, "link.deactivate", "link", link.id)
    return link


def reactivate_link(session: Session, actor: Actor, link_id: uuid.UUID) -> Link:
    link = _writable_link(session, actor, link_id)
    if link.deactivated_at is not None:
        link.deactivated_at = None
        link.updated_at = utcnow()
        session.add(link)
        session.flush()
        record_audit(session, actor, "link.reactivate", "link", link.id)
    return link


def delete_link(session: Session, actor: Actor, link_id: uuid.UUID) -> None:
    link = _writable_link(session, actor, link_id)
    if session.exec(select(Link.id).where(Link.parent_id == link_id).limit(1)).first():
        raise ConflictError("The link has links below it; move or delete them first.")
    if session.exec(select(Canary.id).where(Canary.link_id == link_id).limit(1)).first():
        raise ConflictError("The link has canaries; deactivate it instead of deleting it.")
    if session.exec(select(ApiKey.id).where(ApiKey.scope_link_id == link_id).limit(1)).first():
        raise ConflictError("API keys are scoped to this link; revoke them or deactivate it.")
    minting = col(MintJob.status).in_([MintJobStatus.QUEUED, MintJobStatus.RUNNING])
    if session.exec(select(MintJob.id).where(MintJob.link_id == link_id, minting)).first():
        raise ConflictError("A mint for this link is queued or running; let it finish first.")
    log_links(session, [link.id], LinkChange.DELETED)  # its last state, before it goes
    # Its own configuration goes with it: its feed profile, and who reads its data. The
    # links it read lose a reader: their new state is chained too.
    session.exec(delete(FeedProfile).where(col(FeedProfile.link_id) == link_id))
    # Its finished mint jobs, which stored nothing (it has no canaries), go with it too.
    session.exec(delete(MintJob).where(col(MintJob.link_id) == link_id))
    read = session.exec(select(LinkReader.link_id).where(LinkReader.reader_id == link_id)).all()
    readers = or_(col(LinkReader.link_id) == link_id, col(LinkReader.reader_id) == link_id)
    session.exec(delete(LinkReader).where(readers))
    log_links(session, list(read), LinkChange.UPDATED)
    record_audit(session, actor, "link.delete", "link", link.id, {"name": link.name})
    session.delete(link)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # Something else is on record against it (a number once assigned to it, an
        # incident that named it): history, which deleting the link would erase.
        raise ConflictError(
            "Other records refer to this link (numbers assigned to it, incidents naming it); "
            "deactivate it instead of deleting it."
        ) from None


def list_links(
    session: Session,
    actor: Actor,
    *,
    kind: LinkKind | None = None,
    parent_id: uuid.UUID | None = None,
    active: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Link], int]:
    query = select(Link)
    if actor.scope_link_id is not None:
        query = query.where(col(Link.id).in_(subtree_ids(actor.scope_link_id)))
    if kind is not None:
        query = query.where(Link.kind == kind)
    if parent_id is not None:
        query = query.where(Link.parent_id == parent_id)
    if active is not None:
        query = query.where(
            col(Link.deactivated_at).is_(None) if active else col(Link.deactivated_at).is_not(None)
        )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = session.exec(
        query.order_by(col(Link.created_at), col(Link.id)).limit(limit).offset(offset)
    ).all()
    return list(page), total


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v if v is None or isinstance(v, (str, int, bool)) else str(v))
        for k, v in values.items()
    }


def _audit_fields(data: LinkCreate) -> dict[str, Any]:
    return _jsonable(data.model_dump(exclude_none=True))


def list_readers(session: Session, actor: Actor, link_id: uuid.UUID) -> list[Link]:
    """The links that read this one's data besides its ancestors (a vendor), as the actor
    may see them."""
    get_link(session, actor, link_id)
    readers = session.exec(
        select(Link)
        .join(LinkReader, col(LinkReader.reader_id) == col(Link.id))
        .where(LinkReader.link_id == link_id)
        .order_by(col(Link.name))
    ).all()
    return [r for r in readers if _in_scope(session, actor, r.id, below=False)]


def add_reader(session: Session, actor: Actor, link_id: uuid.UUID, reader_id: uuid.UUID) -> Link:
    """Record that `reader_id` reads `link_id`'s data (its canaries are in its exposure)."""
    link = _writable_link(session, actor, link_id)
    reader = get_link(session, actor, reader_id)
    if reader.id in exposure_ids(session, link.id):
        raise ConflictError("That link already reads this one's data (above it, or as a reader).")
    session.add(LinkReader(link_id=link.id, reader_id=reader.id))
    session.flush()
    log_links(session, [link.id], LinkChange.UPDATED)
    record_audit(session, actor, "link.reader.add", "link", link.id, {"reader_id": str(reader.id)})
    return reader


def remove_reader(session: Session, actor: Actor, link_id: uuid.UUID, reader_id: uuid.UUID) -> None:
    link = _writable_link(session, actor, link_id)
    row = session.get(LinkReader, (link.id, reader_id))
    if row is None:
        raise NotFoundError("That link is not a reader of this one.")
    session.delete(row)
    session.flush()
    log_links(session, [link.id], LinkChange.UPDATED)
    record_audit(
        session, actor, "link.reader.remove", "link", link.id, {"reader_id": str(reader_id)}
    )
