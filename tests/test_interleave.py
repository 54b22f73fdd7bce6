"""Interleave over real HTTP on loopback: a feed streams through uvicorn and comes back with
canaries spliced in, each planted; the real records come back byte for byte."""

import csv
import io
import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.auth.actor import Actor
from app.auth.keys import issue_key
from app.db import Database, make_engine, upgrade
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.main import create_app
from app.models.audit import AuditEntry
from app.models.canaries import Canary, CanaryStatus, Plant, PlantChannel
from app.models.keys import Role
from app.planting.feeds import pull
from app.planting.interleave import FeedSplice
from app.planting.service import mint_canaries
from app.settings import Settings
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from canaries.mint import LinkProfile, Minter
from canaries.waybills import is_valid_waybill
from tests.conftest import LinkFactory, SharedSessionDatabase, session_scope
from tests.loopback import serving

HEADER = "订单编号,运单号,收件人,联系电话,收货地址,商品名称,重量,下单时间\r\n"


def _feed_lines(count: int) -> list[str]:
    """Generated stand-ins for real records (no real personal data)."""
    minter = Minter(LinkProfile(courier=Courier.STO, area="440305"), random.Random(21))
    return [
        f"DD{7000000 + i},{c.waybill_no},{c.name},{c.mobile},"
        f"{c.province}{c.city}{c.district}{c.address},{c.item},{c.weight_kg:.1f},"
        f"{c.created_at:%Y/%m/%d %H:%M}\r\n"
        for i, c in enumerate(minter.mint(count))
    ]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, str, str]]:
    url = f"sqlite:///{tmp_path / 'interleave.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        link = create_link(
            session,
            Actor.cli(),
            LinkCreate(
                name="深圳南山网点", kind=LinkKind.OUTLET, region="440305", courier=Courier.STO
            ),
        )
        feed_key = issue_key(session, role=Role.INTEGRATION, name="dispatch").secret
        staff_key = issue_key(session, role=Role.SECURITY, name="staff").secret
    app = create_app(Settings(database_url=url, rotation_interval_seconds=0), Database(engine))
    with serving(app) as base:
        yield base, str(link.id), feed_key, staff_key
    engine.dispose()


def test_a_streamed_feed_comes_back_with_planted_canaries(
    server: tuple[str, str, str, str], tmp_path: Path
) -> None:
    base, link_id, feed_key, _ = server
    lines = _feed_lines(3000)
    original = (HEADER + "".join(lines)).encode("gb18030")

    def upload() -> Iterator[bytes]:
        for start in range(0, len(original), 7001):  # odd chunk size: splits characters
            yield original[start : start + 7001]

    with httpx.stream(
        "POST",
        f"{base}/v1/links/{link_id}/feed/interleave",
        params={"format": "csv", "rate": 0.01},
        content=upload(),
        headers={"Authorization": f"Bearer {feed_key}", "Content-Type": "text/csv"},
        timeout=60,
    ) as response:
        assert response.status_code == 200
        returned = b"".join(response.iter_bytes())

    text = returned.decode("gb18030")
    engine = make_engine(f"sqlite:///{tmp_path / 'interleave.db'}")
    with Session(engine) as session:
        canaries = session.exec(select(Canary).where(Canary.status == CanaryStatus.PLANTED)).all()
        plants = session.exec(select(Plant)).all()
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "feed.interleave")).one()
    engine.dispose()
    waybills = {c.waybill_no for c in canaries}
    assert 5 <= len(waybills) <= 80  # 3000 x 0.01 = 30 expected
    assert {p.channel for p in plants} == {PlantChannel.INTERLEAVE}
    assert len(plants) == len(waybills)
    assert audit.detail == {"planted": len(waybills), "completed": True}
    out_lines = text.splitlines(keepends=True)
    spliced = [line for line in out_lines if any(w in line for w in waybills)]
    assert len(spliced) == len(waybills), "every emitted canary is planted, and only those"
    real = [line for line in out_lines if line not in spliced]
    assert "".join(real).encode("gb18030") == original
    for line in spliced:
        values = next(csv.reader(io.StringIO(line)))
        assert values[0].startswith("DD") and len(values[0]) == 9
        assert values[4].startswith("广东省深圳市南山区")
        assert len(values[6].split(".")[1]) == 1
        assert line.endswith("\r\n")


def test_a_feed_without_known_columns_is_a_problem(server: tuple[str, str, str, str]) -> None:
    base, link_id, feed_key, staff_key = server
    response = httpx.post(
        f"{base}/v1/links/{link_id}/feed/interleave",
        content="颜色,尺码\n红,L\n".encode() * 1000,
        headers={"Authorization": f"Bearer {feed_key}"},
    )
    assert response.status_code == 422
    assert "no column" in response.json()["detail"]
    staff = httpx.post(
        f"{base}/v1/links/{link_id}/feed/interleave",
        content=b"x",
        headers={"Authorization": f"Bearer {staff_key}"},
    )
    assert staff.status_code == 403


