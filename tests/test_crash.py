"""Crash tests: a served app killed with SIGKILL under concurrent writes, then restarted.

Client threads post reports, screening orders and signed provider webhooks that name
canaries while a long scan runs; the service is killed, started again, and then every write
it acknowledged (a 2xx) is there, nothing is left pending (no incident at
`attribution_pending`, no scan queued or running, no job `doing` whose worker is gone) and
the evidence chain verifies. On SQLite `honeytrace serve` runs the jobs itself: they
end with it, and the sweeps and the start-up check of scans take up what they were doing.
On PostgreSQL a `honeytrace worker` runs them and is killed first, mid-scan, while `serve`
goes on deferring jobs for a moment: its jobs come back through `stalled_jobs` once its
heartbeat is 30 s old (app.queueing.postgres.retry_stalled_jobs). Real processes, real HTTP.
"""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.auth.keys import issue_key
from app.evidence.log import verify_chain
from app.evidence.store import EvidenceStore
from app.incidents.refresh import pending_refreshes
from app.models.canaries import PlantChannel
from app.models.keys import Role
from app.models.links import Link
from app.models.sightings import Scan, ScanStatus, Sighting
from app.models.telephony import PhoneContact
from app.planting.schemas import StoredCanary
from app.planting.service import mint_canaries
from app.scans.service import INTERRUPTED
from app.telephony.provider_webhooks import signature
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from tests.conftest import BACKENDS, migrated_database
from tests.loopback import free_port

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
PROVIDER_SECRET = "crash-test-provider-secret"
WRITERS = ("report", "screen", "webhook", "report", "screen", "webhook")
ACKED_BEFORE_KILL = 5  # of each kind
SCAN_LINES = 80_000  # about a second of scanning on an idle core


@dataclass
class World:
    """A region, three outlets with planted canaries, and the keys the clients use."""

    canaries: list[StoredCanary]
    security: dict[str, str]
    integration: dict[str, str]


def _world(engine: Engine) -> World:
    with Session(engine) as session:
        region = Link(name="大区", kind=LinkKind.REGION, region_code="330100",
                      courier=Courier.ZTO)  # fmt: skip
        session.add(region)
        session.flush()
        canaries: list[StoredCanary] = []
        for n, code in enumerate(("330102", "330106", "330108")):
            outlet = Link(name=f"网点{n}", kind=LinkKind.OUTLET, region_code=code,
                          courier=Courier.ZTO, parent_id=region.id)  # fmt: skip
            session.add(outlet)
            session.flush()
            canaries += mint_canaries(session, Actor.cli(), outlet.id, 15, PlantChannel.CLI,
                                      rng=random.Random(n)).planted  # fmt: skip
        security = issue_key(session, role=Role.SECURITY, name="crash security").secret
        integration = issue_key(session, role=Role.INTEGRATION, name="crash orders").secret
        session.commit()
    return World(
        canaries,
        {"Authorization": f"Bearer {security}"},
        {"Authorization": f"Bearer {integration}"},
    )


