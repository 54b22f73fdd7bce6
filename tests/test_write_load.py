"""Reports and webhooks arriving at once: every one is recorded, none is lost, none fails
for a lock (issue 17; the rates are measured by benchmarks/write_rate.py, not here)."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func
from sqlmodel import col, select
from twilio.request_validator import RequestValidator

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.auth.keys import issue_key
from app.db import Database, make_engine, upgrade
from app.evidence.log import verify_chain
from app.evidence.rows import verify_evidence
from app.evidence.store import EvidenceStore
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.main import create_app
from app.models.audit import AuditEntry
from app.models.canaries import Canary, CanaryStatus, Plant, PlantChannel
from app.models.evidence import EntryKind, EvidenceEntry
from app.models.keys import Role
from app.models.links import Link
from app.models.sightings import Sighting
from app.models.telephony import PhoneContact
from app.numbers.service import assign_number, register_number
from app.planting.schemas import FeedProfileBody, StoredCanary
from app.planting.service import mint_apart, mint_canaries, set_feed_profile
from app.problems import ConflictError
from app.settings import Settings
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from tests.conftest import BACKENDS, fresh_database
from tests.loopback import free_port, serving

TOKEN = "write-load-token"
CLIENTS = 8


def _outlet(url: str) -> tuple[Database, uuid.UUID]:
    """A migrated database at `url` holding one outlet."""
    engine = make_engine(url)
    upgrade(engine)
    database = Database(engine)
    with database.write() as session:
        link = create_link(
            session,
            Actor.cli(),
            LinkCreate(name="网点", kind=LinkKind.OUTLET, region="330106", courier=Courier.ZTO),
        )
        return database, link.id


def _listing(canary: StoredCanary) -> str:
    return (
        f"出售快递单 {canary.waybill_no} 收件人{canary.name} 电话{canary.mobile} "
        f"{canary.province}{canary.city}{canary.district}{canary.address}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_reports_and_webhooks_at_once_are_all_recorded(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        database, link_id = _outlet(url)
        with database.write() as session:
            key = issue_key(session, role=Role.SECURITY, name="load").secret
            minted = mint_canaries(session, Actor.cli(), link_id, 24, PlantChannel.CLI)
        canaries = [c for c in minted.planted if not c.control][:24]
        reported, texted = canaries[:12], canaries[12:]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = Settings(
            database_url=url,
            rotation_interval_seconds=0,
            public_url=base,
            twilio_auth_token=SecretStr(TOKEN),
            evidence_dir=str(tmp_path / "evidence"),
            requests_per_second=10_000,
        )
        headers = {"Authorization": f"Bearer {key}"}
        signer = RequestValidator(TOKEN)

        def send(task: tuple[str, int]) -> int:
            kind, i = task
            with httpx.Client(timeout=120) as http:
                if kind == "hit":
                    body = {"kind": "listing", "text": _listing(reported[i]), "reference": f"h{i}"}
                    return http.post(f"{base}/v1/sightings", json=body, headers=headers).status_code
                if kind == "miss":
                    body = {
                        "kind": "listing",
                        "text": f"出售 第{i}批 价格面议",
                        "reference": f"m{i}",
                    }
                    return http.post(f"{base}/v1/sightings", json=body, headers=headers).status_code
                canary = texted[i]
                params = {
                    "MessageSid": f"SM{i:032d}",
                    "From": "+8613912345678",
                    "To": "+8617000000000",
                    "Body": f"你好 {canary.name} 快递 {canary.waybill_no} 到了",
                }
                sms = f"{base}/v1/webhooks/twilio/sms"
                signed = {"X-Twilio-Signature": signer.compute_signature(sms, params)}
                return http.post(sms, data=params, headers=signed).status_code

        tasks = [(kind, i) for i in range(12) for kind in ("hit", "miss", "sms")]
        with serving(create_app(settings, database), port), ThreadPoolExecutor(CLIENTS) as pool:
            statuses = list(pool.map(send, tasks))
        assert statuses == [200 if kind == "sms" else 202 for kind, _ in tasks]
        with database.read() as session:
            seen = session.exec(select(Sighting.canary_id)).all()
            assert sorted(map(str, seen)) == sorted(str(c.id) for c in canaries)
            burned = session.exec(
                select(func.count())
                .select_from(Canary)
                .where(col(Canary.id).in_([c.id for c in canaries]))
                .where(Canary.status == CanaryStatus.BURNED)
            ).one()
            assert burned == 24
            audits = session.exec(
                select(func.count()).where(AuditEntry.action == "sighting.report")
            ).one()
            assert audits == 24  # the hits and the misses, each once
            assert session.exec(select(func.count()).select_from(PhoneContact)).one() == 12
            assert verify_chain(session, EvidenceStore(settings.evidence_path)).ok
        database.engine.dispose()


def test_units_of_work_of_one_process_take_turns_past_the_busy_timeout(tmp_path: Path) -> None:
    """A unit of work that waits on SQLite's write lock longer than its busy timeout fails
    ("database is locked"); one process's units wait for each other instead, however long."""
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}", busy_timeout=0.05)
    upgrade(engine)
    database = Database(engine)
    first_in, second_waiting, release = threading.Event(), threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def first() -> None:
        with database.write() as session:
            record_audit(session, Actor.cli(), "turn.first", "test", None, {})
            session.flush()
            first_in.set()
            release.wait(30)

    def second() -> None:
        first_in.wait(30)
        second_waiting.set()
        try:
            with database.write() as session:
                record_audit(session, Actor.cli(), "turn.second", "test", None, {})
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    second_waiting.wait(30)
    # Hold the lock well past the busy timeout while the second unit waits for it.
    release.wait(1.0)
    release.set()
    for thread in threads:
        thread.join(30)
    assert failures == []
    with database.read() as session:
        actions = session.exec(
            select(AuditEntry.action)
            .where(AuditEntry.target_type == "test")
            .order_by(col(AuditEntry.id))
        ).all()
    assert actions == ["turn.first", "turn.second"]
    database.engine.dispose()


