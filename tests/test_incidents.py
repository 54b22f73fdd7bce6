"""Incidents: a leak story told through the API, grouping rules, merge and split, tenancy."""

import csv
import io
import json
import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from app.auth.actor import Actor
from app.cli import cli
from app.coverage.report import incidents_per_link
from app.db import make_engine, upgrade, utcnow
from app.incidents.exposures import OWN_RECORDS_PER_DAY, records_per_day
from app.incidents.grouping import phone_key, source_keys, text_template
from app.models.alerts import AlertDelivery, AlertSubscription, ChannelKind
from app.models.audit import AuditEntry
from app.models.canaries import Canary, PlantChannel
from app.models.incidents import Incident, IncidentStatus
from app.models.keys import Role
from app.models.links import Link
from app.models.sightings import Sighting, SightingSource
from app.planting.schemas import StoredCanary
from app.planting.service import mint_canaries
from app.web.pages import open_incidents
from attribution.kinds import LinkKind
from attribution.model import (
    CanarySighting,
    Exposure,
    ExposureTree,
    LinkNode,
    PlantCount,
    attribute,
)
from canaries.couriers import Courier
from tests.conftest import (
    BACKENDS,
    KeyFactory,
    LinkFactory,
    add_sightings,
    bearer,
    fresh_database,
    session_scope,
)

URL = "http://market.example/listing/8848"


@dataclass
class Chain:
    head: Link
    region: Link
    outlets: dict[str, Link]
    canaries: dict[str, list[StoredCanary]] = field(default_factory=dict)


@pytest.fixture
def courier(session: Session, make_link: LinkFactory) -> Chain:
    """A head office, a region with three outlets, a second region with one; every outlet
    has 20 canaries planted (and a control canary minted alongside)."""
    head = make_link("总部", LinkKind.HEAD_OFFICE, region="330000")
    region = make_link("浙江大区", LinkKind.REGION, head, region="330100")
    other = make_link("江苏大区", LinkKind.REGION, head, region="320000")
    outlets = {
        "A": make_link("西湖网点", LinkKind.OUTLET, region),
        "B": make_link("滨江网点", LinkKind.OUTLET, region, region="330108"),
        "C": make_link("余杭网点", LinkKind.OUTLET, region, region="330110"),
        "D": make_link("玄武网点", LinkKind.OUTLET, other, region="320102"),
    }
    story = Chain(head, region, outlets)
    for n, (name, link) in enumerate(outlets.items()):
        result = mint_canaries(
            session, Actor.cli(), link.id, 20, PlantChannel.CLI, rng=random.Random(100 + n)
        )
        story.canaries[name] = result.planted
    session.commit()
    return story


@pytest.fixture
def subscribed(session: Session) -> AlertSubscription:
    subscription = AlertSubscription(
        name="incidents",
        kind=ChannelKind.WEBHOOK,
        url="https://alerts.example/hook",
        secret="s" * 32,
        events=["incident.opened", "incident.escalated", "control.sighting"],
        throttle_seconds=0,
    )
    session.add(subscription)
    session.commit()
    return subscription


def line(c: StoredCanary | Canary) -> str:
    """A leaked record as a listing shows it: name and address cut, waybill number whole."""
    return (
        f"{c.name[0]}*{c.name[-1]} {c.mobile} {c.province}{c.city}{c.district}"
        f"{c.address[:6]}*** 运单 {c.waybill_no}"
    )


def listing(canaries: list[StoredCanary]) -> str:
    rows = "\n".join(line(c) for c in canaries)
    return f"出售全国快递单号数据 日更 0.5元一条 样本:\n{rows}\n联系客服"


