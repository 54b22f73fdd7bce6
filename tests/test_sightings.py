"""Manual reports, the sighting list and brushing-order screening, over the API."""

import gc
import hashlib
import random
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.auth.actor import Actor
from app.canary_index import LiveIndex
from app.models.audit import AuditEntry
from app.models.canaries import Canary, CanaryStatus, PlantChannel
from app.models.keys import Role
from app.models.links import Link
from app.models.sightings import Sighting
from app.planting.schemas import StoredCanary
from app.planting.service import mint_canaries
from app.ratelimit import RateLimiter
from app.resources import app_resources
from app.settings import Settings
from canaries.couriers import Courier
from canaries.matching import Matcher
from canaries.mint import LinkProfile, Minter
from tests.conftest import KeyFactory, LinkFactory, bearer


@pytest.fixture
def planted(session: Session, make_link: LinkFactory) -> tuple[Link, list[StoredCanary]]:
    outlet = make_link("西湖网点")
    result = mint_canaries(
        session, Actor.cli(), outlet.id, 12, PlantChannel.CLI, rng=random.Random(4)
    )
    session.commit()
    return outlet, [c for c in result.planted if not c.control]


def _listing(canary: StoredCanary) -> str:
    masked = canary.name[0] + "*" + canary.name[-1]
    return (
        f"出售全国快递单号数据 日更 样本: {masked} {canary.mobile} "
        f"{canary.province}{canary.city}{canary.district}{canary.address[:6]}*** 0.5元一条"
    )


def test_an_investigator_report_makes_a_sighting_once_with_its_evidence(
    client: TestClient,
    make_key: KeyFactory,
    planted: tuple[Link, list[StoredCanary]],
    session: Session,
    settings: Settings,
) -> None:
    outlet, canaries = planted
    headers = bearer(make_key(Role.INVESTIGATOR))
    body = {"kind": "listing", "text": _listing(canaries[0]), "url": "http://shop.example/1"}
    first = client.post("/v1/sightings", json=body, headers=headers)
    assert first.status_code == 202, first.text
    report = first.json()
    assert report["matches"] == 1
    (sighting,) = report["sightings"]
    assert sighting["canary_id"] == str(canaries[0].id)
    assert sighting["link_id"] == str(outlet.id)
    assert sighting["source"] == "report"
    assert sighting["location"]["url"] == "http://shop.example/1"
    assert sighting["fields"]["mobile"]["level"] == "masked"
    blob = (Path(settings.evidence_dir) / sighting["evidence_sha256"][:2]
            / sighting["evidence_sha256"]).read_bytes()  # fmt: skip
    assert hashlib.sha256(blob).hexdigest() == sighting["evidence_sha256"]
    assert canaries[0].name[0] in blob.decode()

    again = client.post("/v1/sightings", json=body, headers=headers).json()
    assert again["matches"] == 1 and again["sightings"][0]["id"] == sighting["id"]
    assert len(session.exec(select(Sighting)).all()) == 1
    burned = session.get(Canary, canaries[0].id)
    assert burned is not None and burned.status == CanaryStatus.BURNED

    listed = client.get("/v1/sightings", params={"source": "report"}, headers=headers).json()
    assert [s["id"] for s in listed["items"]] == [sighting["id"]]
    assert (
        client.get("/v1/sightings", params={"source": "order"}, headers=headers).json()["total"]
        == 0
    )
    audit = session.exec(select(AuditEntry).where(AuditEntry.action == "sighting.report")).all()
    assert len(audit) == 2


def test_a_report_without_a_canary_keeps_nothing(
    client: TestClient, make_key: KeyFactory, planted: object, settings: Settings, session: Session
) -> None:
    stranger = Minter(LinkProfile(Courier.ZTO), random.Random(77)).mint_one()
    text = f"{stranger.name} {stranger.mobile} {stranger.province}{stranger.city}{stranger.address}"
    response = client.post(
        "/v1/sightings", json={"kind": "sms", "text": text}, headers=bearer(make_key(Role.SECURITY))
    )
    assert response.status_code == 202
    assert response.json()["matches"] == 0
    assert session.exec(select(Sighting)).all() == []
    assert not Path(settings.evidence_dir).exists()  # a stranger's data is not kept


