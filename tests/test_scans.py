"""Scanning leaked files through the API (a real server on loopback) and the CLI.

Each test gets its own committed database (SQLite file or a scratch PostgreSQL database):
scans run on their own threads and connections, as in production.
"""

import gzip
import hashlib
import json
import logging
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from app.auth.actor import Actor
from app.auth.keys import issue_key, revoke_key
from app.cli import cli
from app.db import Database, make_engine, upgrade
from app.intake.pipeline import Intake
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.main import create_app
from app.models.audit import AuditEntry
from app.models.canaries import Canary, CanaryStatus, PlantChannel
from app.models.keys import Role
from app.models.sightings import Scan, ScanStatus, Sighting
from app.planting.schemas import StoredCanary
from app.planting.service import mint_canaries
from app.scans import service as scans
from app.scans.service import create_scan, run_scan_job
from app.settings import Settings
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from canaries.mint import LinkProfile, Minter
from tests.conftest import BACKENDS, job_finished, scratch_postgres_database, session_scope
from tests.loopback import serving
from watchers.dumps import DumpLimits
from watchers.scan import ScanProgress, ScanResult

HEADER = "订单编号,收货人姓名,联系手机,收货地址,物流单号,物流公司"


@dataclass
class World:
    url: str
    engine: Engine
    links: list[uuid.UUID]
    canaries: list[StoredCanary]
    secrets: dict[uuid.UUID, str]  # canary id -> the masked mobile's hidden middle


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path / 'scans.db'}"])
        yield from _world(next(urls))
        return
    with scratch_postgres_database() as url:
        yield from _world(url)


def _world(url: str) -> Iterator[World]:
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        links = []
        for i, region in enumerate(("330106", "440305")):
            data = LinkCreate(
                name=f"网点{i}", kind=LinkKind.OUTLET, region=region, courier=Courier.ZTO
            )
            links.append(create_link(session, Actor.cli(), data).id)
        canaries: list[StoredCanary] = []
        for link in links:
            result = mint_canaries(
                session, Actor.cli(), link, 20, PlantChannel.CLI, rng=random.Random(7)
            )
            canaries.extend(c for c in result.planted if not c.control)
    with Session(engine) as session:
        rows = session.exec(select(Canary.id, Canary.mobile_secret)).all()
    yield World(url, engine, links, canaries, {r[0]: r[1] or "" for r in rows})
    engine.dispose()


def _leak(
    world: World, picks: list[int], strangers: int = 2000
) -> tuple[bytes, dict[int, uuid.UUID]]:
    """A GB18030 CSV as a reseller sells it: masked names and mobiles, cut addresses;
    returns the bytes and which data row holds which canary."""
    rng = random.Random(3)
    people = Minter(LinkProfile(Courier.ZTO, window=(date(2026, 10, 1), date(2026, 10, 30))),
                    random.Random(99), control_share=0).mint(strangers)  # fmt: skip
    lines = [HEADER]
    for person in people:
        lines.append(
            f"{rng.randrange(10**17, 10**18)},{person.name[0]}*{person.name[-1]},{person.mobile},"
            f"{person.province}{person.city}{person.district}{person.address[:8]}***,"
            f"{person.waybill_no},中通快递"
        )
    rows: dict[int, uuid.UUID] = {}
    for n, pick in enumerate(picks):
        c = world.canaries[pick]
        row = 1 + (n + 1) * strangers // (len(picks) + 1)
        line = (
            f"{rng.randrange(10**17, 10**18)},{c.name[0]}*{c.name[-1]},{c.mobile},"
            f"{c.province}{c.city}{c.district}{c.address[:8]}***,{c.waybill_no},中通快递"
        )
        lines.insert(row, line)
        rows = {r + (1 if r >= row else 0): v for r, v in rows.items()}
        rows[row] = c.id
    return ("\r\n".join(lines) + "\r\n").encode("gb18030"), rows


# -- the API over loopback ------------------------------------------------------------------


