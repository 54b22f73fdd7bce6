"""An integration key scoped to one link: an outlet's dispatch system pulls, splices and
acknowledges its own outlet's canaries and no other link's, and does nothing else."""

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.auth.actor import Actor
from app.auth.keys import issue_key
from app.db import downgrade, upgrade
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.models.canaries import Canary, CanaryStatus
from app.models.keys import ApiKey, Role
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from tests.conftest import KeyFactory, LinkFactory, bearer


def _two_outlets(make_link: LinkFactory) -> tuple[uuid.UUID, uuid.UUID]:
    office = make_link("总部", LinkKind.HEAD_OFFICE, region="330000")
    region = make_link("浙江大区", LinkKind.REGION, office, region="330000")
    west = make_link("西湖网点", LinkKind.OUTLET, region, region="330106")
    east = make_link("上城网点", LinkKind.OUTLET, region, region="330102")
    return west.id, east.id


def test_an_admin_scopes_an_integration_key_to_a_link(
    client: TestClient, admin_headers: dict[str, str], make_link: LinkFactory
) -> None:
    west, _ = _two_outlets(make_link)
    issued = client.post(
        "/v1/keys",
        json={"role": "integration", "name": "西湖 dispatch", "scope_link_id": str(west)},
        headers=admin_headers,
    )
    assert issued.status_code == 201, issued.text
    assert issued.json()["scope_link_id"] == str(west)
    pulled = client.post(
        f"/v1/links/{west}/feed/pull", json={"count": 2}, headers=bearer(issued.json()["key"])
    )
    assert pulled.status_code == 200, pulled.text
    # Other staff roles still take no scope.
    security = client.post(
        "/v1/keys",
        json={"role": "security", "name": "s", "scope_link_id": str(west)},
        headers=admin_headers,
    )
    assert security.status_code == 422
    assert security.json()["errors"][0]["field"] == "scope_link_id"


def test_a_scoped_key_feeds_its_own_link_only(
    client: TestClient, session: Session, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    west, east = _two_outlets(make_link)
    west_key = bearer(
        issue_key(session, role=Role.INTEGRATION, name="西湖 dispatch", scope_link_id=west).secret
    )
    session.commit()
    everyone = bearer(make_key(Role.INTEGRATION))

    own = client.post(f"/v1/links/{west}/feed/pull", json={"count": 3}, headers=west_key)
    assert own.status_code == 200, own.text
    assert own.json()["link_id"] == str(west)

    other = client.post(f"/v1/links/{east}/feed/pull", json={"count": 3}, headers=west_key)
    assert other.status_code == 404
    assert other.headers["content-type"] == "application/problem+json"
    spliced = client.post(f"/v1/links/{east}/feed/interleave", content=b"", headers=west_key)
    assert spliced.status_code == 404
    assert not session.exec(select(Canary).where(Canary.link_id == east)).all()

    # Another outlet's batch cannot be acknowledged (nor learnt of) with the scoped key...
    east_batch = client.post(f"/v1/links/{east}/feed/pull", json={"count": 2}, headers=everyone)
    east_id = east_batch.json()["batch_id"]
    east_waybills = [r["waybill_no"] for r in east_batch.json()["records"]]
    refused = client.post(
        f"/v1/feed/batches/{east_id}/ack", json={"spliced": east_waybills}, headers=west_key
    )
    assert refused.status_code == 404
    pending = session.exec(select(Canary).where(Canary.link_id == east)).all()
    assert {c.status for c in pending} == {CanaryStatus.PENDING}
    # ...while its own batch can.
    waybills = [r["waybill_no"] for r in own.json()["records"]]
    ack = client.post(
        f"/v1/feed/batches/{own.json()['batch_id']}/ack",
        json={"spliced": waybills[:2]},
        headers=west_key,
    )
    assert ack.status_code == 200, ack.text
    assert ack.json() == {"planted": 2, "expired": 1}


def test_a_scoped_key_does_nothing_but_feeds(
    client: TestClient, session: Session, make_link: LinkFactory
) -> None:
    west, _ = _two_outlets(make_link)
    scoped = bearer(
        issue_key(session, role=Role.INTEGRATION, name="西湖 dispatch", scope_link_id=west).secret
    )
    session.commit()
    screened = client.post("/v1/screen", json={"orders": []}, headers=scoped)
    assert screened.status_code == 403
    assert "scoped" in screened.json()["detail"]
    assert client.get("/metrics", headers=scoped).status_code == 403


def test_the_database_keeps_the_scope_rule(session: Session, make_link: LinkFactory) -> None:
    west, _ = _two_outlets(make_link)
    admin = ApiKey(prefix="scopedadmin1", key_hash="0" * 64, role=Role.ADMIN, name="a")
    admin.scope_link_id = west
    session.add(admin)
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    unscoped_partner = ApiKey(prefix="barepartner1", key_hash="0" * 64, role=Role.PARTNER, name="p")
    session.add(unscoped_partner)
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_actor_round_trips_through_a_job_with_its_feed_scope() -> None:
    link = uuid.uuid4()
    actor = Actor.scoped(uuid.uuid4(), "key:x", Role.INTEGRATION, link)
    assert actor.feed_link_id == link and actor.scope_link_id is None
    assert Actor.from_json(actor.to_json()) == actor


def test_going_back_before_0018_revokes_scoped_integration_keys(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with Session(empty_engine) as session:
        link = create_link(
            session,
            Actor.cli(),
            LinkCreate(name="网点", kind=LinkKind.OUTLET, region="330106", courier=Courier.ZTO),
        )
        scoped = issue_key(session, role=Role.INTEGRATION, name="d", scope_link_id=link.id)
        plain = issue_key(session, role=Role.INTEGRATION, name="all")
        partner = issue_key(session, role=Role.PARTNER, name="p", scope_link_id=link.id)
        ids = {"scoped": scoped.record.id, "plain": plain.record.id, "partner": partner.record.id}
        session.commit()
    downgrade(empty_engine, "0017")
    with empty_engine.connect() as connection:
        revoked = {
            name: connection.execute(
                text("SELECT revoked_at FROM api_keys WHERE id = :id"),
                {"id": key_id.hex if empty_engine.dialect.name == "sqlite" else key_id},
            ).scalar_one()
            is not None
            for name, key_id in ids.items()
        }
    assert revoked == {"scoped": True, "plain": False, "partner": False}
    upgrade(empty_engine)
