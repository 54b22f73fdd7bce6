"""/v1/links: the tree, its validation, tenancy and the audit trail."""

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.models.audit import AuditEntry
from app.models.keys import Role
from app.models.links import Link
from attribution.kinds import LinkKind
from tests.conftest import KeyFactory, LinkFactory, bearer, secret_part


def _link(**overrides: Any) -> dict[str, Any]:
    body = {"name": "杭州西湖网点", "kind": "outlet", "region": "330106", "courier": "zto"}
    body.update(overrides)
    return body


def _count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Link)).one()


def test_create_read_update_and_list_a_tree(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    root = client.post(
        "/v1/links",
        json=_link(name="中通总部", kind="head_office", region="310000"),
        headers=admin_headers,
    )
    assert root.status_code == 201, root.text
    root_id = root.json()["id"]
    assert root.json()["region_name"] == "上海市" and root.json()["active"] is True
    outlet = client.post("/v1/links", json=_link(parent_id=root_id), headers=admin_headers)
    assert outlet.status_code == 201
    assert outlet.json()["region_name"] == "浙江省 杭州市 西湖区"

    got = client.get(f"/v1/links/{outlet.json()['id']}", headers=admin_headers)
    assert got.json()["parent_id"] == root_id

    renamed = client.patch(
        f"/v1/links/{outlet.json()['id']}", json={"name": "西湖二部"}, headers=admin_headers
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "西湖二部"
    assert renamed.json()["region"] == "330106"

    children = client.get("/v1/links", params={"parent_id": root_id}, headers=admin_headers)
    assert [x["name"] for x in children.json()["items"]] == ["西湖二部"]
    outlets = client.get("/v1/links", params={"kind": "outlet"}, headers=admin_headers).json()
    assert outlets["total"] == 1


def test_bad_input_is_a_clear_problem_and_writes_nothing(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    before = _count(session)
    cases: list[tuple[Any, int, str | None]] = [
        (_link(region="999999"), 422, "region"),
        (_link(region="33010"), 422, "region"),
        (_link(kind="warehouse"), 422, "kind"),
        (_link(courier="dhl"), 422, "courier"),
        (_link(name=""), 422, "name"),
        (_link(name=123), 422, "name"),
        (_link(colour="red"), 422, "colour"),
        (_link(parent_id="not-a-uuid"), 422, "parent_id"),
        (_link(parent_id=str(uuid.uuid4())), 404, "parent_id"),
        (_link(valid_from="2026-01-02T00:00:00Z", valid_until="2026-01-01T00:00:00Z"), 422, None),
        (_link(valid_from="2026-01-02T00:00:00"), 422, "valid_from"),
    ]
    for body, status, field in cases:
        response = client.post("/v1/links", json=body, headers=admin_headers)
        assert response.status_code == status, (body, response.text)
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem["status"] == status and problem["title"] and problem["detail"]
        if field is not None:
            assert field in [e["field"] for e in problem["errors"]], problem

    malformed = client.post(
        "/v1/links",
        content=b'{"name": "x",',
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    assert "JSON" in malformed.json()["detail"]

    oversize = client.post("/v1/links", json=_link(name="x" * 100_000), headers=admin_headers)
    assert oversize.status_code == 413
    assert oversize.headers["content-type"] == "application/problem+json"
    assert _count(session) == before


def test_a_cycle_is_refused(
    client: TestClient, admin_headers: dict[str, str], make_link: LinkFactory
) -> None:
    top = make_link("华东大区", LinkKind.REGION)
    middle = make_link("杭州中心", LinkKind.OUTLET, top)
    leaf = make_link("快递员甲", LinkKind.COURIER_STAFF, middle)
    for new_parent in (leaf, top):
        response = client.patch(
            f"/v1/links/{top.id}", json={"parent_id": str(new_parent.id)}, headers=admin_headers
        )
        assert response.status_code == 409, response.text
        assert response.json()["errors"][0]["field"] == "parent_id"
    moved = client.patch(
        f"/v1/links/{leaf.id}", json={"parent_id": str(top.id)}, headers=admin_headers
    )
    assert moved.status_code == 200 and moved.json()["parent_id"] == str(top.id)


def test_deactivate_rather_than_delete_a_link_that_others_hang_on(
    client: TestClient, admin_headers: dict[str, str], make_link: LinkFactory
) -> None:
    parent = make_link("大区")
    child = make_link("网点", parent=parent)
    refused = client.delete(f"/v1/links/{parent.id}", headers=admin_headers)
    assert refused.status_code == 409

    off = client.post(f"/v1/links/{parent.id}/deactivate", headers=admin_headers)
    assert off.json()["active"] is False and off.json()["deactivated_at"]
    inactive = client.get("/v1/links", params={"active": False}, headers=admin_headers)
    assert [x["id"] for x in inactive.json()["items"]] == [str(parent.id)]
    on = client.post(f"/v1/links/{parent.id}/reactivate", headers=admin_headers)
    assert on.json()["active"] is True

    assert client.delete(f"/v1/links/{child.id}", headers=admin_headers).status_code == 204
    assert client.get(f"/v1/links/{child.id}", headers=admin_headers).status_code == 404
    assert client.delete(f"/v1/links/{parent.id}", headers=admin_headers).status_code == 204


def test_partner_sees_and_changes_only_its_own_subtree(
    client: TestClient, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    office = make_link("总部", LinkKind.HEAD_OFFICE)
    platform = make_link("某电商平台", LinkKind.PLATFORM, office)
    merchant = make_link("某店铺", LinkKind.MERCHANT, platform)
    other = make_link("另一平台", LinkKind.PLATFORM, office)
    other_merchant = make_link("另一店铺", LinkKind.MERCHANT, other)
    partner = bearer(make_key(Role.PARTNER, platform))

    listed = client.get("/v1/links", headers=partner).json()
    assert {x["id"] for x in listed["items"]} == {str(platform.id), str(merchant.id)}
    assert listed["total"] == 2
    assert client.get(f"/v1/links/{merchant.id}", headers=partner).status_code == 200
    assert client.get(f"/v1/links/{platform.id}", headers=partner).status_code == 200
    for hidden in (office, other, other_merchant):
        response = client.get(f"/v1/links/{hidden.id}", headers=partner)
        assert response.status_code == 404, "another tenant's link must look absent"

    created = client.post(
        "/v1/links",
        json=_link(name="新店铺", kind="merchant", parent_id=str(platform.id)),
        headers=partner,
    )
    assert created.status_code == 201
    foreign_parent = client.post(
        "/v1/links",
        json=_link(name="越界", kind="merchant", parent_id=str(other.id)),
        headers=partner,
    )
    assert foreign_parent.status_code == 404
    rootless = client.post("/v1/links", json=_link(name="无上级"), headers=partner)
    assert rootless.status_code == 422

    assert (
        client.patch(f"/v1/links/{merchant.id}", json={"name": "改名"}, headers=partner).status_code
        == 200
    )
    own_root = client.patch(f"/v1/links/{platform.id}", json={"name": "x"}, headers=partner)
    assert own_root.status_code == 404
    escape = client.patch(
        f"/v1/links/{merchant.id}", json={"parent_id": str(other.id)}, headers=partner
    )
    assert escape.status_code == 404
    orphan = client.patch(f"/v1/links/{merchant.id}", json={"parent_id": None}, headers=partner)
    assert orphan.status_code == 422
    for hidden in (other, other_merchant):
        assert client.delete(f"/v1/links/{hidden.id}", headers=partner).status_code == 404
        deactivate = client.post(f"/v1/links/{hidden.id}/deactivate", headers=partner)
        assert deactivate.status_code == 404


def test_every_change_is_audited_without_secrets(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    created = client.post("/v1/links", json=_link(), headers=admin_headers).json()
    client.patch(f"/v1/links/{created['id']}", json={"name": "新名"}, headers=admin_headers)
    client.post(f"/v1/links/{created['id']}/deactivate", headers=admin_headers)
    issued = client.post(
        "/v1/keys", json={"role": "investigator", "name": "inv"}, headers=admin_headers
    ).json()

    log = client.get("/v1/audit", headers=admin_headers)
    assert log.status_code == 200
    page = log.json()
    assert (page["total"], page["limit"], page["offset"]) == (len(page["items"]), 100, 0)
    actions = [e["action"] for e in page["items"]]
    assert actions[:4] == ["key.create", "link.deactivate", "link.update", "link.create"]
    for entry in page["items"]:
        assert entry["actor"].startswith("key:") and entry["actor_key_id"]
        assert entry["request_id"]
    assert issued["key"] not in log.text
    assert secret_part(issued["key"]) not in log.text
    assert secret_part(admin_headers["Authorization"]) not in log.text
    rows = session.exec(select(AuditEntry)).all()
    assert all(issued["key"] not in str(row.detail) for row in rows)
    only_updates = client.get("/v1/audit", params={"action": "link.update"}, headers=admin_headers)
    assert [e["action"] for e in only_updates.json()["items"]] == ["link.update"]


def test_a_refused_change_leaves_no_audit_entry(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    before = session.exec(select(func.count()).select_from(AuditEntry)).one()
    client.post("/v1/links", json=_link(region="000000"), headers=admin_headers)
    assert session.exec(select(func.count()).select_from(AuditEntry)).one() == before
