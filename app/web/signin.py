"""Web sessions and CSRF tokens, both signed with HMAC under `settings.secret_key`.

A session cookie holds `session id . mac`, never the API key: the key is typed once into
the sign-in form and checked like a bearer key. The session id is random and kept on the
server only as its SHA-256 (app.models.web.WebSession), so signing out ends the session for
every copy of the cookie. Each request also re-reads the key record, so revoking a key ends
its sessions at once. CSRF tokens are MACs over the session token (or, before sign-in, over
a random pre-session cookie): a page from another site can neither read nor compute them,
and they need no server-side store.
"""

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import or_
from sqlmodel import Session, col, delete

from app.auth.actor import Actor
from app.auth.keys import live_key
from app.auth.permissions import Permission, roles_with
from app.db import utcnow
from app.models.keys import ApiKey, Role
from app.models.web import WebSession
from app.resources import DatabaseDep, SettingsDep
from app.settings import Settings

SESSION_COOKIE = "ht_session"
PRESESSION_COOKIE = "ht_presign"
SESSION_LIFETIME = timedelta(hours=8)
PRESESSION_LIFETIME = timedelta(hours=1)
# Ended and expired sessions are kept this long (to see who was signed in when), then go.
ENDED_KEPT = timedelta(days=1)
# The pages show sightings, so only roles that may read them sign in: partners and
# integrations never do (rule 3: a link never learns its own canaries).
WEB_ROLES = roles_with(Permission.SIGHTINGS_READ)


class SignInRequiredError(Exception):
    """No live session: the browser is sent to the sign-in page, then back to `next_path`."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign-in required")
        self.next_path = next_path


def _mac(settings: Settings, purpose: str, message: str) -> str:
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, f"{purpose}\n{message}".encode(), hashlib.sha256).hexdigest()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def sign_session_id(settings: Settings, session_id: str) -> str:
    """The cookie value for a session id."""
    return f"{session_id}.{_mac(settings, 'session', session_id)}"


def start_session(session: Session, settings: Settings, key_id: uuid.UUID, now: datetime) -> str:
    """Record a new session for `key_id` and return its cookie value; sessions that ended or
    expired more than ENDED_KEPT ago go."""
    cutoff = now - ENDED_KEPT
    session.exec(
        delete(WebSession).where(
            or_(col(WebSession.expires_at) < cutoff, col(WebSession.ended_at) < cutoff)
        )
    )
    session_id = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id_hash=_id_hash(session_id),
            key_id=key_id,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    session.flush()
    return sign_session_id(settings, session_id)


def live_session(
    session: Session, settings: Settings, token: str | None, now: datetime
) -> WebSession | None:
    """The session a well-signed cookie names, if it has neither ended nor expired."""
    if not token:
        return None
    session_id, _, mac = token.rpartition(".")
    # A forged token is refused before any database read.
    if not _same(mac, _mac(settings, "session", session_id)):
        return None
    row = session.get(WebSession, _id_hash(session_id))
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    return row


def end_session(
    session: Session, settings: Settings, token: str | None, now: datetime
) -> WebSession | None:
    """Sign-out: the session stays ended whoever else holds a copy of its cookie; the
    session ended, if the cookie named a live one."""
    row = live_session(session, settings, token, now)
    if row is not None:
        row.ended_at = now
        session.add(row)
        session.flush()
    return row


def signed_in_key(session: Session, settings: Settings, token: str | None) -> ApiKey | None:
    """The live key behind a session cookie; None if absent, forged, ended, expired or revoked."""
    row = live_session(session, settings, token, utcnow())
    if row is None:
        return None
    key = live_key(session, row.key_id)
    if key is None or Role(key.role) not in WEB_ROLES:
        return None
    return key


def new_presession() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(settings: Settings, bound_to: str) -> str:
    """The form token for a session (or pre-session) cookie value."""
    return _mac(settings, "csrf", bound_to)


def csrf_valid(settings: Settings, bound_to: str | None, presented: str) -> bool:
    if not bound_to or not presented:
        return False
    return _same(presented, csrf_token(settings, bound_to))


def page_actor(request: Request, database: DatabaseDep, settings: SettingsDep) -> Actor:
    with database.read() as session:
        key = signed_in_key(session, settings, request.cookies.get(SESSION_COOKIE))
    if key is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequiredError(target)
    request.state.key_name = key.name  # the header names the key, not its prefix
    return Actor.from_key(key)


PageActor = Annotated[Actor, Depends(page_actor)]


def safe_next(path: str) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in path):
        return "/"
    return path