def _leak(path: Path, canaries: list[StoredCanary], lines: int) -> Path:
    """A chat group's export: lines about people who share a canary's name and district
    (free text, which the matcher reads line by line: 20,000 a second on an idle core)
    and, at its end, the canaries themselves."""
    rng = random.Random(7)
    block = "".join(
        f"{c.name} 13{rng.randrange(10**9):09d} {c.province}{c.city}{c.district}"
        f"{rng.choice('东西南北')}街{n}号\n"
        for n, c in ((n, canaries[n % len(canaries)]) for n in range(10_000))
    )
    with path.open("w", encoding="utf-8") as out:
        for _ in range(max(1, lines // 10_000)):
            out.write(block)
        out.writelines(_spoken(c) + "\n" for c in canaries)
    return path


def _spoken(c: StoredCanary) -> str:
    return f"{c.name} {c.mobile} {c.province}{c.city}{c.district}{c.address} 运单号{c.waybill_no}"


@dataclass
class Acked:
    """What the service answered 2xx to: each write's key and the sightings it named."""

    reports: dict[str, list[str]] = field(default_factory=dict)
    orders: dict[str, str | None] = field(default_factory=dict)
    events: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)  # answers other than 2xx

    def count(self) -> int:
        return min(len(self.reports), len(self.orders), len(self.events))


def _write(kind: str, base: str, world: World, acked: Acked, stop: threading.Event) -> None:
    """Post writes of one kind, each naming a canary, until stopped; note the answered."""
    rng = random.Random()
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            c = rng.choice(world.canaries)
            key = f"{kind}-{uuid.uuid4().hex[:12]}"
            try:
                if kind == "report":
                    body = {"kind": "listing", "text": _spoken(c), "reference": key}
                    answer = client.post("/v1/sightings", json=body, headers=world.security)
                    if answer.is_success:
                        acked.reports[key] = [s["id"] for s in answer.json()["sightings"]]
                elif kind == "screen":
                    order = {"order_id": key, "name": c.name, "mobile": c.mobile,
                             "address": c.province + c.city + c.district + c.address}  # fmt: skip
                    answer = client.post(
                        "/v1/screen", json={"orders": [order]}, headers=world.integration
                    )
                    if answer.is_success:
                        hits = answer.json()["hits"]
                        acked.orders[key] = hits[0]["sighting_id"] if hits else None
                else:
                    event = {"event_id": key, "kind": "sms", "caller": "13900000000",
                             "callee": "13800000000", "text": _spoken(c)}  # fmt: skip
                    raw = json.dumps(event, ensure_ascii=False).encode()
                    stamp = str(int(time.time()))
                    answer = client.post(
                        "/v1/webhooks/telephony/aliyun",
                        content=raw,
                        headers={
                            "Content-Type": "application/json",
                            "X-Honeytrace-Timestamp": stamp,
                            "X-Honeytrace-Signature": signature(PROVIDER_SECRET, stamp, raw),
                        },
                    )
                    if answer.is_success:
                        acked.events.add(key)
            except httpx.TransportError:  # killed, or not up again yet: not acknowledged
                time.sleep(0.05)
                continue
            if not answer.is_success:
                acked.refused.append(f"{kind} {answer.status_code} {answer.text[:200]}")


class Service:
    """`honeytrace serve` and `honeytrace worker` as processes of their own, on one database."""

    def __init__(self, backend: str, url: str, tmp_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.tmp_path = tmp_path
        (tmp_path / "spool").mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HONEYTRACE_")}
        self.env |= {
            "HONEYTRACE_DATABASE_URL": url,
            "HONEYTRACE_PORT": str(self.port),
            "HONEYTRACE_EVIDENCE_DIR": str(tmp_path / "evidence"),
            "HONEYTRACE_SCAN_SPOOL_DIR": str(tmp_path / "spool"),
            "HONEYTRACE_TELEPHONY_SECRETS": json.dumps({"aliyun": PROVIDER_SECRET}),
            "HONEYTRACE_REQUESTS_PER_SECOND": "100000",
            "HONEYTRACE_ROTATION_INTERVAL_SECONDS": "0",
            "HONEYTRACE_SITE_CHECK_INTERVAL_SECONDS": "0",
            "HONEYTRACE_INCIDENT_SWEEP_INTERVAL_SECONDS": "2",
            "HONEYTRACE_STALLED_JOB_CHECK_INTERVAL_SECONDS": "5",
            # On SQLite, one job thread: the scan holds it while the service is killed.
            "HONEYTRACE_JOB_CONCURRENCY": "1" if backend == "sqlite" else "4",
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, command: str) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"{command}-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [str(BIN / "honeytrace"), command],
            cwd=self.tmp_path, env=self.env, stdout=log, stderr=log,
        )  # fmt: skip
        self.processes.append(process)
        if command == "serve":
            _wait_for(lambda: _answers(self.base) and process.poll() is None, 30, "serve")
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _scan_status(engine: Engine, scan_id: str) -> Scan:
    with Session(engine) as session:
        scan = session.get(Scan, uuid.UUID(scan_id))
        assert scan is not None
        return scan


def _doing(engine: Engine) -> dict[int, str]:
    query = "SELECT id, task_name FROM procrastinate.procrastinate_jobs WHERE status = 'doing'"
    with engine.connect() as connection:
        return {row.id: row.task_name for row in connection.exec_driver_sql(query)}


def _settled(engine: Engine, stalled: set[int]) -> bool:
    """Nothing pending: every incident attributed, no scan waiting or running, and none
    of the jobs the killed worker held still `doing`."""
    with Session(engine) as session:
        if pending_refreshes(session):
            return False
        unfinished = [ScanStatus.QUEUED, ScanStatus.RUNNING]
        if session.exec(select(Scan).where(col(Scan.status).in_(unfinished))).first():
            return False
    return not stalled or not stalled & set(_doing(engine))


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, Engine]]:
    """The backend, and a migrated database of it: its URL and an engine."""
    with migrated_database(request.param, tmp_path) as (url, engine):
        yield request.param, url, engine


