"""A sighting never depends on its canary's replacement being mintable (issue 14, item 0).

An outlet whose profile wants full mobiles and whose every pool number is carried by a live
canary cannot mint a replacement for a masked canary minted before the numbers were
assigned. That canary surfacing must still be recorded (report, screening), burned, and the
missing replacement reported as a coverage problem that rotation later makes good.
"""

import random
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.coverage.report import coverage_report
from app.db import utcnow
from app.models.audit import AuditEntry
from app.models.canaries import Canary, CanaryStatus, PlantChannel
from app.models.keys import Role
from app.models.links import Link
from app.models.sightings import Sighting
from app.numbers.service import assign_number, register_number
from app.planting.rotation import rotate
from app.planting.schemas import FeedProfileBody, StoredCanary
from app.planting.service import mint_canaries, set_feed_profile
from tests.conftest import KeyFactory, LinkFactory, bearer


@dataclass
class Exhausted:
    outlet: Link
    masked: list[StoredCanary]  # minted before the outlet had numbers
    full: StoredCanary  # carries the outlet's only number


@pytest.fixture
def exhausted(session: Session, make_link: LinkFactory) -> Exhausted:
    cli = Actor.cli()
    outlet = make_link("滨江网点")
    masked = mint_canaries(session, cli, outlet.id, 3, PlantChannel.CLI, rng=random.Random(7))
    phone = register_number(session, cli, "+8617000000001", "twilio", ["sms"], None, False, False)
    assign_number(session, cli, phone.id, outlet.id)
    set_feed_profile(session, cli, outlet.id, FeedProfileBody(mobile_form="full", control_share=0))
    (full,) = mint_canaries(
        session, cli, outlet.id, 1, PlantChannel.CLI, rng=random.Random(8)
    ).planted
    session.commit()
    return Exhausted(outlet, masked.planted, full)


def _line(c: StoredCanary) -> str:
    return f"{c.name} {c.mobile} {c.province}{c.city}{c.district}{c.address} 运单 {c.waybill_no}"


def _owed(session: Session, canary: StoredCanary) -> bool:
    row = session.get(Canary, canary.id)
    assert row is not None
    session.refresh(row)
    return row.status == CanaryStatus.BURNED and row.replacement_owed


def test_a_report_is_recorded_when_the_replacement_cannot_be_minted(
    client: TestClient, session: Session, make_key: KeyFactory, exhausted: Exhausted
) -> None:
    surfaced = exhausted.masked[0]
    body = {"kind": "listing", "text": f"出售快递数据 样本:\n{_line(surfaced)}"}
    answer = client.post("/v1/sightings", json=body, headers=bearer(make_key(Role.SECURITY)))
    assert answer.status_code == 202, answer.text
    assert answer.json()["matches"] == 1
    (sighting,) = session.exec(select(Sighting)).all()
    assert sighting.canary_id == surfaced.id
    assert _owed(session, surfaced)
    burn = session.exec(select(AuditEntry).where(AuditEntry.action == "canary.burn")).one()
    assert "replacement_error" in burn.detail and burn.detail["replacements"] == []
    (line,) = [r for r in coverage_report(session) if r.link_id == exhausted.outlet.id]
    assert (line.burned, line.owed) == (1, 1)

    # A number freed later (another one assigned): rotation mints what is owed.
    cli = Actor.cli()
    more = register_number(session, cli, "+8617000000002", "twilio", ["sms"], None, False, False)
    assign_number(session, cli, more.id, exhausted.outlet.id)
    report = rotate(session, Actor.scheduler(), utcnow())
    assert (report.replaced, report.links_short) == (1, 0)
    assert not _owed(session, surfaced)
    fresh = session.exec(
        select(Canary).where(
            Canary.link_id == exhausted.outlet.id,
            Canary.status == CanaryStatus.READY,
            col(Canary.mobile) == "17000000002",
        )
    ).all()
    assert len(fresh) == 1  # the replacement carries the freed number in full


def test_screening_hits_are_recorded_when_the_replacement_cannot_be_minted(
    client: TestClient, session: Session, make_key: KeyFactory, exhausted: Exhausted
) -> None:
    surfaced = exhausted.masked[1]
    order = {
        "order_id": "BR1",
        "name": surfaced.name,
        "mobile": surfaced.mobile,
        "province": surfaced.province,
        "city": surfaced.city,
        "district": surfaced.district,
        "address": surfaced.address,
        "waybill_no": surfaced.waybill_no,
        "merchant_id": "shop-1",
    }
    answer = client.post(
        "/v1/screen", json={"orders": [order]}, headers=bearer(make_key(Role.INTEGRATION))
    )
    assert answer.status_code == 200, answer.text
    (hit,) = answer.json()["hits"]
    assert hit["sighting_id"] is not None
    assert _owed(session, surfaced)
    # Rotation with the pool still used up counts the link short and goes on.
    report = rotate(session, Actor.scheduler(), utcnow())
    assert (report.replaced, report.links_short) == (0, 1)
    assert _owed(session, surfaced)
