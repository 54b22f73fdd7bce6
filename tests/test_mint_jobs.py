"""Big mints through the API run as jobs (a real server on loopback, both databases): 202 at
once, progress to poll, and the canaries a page at a time, every one stored, planted and
chained as a small mint's are.

Each test gets its own committed database: the job runs on its own thread and connections.
"""

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app.auth.actor import Actor
from app.auth.keys import issue_key, revoke_key
from app.canary_index import key_table_path
from app.db import Database
from app.evidence.rows import verify_evidence
from app.evidence.store import EvidenceStore
from app.links.schemas import LinkCreate, LinkUpdate
from app.links.service import create_link, deactivate_link, delete_link, update_link
from app.main import create_app
from app.models.audit import AuditEntry
from app.models.canaries import Canary, CanaryStatus, MintJob, MintJobStatus, Plant
from app.models.evidence import EntryKind, EvidenceEntry
from app.models.keys import Role
from app.planting import mint_jobs
from app.problems import ConflictError
from app.settings import Settings
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from canaries.keytable import KeyTable
from tests.conftest import BACKENDS, job_finished, migrated_database, session_scope
from tests.loopback import serving


@dataclass
class World:
    url: str
    engine: Engine
    platform: uuid.UUID
    merchant: uuid.UUID  # below the platform: a partner scoped to the platform mints here


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with migrated_database(request.param, tmp_path) as (url, engine):
        with session_scope(engine) as session:
            platform = create_link(
                session,
                Actor.cli(),
                LinkCreate(
                    name="平台", kind=LinkKind.PLATFORM, region="330000", courier=Courier.ZTO
                ),
            ).id
            merchant = create_link(
                session,
                Actor.cli(),
                LinkCreate(
                    name="商家",
                    kind=LinkKind.MERCHANT,
                    region="330106",
                    courier=Courier.ZTO,
                    parent_id=platform,
                ),
            ).id
        yield World(url, engine, platform, merchant)


@pytest.fixture
def base(world: World) -> Iterator[str]:
    # On PostgreSQL mints are queued jobs: this one process works the queue too.
    settings = Settings(database_url=world.url, rotation_interval_seconds=0, jobs_in_process=True)
    with serving(create_app(settings, Database(world.engine))) as url:
        yield url


def _key(world: World, role: Role) -> dict[str, str]:
    scope = world.platform if role is Role.PARTNER else None
    with session_scope(world.engine) as session:
        secret = issue_key(session, role=role, name=f"test {role}", scope_link_id=scope).secret
    return {"Authorization": f"Bearer {secret}"}


def _wait(base: str, headers: dict[str, str], location: str) -> dict[str, object]:
    return job_finished(f"{base}{location}", headers, within=120)


