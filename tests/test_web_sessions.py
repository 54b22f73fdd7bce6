"""Web sessions kept on the server: sign-out ends a session for every copy of its cookie.

Over HTTP against the app on SQLite and PostgreSQL (the `client` fixture runs on both),
signing in through the real form as tests/test_web.py does.
"""

import hashlib
from datetime import timedelta

import httpx
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.db import utcnow
from app.models.audit import AuditEntry
from app.models.keys import Role
from app.models.web import WebSession
from app.settings import Settings
from app.web.signin import ENDED_KEPT, SESSION_COOKIE, SESSION_LIFETIME, sign_session_id
from tests.conftest import KeyFactory
from tests.test_web import _csrf, _key_record, _sign_in


def _signed_in(client: TestClient, key: str) -> str:
    """Sign in through the form; the session cookie's value."""
    assert _sign_in(client, key).status_code == 303
    token = client.cookies.get(SESSION_COOKIE)
    assert isinstance(token, str) and token
    return token


def _present(client: TestClient, token: str) -> None:
    """The browser's cookie jar holds `token` as its session cookie, and nothing else."""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token)


def _opens_dashboard(client: TestClient, token: str) -> bool:
    _present(client, token)
    response = client.get("/", follow_redirects=False)
    if response.status_code == 200:
        return True
    assert response.status_code == 303, response.text
    assert httpx.URL(response.headers["location"]).path == "/signin"
    return False


def _row(session: Session, token: str) -> WebSession:
    digest = hashlib.sha256(token.rpartition(".")[0].encode()).hexdigest()
    row = session.get(WebSession, digest)
    assert row is not None
    session.refresh(row)
    return row


def test_after_sign_out_a_copy_of_the_cookie_opens_nothing(
    client: TestClient, session: Session, make_key: KeyFactory
) -> None:
    copied = token = _signed_in(client, make_key(Role.INVESTIGATOR))  # anyone may keep a copy
    page = client.get("/")  # the session works until sign-out
    assert page.status_code == 200 and 'action="/signout"' in page.text
    assert _row(session, token).ended_at is None

    signed_out = client.post("/signout", data={"csrf_token": _csrf(page.text)})
    assert signed_out.status_code == 200 and 'name="api_key"' in signed_out.text
    assert SESSION_COOKIE not in client.cookies
    assert _row(session, token).ended_at is not None
    audited = session.exec(select(AuditEntry).where(AuditEntry.action == "web.signout")).all()
    assert [entry.target_id for entry in audited] == [str(_row(session, token).key_id)]

    assert not _opens_dashboard(client, copied)
    for path in ("/coverage", "/watchers", "/coverage.csv"):
        _present(client, copied)
        replayed = client.get(path, follow_redirects=False)
        assert replayed.status_code == 303
        assert replayed.headers["location"] == f"/signin?next={path}"
        assert f'{SESSION_COOKIE}=""' in replayed.headers["set-cookie"]
    # The sign-in page shows its form to the replayed cookie instead of passing it on.
    _present(client, copied)
    form = client.get("/signin", follow_redirects=False)
    assert form.status_code == 200 and 'name="api_key"' in form.text


def test_signing_out_ends_that_session_only(
    client: TestClient, session: Session, make_key: KeyFactory
) -> None:
    key = make_key(Role.SECURITY)
    first = _signed_in(client, key)
    client.cookies.clear()
    second = _signed_in(client, key)
    assert first != second

    _present(client, first)
    page = client.get("/")
    assert client.post("/signout", data={"csrf_token": _csrf(page.text)}).status_code == 200

    assert not _opens_dashboard(client, first)
    assert _opens_dashboard(client, second)
    assert _row(session, second).ended_at is None


def test_the_server_keeps_only_a_hash_of_the_session_id(
    client: TestClient, session: Session, settings: Settings, make_key: KeyFactory
) -> None:
    key = make_key(Role.ADMIN)
    before = utcnow()
    token = _signed_in(client, key)
    session_id = token.rpartition(".")[0]
    row = _row(session, token)
    assert row.key_id == _key_record(session, key).id
    assert before <= row.created_at <= utcnow()
    assert row.expires_at == row.created_at + SESSION_LIFETIME
    assert session_id not in row.model_dump_json()
    # Someone who reads the table cannot sign the stored hash into a session of their own.
    assert not _opens_dashboard(client, sign_session_id(settings, row.id_hash))
    assert _opens_dashboard(client, token)


def test_a_new_session_clears_those_ended_or_expired_more_than_a_day_ago(
    client: TestClient, session: Session, make_key: KeyFactory
) -> None:
    key = make_key(Role.INVESTIGATOR)
    key_id = _key_record(session, key).id
    now = utcnow()
    hour = timedelta(hours=1)

    def kept(name: str, created_ago: timedelta, ended_ago: timedelta | None = None) -> None:
        created = now - created_ago
        ended = None if ended_ago is None else now - ended_ago
        session.add(
            WebSession(
                id_hash=name.ljust(64, "0"),
                key_id=key_id,
                created_at=created,
                expires_at=created + SESSION_LIFETIME,
                ended_at=ended,
            )
        )

    kept("a", ENDED_KEPT + SESSION_LIFETIME + hour)  # expired more than a day ago
    kept("b", ENDED_KEPT + 2 * hour, ended_ago=ENDED_KEPT + hour)  # ended over a day ago
    kept("c", SESSION_LIFETIME + 2 * hour)  # expired two hours ago
    kept("d", 3 * hour, ended_ago=hour)  # ended an hour ago
    kept("e", hour)  # live
    session.commit()

    token = _signed_in(client, key)
    left = set(session.exec(select(WebSession.id_hash)).all())
    assert left == {n.ljust(64, "0") for n in "cde"} | {_row(session, token).id_hash}
