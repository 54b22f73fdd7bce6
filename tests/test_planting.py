"""Minting through the API, plants and exposure, secrecy towards partners, pull feeds, burning."""

import csv
import io
import json
import random
import re
import uuid
from datetime import datetime

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.csvsafe import spreadsheet_safe
from app.models.canaries import Canary, CanaryStatus, FeedProfile, Plant, PlantChannel
from app.models.keys import Role
from app.models.links import Link
from app.planting import service
from app.planting.feeds import render_csv
from app.planting.schemas import CANARY_FIELDS, FEED_FIELDS
from attribution.kinds import LinkKind
from canaries.divisions import division_table
from canaries.items import CHINA_STANDARD_TIME
from tests.conftest import KeyFactory, LinkFactory, bearer


def _tree(make_link: LinkFactory) -> dict[str, Link]:
    office = make_link("总部", LinkKind.HEAD_OFFICE, region="330000")
    region = make_link("浙江大区", LinkKind.REGION, office, region="330000")
    outlet = make_link("西湖网点", LinkKind.OUTLET, region, region="330106")
    platform = make_link("电商平台", LinkKind.PLATFORM, office, region="330000")
    merchant = make_link("店铺", LinkKind.MERCHANT, platform, region="330000")
    return {"office": office, "region": region, "outlet": outlet, "platform": platform,
            "merchant": merchant}  # fmt: skip