def _all_canaries(base: str, headers: dict[str, str], path: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    while True:
        page = httpx.get(
            f"{base}{path}", params={"limit": 1000, "offset": len(items)}, headers=headers
        ).json()
        items.extend(page["items"])
        if len(items) >= page["total"]:
            assert len(items) == page["total"]
            return items


def test_a_big_mint_is_a_job_whose_canaries_are_stored_planted_and_chained(
    world: World, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mint_jobs, "CHUNK", 500)  # three units of work: 500, 500, 200
    headers = _key(world, Role.SECURITY)
    answer = httpx.post(
        f"{base}/v1/links/{world.platform}/canaries", json={"count": 1200}, headers=headers
    )
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["status"] in ("queued", "running", "done")
    assert job["count"] == 1200
    assert answer.headers["Location"] == f"/v1/mints/{job['id']}"
    done = _wait(base, headers, answer.headers["Location"])
    assert (done["status"], done["minted"], done["controls"], done["error"]) == (
        "done", 1200, 60, None,
    )  # fmt: skip
    assert done["canaries"] == f"/v1/mints/{job['id']}/canaries"
    listed = _all_canaries(base, headers, str(done["canaries"]))
    assert len({c["id"] for c in listed}) == 1200
    assert all(c["link_id"] == str(world.platform) and not c["control"] for c in listed)

    mint_id = uuid.UUID(str(job["id"]))
    with Session(world.engine) as session:
        stored = session.exec(select(Canary).where(Canary.mint_id == mint_id)).all()
        assert len(stored) == 1260
        live = {c.id for c in stored if not c.control}
        assert {str(i) for i in live} == {c["id"] for c in listed}
        assert all(c.status == CanaryStatus.PLANTED for c in stored if not c.control)
        assert all(c.status == CanaryStatus.CONTROL for c in stored if c.control)
        planted = session.exec(select(Plant.canary_id).where(col(Plant.canary_id).in_(live)))
        assert set(planted) == live
        subjects = {str(c.id) for c in stored}
        kinds = session.exec(
            select(EvidenceEntry.kind, func.count())
            .where(col(EvidenceEntry.subject_id).in_(subjects))
            .group_by(col(EvidenceEntry.kind))
        ).all()
        assert dict(kinds) == {EntryKind.MINT.value: 1260, EntryKind.PLANT.value: 1200}
        audits = session.exec(select(AuditEntry).where(AuditEntry.action == "canary.mint")).all()
        assert sorted(a.detail["count"] for a in audits) == [200, 500, 500]
        assert {a.detail["mint_id"] for a in audits} == {str(mint_id)}
        assert sum(a.detail["controls"] for a in audits) == 60
        verified = verify_evidence(session, EvidenceStore(Path("unused: no blobs")))
        assert verified.ok, verified.problem
        every = session.exec(select(func.count()).select_from(Canary)).one()
    # The job brought the process's index and its key table up to date before `done`: the
    # next report's request does not derive the new canaries' keys itself.
    path = key_table_path(Settings(database_url=world.url))
    assert path is not None
    table = KeyTable(path)
    table.load()
    assert table.index.rows == every


def test_a_small_mint_answers_with_its_canaries_and_a_count_over_the_cap_is_refused(
    world: World, base: str
) -> None:
    headers = _key(world, Role.SECURITY)
    small = httpx.post(
        f"{base}/v1/links/{world.platform}/canaries", json={"count": 1000}, headers=headers
    )
    assert small.status_code == 201
    assert len(small.json()) == 1000
    too_many = httpx.post(
        f"{base}/v1/links/{world.platform}/canaries", json={"count": 100_001}, headers=headers
    )
    assert too_many.status_code == 422
    with Session(world.engine) as session:
        assert session.exec(select(func.count()).select_from(MintJob)).one() == 0


def test_a_partner_sees_only_its_own_mints(world: World, base: str) -> None:
    staff, partner = _key(world, Role.SECURITY), _key(world, Role.PARTNER)
    own = httpx.post(
        f"{base}/v1/links/{world.merchant}/canaries", json={"count": 1001}, headers=partner
    )
    assert own.status_code == 202, own.text
    assert _wait(base, partner, own.headers["Location"])["status"] == "done"
    theirs = httpx.post(
        f"{base}/v1/links/{world.merchant}/canaries", json={"count": 1001}, headers=staff
    )
    assert httpx.get(f"{base}{theirs.headers['Location']}", headers=partner).status_code == 404
    listed = f"{base}{theirs.headers['Location']}/canaries"
    assert httpx.get(listed, headers=partner).status_code == 404
    # Its own link: refused at once, as a small mint is, and no job is made.
    refused = httpx.post(
        f"{base}/v1/links/{world.platform}/canaries", json={"count": 5000}, headers=partner
    )
    assert refused.status_code == 404
    assert _wait(base, staff, theirs.headers["Location"])["status"] == "done"


def test_a_mint_silent_for_ten_minutes_died_with_its_process_and_fails_when_polled(
    world: World, base: str
) -> None:
    headers = _key(world, Role.SECURITY)
    with session_scope(world.engine) as session:
        dead = mint_jobs.create_mint_job(session, Actor.cli(), world.platform, 5000)
        dead.status, dead.minted = MintJobStatus.RUNNING, 2000
        dead.updated_at = dead.updated_at.replace(year=2020)
        busy = mint_jobs.create_mint_job(session, Actor.cli(), world.merchant, 5000)
        busy.status = MintJobStatus.RUNNING
        waiting = mint_jobs.create_mint_job(session, Actor.cli(), world.merchant, 5000)
        waiting.updated_at = waiting.updated_at.replace(year=2020)  # queued: waits its turn
        ids = dead.id, busy.id, waiting.id
    shown = httpx.get(f"{base}/v1/mints/{ids[0]}", headers=headers).json()
    assert (shown["status"], shown["minted"], shown["error"]) == (
        "failed", 2000, mint_jobs.INTERRUPTED,
    )  # fmt: skip
    with Session(world.engine) as session:
        statuses = [session.get(MintJob, i) for i in ids]
        assert [j.status if j else None for j in statuses] == [
            MintJobStatus.FAILED, MintJobStatus.RUNNING, MintJobStatus.QUEUED,
        ]  # fmt: skip


def test_a_mint_whose_link_goes_inactive_fails_saying_why_and_a_restart_orphans_waiting_ones(
    world: World,
) -> None:
    database = Database(world.engine)
    with database.write() as session:
        job = mint_jobs.create_mint_job(session, Actor.cli(), world.platform, 2000)
        job_id = job.id
        deactivate_link(session, Actor.cli(), world.platform)
    mint_jobs.run_mint_job(database, Actor.cli(), job_id)
    with database.read() as session:
        failed = session.get(MintJob, job_id)
        assert failed is not None
        assert failed.status == MintJobStatus.FAILED
        assert failed.error is not None and "inactive" in failed.error
        assert failed.minted == 0

    with database.write() as session:
        waiting = mint_jobs.create_mint_job(session, Actor.cli(), world.merchant, 2000).id
    with pytest.raises(ConflictError, match="mint"), database.write() as session:
        delete_link(session, Actor.cli(), world.merchant)  # its canaries are on their way
    restarted = create_app(Settings(database_url=world.url, rotation_interval_seconds=0))
    with serving(restarted), database.read() as session:
        status = session.get(MintJob, waiting)
        assert status is not None
        # SQLite's queue lives in `serve`; PostgreSQL keeps the job for the workers.
        expected = MintJobStatus.FAILED if world.url.startswith("sqlite") else MintJobStatus.QUEUED
        assert status.status == expected


def test_revoking_a_key_stops_its_mints_and_what_they_stored_stays(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A job runs as the key that asked for it, long after that request was let through:
    each chunk asks again, so a revoked key's running mint stops at the next chunk and its
    queued one stores nothing. What was stored stays (it was allowed when stored)."""
    monkeypatch.setattr(mint_jobs, "CHUNK", 100)
    database = Database(world.engine)
    with database.write() as session:
        issued = issue_key(session, role=Role.SECURITY, name="dispatch")
        key_id, prefix = issued.record.id, issued.record.prefix
        actor = Actor.from_key(issued.record)
        running = mint_jobs.create_mint_job(session, actor, world.platform, 300).id
        queued = mint_jobs.create_mint_job(session, actor, world.merchant, 300).id
    mint_chunk = mint_jobs._mint_chunk

    def revoke_once_a_chunk_is_stored(*args: Any, **kwargs: Any) -> None:
        mint_chunk(*args, **kwargs)
        with database.write() as session:
            revoke_key(session, key_id)

    monkeypatch.setattr(mint_jobs, "_mint_chunk", revoke_once_a_chunk_is_stored)
    with caplog.at_level(logging.DEBUG, logger="honeytrace"):
        mint_jobs.run_mint_job(database, actor, running)
        mint_jobs.run_mint_job(database, actor, queued)

    with database.read() as session:
        stopped, never = session.get(MintJob, running), session.get(MintJob, queued)
        assert stopped is not None and never is not None
        assert (stopped.status, stopped.minted, never.status, never.minted) == (
            MintJobStatus.FAILED, 100, MintJobStatus.FAILED, 0,
        )  # fmt: skip
        assert stopped.error is not None and never.error is not None
        assert "revoked" in stopped.error and "100 of 300 canaries" in stopped.error
        assert "revoked" in never.error and "0 of 300 canaries" in never.error
        kept = session.exec(select(Canary).where(Canary.mint_id == running)).all()
        assert sum(not c.control for c in kept) == 100
        assert all(c.status == CanaryStatus.PLANTED for c in kept if not c.control)
        assert session.exec(select(Canary).where(Canary.mint_id == queued)).all() == []
    said = [stopped.error, never.error, *(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)]
    assert any("mint refused" in text for text in said)
    assert not any(prefix in text or issued.secret in text for text in said)


def test_a_partner_mint_stops_when_its_link_leaves_the_partners_scope(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mint_jobs, "CHUNK", 100)
    database = Database(world.engine)
    with database.write() as session:
        issued = issue_key(session, role=Role.PARTNER, name="平台", scope_link_id=world.platform)
        actor = Actor.from_key(issued.record)
        job_id = mint_jobs.create_mint_job(session, actor, world.merchant, 300).id
    mint_chunk = mint_jobs._mint_chunk

    def move_the_merchant_away(*args: Any, **kwargs: Any) -> None:
        mint_chunk(*args, **kwargs)
        with database.write() as session:
            update_link(session, Actor.cli(), world.merchant, LinkUpdate(parent_id=None))

    monkeypatch.setattr(mint_jobs, "_mint_chunk", move_the_merchant_away)
    mint_jobs.run_mint_job(database, actor, job_id)
    with database.read() as session:
        stopped = session.get(MintJob, job_id)
        assert stopped is not None
        assert (stopped.status, stopped.minted) == (MintJobStatus.FAILED, 100)
        assert stopped.error is not None and "not found" in stopped.error
        assert "100 of 300 canaries" in stopped.error