def report(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/v1/sightings", json=body, headers=headers)
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


def incidents(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/incidents", params=params, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def detail(client: TestClient, headers: dict[str, str], incident_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/incidents/{incident_id}", headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def deliveries(session: Session, event: str) -> list[AlertDelivery]:
    return list(session.exec(select(AlertDelivery).where(AlertDelivery.event == event)).all())


def dump_csv(canaries: list[StoredCanary]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["收件人", "手机", "省", "市", "区", "地址", "运单号"])
    for c in canaries:
        writer.writerow([c.name, c.mobile, c.province, c.city, c.district, c.address, c.waybill_no])
    return out.getvalue().encode("utf-8")


def test_a_leak_story_groups_attributes_merges_splits_and_respects_scope(
    client: TestClient,
    session: Session,
    make_key: KeyFactory,
    courier: Chain,
    subscribed: AlertSubscription,
) -> None:
    investigator = bearer(make_key(Role.INVESTIGATOR))
    a, b = courier.outlets["A"], courier.outlets["B"]

    # A listing naming three of outlet A's canaries: one incident, outlet A first.
    text = listing(courier.canaries["A"][:3])
    body = {"kind": "listing", "text": text, "url": URL, "reference": "listing-8848"}
    assert report(client, investigator, **body)["matches"] == 3
    (item,) = incidents(client, investigator)
    assert item["sighting_count"] == 3 and item["surfaced"] == 3 and item["status"] == "open"
    first = detail(client, investigator, item["id"])
    assert first["candidates"][0]["link_id"] == str(a.id)
    assert first["candidates"][0]["probability"] > 0.5
    probabilities = [c["probability"] for c in first["candidates"]]
    assert probabilities == sorted(probabilities, reverse=True)
    named = {c["link_id"] for c in first["candidates"]}
    assert named <= {str(a.id), str(courier.region.id), str(courier.head.id)}
    assert {"en", "zh"} <= set(first["candidates"][0]["explanation"])
    assert "西湖网点" in first["explanation"]["zh"]
    assert f"url:{URL}" in first["keys"]
    assert first["window_start"] is not None and first["window_volume"] > 0
    assert {s["canary_id"] for s in first["sightings"]} == {
        str(c.id) for c in courier.canaries["A"][:3]
    }
    assert all(len(s["evidence_sha256"]) == 64 for s in first["sightings"])
    assert len(deliveries(session, "incident.opened")) == 1

    # The same listing reported again adds nothing; the listing grown by one more canary
    # (the same reference: one observation) joins the incident and escalates it.
    assert report(client, investigator, **body)["matches"] == 3
    assert [i["sighting_count"] for i in incidents(client, investigator)] == [3]
    grown = {**body, "text": listing(courier.canaries["A"][:4])}
    report(client, investigator, **grown)
    (item,) = incidents(client, investigator)
    assert item["sighting_count"] == 4 and item["surfaced"] == 4
    assert len(deliveries(session, "incident.opened")) == 1
    (escalated,) = deliveries(session, "incident.escalated")
    assert escalated.body["incident_id"] == item["id"]

    # A dump of outlet B's records: a second incident, outlet B first.
    upload = client.post(
        "/v1/sightings/files",
        files={"file": ("b.csv", dump_csv(courier.canaries["B"][:5]), "text/csv")},
        headers=investigator,
    )
    assert upload.status_code == 202, upload.text
    listed = incidents(client, investigator)
    assert len(listed) == 2
    dump_id = next(i["id"] for i in listed if i["id"] != item["id"])
    dumped = detail(client, investigator, dump_id)
    assert dumped["candidates"][0]["link_id"] == str(b.id)
    assert any(k.startswith("file:") for k in dumped["keys"])
    assert dumped["leaked_records"] == 5

    # A control canary in a scam SMS: a control incident that names no link.
    control = session.exec(
        select(Canary).where(Canary.link_id == courier.outlets["C"].id, col(Canary.control))
    ).first()
    assert control is not None
    sms = f"【快递理赔】{control.name}您好，您的快递{control.waybill_no}已丢失，请联系客服理赔"
    report(client, investigator, kind="sms", text=sms, phone_number="+86 171 0000 1234")
    (flagged,) = [i for i in incidents(client, investigator) if i["control"]]
    shown = detail(client, investigator, flagged["id"])
    assert shown["candidates"] == [] and shown["top_link_id"] is None
    assert "control_seen" in shown["flags"]
    assert shown["title"].startswith("对照 / Control")

    # A partner scoped to outlet A sees A's incident only, its own link only, no canaries.
    partner = bearer(make_key(Role.PARTNER, a))
    (seen,) = incidents(client, partner)
    assert seen["id"] == item["id"]
    as_partner = detail(client, partner, item["id"])
    assert [c["link_id"] for c in as_partner["candidates"]] == [str(a.id)]
    # Explanations count the canaries a link could see: never shown to a partner.
    assert as_partner["explanation"] is None
    assert all(c["explanation"] is None for c in as_partner["candidates"])
    assert all(s["canary_id"] is None for s in as_partner["sightings"])
    assert as_partner["keys"] == []
    assert client.get(f"/v1/incidents/{dump_id}", headers=partner).status_code == 404
    assert client.get(f"/v1/incidents/{flagged['id']}", headers=partner).status_code == 404
    assert client.get(f"/v1/incidents/{item['id']}/bundle", headers=partner).status_code == 403
    assert client.post(f"/v1/incidents/{item['id']}/close", headers=partner).status_code == 403
    region_partner = bearer(make_key(Role.PARTNER, courier.region))
    assert {i["id"] for i in incidents(client, region_partner)} == {item["id"], dump_id}
    # The dump's incident is titled by its file name for staff; a partner gets its digest.
    assert "b.csv" in dumped["title"]
    for shown_to_partner in (
        detail(client, region_partner, dump_id),
        next(i for i in incidents(client, region_partner) if i["id"] == dump_id),
    ):
        assert "b.csv" not in shown_to_partner["title"]
        assert shown_to_partner["title"].startswith(dumped["title"].split(" b.csv")[0])
    assert incidents(client, investigator, link_id=str(b.id))[0]["id"] == dump_id

    # Merge the dump into the listing: A's and B's canaries together point above them.
    merged = client.post(
        f"/v1/incidents/{item['id']}/merge", json={"incident_ids": [dump_id]}, headers=investigator
    )
    assert merged.status_code == 200, merged.text
    together = merged.json()
    assert together["sighting_count"] == 9 and together["surfaced"] == 9
    top = together["candidates"][0]["link_id"]
    assert top != str(a.id) and top != str(b.id)
    assert (
        top in {str(courier.region.id), str(courier.head.id)}
        or "multiple_leakers" in (together["flags"])
    )
    gone = detail(client, investigator, dump_id)
    assert gone["status"] == "closed" and gone["merged_into_id"] == item["id"]
    assert gone["sightings"] == [] and gone["candidates"] == []
    again = client.post(
        f"/v1/incidents/{item['id']}/merge", json={"incident_ids": [dump_id]}, headers=investigator
    )
    assert again.status_code == 409

    # Split B's sightings back out: each incident names its own outlet again.
    b_sightings = [s["id"] for s in together["sightings"] if s["canary_id"] in {
        str(c.id) for c in courier.canaries["B"]
    }]  # fmt: skip
    split = client.post(
        f"/v1/incidents/{item['id']}/split",
        json={"sighting_ids": b_sightings},
        headers=investigator,
    )
    assert split.status_code == 200, split.text
    assert split.json()["candidates"][0]["link_id"] == str(b.id)
    assert split.json()["sighting_count"] == 5
    assert detail(client, investigator, item["id"])["candidates"][0]["link_id"] == str(a.id)

    closed = client.post(f"/v1/incidents/{item['id']}/close", headers=investigator)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    closed_ids = {i["id"] for i in incidents(client, investigator, status="closed")}
    assert closed_ids == {item["id"], dump_id}
    actions = session.exec(
        select(AuditEntry.action).where(col(AuditEntry.action).startswith("incident."))
    ).all()
    assert sorted(actions) == ["incident.close", "incident.merge", "incident.split"]


def test_bad_merges_and_splits_are_refused(
    client: TestClient, make_key: KeyFactory, courier: Chain
) -> None:
    investigator = bearer(make_key(Role.INVESTIGATOR))
    report(client, investigator, kind="listing", text=listing(courier.canaries["A"][:2]), url=URL)
    (item,) = incidents(client, investigator)
    sightings = [s["id"] for s in detail(client, investigator, item["id"])["sightings"]]
    base = f"/v1/incidents/{item['id']}"
    cases = [
        ("merge", {"incident_ids": [item["id"]]}, 422),
        ("merge", {"incident_ids": [str(uuid.uuid4())]}, 404),
        ("merge", {"incident_ids": []}, 422),
        ("split", {"sighting_ids": sightings}, 422),
        ("split", {"sighting_ids": [str(uuid.uuid4())]}, 422),
        ("split", {"sighting_ids": sightings[:1], "extra": 1}, 422),
    ]
    for action, body, expected in cases:
        response = client.post(f"{base}/{action}", json=body, headers=investigator)
        assert response.status_code == expected, (action, body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get(f"/v1/incidents/{uuid.uuid4()}", headers=investigator).status_code == 404
    security = bearer(make_key(Role.SECURITY))
    assert client.get(base, headers=security).status_code == 200
    assert client.post(f"{base}/close", headers=security).status_code == 403
    assert (
        client.get("/v1/incidents", headers=bearer(make_key(Role.INTEGRATION))).status_code == 403
    )


def _sighting(
    canary: StoredCanary, source: SightingSource, location: dict[str, str], **extra: Any
) -> Sighting:
    return Sighting(
        canary_id=canary.id,
        link_id=canary.link_id,
        source=source,
        dedup_key=uuid.uuid4().hex,
        score=45.0,
        location=location,
        excerpt=extra.pop("excerpt", line(canary)),
        **extra,
    )


def test_a_sighting_that_bridges_two_incidents_merges_them_but_never_a_split(
    client: TestClient, session: Session, make_key: KeyFactory, courier: Chain
) -> None:
    """Two listings of two outlets far apart are two leaks; a dump holding a canary of each
    shows they are one file's worth: the incidents are merged, audited as the matcher's. An
    investigator's split of them is never undone by a later sighting that bridges them."""
    investigator = bearer(make_key(Role.INVESTIGATOR))
    a, d = courier.canaries["A"], courier.canaries["D"]
    report(client, investigator, kind="listing", text=listing(a[:3]), url=URL)
    other_url = "http://market.example/listing/9001"
    report(client, investigator, kind="listing", text=listing(d[:3]), url=other_url)
    assert len(incidents(client, investigator, status="open")) == 2

    upload = client.post(
        "/v1/sightings/files",
        files={"file": ("mixed.csv", dump_csv([a[0], d[0]]), "text/csv")},
        headers=investigator,
    )
    assert upload.status_code == 202, upload.text
    (merged,) = incidents(client, investigator, status="open")
    assert merged["sighting_count"] == 8
    (gone,) = incidents(client, investigator, status="closed")
    assert gone["merged_into_id"] == merged["id"]
    audit = session.exec(select(AuditEntry).where(AuditEntry.action == "incident.merge")).one()
    assert audit.actor == Actor.matcher().name
    assert audit.detail["automatic"] is True and audit.detail["merged"] == [gone["id"]]

    d_ids = {str(c.id) for c in d}
    shown = detail(client, investigator, merged["id"])
    d_sightings = [s["id"] for s in shown["sightings"] if s["canary_id"] in d_ids]
    split = client.post(
        f"/v1/incidents/{merged['id']}/split",
        json={"sighting_ids": d_sightings},
        headers=investigator,
    )
    assert split.status_code == 200, split.text
    assert len(incidents(client, investigator, status="open")) == 2
    # A listing at D's URL holding one of A's canaries shares a key with the one part and a
    # canary with the other: it joins one, and the two stay apart.
    report(client, investigator, kind="listing", text=listing([d[5], a[5], a[0]]), url=other_url)
    parts = incidents(client, investigator, status="open")
    assert len(parts) == 2
    assert sorted(p["sighting_count"] for p in parts) == [4, 7]  # A's 4; D's 4 and these 3
    assert session.exec(select(AuditEntry).where(AuditEntry.action == "incident.merge")).all() == [
        audit
    ]


def test_time_closes_a_group_and_a_closed_incident_takes_nothing_more(
    session: Session, courier: Chain
) -> None:
    canaries = courier.canaries["A"]
    now = utcnow()

    def seen(canary: StoredCanary, days: int) -> None:
        at = now + timedelta(days=days)
        added = add_sightings(
            session, [_sighting(canary, SightingSource.SITE, {"url": URL}, observed_at=at)]
        )
        assert len(added) == 1

    seen(canaries[0], 0)
    seen(canaries[1], 29)  # within 30 days of the incident's last sighting
    seen(canaries[2], 70)  # too late: a new incident
    rows = session.exec(select(Incident).order_by(col(Incident.first_seen_at))).all()
    assert [r.sighting_count for r in rows] == [2, 1]
    rows[1].status = IncidentStatus.CLOSED
    session.add(rows[1])
    seen(canaries[3], 71)  # its incident is closed: another one opens
    assert len(session.exec(select(Incident)).all()) == 3


def test_campaigns_group_by_caller_or_by_text_template(session: Session, courier: Chain) -> None:
    one, two, three = courier.canaries["D"][:3]
    text = "{name}您好，您在本店购买的商品存在质量问题，现为您办理退款，请添加客服微信领取"
    pending = [
        _sighting(one, SightingSource.SMS, {"from": "+8617100001111"},
                  excerpt=text.format(name=one.name)),
        _sighting(two, SightingSource.SMS, {"from": "+8617100002222"},
                  excerpt=text.format(name=two.name)),
        _sighting(three, SightingSource.CALL, {"from": "17100002222"}, excerpt="喂喂"),
    ]  # fmt: skip
    add_sightings(session, pending)
    (incident,) = session.exec(select(Incident)).all()
    assert incident.sighting_count == 3
    assert "phone:17100002222" in incident.keys
    assert incident.title.startswith("来电短信 / Calls and SMS from")


def test_source_keys_per_source() -> None:
    canary = uuid.uuid4()

    def keys(source: SightingSource, location: dict[str, str], **extra: Any) -> list[str]:
        sighting = Sighting(
            canary_id=canary,
            link_id=uuid.uuid4(),
            source=source,
            dedup_key=extra.pop("dedup_key", "k"),
            score=40.0,
            location=location,
            excerpt=extra.pop("excerpt", "x"),
            **extra,
        )
        return source_keys(sighting, "张伟")

    digest = "ab" * 32
    assert keys(SightingSource.DUMP, {"file": "a.csv"}, evidence_sha256=digest) == [
        f"file:{digest}"
    ]
    assert keys(
        SightingSource.SITE, {"url": URL, "source_id": URL, "attachment_sha256": digest}
    ) == [
        f"url:{URL}",
        f"file:{digest}",
    ]
    assert keys(
        SightingSource.ORDER, {"order_id": "1", "merchant_id": "店9", "sender_id": "s"}
    ) == [
        "merchant:店9",
        "sender:s",
    ]
    assert keys(
        SightingSource.REPORT, {"source_id": "case-7", "report_kind": "listing", "reporter": "k"}
    ) == ["report:case-7"]
    sms = keys(
        SightingSource.SMS,
        {"from": "+86 171-0000-1111", "source_id": "twilio:SM1"},
        excerpt="mobile=13800001111 | 张伟您好，您的快递SF123丢失，点击 http://x.cn 理赔",
    )
    assert sms == ["phone:17100001111", "template:您好您的快递丢失点击理赔"]
    assert keys(SightingSource.ORDER, {"order_id": "9"}, dedup_key="dk") == ["source:order:dk"]


def test_phone_numbers_and_templates_normalise() -> None:
    assert phone_key("+86 138-0013-8000") == phone_key("13800138000") == "13800138000"
    assert phone_key("anonymous") is None and phone_key(None) is None
    assert text_template("李娜您好，快递丢失", "李娜") is None  # too short to name a campaign
    assert (
        text_template("王芳你好 您的包裹已签收请确认收货", "王芳") == "你好您的包裹已签收请确认收货"
    )


def test_records_per_day_add_up_the_links_below_unless_set(
    client: TestClient, session: Session, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    region = make_link("杭州大区", LinkKind.REGION, region="330100")
    busy = make_link("拱墅网点", LinkKind.OUTLET, region)
    make_link("上城网点", LinkKind.OUTLET, region, region="330102")
    own = OWN_RECORDS_PER_DAY
    figures = records_per_day(session.exec(select(Link)).all())
    assert figures[busy.id] == own[LinkKind.OUTLET]
    assert figures[region.id] == own[LinkKind.REGION] + 2 * own[LinkKind.OUTLET]

    admin = bearer(make_key(Role.ADMIN))
    changed = client.patch(f"/v1/links/{busy.id}", json={"records_per_day": 1500}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["records_per_day"] == 1500
    figures = records_per_day(session.exec(select(Link)).all())
    assert figures[busy.id] == 1500
    assert figures[region.id] == own[LinkKind.REGION] + own[LinkKind.OUTLET] + 1500
    refused = client.patch(f"/v1/links/{busy.id}", json={"records_per_day": 0}, headers=admin)
    assert refused.status_code == 422


@pytest.mark.parametrize("backend", BACKENDS)
def test_incidents_commands(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        with session_scope(engine) as session:
            head = Link(
                name="总部", kind=LinkKind.HEAD_OFFICE, region_code="330000", courier=Courier.ZTO
            )
            session.add(head)
            session.flush()
            result = mint_canaries(session, Actor.cli(), head.id, 5, PlantChannel.CLI,
                                   rng=random.Random(3))  # fmt: skip
            pending = [
                _sighting(c, SightingSource.SITE, {"url": URL}, observed_at=utcnow())
                for c in result.planted[:2]
            ]
            add_sightings(session, pending)
        engine.dispose()
        env = {"HONEYTRACE_DATABASE_URL": url}
        listed = CliRunner().invoke(cli, ["incidents", "list", "--json"], env=env)
        assert listed.exit_code == 0, listed.output
        (item,) = json.loads(listed.stdout)
        assert item["sighting_count"] == 2
        shown = CliRunner().invoke(cli, ["incidents", "show", item["id"], "--json"], env=env)
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout)["candidates"][0]["link_id"] == str(head.id)
        text = CliRunner().invoke(cli, ["incidents", "show", item["id"][:8]], env=env)
        assert text.exit_code == 0, text.output
        assert "总部" in text.stdout
        assert all(c.waybill_no in text.stdout for c in result.planted[:2])
        table = CliRunner().invoke(cli, ["incidents", "list"], env=env).stdout.splitlines()
        assert table[0].startswith("ID") and "MOST LIKELY LEAKER" in table[0]
        assert item["id"][:8] in table[1] and "总部 (" in table[1]
        assert "(UTC+08:00)" in table[1], "times are shown in Asia/Shanghai, the default zone"
        missing = CliRunner().invoke(cli, ["incidents", "show", str(uuid.uuid4())], env=env)
        assert missing.exit_code == 2
        assert "no incident has the id" in missing.stderr


def test_the_dashboard_lists_open_incidents_and_coverage_counts_them(
    session: Session, courier: Chain
) -> None:
    a = courier.outlets["A"]
    pending = [
        _sighting(c, SightingSource.SITE, {"url": URL}, observed_at=utcnow())
        for c in courier.canaries["A"][:3]
    ]
    add_sightings(session, pending)
    (row,) = open_incidents(session)
    assert (row.top_link_id, row.top_link_name, row.sightings) == (a.id, "西湖网点", 3)
    assert row.probability is not None and row.probability > 0.5
    counts = incidents_per_link(session)
    assert counts[a.id] == 1 and counts[courier.region.id] == 1
    assert courier.outlets["B"].id not in counts
    incident = session.get(Incident, row.id)
    assert incident is not None
    incident.status = IncidentStatus.CLOSED
    session.add(incident)
    session.flush()
    assert open_incidents(session) == []


def test_plants_handed_over_counted_attribute_as_listed_ones() -> None:
    """What exposure_tree relies on: the canaries that did not surface may come as counts."""
    now = utcnow()
    head = LinkNode(uuid.uuid4(), None, LinkKind.REGION, "大区", 2000.0)
    outlets = [LinkNode(uuid.uuid4(), head.id, LinkKind.OUTLET, n, 600.0) for n in "甲乙丙"]
    plants = [
        Exposure(uuid.uuid4(), outlet.id, now - timedelta(days=days))
        for outlet in outlets
        for days in (3, 3, 3, 10, 10, 40)
    ]
    surfaced = [p for p in plants if p.link_id == outlets[0].id][:3]
    others = [p for p in plants if p not in surfaced]
    batches: dict[tuple[uuid.UUID, Any], int] = {}
    for p in others:
        batches[(p.link_id, p.planted_at)] = batches.get((p.link_id, p.planted_at), 0) + 1
    seen = [CanarySighting(p.canary_id, now, 45.0) for p in surfaced]
    listed = attribute(ExposureTree([head, *outlets], plants), seen)
    counted = attribute(
        ExposureTree(
            [head, *outlets],
            surfaced,
            [PlantCount(link, at, n) for (link, at), n in batches.items()],
        ),
        seen,
    )
    assert len(batches) < len(others)
    assert [(c.link_id, c.probability) for c in counted.candidates] == [
        (c.link_id, c.probability) for c in listed.candidates
    ]
    assert counted.candidates[0].link_id == outlets[0].id


@pytest.mark.parametrize("backend", BACKENDS)
def test_sightings_of_one_listing_stored_at_once_open_one_incident(
    backend: str, tmp_path: Path
) -> None:
    with fresh_database(backend, tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        with session_scope(engine) as session:
            outlet = Link(
                name="网点", kind=LinkKind.OUTLET, region_code="330106", courier=Courier.ZTO
            )
            session.add(outlet)
            session.flush()
            canaries = mint_canaries(session, Actor.cli(), outlet.id, 6, PlantChannel.CLI,
                                     rng=random.Random(5)).planted  # fmt: skip
        start = threading.Barrier(len(canaries))
        errors: list[BaseException] = []

        def store(canary: StoredCanary) -> None:
            try:
                start.wait()
                with session_scope(engine) as session:
                    sighting = _sighting(canary, SightingSource.SITE, {"url": URL})
                    add_sightings(session, [sighting])
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=store, args=(c,)) for c in canaries]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with session_scope(engine) as session:
            rows = session.exec(select(Incident)).all()
            assert errors == []
            assert [(r.sighting_count, r.surfaced) for r in rows] == [(6, 6)]
        engine.dispose()


def test_a_vendor_that_reads_its_clients_data_is_named_for_a_leak_across_them(
    client: TestClient, session: Session, make_key: KeyFactory, make_link: LinkFactory,
    courier: Chain,
) -> None:  # fmt: skip
    """A printing-software vendor reads outlets in two regions: a listing of both outlets'
    canaries names the vendor once the relation is known; before, only the head office could
    have seen them all."""
    security = bearer(make_key(Role.SECURITY))
    investigator = bearer(make_key(Role.INVESTIGATOR))
    vendor = make_link("快打面单软件", LinkKind.VENDOR, region="330110")
    a, d = courier.outlets["A"], courier.outlets["D"]
    canaries = courier.canaries

    before = listing(canaries["A"][3:6] + canaries["D"][3:6])
    report(client, investigator, kind="listing", text=before, url="http://shop.example/1")
    (first,) = incidents(client, investigator)
    named = {c["link_id"] for c in detail(client, investigator, first["id"])["candidates"]}
    assert str(vendor.id) not in named

    readers = f"/v1/links/{a.id}/readers"
    added = client.post(readers, json={"reader_id": str(vendor.id)}, headers=security)
    assert added.status_code == 201, added.text
    body = {"reader_id": str(vendor.id)}
    assert client.post(f"/v1/links/{d.id}/readers", json=body, headers=security).status_code == 201
    assert client.post(readers, json=body, headers=security).status_code == 409  # already
    region = {"reader_id": str(courier.region.id)}
    assert client.post(readers, json=region, headers=security).status_code == 409  # above it
    assert client.post(readers, json=body, headers=investigator).status_code == 403
    assert [x["id"] for x in client.get(readers, headers=investigator).json()] == [str(vendor.id)]
    exposure = client.get(f"/v1/canaries/{canaries['A'][0].id}", headers=security).json()
    assert str(vendor.id) in exposure["exposure"]

    after = listing(canaries["A"][:3] + canaries["D"][:3])
    report(client, investigator, kind="listing", text=after, url="http://shop.example/2")
    # The same two outlets' canaries on another listing: the same leak, one incident.
    (same,) = incidents(client, investigator)
    assert same["id"] == first["id"] and same["sighting_count"] == 12
    ranked = detail(client, investigator, same["id"])["candidates"]
    assert ranked[0]["link_id"] == str(vendor.id), ranked
    assert ranked[0]["probability"] > 0.5

    assert client.delete(f"{readers}/{vendor.id}", headers=security).status_code == 204
    assert client.delete(f"{readers}/{vendor.id}", headers=security).status_code == 404
