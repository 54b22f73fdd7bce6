"""Leaks as they are sold, end to end through the API (issue 15): a big dump mixed from many
sources names the one outlet whose canaries are in it, and one leak seen in a dump and in a
pasted listing on the same day is one incident."""

import csv
import io
import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth.actor import Actor
from app.auth.keys import issue_key
from app.db import Database
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.main import create_app
from app.models.canaries import PlantChannel
from app.models.keys import Role
from app.models.links import Link
from app.planting.schemas import StoredCanary
from app.planting.service import mint_canaries
from app.settings import Settings
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from canaries.mint import LinkProfile, Minter
from tests.conftest import (
    BACKENDS,
    KeyFactory,
    attributed,
    bearer,
    migrated_database,
)
from tests.loopback import serving

HEADER = ["收件人", "手机", "省", "市", "区", "地址", "运单号"]


def _row(c: StoredCanary) -> list[str]:
    return [c.name, c.mobile, c.province, c.city, c.district, c.address, c.waybill_no]


def _courier(session: Session) -> tuple[dict[str, Link], dict[str, list[StoredCanary]]]:
    """A head office, Zhejiang with Ningbo's and Hangzhou's outlets, and Jiangsu's: each
    outlet with 40 canaries planted."""
    cli = Actor.cli()

    def link(name: str, kind: LinkKind, region: str, parent: Link | None) -> Link:
        body = LinkCreate(name=name, kind=kind, region=region, courier=Courier.ZTO,
                          parent_id=parent.id if parent else None)  # fmt: skip
        return create_link(session, cli, body)

    head = link("总部", LinkKind.HEAD_OFFICE, "310000", None)
    zhejiang = link("浙江大区", LinkKind.REGION, "330000", head)
    jiangsu = link("江苏大区", LinkKind.REGION, "320000", head)
    outlets = {
        "ningbo": link("海曙网点", LinkKind.OUTLET, "330203", zhejiang),
        "hangzhou": link("西湖网点", LinkKind.OUTLET, "330106", zhejiang),
        "nanjing": link("玄武网点", LinkKind.OUTLET, "320102", jiangsu),
    }
    planted = {
        name: mint_canaries(
            session, cli, outlet.id, 40, PlantChannel.CLI, rng=random.Random(n)
        ).planted
        for n, (name, outlet) in enumerate(outlets.items())
    }
    return outlets, planted


def _strangers(count: int, seed: int) -> Iterator[list[str]]:
    """Records of people who are not canaries, from anywhere in the country."""
    people = Minter(LinkProfile(Courier.YTO), random.Random(seed), control_share=0)
    for person in people.mint(count):
        yield [person.name, person.mobile, person.province, person.city, person.district,
               person.address, person.waybill_no]  # fmt: skip


@pytest.fixture(params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Database]]:
    with migrated_database(request.param, tmp_path) as (url, engine):
        settings = Settings(
            database_url=url,
            rotation_interval_seconds=0,
            evidence_dir=str(tmp_path / "evidence"),
            scan_spool_dir=str(tmp_path),
            index_path=str(tmp_path / "canaries.keys"),
            jobs_in_process=True,
        )
        database = Database(engine)
        with serving(create_app(settings, database)) as base:
            yield base, database


@pytest.mark.slow
def test_a_big_dump_mixed_from_many_sources_names_the_outlet_in_it(
    served: tuple[str, Database],
) -> None:
    """300,000 rows in GB18030 of strangers from everywhere, holding 6 canaries of one
    Ningbo outlet matched by their whole waybill numbers: the outlet comes first, the file's
    size does not make a small outlet's leak look like chance."""
    base, database = served
    with database.write() as session:
        outlets, planted = _courier(session)
        key = issue_key(session, role=Role.SECURITY, name="security").secret
    rows = list(_strangers(20_000, 9))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for n in range(300_000 - 6):
        writer.writerow([*rows[n % len(rows)][:6], f"78{n:012d}"])
        if n % 50_000 == 25_000:
            writer.writerow(_row(planted["ningbo"][n // 50_000]))
    dump = out.getvalue().encode("gb18030")
    headers = bearer(key)
    started = httpx.post(f"{base}/v1/scans", params={"name": "全国快递数据.csv"},
                         content=dump, headers=headers, timeout=120)  # fmt: skip
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 300
    while (scan := httpx.get(f"{base}/v1/scans/{started.json()['id']}", headers=headers).json())[
        "status"
    ] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert (scan["status"], scan["match_count"], scan["rows"]) == ("done", 6, 300_000)
    attributed(database.engine, 120)
    (incident,) = httpx.get(f"{base}/v1/incidents", headers=headers).json()["items"]
    shown = httpx.get(f"{base}/v1/incidents/{incident['id']}", headers=headers).json()
    first = shown["candidates"][0]
    assert first["link_id"] == str(outlets["ningbo"].id), shown["candidates"]
    assert first["probability"] > 0.9
    assert shown["noise_probability"] < 0.01
    assert "weak" not in shown["flags"]


def test_a_dump_and_a_pasted_listing_of_one_outlet_on_one_day_are_one_incident(
    client: TestClient, session: Session, make_key: KeyFactory
) -> None:
    outlets, planted = _courier(session)
    session.commit()
    headers = bearer(make_key(Role.INVESTIGATOR))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(_strangers(500, 3))
    writer.writerows(_row(c) for c in planted["hangzhou"][:3])
    dump = client.post(
        "/v1/sightings/files",
        files={"file": ("样本.csv", out.getvalue().encode("utf-8"))},
        headers=headers,
    )
    assert dump.status_code == 202, dump.text
    listing = "\n".join(" ".join(_row(c)) for c in planted["hangzhou"][3:6])
    pasted = client.post(
        "/v1/sightings",
        json={
            "kind": "listing",
            "text": f"出售快递数据 0.5元一条\n{listing}",
            "url": "https://market.example/item/9",
        },
        headers=headers,
    )
    assert pasted.status_code == 202, pasted.text
    (incident,) = client.get("/v1/incidents", headers=headers).json()["items"]
    assert incident["sighting_count"] == 6
    shown = client.get(f"/v1/incidents/{incident['id']}", headers=headers).json()
    assert shown["candidates"][0]["link_id"] == str(outlets["hangzhou"].id)
    # Another outlet's canaries listed the same day elsewhere: another leak, kept apart.
    other = "\n".join(" ".join(_row(c)) for c in planted["nanjing"][:3])
    apart = client.post("/v1/sightings", json={"kind": "listing", "text": other,
                        "url": "https://market.example/item/10"}, headers=headers)  # fmt: skip
    assert apart.status_code == 202
    assert client.get("/v1/incidents", headers=headers).json()["total"] == 2
