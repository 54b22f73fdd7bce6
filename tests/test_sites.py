"""Trading sites over the API: definitions, and polls of a fake market on loopback that turn
listings naming canaries into sightings, once, with the page kept as evidence."""

import hashlib
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select
from typer.testing import CliRunner

from app.auth.actor import Actor
from app.auth.keys import issue_key
from app.cli import cli
from app.db import Database
from app.evidence.store import EvidenceStore
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.main import create_app
from app.models.canaries import PlantChannel
from app.models.keys import Role
from app.models.links import Link
from app.models.sightings import Sighting
from app.models.sites import SiteListing
from app.planting.schemas import StoredCanary
from app.planting.service import mint_canaries
from app.settings import Settings
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from tests.conftest import BACKENDS, bearer, migrated_database, session_scope
from tests.fakesite import FakeListing, Record, Trouble, make_fake_site
from tests.loopback import serving

RECORD = r"(?P<name>\S+)\s+(?P<mobile>1\d\d\*{4}\d{4})\s+(?P<address>\S+)\s+(?P<waybill_no>\w+)"


@dataclass
class World:
    engine: Engine
    settings: Settings
    client: TestClient
    headers: dict[str, str]


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A fresh database (polls commit) and the app on it, allowed to fetch loopback."""
    with migrated_database(request.param, tmp_path) as (url, engine):
        settings = Settings(
            database_url=url,
            rotation_interval_seconds=0,
            evidence_dir=str(tmp_path / "evidence"),
            fetch_private_addresses=True,
        )
        with session_scope(engine) as session:
            secret = issue_key(session, role=Role.SECURITY, name="security").secret
        with TestClient(create_app(settings, Database(engine))) as client:
            yield World(engine, settings, client, bearer(secret))


def _key(world: World, role: Role) -> dict[str, str]:
    with session_scope(world.engine) as session:
        issued = issue_key(session, role=role, name=str(role))
    return bearer(issued.secret)


def _sightings(world: World) -> list[Sighting]:
    with session_scope(world.engine) as session:
        return list(session.exec(select(Sighting).order_by(col(Sighting.observed_at))).all())


@pytest.fixture
def planted(world: World) -> tuple[Link, list[StoredCanary]]:
    with session_scope(world.engine) as session:
        outlet = create_link(
            session,
            Actor.cli(),
            LinkCreate(name="拱墅网点", kind=LinkKind.OUTLET, region="330105", courier=Courier.ZTO),
        )
        result = mint_canaries(
            session, Actor.cli(), outlet.id, 10, PlantChannel.CLI, rng=random.Random(21)
        )
    return outlet, [c for c in result.planted if not c.control]


def _record(canary: StoredCanary) -> Record:
    return {
        "name": canary.name,
        "mobile": canary.mobile,
        "address": canary.province + canary.city + canary.district + canary.address,
        "waybill_no": canary.waybill_no,
    }


def _stranger(rng: random.Random, i: int) -> Record:
    return {
        "name": rng.choice("王李张刘陈") + rng.choice("建晓海") + rng.choice("国红军"),
        "mobile": f"13{rng.randrange(10)}{rng.randrange(10**8):08d}",
        "address": f"浙江省杭州市上城区望江路{i}号{rng.randrange(1, 30)}幢",
        "waybill_no": f"YT{rng.randrange(10**13):013d}",
    }


@pytest.fixture
def market(planted: tuple[Link, list[StoredCanary]]) -> list[FakeListing]:
    _, canaries = planted
    rng = random.Random(3)
    listings = [FakeListing(i, [_stranger(rng, 10 * i + j) for j in range(6)]) for i in range(1, 6)]
    listings[1].records.insert(2, _record(canaries[0]))  # a canary in a sample table
    listings[3].records.append(_record(canaries[1]))
    listings[4].trouble, listings[4].fail_times = Trouble.FLAKY, 99  # never answers
    return listings


@pytest.fixture
def base(market: list[FakeListing]) -> Iterator[str]:
    with serving(make_fake_site(market)) as url:
        yield url


def _definition(base: str, **overrides: Any) -> dict[str, Any]:
    return {
        "start_urls": [f"{base}/market?page=1"],
        "listing_links": "div.item a.item-link",
        "next_page": 'div.pager a:-soup-contains("下一页")',
        "record_selector": "table.sample tbody tr",
        "record_regex": RECORD,
        "attachment_links": "a.sample-file",
        "headers": {"User-Agent": "Mozilla/5.0"},
        "cookies": {"session": "seller-cookie-value"},
        "requests_per_second": 10,
        "timeout_seconds": 2,
        "retries": 1,
    } | overrides


def test_a_poll_turns_listings_that_name_canaries_into_sightings_once(
    world: World,
    planted: tuple[Link, list[StoredCanary]],
    market: list[FakeListing],
    base: str,
) -> None:
    outlet, canaries = planted
    client, headers = world.client, world.headers
    created = client.post(
        "/v1/sites", json={"name": "假市场", "definition": _definition(base)}, headers=headers
    )
    assert created.status_code == 201, created.text
    site = created.json()
    # The site's credentials are never shown back.
    assert site["definition"]["cookies"] == ["session"]
    assert "seller-cookie-value" not in created.text

    first = client.post(f"/v1/sites/{site['id']}/poll", headers=headers)
    assert first.status_code == 200, first.text
    report = first.json()
    assert report["listings_seen"] == report["listings_changed"] == 4
    assert report["attachments_scanned"] == 4
    assert report["sightings_added"] == 2
    assert [e["url"] for e in report["errors"]] == [f"{base}/item/5"]

    sightings = _sightings(world)
    assert {s.canary_id for s in sightings} == {canaries[0].id, canaries[1].id}
    for sighting in sightings:
        assert sighting.source == "site" and sighting.link_id == outlet.id
        assert sighting.location["url"] in {f"{base}/item/2", f"{base}/item/4"}
        store = EvidenceStore(world.settings.evidence_path)
        page = store.get(sighting.evidence_sha256 or "")
        assert hashlib.sha256(page).hexdigest() == sighting.location["sha256"]
        assert "快递单号数据" in page.decode()

    again = client.post(f"/v1/sites/{site['id']}/poll", headers=headers).json()
    assert again["listings_changed"] == 0 and again["sightings_added"] == 0

    market[3].records.append(_record(canaries[2]))  # the seller adds a record
    changed = client.post(f"/v1/sites/{site['id']}/poll", headers=headers).json()
    assert changed["listings_changed"] == 1 and changed["sightings_added"] == 1
    assert len(_sightings(world)) == 3

    listings = client.get(f"/v1/sites/{site['id']}/listings", headers=headers).json()["items"]
    assert {x["url"]: x["sightings"] for x in listings}[f"{base}/item/4"] == 2
    shown = client.get(f"/v1/sites/{site['id']}", headers=headers).json()
    assert shown["last_report"]["sightings_added"] == 1 and shown["last_polled_at"]


def test_a_sample_file_is_scanned_and_not_kept(
    world: World, planted: tuple[Link, list[StoredCanary]], base: str
) -> None:
    _, canaries = planted
    # Read only the sample files: the pages' tables are not looked at.
    definition = _definition(base, record_selector="h1.title", record_regex=None)
    body = {"name": "样本", "definition": definition}
    site = world.client.post("/v1/sites", json=body, headers=world.headers).json()
    report = world.client.post(f"/v1/sites/{site['id']}/poll", headers=world.headers).json()
    assert report["sightings_added"] == 2
    (found,) = [s for s in _sightings(world) if s.canary_id == canaries[0].id]
    assert found.location["attachment_url"] == f"{base}/item/2/sample.csv"
    assert found.evidence_sha256 is None  # the leaked file is not kept, only its hash
    assert len(found.location["attachment_sha256"]) == 64
    assert canaries[0].waybill_no in found.excerpt


def test_site_definitions_are_checked_and_guarded(world: World) -> None:
    client, headers = world.client, world.headers
    good = _definition("http://market.example")
    bad: list[dict[str, Any]] = [
        {"start_urls": ["ftp://market.example/"]},
        {"start_urls": []},
        {"listing_links": "div[[["},
        {"record_regex": "(?P<salary>\\d+)"},
        {"record_regex": "(unclosed"},
        {"headers": {"X-Evil": "a\r\nInjected: 1"}},
        {"headers": {"X-Token": " s=SECRET "}},  # the HTTP library would quote it in an error
        {"cookies": {"sid": "a; admin=1"}},
        {"start_urls": ["https://user:secret@market.example/"]},
        {"surprise": True},
    ]
    for change in bad:
        body = {"name": "坏", "definition": good | change}
        refused = client.post("/v1/sites", json=body, headers=headers)
        assert refused.status_code == 422, (change, refused.text)
    body = {"name": "好", "definition": good}
    assert client.post("/v1/sites", json=body, headers=headers).status_code == 201
    assert client.post("/v1/sites", json=body, headers=headers).status_code == 409
    investigator = _key(world, Role.INVESTIGATOR)
    assert client.get("/v1/sites", headers=investigator).json()["total"] == 1
    assert client.post("/v1/sites", json=body, headers=investigator).status_code == 403
    assert client.get("/v1/sites", headers=_key(world, Role.INTEGRATION)).status_code == 403
    assert client.get("/v1/sites").status_code == 401


def test_private_addresses_are_refused_unless_allowed(world: World, base: str) -> None:
    """Without HONEYTRACE_FETCH_PRIVATE_ADDRESSES a site on loopback is never fetched."""
    settings = world.settings.model_copy(update={"fetch_private_addresses": False})
    with TestClient(create_app(settings, Database(world.engine))) as client:
        body = {"name": "内网", "definition": _definition(base)}
        site = client.post("/v1/sites", json=body, headers=world.headers).json()
        report = client.post(f"/v1/sites/{site['id']}/poll", headers=world.headers).json()
    assert report["listings_seen"] == 0 and report["pages_fetched"] == 0
    (error,) = report["errors"]
    assert "loopback" in error["reason"], error
    with session_scope(world.engine) as session:
        assert session.exec(select(SiteListing)).all() == []


def test_the_cli_adds_lists_and_polls_a_site(
    world: World, planted: tuple[Link, list[StoredCanary]], base: str, tmp_path: Path
) -> None:
    env = {
        "HONEYTRACE_DATABASE_URL": world.settings.database_url,
        "HONEYTRACE_EVIDENCE_DIR": str(tmp_path / "cli-evidence"),
        "HONEYTRACE_FETCH_PRIVATE_ADDRESSES": "true",
    }
    definition = tmp_path / "site.json"
    body = {"name": "命令行市场", "definition": _definition(base), "poll_interval_seconds": 600}
    definition.write_text(json.dumps(body, ensure_ascii=False), "utf-8")
    runner = CliRunner()
    added = runner.invoke(cli, ["sites", "add", str(definition), "--json"], env=env)
    assert added.exit_code == 0, added.output
    assert "seller-cookie-value" not in added.output
    listed = json.loads(runner.invoke(cli, ["sites", "list", "--json"], env=env).stdout)
    assert [s["name"] for s in listed] == ["命令行市场"]
    polled = runner.invoke(cli, ["sites", "poll", "命令行市场", "--json"], env=env)
    assert polled.exit_code == 0, polled.output
    assert json.loads(polled.stdout)["sightings_added"] == 2
    table = runner.invoke(cli, ["sites", "list"], env=env).stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "STATE", "EVERY", "LAST", "POLLED"]
    assert "命令行市场" in table[1] and table[1].endswith("(UTC+08:00)")
    unknown = runner.invoke(cli, ["sites", "poll", "没有这个"], env=env)
    assert unknown.exit_code == 2 and "no site matches" in unknown.stderr
    definition.write_text("{not json", "utf-8")
    assert runner.invoke(cli, ["sites", "add", str(definition)], env=env).exit_code == 2


def test_sites_due_are_polled_by_the_jobs_by_themselves(
    world: World, planted: tuple[Link, list[StoredCanary]], base: str
) -> None:
    """The periodic job finds the site due and defers its poll: in-process on SQLite, through
    the queue (worked by this same process) on PostgreSQL."""
    _, canaries = planted
    settings = world.settings.model_copy(
        update={"site_check_interval_seconds": 1, "jobs_in_process": True}
    )
    with TestClient(create_app(settings, Database(world.engine))) as client:
        body = {"name": "定时", "definition": _definition(base), "poll_interval_seconds": 3600}
        site = client.post("/v1/sites", json=body, headers=world.headers).json()
        deadline = time.monotonic() + 60
        while not (shown := client.get(f"/v1/sites/{site['id']}", headers=world.headers).json())[
            "last_polled_at"
        ]:
            assert time.monotonic() < deadline, "the site was never polled"
            time.sleep(0.2)
    assert shown["last_report"]["sightings_added"] == 2
    assert {s.canary_id for s in _sightings(world)} == {canaries[0].id, canaries[1].id}


def test_watch_run_once_polls_the_sites_that_are_due(
    world: World, planted: tuple[Link, list[StoredCanary]], base: str, tmp_path: Path
) -> None:
    env = {
        "HONEYTRACE_DATABASE_URL": world.settings.database_url,
        "HONEYTRACE_EVIDENCE_DIR": str(tmp_path / "watch-evidence"),
        "HONEYTRACE_FETCH_PRIVATE_ADDRESSES": "true",
    }
    body = {"name": "观察", "definition": _definition(base), "poll_interval_seconds": 600}
    world.client.post("/v1/sites", json=body, headers=world.headers)
    first = CliRunner().invoke(cli, ["watch", "run", "--once", "--json"], env=env)
    assert first.exit_code == 0, first.output
    (summary,) = [json.loads(line) for line in first.stdout.splitlines()]
    assert summary["sightings_added"] == 2 and summary["listings_changed"] == 4
    again = CliRunner().invoke(cli, ["watch", "run", "--once", "--json"], env=env)
    assert again.exit_code == 0 and again.stdout == ""  # polled a moment ago: not due
    said = CliRunner().invoke(cli, ["--progress", "watch", "run", "--once"], env=env)
    assert said.exit_code == 0, said.output
    assert said.stdout.endswith(": 0 of 1 sites due a poll; Twilio not configured\n")
    assert "(UTC+08:00)" in said.stdout
    assert "polling sites" in said.stderr
