"""API keys: shown once, stored as a hash, revocable, refused in every malformed shape."""

import uuid

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models.keys import ApiKey, Role
from tests.conftest import KeyFactory, LinkFactory, bearer, secret_part


def test_created_key_is_shown_once_and_stored_only_as_hash(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    response = client.post(
        "/v1/keys", json={"role": "security", "name": "staff"}, headers=admin_headers
    )
    assert response.status_code == 201, response.text
    secret = response.json()["key"]
    record = session.get(ApiKey, uuid.UUID(response.json()["id"]))
    assert record is not None
    assert secret.startswith(f"ht_{record.prefix}_")
    stored = " ".join(str(getattr(record, column)) for column in ApiKey.model_fields)
    assert secret_part(secret) not in stored
    assert record.key_hash != secret and len(record.key_hash) == 64

    listed = client.get("/v1/keys", headers=admin_headers).json()["items"]
    assert listed
    assert all("key" not in item for item in listed)
    assert secret not in client.get("/v1/keys", headers=admin_headers).text
    assert client.get("/v1/links", headers=bearer(secret)).status_code == 200


def test_revoked_key_is_refused(client: TestClient, admin_headers: dict[str, str]) -> None:
    issued = client.post(
        "/v1/keys", json={"role": "investigator", "name": "i"}, headers=admin_headers
    )
    key, key_id = issued.json()["key"], issued.json()["id"]
    assert client.get("/v1/links", headers=bearer(key)).status_code == 200
    revoked = client.post(f"/v1/keys/{key_id}/revoke", headers=admin_headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert client.get("/v1/links", headers=bearer(key)).status_code == 401


def test_malformed_and_wrong_keys_are_refused(client: TestClient, make_key: KeyFactory) -> None:
    good = make_key(Role.SECURITY)
    prefix = good.split("_")[1]
    wrong_secret = f"ht_{prefix}_{'A' * 43}"
    for header in (
        f"Bearer {wrong_secret}",
        f"Bearer {good}x",
        f"Basic {good}",
        good,
        "Bearer ",
        f"Bearer {good[:-1]}",
    ):
        response = client.get("/v1/links", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["www-authenticate"] == "Bearer"


def test_last_used_time_is_recorded(
    client: TestClient, session: Session, make_key: KeyFactory
) -> None:
    key = make_key(Role.INVESTIGATOR)
    record = session.exec(select(ApiKey).where(ApiKey.prefix == key.split("_")[1])).one()
    assert record.last_used_at is None
    client.get("/v1/links", headers=bearer(key))
    session.refresh(record)
    assert record.last_used_at is not None


def test_partner_keys_need_a_scope_and_others_refuse_one(
    client: TestClient, admin_headers: dict[str, str], make_link: LinkFactory
) -> None:
    root = make_link("平台")
    no_scope = client.post("/v1/keys", json={"role": "partner", "name": "p"}, headers=admin_headers)
    assert no_scope.status_code == 422
    assert no_scope.json()["errors"][0]["field"] == "scope_link_id"
    scoped_admin = client.post(
        "/v1/keys",
        json={"role": "admin", "name": "a", "scope_link_id": str(root.id)},
        headers=admin_headers,
    )
    assert scoped_admin.status_code == 422
    missing_link = client.post(
        "/v1/keys",
        json={"role": "partner", "name": "p", "scope_link_id": str(uuid.uuid4())},
        headers=admin_headers,
    )
    assert missing_link.status_code == 404
    ok = client.post(
        "/v1/keys",
        json={"role": "partner", "name": "p", "scope_link_id": str(root.id)},
        headers=admin_headers,
    )
    assert ok.status_code == 201 and ok.json()["scope_link_id"] == str(root.id)


def test_revoking_an_unknown_key_is_404(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post(f"/v1/keys/{uuid.uuid4()}/revoke", headers=admin_headers)
    assert response.status_code == 404