def test_a_partner_may_report_but_learns_nothing(
    client: TestClient,
    make_key: KeyFactory,
    make_link: LinkFactory,
    planted: tuple[Link, list[StoredCanary]],
    session: Session,
) -> None:
    _, canaries = planted
    partner = bearer(make_key(Role.PARTNER, make_link("平台")))
    response = client.post(
        "/v1/sightings", json={"kind": "listing", "text": _listing(canaries[1])}, headers=partner
    )
    assert response.status_code == 202
    assert response.json()["matches"] is None and response.json()["sightings"] is None
    assert len(session.exec(select(Sighting)).all()) == 1  # recorded all the same
    assert client.get("/v1/sightings", headers=partner).status_code == 403


def test_bad_reports_are_refused(
    client: TestClient, make_key: KeyFactory, settings: Settings
) -> None:
    headers = bearer(make_key(Role.INVESTIGATOR))
    cases = [
        {"kind": "rumour", "text": "x"},
        {"kind": "sms", "text": ""},
        {"kind": "sms", "text": "x", "observed_at": "2999-01-01T00:00:00+08:00"},
        {"kind": "sms", "text": "x", "observed_at": "2026-01-01T00:00:00"},
        {"kind": "sms", "text": "x", "url": "javascript:alert(1)"},
        {"kind": "sms", "text": "x", "surprise": 1},
        {"kind": "sms", "text": "长" * (settings.max_report_chars + 1)},
    ]
    for body in cases:
        refused = client.post("/v1/sightings", json=body, headers=headers)
        assert refused.status_code in (413, 422), (body, refused.text)


def _leaked_csv(canary: StoredCanary, strangers: int = 40) -> bytes:
    """A leaked sample: generated strangers and one canary, the way such files look."""
    rng = random.Random(11)
    rows = ["收件人,手机,地址,运单号"]
    for i in range(strangers):
        name = rng.choice("王李张刘陈杨") + "*" + rng.choice("伟芳娜敏静")
        mobile = f"13{rng.randrange(10)}****{rng.randrange(10_000):04d}"
        rows.append(
            f"{name},{mobile},浙江省杭州市西湖区文三路{i}号***,YT{rng.randrange(10**12):012d}"
        )
    masked = canary.name[0] + "*" + canary.name[-1]
    mobile = canary.mobile[:3] + "****" + canary.mobile[-4:]
    place = f"{canary.province}{canary.city}{canary.district}{canary.address[:6]}***"
    rows.insert(17, f"{masked},{mobile},{place},{canary.waybill_no}")
    return "\n".join(rows).encode("gb18030")


