"""Web sessions and CSRF tokens, both signed with HMAC under `settings.secret_key`.

A session cookie holds `key id . expiry . nonce . mac`, never the API key: the key is typed
once into the sign-in form and checked like a bearer key. Each request re-reads the key
record, so revoking a key ends its sessions at once. CSRF tokens are MACs over the session
token (or, before sign-in, over a random pre-session cookie): a page from another site can
neither read nor compute them, and they need no server-side store.
"""

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from app.auth.actor import Actor
from app.auth.models import ApiKey, Role
from app.auth.permissions import Permission, roles_with
from app.db import utcnow
from app.deps import SessionDep, SettingsDep
from app.settings import Settings

SESSION_COOKIE = "ht_session"
PRESESSION_COOKIE = "ht_presign"
SESSION_LIFETIME = timedelta(hours=8)
PRESESSION_LIFETIME = timedelta(hours=1)
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


def new_session_token(settings: Settings, key_id: uuid.UUID, now: datetime) -> str:
    expires = int((now + SESSION_LIFETIME).timestamp())
    payload = f"{key_id.hex}.{expires}.{secrets.token_urlsafe(16)}"
    return f"{payload}.{_mac(settings, 'session', payload)}"


def session_key_id(settings: Settings, token: str, now: datetime) -> uuid.UUID | None:
    """The key a well-signed, unexpired session token names, else None."""
    payload, _, mac = token.rpartition(".")
    if not _same(mac, _mac(settings, "session", payload)):
        return None
    key_hex, _, rest = payload.partition(".")
    expires, _, _nonce = rest.partition(".")
    try:
        key_id = uuid.UUID(hex=key_hex)
        live = int(expires) > now.timestamp()
    except ValueError:
        return None
    return key_id if live else None


def signed_in_key(session: Session, settings: Settings, token: str | None) -> ApiKey | None:
    """The live key behind a session cookie; None if absent, forged, expired or revoked."""
    if not token:
        return None
    key_id = session_key_id(settings, token, utcnow())
    if key_id is None:
        return None
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None or Role(key.role) not in WEB_ROLES:
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


def page_actor(request: Request, session: SessionDep, settings: SettingsDep) -> Actor:
    key = signed_in_key(session, settings, request.cookies.get(SESSION_COOKIE))
    if key is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequiredError(target)
    return Actor.from_key(key)


PageActor = Annotated[Actor, Depends(page_actor)]


def safe_next(path: str) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in path):
        return "/"
    return path