@pytest.fixture
def served(world: World, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    spool = tmp_path / "spool"
    spool.mkdir()
    settings = Settings(
        database_url=world.url,
        rotation_interval_seconds=0,
        max_scan_bytes=8 << 20,
        scan_spool_dir=str(spool),
        # On PostgreSQL scans are queued jobs: this one process works the queue too.
        jobs_in_process=True,
    )
    with serving(create_app(settings, Database(world.engine))) as base:
        yield base, spool


def _key(world: World, role: Role) -> dict[str, str]:
    scope = world.links[0] if role is Role.PARTNER else None
    with session_scope(world.engine) as session:
        secret = issue_key(session, role=role, name=f"test {role}", scope_link_id=scope).secret
    return {"Authorization": f"Bearer {secret}"}


def _wait(base: str, headers: dict[str, str], scan_id: str) -> dict[str, object]:
    return job_finished(f"{base}/v1/scans/{scan_id}", headers, within=60)


def test_an_uploaded_dump_names_its_canaries_and_is_not_kept(
    world: World, served: tuple[str, Path]
) -> None:
    base, spool = served
    headers = _key(world, Role.INVESTIGATOR)
    data, rows = _leak(world, [1, 5, 27])
    upload = gzip.compress(data)
    started = httpx.post(
        f"{base}/v1/scans", params={"name": "快递数据.csv.gz"}, content=upload, headers=headers
    )
    assert started.status_code == 202, started.text
    assert started.headers["Location"] == f"/v1/scans/{started.json()['id']}"
    scan = _wait(base, headers, started.json()["id"])
    assert scan["status"] == "done", scan
    assert scan["sha256"] == hashlib.sha256(upload).hexdigest()
    assert scan["size"] == len(upload)
    assert scan["rows"] == 2003
    by_id = {c.id: c for c in world.canaries}
    matches = scan["matches"]
    assert isinstance(matches, list)
    assert {(m["row"], uuid.UUID(m["canary_id"])) for m in matches} == set(rows.items())
    for m in matches:
        assert uuid.UUID(m["link_id"]) == by_id[uuid.UUID(m["canary_id"])].link_id
        assert m["score"] >= 32
        assert m["fields"]["waybill_no"]["level"] == "exact"
        assert m["fields"]["mobile"]["level"] == "masked"
    assert list(spool.iterdir()) == []  # the upload is gone

    with Session(world.engine) as session:
        sightings = session.exec(select(Sighting)).all()
        assert {s.canary_id for s in sightings} == set(rows.values())
        assert {s.evidence_sha256 for s in sightings} == {scan["sha256"]}
        assert all(s.source == "dump" for s in sightings)
        # Only the matched rows are kept, never a stranger's.
        assert all(by_id[s.canary_id].waybill_no in s.excerpt for s in sightings)
        burned = session.exec(select(Canary).where(col(Canary.id).in_(list(rows.values())))).all()
        assert {c.status for c in burned} == {CanaryStatus.BURNED}
        actions = session.exec(
            select(AuditEntry.action).where(AuditEntry.target_id == scan["id"])
        ).all()
        assert sorted(actions) == ["scan.finish", "scan.start"]
        fresh = session.exec(select(Canary).where(Canary.status == CanaryStatus.READY)).all()
        assert len(fresh) == 3

    again = httpx.post(
        f"{base}/v1/scans", params={"name": "copy.csv.gz"}, content=upload, headers=headers
    )
    second = _wait(base, headers, again.json()["id"])
    assert len(second["matches"]) == 3  # type: ignore[arg-type]
    with Session(world.engine) as session:
        assert len(session.exec(select(Sighting)).all()) == 3  # the same observations, once
    listed = httpx.get(f"{base}/v1/scans", headers=headers).json()
    assert listed["total"] == 2 and listed["items"][0]["matches"] is None


def test_scan_uploads_are_refused_when_too_big_empty_or_unauthorised(
    world: World, served: tuple[str, Path]
) -> None:
    base, spool = served
    headers = _key(world, Role.SECURITY)
    too_big = httpx.post(
        f"{base}/v1/scans", params={"name": "big.csv"}, content=b"x" * (9 << 20), headers=headers
    )
    assert too_big.status_code == 413
    empty = httpx.post(f"{base}/v1/scans", params={"name": "e.csv"}, content=b"", headers=headers)
    assert empty.status_code == 422
    bad_name = httpx.post(
        f"{base}/v1/scans", params={"name": "../etc/passwd"}, content=b"a,b", headers=headers
    )
    assert bad_name.status_code == 422
    for role in (Role.PARTNER, Role.INTEGRATION):
        refused = httpx.post(
            f"{base}/v1/scans", params={"name": "a.csv"}, content=b"a,b", headers=_key(world, role)
        )
        assert refused.status_code == 403
    assert list(spool.iterdir()) == []
    with Session(world.engine) as session:
        assert session.exec(select(Scan)).all() == []


def test_too_many_running_scans_get_429_and_stale_ones_fail(
    world: World, served: tuple[str, Path]
) -> None:
    base, _ = served
    headers = _key(world, Role.SECURITY)
    prefix = headers["Authorization"].split("_")[1]
    with session_scope(world.engine) as session:
        for _ in range(2):
            session.add(Scan(file_name="x", status=ScanStatus.RUNNING, actor=f"key:{prefix}"))
    refused = httpx.post(
        f"{base}/v1/scans", params={"name": "a.csv"}, content=b"a,b\n", headers=headers
    )
    assert refused.status_code == 429
    with session_scope(world.engine) as session:
        for scan in session.exec(select(Scan)).all():
            scan.updated_at = scan.updated_at.replace(year=2020)
    listed = httpx.get(f"{base}/v1/scans", headers=headers).json()["items"]
    stale = httpx.get(f"{base}/v1/scans/{listed[0]['id']}", headers=headers).json()
    assert stale["status"] == "failed" and "interrupted" in stale["error"]


def test_a_queued_scan_waits_however_long_and_only_a_restart_on_sqlite_orphans_it(
    world: World, served: tuple[str, Path]
) -> None:
    """A queued scan is waiting in the job queue (PostgreSQL keeps it for the workers); the
    SQLite queue lives in `serve`, so a new `serve` fails the scans the old one left."""
    base, _ = served
    headers = _key(world, Role.SECURITY)
    with session_scope(world.engine) as session:
        waiting = Scan(file_name="backlog.csv", status=ScanStatus.QUEUED, actor="key:x")
        waiting.updated_at = waiting.updated_at.replace(year=2020)
        session.add(waiting)
    shown = httpx.get(f"{base}/v1/scans/{waiting.id}", headers=headers).json()
    assert shown["status"] == "queued"
    restarted = create_app(Settings(database_url=world.url, rotation_interval_seconds=0))
    with serving(restarted), session_scope(world.engine) as session:
        status = session.get(Scan, waiting.id)
        assert status is not None
        expected = ScanStatus.FAILED if world.url.startswith("sqlite") else ScanStatus.QUEUED
        assert status.status == expected


def test_an_unreadable_upload_fails_with_a_reason(world: World, served: tuple[str, Path]) -> None:
    base, spool = served
    headers = _key(world, Role.SECURITY)
    data, _ = _leak(world, [2])
    truncated = gzip.compress(data)[: len(data) // 8]
    started = httpx.post(
        f"{base}/v1/scans", params={"name": "cut.csv.gz"}, content=truncated, headers=headers
    )
    scan = _wait(base, headers, started.json()["id"])
    assert scan["status"] == "failed"
    assert scan["error"]
    assert scan["sha256"] == hashlib.sha256(truncated).hexdigest()
    assert list(spool.iterdir()) == []


@pytest.mark.parametrize("revoked", ["queued", "reading", "read"])
def test_revoking_a_key_stops_its_scans_before_they_record_a_sighting(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    revoked: str,
) -> None:
    """A scan runs as the key that uploaded the file: each of its units of work (starting,
    each progress report, recording the sightings) asks again whether the key may scan,
    so revoking the key while the scan waits, reads or is about to record stops it."""
    monkeypatch.setattr(scans, "PROGRESS_EVERY_SECONDS", 0.0)  # a report after every block
    database = Database(world.engine)
    settings = Settings(
        database_url=world.url,
        evidence_dir=str(tmp_path / "evidence"),
        index_path=str(tmp_path / "index.keys"),
    )
    intake = Intake.standalone(database, settings)
    with database.write() as session:
        issued = issue_key(session, role=Role.INVESTIGATOR, name="analyst")
        key_id, prefix = issued.record.id, issued.record.prefix
        actor = Actor.from_key(issued.record)
        scan_id = create_scan(session, actor, "快递数据.csv").id
    upload = tmp_path / "upload.csv"
    upload.write_bytes(_leak(world, [1, 5, 27])[0])

    def revoke() -> None:
        with database.write() as session:
            revoke_key(session, key_id)

    read = intake.scan
    finished: list[ScanResult] = []

    def scan_revoking(
        stream: BinaryIO,
        name: str,
        limits: DumpLimits | None = None,
        on_progress: Callable[[ScanProgress], None] | None = None,
    ) -> ScanResult:
        assert on_progress is not None

        def report(progress: ScanProgress) -> None:
            if revoked == "reading":
                revoke()
            on_progress(progress)

        finished.append(read(stream, name, limits, report))
        if revoked == "read":
            revoke()
        return finished[-1]

    monkeypatch.setattr(intake, "scan", scan_revoking)
    if revoked == "queued":
        revoke()
    with caplog.at_level(logging.DEBUG, logger="honeytrace"):
        run_scan_job(intake, actor, scan_id, upload)

    assert len(finished) == (1 if revoked == "read" else 0)  # stopped where it was revoked
    assert not upload.exists()
    with Session(world.engine) as session:
        scan = session.get(Scan, scan_id)
        assert scan is not None and scan.status == ScanStatus.FAILED
        assert scan.error is not None and "revoked" in scan.error
        assert session.exec(select(Sighting)).all() == []
        assert session.exec(select(Canary).where(Canary.status == CanaryStatus.BURNED)).all() == []
    said = [scan.error, *(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)]
    assert any("scan refused" in text for text in said)
    assert not any(prefix in text or issued.secret in text for text in said)


# -- the CLI -------------------------------------------------------------------------------


def test_cli_scan_prints_json_and_records_sightings_once(world: World, tmp_path: Path) -> None:
    data, rows = _leak(world, [3, 30])
    leak = tmp_path / "leak.csv"
    leak.write_bytes(data)
    env = {"HONEYTRACE_DATABASE_URL": world.url}
    result = CliRunner().invoke(cli, ["scan", str(leak), "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["file"] == str(leak)
    assert report["sha256"] == hashlib.sha256(data).hexdigest()
    assert report["rows"] == 2002
    assert report["complete"] is True
    assert report["encodings"] == {"gb18030": 1}
    assert {(m["row"], uuid.UUID(m["canary_id"])) for m in report["matches"]} == set(rows.items())
    with Session(world.engine) as session:
        assert session.exec(select(Sighting)).all() == []  # not without --record

    for _ in range(2):
        recorded = CliRunner().invoke(cli, ["scan", str(leak), "--record"], env=env)
        assert recorded.exit_code == 0, recorded.output
        assert "recorded as sightings" in recorded.stdout
    with Session(world.engine) as session:
        sightings = session.exec(select(Sighting)).all()
        assert sorted(s.location["row"] for s in sightings) == sorted(rows)
        assert len(session.exec(select(Scan)).all()) == 2


def test_cli_scan_of_a_truncated_file_says_so_and_fails(world: World, tmp_path: Path) -> None:
    data, _ = _leak(world, [4])
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(gzip.compress(data)[:4000])
    result = CliRunner().invoke(
        cli, ["scan", str(cut), "--json"], env={"HONEYTRACE_DATABASE_URL": world.url}
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["complete"] is False and report["error"]