def test_an_uploaded_file_is_read_like_a_dump_and_only_its_matches_are_kept(
    client: TestClient,
    make_key: KeyFactory,
    make_link: LinkFactory,
    planted: tuple[Link, list[StoredCanary]],
    session: Session,
    settings: Settings,
) -> None:
    outlet, canaries = planted
    data = _leaked_csv(canaries[2])
    headers = bearer(make_key(Role.INVESTIGATOR))
    files = {"file": ("样本.csv", data, "text/csv")}
    form = {"url": "http://shop.example/item/9"}
    first = client.post("/v1/sightings/files", files=files, data=form, headers=headers)
    assert first.status_code == 202, first.text
    report = first.json()
    assert report["source_id"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert report["matches"] == 1
    (sighting,) = report["sightings"]
    assert sighting["canary_id"] == str(canaries[2].id)
    assert sighting["link_id"] == str(outlet.id)
    assert sighting["source"] == "report"
    assert sighting["location"]["file_sha256"] == hashlib.sha256(data).hexdigest()
    assert sighting["location"]["rows"] == "41"
    assert canaries[2].waybill_no in sighting["excerpt"]
    assert not Path(settings.evidence_dir).exists()  # the strangers' rows are not kept

    again = client.post("/v1/sightings/files", files=files, headers=headers).json()
    assert again["sightings"][0]["id"] == sighting["id"]  # the same file is one observation

    partner = bearer(make_key(Role.PARTNER, make_link("快递柜平台")))
    other = _leaked_csv(canaries[3], strangers=5)
    told = client.post("/v1/sightings/files", files={"file": ("a.csv", other)}, headers=partner)
    assert told.status_code == 202
    assert told.json()["matches"] is None and told.json()["sightings"] is None
    stored = session.exec(select(Sighting).where(Sighting.canary_id == canaries[3].id)).all()
    assert len(stored) == 1


def test_bad_file_reports_are_refused(
    client: TestClient, make_key: KeyFactory, settings: Settings
) -> None:
    headers = bearer(make_key(Role.INVESTIGATOR))
    too_big = b"x" * (settings.max_upload_bytes + 1)
    cases = [
        ({"file": ("big.csv", too_big)}, {}, 413),
        ({}, {}, 422),
        ({"file": ("a.csv", b"a,b")}, {"url": "file:///etc/passwd"}, 422),
        ({"file": ("a.csv", b"a,b")}, {"observed_at": "2999-01-01T00:00:00+00:00"}, 422),
    ]
    for files, form, expected in cases:
        refused = client.post("/v1/sightings/files", files=files, data=form, headers=headers)
        assert refused.status_code == expected, (form, refused.text)
    assert client.post("/v1/sightings/files", files={"file": ("a.csv", b"a")}).status_code == 401


# -- screening -----------------------------------------------------------------------------


def _orders(canaries: list[StoredCanary], count: int) -> tuple[list[dict[str, str]], set[str]]:
    people = Minter(LinkProfile(Courier.YTO), random.Random(8), control_share=0).mint(count)
    orders = [
        {"order_id": f"T{n}", "name": p.name, "mobile": p.mobile, "province": p.province,
         "city": p.city, "district": p.district, "address": p.address, "merchant_id": "m-1"}
        for n, p in enumerate(people)
    ]  # fmt: skip
    brushed = set()
    for n, canary in zip((10, 400, 777), canaries, strict=False):
        orders[n] = {
            "order_id": f"B{n}", "name": canary.name, "mobile": canary.mobile,
            "address": canary.province + canary.city + canary.district + canary.address,
            "sender_id": "s-9", "merchant_id": "刷单店",
        }  # fmt: skip
        brushed.add(f"B{n}")
    return orders, brushed


def test_orders_addressed_to_canaries_name_their_merchant(
    client: TestClient,
    make_key: KeyFactory,
    planted: tuple[Link, list[StoredCanary]],
    session: Session,
) -> None:
    _, canaries = planted
    orders, brushed = _orders(canaries, 1000)
    headers = bearer(make_key(Role.INTEGRATION))
    response = client.post("/v1/screen", json={"orders": orders}, headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["screened"] == 1000
    assert {h["order_id"] for h in result["hits"]} == brushed
    assert all(h["sighting_id"] and h["score"] >= 32 for h in result["hits"])
    sightings = session.exec(select(Sighting)).all()
    assert {s.source for s in sightings} == {"order"}
    assert {s.location["merchant_id"] for s in sightings} == {"刷单店"}
    assert {s.location["sender_id"] for s in sightings} == {"s-9"}

    again = client.post("/v1/screen", json={"orders": orders}, headers=headers).json()
    assert {h["order_id"] for h in again["hits"]} == brushed
    assert all(h["sighting_id"] is None for h in again["hits"])
    assert len(session.exec(select(Sighting)).all()) == 3


def test_a_brusher_with_a_phone_of_its_own_is_found_by_name_and_full_address(
    client: TestClient,
    make_key: KeyFactory,
    planted: tuple[Link, list[StoredCanary]],
) -> None:
    """A brusher holding a masked list writes the canary's full name and street address
    with a mobile of its own (issue 15): name + specific address is enough on an order,
    while a stranger of the same name in the same district is not found."""
    _, canaries = planted
    canary = next(c for c in canaries if len(c.name) == 3)
    order = {"order_id": "BR1", "name": canary.name, "mobile": "13912345678",
             "province": canary.province, "city": canary.city, "district": canary.district,
             "address": canary.address, "merchant_id": "刷单店"}  # fmt: skip
    stranger = {**order, "order_id": "ST1", "address": "人民路1号"}
    headers = bearer(make_key(Role.INTEGRATION))
    answer = client.post("/v1/screen", json={"orders": [order, stranger]}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert [h["order_id"] for h in answer.json()["hits"]] == ["BR1"]


def test_screening_is_for_the_order_platform_with_bounded_batches(
    client: TestClient, make_key: KeyFactory
) -> None:
    order = {"order_id": "1", "name": "张伟"}
    for role in (Role.SECURITY, Role.INVESTIGATOR):
        refused = client.post(
            "/v1/screen", json={"orders": [order]}, headers=bearer(make_key(role))
        )
        assert refused.status_code == 403
    headers = bearer(make_key(Role.INTEGRATION))
    assert client.post("/v1/screen", json={"orders": []}, headers=headers).status_code == 422
    too_many = [{"order_id": str(n)} for n in range(10_001)]
    assert client.post("/v1/screen", json={"orders": too_many}, headers=headers).status_code == 422
    bad = client.post(
        "/v1/screen", json={"orders": [{"order_id": "1", "name": "x" * 65}]}, headers=headers
    )
    assert bad.status_code == 422


def test_matching_routes_are_rate_limited_per_key(client: TestClient, make_key: KeyFactory) -> None:
    limiter = app_resources(client.app).get(RateLimiter)  # type: ignore[arg-type]
    limiter.per_second, limiter.burst = 0.01, 3.0  # a burst of three, then one in 100 s
    headers = bearer(make_key(Role.INTEGRATION))
    batch = {"orders": [{"order_id": "1"}]}
    statuses = [client.post("/v1/screen", json=batch, headers=headers) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert statuses[3].headers["Retry-After"] == "1"
    other = bearer(make_key(Role.INTEGRATION))
    assert client.post("/v1/screen", json=batch, headers=other).status_code == 200


def test_the_index_takes_new_canaries_and_late_commits_with_earlier_times(
    session: Session, make_link: LinkFactory
) -> None:
    outlet = make_link("东区网点")
    now = [0.0]
    holder = LiveIndex(count_every=10.0, clock=lambda: now[0])
    mint_canaries(session, Actor.cli(), outlet.id, 5, PlantChannel.CLI, rng=random.Random(1))
    first = holder.refresh(session)
    assert first == len(session.exec(select(Canary)).all())
    assert holder.refresh(session) == 0  # nothing new: one query on the minted_at index
    late = mint_canaries(session, Actor.cli(), outlet.id, 2, PlantChannel.CLI).planted
    for stored in late:  # committed now, stamped an hour ago: behind the watermark
        row = session.get(Canary, stored.id)
        assert row is not None
        row.minted_at = row.minted_at - timedelta(hours=1)
        session.add(row)
    session.flush()
    now[0] = 9.0  # not counted again yet: behind the watermark, they are not seen
    assert holder.refresh(session) == 0
    now[0] = 10.0  # counted: the store holds more than the index, and they are read
    assert holder.refresh(session) >= 2
    assert all(stored.id in holder.index for stored in late)
    new = mint_canaries(session, Actor.cli(), outlet.id, 1, PlantChannel.CLI).planted
    assert holder.refresh(session) == 1  # a newer canary: found without a count
    assert new[0].id in holder.index


def test_a_few_new_canaries_are_matched_without_re_sorting_the_index(
    session: Session, make_link: LinkFactory
) -> None:
    """A refresh that adds a few canaries (a burned one's replacements) leaves their keys
    pending, where lookups find them, instead of re-sorting every key (0.4 s at 100,000)."""
    outlet = make_link("南区网点")
    holder = LiveIndex()
    mint_canaries(session, Actor.cli(), outlet.id, 20, PlantChannel.CLI, rng=random.Random(7))
    holder.refresh(session)
    sorted_keys = holder.index._keys
    (new,) = mint_canaries(session, Actor.cli(), outlet.id, 1, PlantChannel.CLI,
                           rng=random.Random(8)).planted  # fmt: skip
    assert holder.refresh(session) == 1
    assert holder.index._keys is sorted_keys  # not merged
    record = {"name": new.name, "mobile": new.mobile, "waybill_no": new.waybill_no}
    ((_, match),) = Matcher(holder.index).match_records([record])
    assert match.canary.id == new.id.bytes


def test_a_bulk_refresh_keeps_the_cyclic_collector_off_the_index(
    session: Session, make_link: LinkFactory
) -> None:
    """Its full pass over a loaded index took about 0.2 s at 100,000 canaries and stalled a
    request now and then: the objects of a bulk load are frozen out of it."""
    outlet = make_link("北区网点")
    mint_canaries(session, Actor.cli(), outlet.id, 1000, PlantChannel.CLI, rng=random.Random(9))
    gc.unfreeze()
    try:
        assert LiveIndex().refresh(session) >= 1000
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