def _planted(tmp_path: Path) -> list[Canary]:
    engine = make_engine(f"sqlite:///{tmp_path / 'interleave.db'}")
    with Session(engine) as session:
        rows = list(session.exec(select(Canary).where(Canary.status == CanaryStatus.PLANTED)))
    engine.dispose()
    return rows


def test_a_camel_case_ndjson_feed_comes_back_with_canaries_in_every_field(
    server: tuple[str, str, str, str], tmp_path: Path
) -> None:
    base, link_id, feed_key, _ = server
    minter = Minter(LinkProfile(courier=Courier.STO, area="440305"), random.Random(5))
    statuses = ("已揽收", "运输中", "派送中")
    feed = "".join(
        json.dumps(
            {"mailNo": c.waybill_no, "receiverName": c.name, "receiverMobile": c.mobile,
             "receiverProvince": c.province, "receiverCity": c.city, "receiverArea": c.district,
             "receiverAddress": c.address, "createTime": f"{c.created_at:%Y-%m-%d %H:%M:%S}",
             "status": statuses[i % 3]},
            ensure_ascii=False,
        ) + "\n"
        for i, c in enumerate(minter.mint(2000))
    ).encode()  # fmt: skip
    response = httpx.post(
        f"{base}/v1/links/{link_id}/feed/interleave",
        params={"format": "ndjson", "rate": 0.02},
        content=feed,
        headers={"Authorization": f"Bearer {feed_key}"},
        timeout=60,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson; charset=utf-8"
    planted = {c.waybill_no: c for c in _planted(tmp_path)}
    records = [json.loads(line) for line in response.text.splitlines()]
    spliced = [r for r in records if r["mailNo"] in planted]
    assert len(spliced) == len(planted) > 10
    for record in spliced:
        canary = planted[record["mailNo"]]
        assert is_valid_waybill(Courier.STO, record["mailNo"])
        assert record["receiverName"] == canary.name
        assert record["receiverMobile"] == canary.mobile
        assert record["receiverMobile"][:3] != "312" and record["receiverMobile"][3:7] == "****"
        assert (record["receiverProvince"], record["receiverCity"], record["receiverArea"]) == (
            "广东省", "深圳市", "南山区"
        )  # fmt: skip
        assert canary.address in record["receiverAddress"]
        assert record["status"] in statuses


def test_a_gb18030_feed_is_labelled_gb18030(
    server: tuple[str, str, str, str],
) -> None:
    base, link_id, feed_key, _ = server
    original = (HEADER + "".join(_feed_lines(200))).encode("gb18030")
    response = httpx.post(
        f"{base}/v1/links/{link_id}/feed/interleave",
        params={"format": "csv", "rate": 0.05},
        content=original,
        headers={"Authorization": f"Bearer {feed_key}"},
        timeout=60,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=gb18030"
    assert response.content.decode("gb18030").startswith("订单编号")


def test_a_feed_with_names_it_cannot_place_is_refused_and_nothing_planted(
    server: tuple[str, str, str, str], tmp_path: Path
) -> None:
    base, link_id, feed_key, _ = server
    feed = "".join(
        json.dumps({"mailNo": c.waybill_no, "buyerNick": c.name, "receiverMobile": c.mobile},
                   ensure_ascii=False) + "\n"
        for c in Minter(LinkProfile(courier=Courier.STO), random.Random(6)).mint(500)
    ).encode()  # fmt: skip
    response = httpx.post(
        f"{base}/v1/links/{link_id}/feed/interleave",
        params={"format": "ndjson", "rate": 0.2},
        content=feed,
        headers={"Authorization": f"Bearer {feed_key}"},
        timeout=60,
    )
    assert response.status_code == 422
    assert "buyerNick" in response.json()["detail"]
    assert _planted(tmp_path) == []


def test_a_key_scoped_to_the_link_interleaves_its_feed(
    server: tuple[str, str, str, str], tmp_path: Path
) -> None:
    """An outlet's dispatch system, with an integration key scoped to its own link, splices
    its feed (another link's feed answers 404: tests/test_scoped_keys.py)."""
    base, link_id, _, _ = server
    engine = make_engine(f"sqlite:///{tmp_path / 'interleave.db'}")
    with session_scope(engine) as session:
        scoped = issue_key(
            session, role=Role.INTEGRATION, name="南山 dispatch", scope_link_id=uuid.UUID(link_id)
        ).secret
    answer = httpx.post(
        f"{base}/v1/links/{link_id}/feed/interleave",
        params={"format": "csv", "rate": 0.2},
        content=(HEADER + "".join(_feed_lines(200))).encode("gb18030"),
        headers={"Authorization": f"Bearer {scoped}", "Content-Type": "text/csv"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    with Session(engine) as session:
        plants = session.exec(select(Plant)).all()
    engine.dispose()
    assert plants and {str(p.link_id) for p in plants} == {link_id}


def test_waiting_canaries_go_out_first_and_the_rest_wait_for_the_next_feed(
    server: tuple[str, str, str, str], tmp_path: Path
) -> None:
    """A burned canary's replacement and rotation's floor wait `ready`; a streamed feed sends
    them before minting fresh ones (they used to wait for a pull that a streaming link never
    makes, and expired). What the run claimed and did not send is released to the next pull."""
    base, link_id, feed_key, _ = server
    engine = make_engine(f"sqlite:///{tmp_path / 'interleave.db'}")
    with session_scope(engine) as session:
        mint_canaries(
            session, Actor.cli(), uuid.UUID(link_id), 100, None, status=CanaryStatus.READY
        )
    with Session(engine) as session:
        waiting = {
            c.waybill_no
            for c in session.exec(select(Canary).where(Canary.status == CanaryStatus.READY))
        }
    assert len(waiting) == 100
    response = httpx.post(
        f"{base}/v1/links/{link_id}/feed/interleave",
        params={"format": "csv", "rate": 0.01},  # about 30 go out: fewer than the 64 claimed
        content=(HEADER + "".join(_feed_lines(3000))).encode("gb18030"),
        headers={"Authorization": f"Bearer {feed_key}", "Content-Type": "text/csv"},
        timeout=60,
    )
    assert response.status_code == 200
    planted = {c.waybill_no: c for c in _planted(tmp_path)}
    assert 5 <= len(planted) < 64
    assert set(planted) <= waiting, "no fresh canary while waiting ones were left"
    sent = {w for w in waiting if w in response.content.decode("gb18030")}
    assert sent == set(planted)
    with Session(engine) as session:
        plants = session.exec(select(Plant)).all()
        left = session.exec(select(Canary).where(Canary.status == CanaryStatus.READY)).all()
    assert {p.canary_id for p in plants} == {c.id for c in planted.values()}
    assert {p.channel for p in plants} == {PlantChannel.INTERLEAVE}
    assert len(left) == 100 - len(planted)
    assert all(c.batch_id is None for c in left), "claims not sent are released"
    with session_scope(engine) as session:
        _, pulled, _ = pull(session, Actor.cli(), uuid.UUID(link_id), len(left))
    assert {c.waybill_no for c in pulled} == {c.waybill_no for c in left}
    engine.dispose()


def test_a_splicing_run_claims_sends_and_releases_waiting_canaries_on_both_databases(
    engine: Engine, session: Session, make_link: LinkFactory
) -> None:
    """The claim, the plant of what went out and the release of the rest, as a run makes
    them, on SQLite and PostgreSQL; a pull meanwhile takes none of the claimed."""
    link = make_link("流式网点")
    mint_canaries(session, Actor.cli(), link.id, 5, None, status=CanaryStatus.READY)
    session.commit()
    run = FeedSplice(session, SharedSessionDatabase(engine, session), Actor.cli(), link, 0.01)
    sent = [run.next_canary() for _ in range(3)]  # claims all five, sends three

    def canaries() -> dict[str, Canary]:
        query = select(Canary).execution_options(populate_existing=True)
        return {c.waybill_no: c for c in session.exec(query).all()}

    claimed = [c for c in canaries().values() if c.batch_id == run.run_id]
    assert len(claimed) == 5 and all(c.handed_out_at is not None for c in claimed)
    _, pulled, _ = pull(session, Actor.cli(), link.id, 2)
    assert {c.waybill_no for c in pulled}.isdisjoint(c.waybill_no for c in claimed)
    for fields in sent[:2]:  # two made it into the feed before it broke off
        run.on_planted(fields)
    run.finish(completed=False)
    rows = canaries()
    planted = {str(f["waybill_no"]) for f in sent[:2]}
    assert {w for w, c in rows.items() if c.status == CanaryStatus.PLANTED} == planted
    plants = session.exec(select(Plant).where(Plant.link_id == link.id)).all()
    assert {rows[w].id for w in planted} == {p.canary_id for p in plants}
    waiting = [c for c in rows.values() if c.status == CanaryStatus.READY]
    assert len(waiting) == 3 and all(c.batch_id is None for c in waiting)