def test_a_killed_service_keeps_all_it_acknowledged_and_leaves_nothing_pending(
    database: tuple[str, str, Engine], tmp_path: Path
) -> None:
    backend, url, engine = database
    world = _world(engine)
    # On SQLite the kill always interrupts the scan: it is long, and holds the one job
    # thread from before the first write to the kill.
    # On SQLite the scan must still hold serve's one job thread when serve is killed.
    lines = SCAN_LINES if backend == "postgres" else 30 * SCAN_LINES
    leak = _leak(tmp_path / "leak.txt", world.canaries, lines)
    service = Service(backend, url, tmp_path)
    try:
        serve = service.start("serve")
        with leak.open("rb") as body:
            scanned = httpx.post(f"{service.base}/v1/scans?name=leak.txt", content=body,
                                 headers=world.security, timeout=60)  # fmt: skip
        assert scanned.status_code == 202, scanned.text
        scan_id = scanned.json()["id"]
        acked, stop = Acked(), threading.Event()
        writers = [
            threading.Thread(target=_write, args=(kind, service.base, world, acked, stop))
            for kind in WRITERS
        ]
        for writer in writers:
            writer.start()
        _wait_for(lambda: acked.count() >= ACKED_BEFORE_KILL, 60, "acknowledged writes")
        stalled: set[int] = set()
        if backend == "postgres":  # a worker takes the scan, the oldest job, and is killed
            worker = service.start("worker")
            _wait_for(lambda: _scan_status(engine, scan_id).status == ScanStatus.RUNNING,
                      60, "the scan")  # fmt: skip
            worker.kill()  # SIGKILL, mid-scan
            worker.wait()
            held = _doing(engine)
            assert "scan" in held.values(), held
            stalled = set(held)
        assert _scan_status(engine, scan_id).status == ScanStatus.RUNNING
        # The refreshes of what is acknowledged now wait: on SQLite behind the scan on the
        # one job thread, on PostgreSQL in the queue (some behind locks the dead worker holds).
        more = acked.count() + 1
        _wait_for(lambda: acked.count() >= more, 30, "writes while the jobs are held")
        serve.kill()  # SIGKILL, under the writers and mid-scan
        serve.wait()
        stop.set()
        for writer in writers:
            writer.join()
        assert acked.refused == []
        with Session(engine) as session:
            assert pending_refreshes(session), "the kill left the restart nothing to catch up"

        if backend == "postgres":
            service.start("worker")
        service.start("serve")
        _wait_for(lambda: _settled(engine, stalled), 150, "the restarted service to catch up")

        with Session(engine) as session:
            named = {str(i) for i in session.exec(select(Sighting.id)).all()}
            contacts = set(session.exec(select(PhoneContact.sid)).all())
        reported = {s for ids in acked.reports.values() for s in ids}
        ordered = {s for s in acked.orders.values() if s is not None}
        assert reported and ordered
        assert reported - named == set()
        assert ordered - named == set()
        assert acked.events - contacts == set()
        scan = _scan_status(engine, scan_id)
        if backend == "postgres":  # retried on the new worker, after the old one's heartbeat
            assert scan.status == ScanStatus.DONE and scan.matches > 0, scan
        else:  # its queue lived in the killed process
            assert (scan.status, scan.error) == (ScanStatus.FAILED, INTERRUPTED)
        with Session(engine) as session:
            assert verify_chain(session, EvidenceStore(tmp_path / "evidence")).ok
    finally:
        service.stop()