def test_minted_canaries_are_planted_at_exactly_one_link(
    client: TestClient, session: Session, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    links = _tree(make_link)
    outlet = links["outlet"]
    response = client.post(
        f"/v1/links/{outlet.id}/canaries",
        json={"count": 40},
        headers=bearer(make_key(Role.SECURITY)),
    )
    assert response.status_code == 201, response.text
    minted = response.json()
    assert len(minted) == 40
    assert all(list(item) == list(CANARY_FIELDS) for item in minted)
    assert "mobile_secret" not in response.text
    for item in minted:
        assert item["link_id"] == str(outlet.id)
        assert item["control"] is False
        assert (item["province"], item["city"], item["district"]) == ("浙江省", "杭州市", "西湖区")
        assert item["mobile"][3:7] == "****"

    stored = session.exec(select(Canary).where(Canary.link_id == outlet.id)).all()
    controls = [c for c in stored if c.control]
    assert len(controls) == 2  # the default 5% share
    assert all(c.status == CanaryStatus.CONTROL for c in controls)
    plants = session.exec(select(Plant).where(Plant.link_id == outlet.id)).all()
    assert {p.canary_id for p in plants} == {uuid.UUID(x["id"]) for x in minted}
    assert all(p.channel == PlantChannel.API for p in plants)
    assert not {c.id for c in controls} & {p.canary_id for p in plants}

    exposure = service.exposure_set(session, uuid.UUID(minted[0]["id"]))
    assert exposure == [outlet.id, links["region"].id, links["office"].id]
    assert service.exposure_set(session, controls[0].id) == []


def test_a_platform_mints_recipients_across_the_country(
    client: TestClient, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    links = _tree(make_link)
    minted = client.post(
        f"/v1/links/{links['platform'].id}/canaries",
        json={"count": 60},
        headers=bearer(make_key(Role.SECURITY)),
    ).json()
    provinces = {item["province"] for item in minted}
    assert len(provinces) > 5
    names = {d.name for d in division_table().all()}
    assert provinces <= names


def test_canary_detail_shows_plant_and_exposure(
    client: TestClient, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    links = _tree(make_link)
    security = bearer(make_key(Role.SECURITY))
    minted = client.post(
        f"/v1/links/{links['merchant'].id}/canaries", json={"count": 1}, headers=security
    ).json()
    detail = client.get(
        f"/v1/canaries/{minted[0]['id']}", headers=bearer(make_key(Role.INVESTIGATOR))
    ).json()
    assert detail["status"] == "planted"
    assert detail["plant"]["link_id"] == str(links["merchant"].id)
    assert detail["exposure"] == [
        str(links["merchant"].id),
        str(links["platform"].id),
        str(links["office"].id),
    ]


def test_partner_never_learns_its_own_canaries(
    client: TestClient, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    links = _tree(make_link)
    platform, merchant = links["platform"], links["merchant"]
    partner = bearer(make_key(Role.PARTNER, platform))
    security = bearer(make_key(Role.SECURITY))

    own = client.post(f"/v1/links/{platform.id}/canaries", json={"count": 3}, headers=partner)
    assert own.status_code == 404, "a partner must not mint for its own link"
    above = client.post(
        f"/v1/links/{links['office'].id}/canaries", json={"count": 1}, headers=partner
    )
    assert above.status_code == 404
    outside = client.post(
        f"/v1/links/{links['outlet'].id}/canaries", json={"count": 1}, headers=partner
    )
    assert outside.status_code == 404

    by_partner = client.post(
        f"/v1/links/{merchant.id}/canaries", json={"count": 3}, headers=partner
    )
    assert by_partner.status_code == 201
    by_courier_at_merchant = client.post(
        f"/v1/links/{merchant.id}/canaries", json={"count": 3}, headers=security
    ).json()
    by_courier_at_platform = client.post(
        f"/v1/links/{platform.id}/canaries", json={"count": 3}, headers=security
    ).json()

    listed = client.get(f"/v1/links/{merchant.id}/canaries", headers=partner).json()
    assert {x["id"] for x in listed["items"]} == {x["id"] for x in by_partner.json()}
    assert client.get(f"/v1/links/{platform.id}/canaries", headers=partner).json()["total"] == 0
    for hidden in by_courier_at_merchant + by_courier_at_platform:
        assert client.get(f"/v1/canaries/{hidden['id']}", headers=partner).status_code == 404
    for visible in by_partner.json():
        assert client.get(f"/v1/canaries/{visible['id']}", headers=partner).status_code == 200
    # Feeds answer "which records are canaries": never open to a partner.
    pulled = client.post(f"/v1/links/{merchant.id}/feed/pull", json={"count": 1}, headers=partner)
    assert pulled.status_code == 403
    security_view = client.get(f"/v1/links/{merchant.id}/canaries", headers=security).json()
    assert security_view["total"] == 6  # and no controls: round(3 * 0.05) == 0


def test_pull_then_acknowledge_plants_only_what_was_spliced(
    client: TestClient, session: Session, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    outlet = _tree(make_link)["outlet"]
    feed = bearer(make_key(Role.INTEGRATION))
    batch = client.post(f"/v1/links/{outlet.id}/feed/pull", json={"count": 5}, headers=feed)
    assert batch.status_code == 200, batch.text
    assert batch.headers["x-batch-id"] == batch.json()["batch_id"]
    records = batch.json()["records"]
    assert len(records) == 5
    assert set(records[0]) == FEED_FIELDS
    pending = session.exec(select(Canary).where(Canary.status == CanaryStatus.PENDING)).all()
    assert len(pending) == 5
    assert not session.exec(select(Plant).where(Plant.link_id == outlet.id)).all()

    spliced = [r["waybill_no"] for r in records[:3]]
    batch_id = batch.json()["batch_id"]
    bogus = client.post(
        f"/v1/feed/batches/{batch_id}/ack", json={"spliced": ["SF0000000000000"]}, headers=feed
    )
    assert bogus.status_code == 404
    ack = client.post(f"/v1/feed/batches/{batch_id}/ack", json={"spliced": spliced}, headers=feed)
    assert ack.json() == {"planted": 3, "expired": 2}
    plants = session.exec(select(Plant).where(Plant.link_id == outlet.id)).all()
    assert len(plants) == 3
    assert {p.channel for p in plants} == {PlantChannel.PULL}
    again = client.post(f"/v1/feed/batches/{batch_id}/ack", json={"spliced": spliced}, headers=feed)
    assert again.status_code == 404


def test_an_ack_with_unknown_waybills_names_them(
    client: TestClient, session: Session, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    outlet = _tree(make_link)["outlet"]
    feed = bearer(make_key(Role.INTEGRATION))
    batch = client.post(f"/v1/links/{outlet.id}/feed/pull", json={"count": 2}, headers=feed)
    batch_id = batch.json()["batch_id"]
    known = batch.json()["records"][0]["waybill_no"]
    url = f"/v1/feed/batches/{batch_id}/ack"

    one = client.post(url, json={"spliced": [known, "SF0000000000000"]}, headers=feed)
    assert one.status_code == 404
    assert one.headers["content-type"] == "application/problem+json"
    assert one.json()["detail"] == (
        "1 acknowledged waybill number is not in the batch: SF0000000000000."
    )
    assert one.json()["errors"] == [
        {"field": "spliced.1", "message": "SF0000000000000 is not in the batch"}
    ]

    many = [f"SF{n:013d}" for n in range(25)]
    bounded = client.post(url, json={"spliced": [*many, many[0], known]}, headers=feed)
    detail = bounded.json()["detail"]
    assert detail.startswith("25 acknowledged waybill numbers are not in the batch: ")
    assert detail.endswith(f"{many[9]} and 15 more.")
    assert all(waybill in detail for waybill in many[:10])
    assert not any(waybill in detail for waybill in many[10:])
    assert len(bounded.json()["errors"]) == 10
    # Nothing was planted or expired by the refused acks.
    pending = session.exec(select(Canary).where(Canary.status == CanaryStatus.PENDING)).all()
    assert len(pending) == 2


def test_pull_in_the_links_own_csv_shape(
    client: TestClient, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    outlet = _tree(make_link)["outlet"]
    profile = {
        "feed_format": "csv",
        "feed_encoding": "gb18030",
        "feed_columns": [["运单号", "waybill_no"], ["收件人", "name"], ["联系电话", "mobile"],
                         ["收货地址", "full_address"], ["下单时间", "created_at"]],
    }  # fmt: skip
    saved = client.put(
        f"/v1/links/{outlet.id}/feed-profile", json=profile, headers=bearer(make_key(Role.SECURITY))
    )
    assert saved.status_code == 200, saved.text
    pulled = client.post(
        f"/v1/links/{outlet.id}/feed/pull",
        json={"count": 4},
        headers=bearer(make_key(Role.INTEGRATION)),
    )
    assert pulled.headers["content-type"] == "text/csv; charset=gb18030"
    assert uuid.UUID(pulled.headers["x-batch-id"])
    rows = list(csv.reader(io.StringIO(pulled.content.decode("gb18030"))))
    assert rows[0] == ["运单号", "收件人", "联系电话", "收货地址", "下单时间"]
    assert len(rows) == 5
    assert all(r[3].startswith("浙江省杭州市西湖区") for r in rows[1:])


def test_profile_refuses_full_mobiles_without_a_pool(
    client: TestClient, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    outlet = _tree(make_link)["outlet"]
    response = client.put(
        f"/v1/links/{outlet.id}/feed-profile",
        json={"mobile_form": "full"},
        headers=bearer(make_key(Role.SECURITY)),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "mobile_form"
    bad_mix = client.put(
        f"/v1/links/{outlet.id}/feed-profile",
        json={"category_mix": {"no such category": 1.0}},
        headers=bearer(make_key(Role.SECURITY)),
    )
    assert bad_mix.status_code == 422


def test_burned_canary_is_retired_and_replaced(
    client: TestClient, session: Session, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    outlet = _tree(make_link)["outlet"]
    security = bearer(make_key(Role.SECURITY))
    minted = client.post(f"/v1/links/{outlet.id}/canaries", json={"count": 1}, headers=security)
    canary_id = minted.json()[0]["id"]
    burned = client.post(f"/v1/canaries/{canary_id}/burn", headers=security)
    assert burned.json()["status"] == "burned"
    ready = session.exec(
        select(Canary).where(Canary.link_id == outlet.id, Canary.status == CanaryStatus.READY)
    ).all()
    assert len(ready) == 1
    pulled = client.post(
        f"/v1/links/{outlet.id}/feed/pull",
        json={"count": 2},
        headers=bearer(make_key(Role.INTEGRATION)),
    ).json()
    assert pulled["records"][0]["waybill_no"] == ready[0].waybill_no


def test_inactive_links_get_no_canaries_and_links_with_canaries_are_not_deleted(
    client: TestClient, make_key: KeyFactory, make_link: LinkFactory, admin_headers: dict[str, str]
) -> None:
    outlet = _tree(make_link)["outlet"]
    security = bearer(make_key(Role.SECURITY))
    client.post(f"/v1/links/{outlet.id}/canaries", json={"count": 1}, headers=security)
    refused = client.delete(f"/v1/links/{outlet.id}", headers=admin_headers)
    assert refused.status_code == 409
    assert "deactivate" in refused.json()["detail"]
    client.post(f"/v1/links/{outlet.id}/deactivate", headers=admin_headers)
    again = client.post(f"/v1/links/{outlet.id}/canaries", json={"count": 1}, headers=security)
    assert again.status_code == 409


def test_stored_canaries_never_repeat_a_waybill_or_name_and_address(
    session: Session, make_link: LinkFactory
) -> None:
    outlet = _tree(make_link)["outlet"]
    first = service.mint_canaries(
        session, Actor.cli(), outlet.id, 30, PlantChannel.CLI, rng=random.Random(5)
    )
    second = service.mint_canaries(
        session, Actor.cli(), outlet.id, 30, PlantChannel.CLI, rng=random.Random(5)
    )
    ids = [c.id for c in first.planted + second.planted]
    stored = session.exec(select(Canary).where(col(Canary.id).in_(ids))).all()
    assert len(stored) == 60
    assert len({c.waybill_no for c in stored}) == 60
    assert len({c.identity_key for c in stored}) == 60


def test_feed_headers_a_spreadsheet_would_run_are_refused(
    client: TestClient, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    outlet = _tree(make_link)["outlet"]
    for header in ('=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)"):
        refused = client.put(
            f"/v1/links/{outlet.id}/feed-profile",
            json={"feed_format": "csv", "feed_columns": [[header, "name"]]},
            headers=bearer(make_key(Role.SECURITY)),
        )
        assert refused.status_code == 422, header
        assert refused.json()["errors"][0]["field"].startswith("feed_columns")


def test_csv_cells_that_start_a_formula_are_neutralised() -> None:
    assert spreadsheet_safe("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert spreadsheet_safe("@SUM(1)") == "'@SUM(1)"
    assert spreadsheet_safe("\t=1") == "'\t=1"
    assert spreadsheet_safe("张*伟") == "张*伟"
    assert spreadsheet_safe(-1.5) == -1.5
    rendered = render_csv([{"收件人": "=1+1", "单号": "SF1"}], [("收件人", "name"), ("单号", "w")])
    assert rendered.splitlines()[1] == "'=1+1,SF1"


def _sample_export(count: int) -> bytes:
    """A stand-in for a link's own export (generated, no real person): compound headers,
    masked names and mobiles, GB18030, addresses in one shape that repeat the divisions."""
    rng = random.Random(40)
    lines = [
        "运单编号,收货客户名称,收货客户手机,目的站：省,收货客户地址（收件地址）,托寄物,寄件时间"
    ]
    for i in range(count):
        name = f"王*{'芳伟娜敏静'[i % 5]}"
        lines.append(
            f"YT{7000000000000 + i},{name},139****{i % 10_000:04d},浙江省,"
            f"浙江省杭州市西湖区翠苑{rng.randint(1, 5)}区{rng.randint(1, 30)}栋"
            f"{rng.randint(1, 6)}单元{rng.randint(1, 20)}0{rng.randint(1, 4)}室,连衣裙,"
            f"2026-03-0{1 + i % 7} {9 + i % 3}:{i % 60:02d}:00"
        )
    return ("\r\n".join(lines) + "\r\n").encode("gb18030")


def test_a_style_sample_keeps_statistics_only_and_shapes_the_links_canaries(
    client: TestClient, session: Session, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    outlet = _tree(make_link)["outlet"]
    sample = _sample_export(600)
    staff = bearer(make_key(Role.SECURITY))
    default = client.get(f"/v1/links/{outlet.id}/style", headers=staff)
    assert default.status_code == 200 and default.json()["learned"] is False
    learned = client.put(
        f"/v1/links/{outlet.id}/style-sample",
        content=sample,
        headers={**staff, "Content-Type": "text/csv"},
    )
    assert learned.status_code == 200, learned.text
    body = learned.json()
    assert body["records"] == 600 and body["learned"] is True
    assert body["divisions_repeated"] == 1.0
    assert body["name_masks"] == {"middle": 1.0} and body["mobile_masks"] == {"3*4": 1.0}
    stored = session.get(FeedProfile, outlet.id)
    assert stored is not None and stored.style is not None
    kept = json.dumps(stored.style, ensure_ascii=False)
    text = sample.decode("gb18030")
    rows = list(csv.reader(io.StringIO(text)))[1:]
    for row in rows:
        assert row[0] not in kept and row[2] not in kept  # no waybill, no mobile
        assert row[4] not in kept and row[4][9:] not in kept  # no address, no street
    assert "王" not in kept and "翠苑" not in kept and "139****" not in kept
    minted = client.post(
        f"/v1/links/{outlet.id}/canaries",
        json={"count": 60},
        headers=bearer(make_key(Role.SECURITY)),
    )
    assert minted.status_code == 201, minted.text
    streets = [c["address"] for c in minted.json()]
    shaped = [s for s in streets if re.search(r"\d+栋\d单元\d+室$", s)]
    assert len(shaped) >= 0.9 * len(streets), streets[:5]
    hours = {
        datetime.fromisoformat(c["created_at"]).astimezone(CHINA_STANDARD_TIME).hour
        for c in minted.json()
    }
    assert hours <= {9, 10, 11}, hours


def test_a_sample_that_is_no_export_is_refused(
    client: TestClient, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    outlet = _tree(make_link)["outlet"]
    response = client.put(
        f"/v1/links/{outlet.id}/style-sample",
        content=b"a,b\n1,2\n",
        headers=bearer(make_key(Role.SECURITY)),
    )
    assert response.status_code == 422