def test_request_units_of_work_on_many_threads_never_wedge_the_writers(tmp_path: Path) -> None:
    """FastAPI opens a request's unit of work, runs its route and commits it on threads of
    its own choosing: the writers' turn is the connection's, so one committed on another
    thread than it began on frees the next (a thread-owned lock left them waiting for ever)."""
    url = f"sqlite:///{tmp_path / 'threads.db'}"
    database, _link_id = _outlet(url)
    with database.write() as session:
        key = issue_key(session, role=Role.ADMIN, name="threads").secret
    settings = Settings(
        database_url=url,
        rotation_interval_seconds=0,
        evidence_dir=str(tmp_path / "evidence"),
        requests_per_second=10_000,
    )
    headers = {"Authorization": f"Bearer {key}"}

    def create(i: int) -> int:
        with httpx.Client(base_url=base, timeout=60, headers=headers) as client:
            body = {"name": f"网点{i}", "kind": "outlet", "region": "330106", "courier": "zto"}
            return client.post("/v1/links", json=body).status_code

    with serving(create_app(settings)) as base, ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(create, range(160)))
    assert codes == [201] * 160
    with database.read() as session:
        assert session.exec(select(func.count()).select_from(Link)).one() == 161
    database.engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_mint_made_before_its_unit_of_work_stores_the_same_rows(
    backend: str, tmp_path: Path
) -> None:
    """`mint_apart` (the CLI's and the API's mint) mints before it opens the unit of work:
    it stores, plants, chains and audits what `mint_canaries` does in one unit."""
    with fresh_database(backend, tmp_path) as url:
        database, link_id = _outlet(url)
        apart = mint_apart(database, Actor.cli(), link_id, 40, PlantChannel.CLI)
        with database.write() as session:
            whole = mint_canaries(session, Actor.cli(), link_id, 40, PlantChannel.CLI)
        assert len(apart.planted) == len(whole.planted) == 40
        assert apart.controls == whole.controls > 0
        with database.read() as session:
            counts = {
                (status, kind): session.exec(
                    select(func.count())
                    .select_from(Canary)
                    .where(Canary.status == status, col(Canary.control).is_(kind))
                ).one()
                for status in (CanaryStatus.PLANTED, CanaryStatus.CONTROL)
                for kind in (False, True)
            }
            assert counts == {
                (CanaryStatus.PLANTED, False): 80,
                (CanaryStatus.PLANTED, True): 0,
                (CanaryStatus.CONTROL, False): 0,
                (CanaryStatus.CONTROL, True): 2 * apart.controls,
            }
            assert session.exec(select(func.count()).select_from(Plant)).one() == 80
            chained = dict(
                session.exec(
                    select(EvidenceEntry.kind, func.count()).group_by(col(EvidenceEntry.kind))
                ).all()
            )
            assert chained[EntryKind.MINT] == 80 + 2 * apart.controls
            assert chained[EntryKind.PLANT] == 80
            mints = session.exec(
                select(AuditEntry.detail).where(AuditEntry.action == "canary.mint")
            ).all()
            assert [d["count"] for d in mints] == [40, 40]
            assert verify_evidence(session, EvidenceStore(tmp_path / "evidence")).ok
        database.engine.dispose()


def test_a_mint_from_a_number_pool_takes_its_numbers_inside_the_unit(tmp_path: Path) -> None:
    """A pool's free numbers are read where they are taken: a one-number pool gives one
    canary, then refuses (409), however the mint is made."""
    database, link_id = _outlet(f"sqlite:///{tmp_path / 'pool.db'}")
    with database.write() as session:
        number = register_number(
            session, Actor.cli(), "17000000001", "twilio", ["sms"], None, False, False
        )
        assign_number(session, Actor.cli(), number.id, link_id)
        set_feed_profile(
            session,
            Actor.cli(),
            link_id,
            FeedProfileBody(mobile_form="full", control_share=0),
        )
    first = mint_apart(database, Actor.cli(), link_id, 1, PlantChannel.API)
    assert [c.mobile for c in first.planted] == ["17000000001"]
    with pytest.raises(ConflictError):
        mint_apart(database, Actor.cli(), link_id, 1, PlantChannel.API)
    database.engine.dispose()
