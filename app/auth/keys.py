"""API keys: random, shown once, kept as a SHA-256 hash, found by a public prefix.

A key reads `ht_<prefix>_<secret>`. The prefix is stored in clear for lookup and display;
the secret has 256 bits of entropy, so a plain SHA-256 hash is enough (no slow KDF needed)
and the comparison of hashes is constant-time.
"""

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.auth.permissions import Permission, require
from app.db import utcnow
from app.models.keys import SCOPED_ROLES, ApiKey, Role
from app.models.links import Link
from app.problems import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    UnauthorizedError,
    field_error,
)

KEY_PATTERN = re.compile(r"^ht_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class IssuedKey:
    """A newly created key; `secret` is the only time the full key exists outside the client."""

    record: ApiKey
    secret: str


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> tuple[str, str]:
    prefix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(12))
    return prefix, f"ht_{prefix}_{secrets.token_urlsafe(32)}"


def issue_key(
    session: Session,
    *,
    role: Role,
    name: str,
    scope_link_id: uuid.UUID | None = None,
    created_by: uuid.UUID | None = None,
) -> IssuedKey:
    if role is Role.PARTNER and scope_link_id is None:
        raise InvalidError(
            "A partner key needs a scope link.",
            errors=[field_error("scope_link_id", "required for the partner role")],
        )
    if role not in SCOPED_ROLES and scope_link_id is not None:
        raise InvalidError(
            "Only partner and integration keys are scoped to a link.",
            errors=[field_error("scope_link_id", f"not allowed for the {role} role")],
        )
    if scope_link_id is not None and session.get(Link, scope_link_id) is None:
        raise NotFoundError("The scope link does not exist.")
    prefix, secret = _new_key()
    record = ApiKey(
        prefix=prefix,
        key_hash=_hash(secret),
        role=role,
        name=name,
        scope_link_id=scope_link_id,
        created_by=created_by,
    )
    session.add(record)
    session.flush()
    return IssuedKey(record, secret)


def authenticate(session: Session, presented: str) -> ApiKey:
    """The live key matching `presented`, or UnauthorizedError with one message for all causes."""
    refused = UnauthorizedError("A valid API key is required.")
    match = KEY_PATTERN.match(presented)
    if match is None:
        raise refused
    record = session.exec(select(ApiKey).where(ApiKey.prefix == match.group(1))).first()
    # Hash and compare even when no record was found, so timing does not reveal prefixes.
    expected = record.key_hash if record is not None else _hash("")
    if not hmac.compare_digest(expected, _hash(presented)) or record is None:
        raise refused
    if record.revoked_at is not None:
        raise refused
    return record


def live_key(session: Session, key_id: uuid.UUID) -> ApiKey | None:
    """The key with this id, unless it is gone or revoked."""
    record = session.get(ApiKey, key_id)
    return None if record is None or record.revoked_at is not None else record


def reauthorise(session: Session, actor: Actor, permission: Permission) -> Actor:
    """The actor a job runs as, as its key stands now, if it still may do `permission`.
    A job outlives the request that authorised it by minutes: each unit of work asks
    again, so revoking a key stops its jobs too. The CLI and the service have no key."""
    if actor.key_id is None:
        return actor
    record = live_key(session, actor.key_id)
    if record is None:
        raise ForbiddenError("The API key that started this job has been revoked.")
    current = Actor.from_key(record)
    require(current, permission)
    return current


def touch_key(session: Session, key_id: uuid.UUID) -> None:
    """Note that the key was used now (to the minute: see ApiKey.stale_use)."""
    record = session.get(ApiKey, key_id)
    if record is not None and record.stale_use():
        record.last_used_at = utcnow()
        session.add(record)


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(col(ApiKey.created_at))).all())


def revoke_key(session: Session, key_id: uuid.UUID, by: uuid.UUID | None = None) -> ApiKey:
    """Revoke a key; `by`, the key asking, may not be it (an admin locking itself out)."""
    record = session.get(ApiKey, key_id)
    if record is None:
        raise NotFoundError("No such API key.")
    if by is not None and by == record.id:
        raise ConflictError("A key cannot revoke itself; revoke it with another admin key.")
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        session.add(record)
        session.flush()
    return record
