"""Incident attribution recomputed by a job after new sightings, outside the write that
stored them: pending until the job runs, never overwritten by an older answer, and swept up
when a job was lost. On SQLite and PostgreSQL, with the real job queues."""

import random
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

import app.incidents.refresh as refresh
from app.auth.actor import Actor
from app.db import Database
from app.incidents.refresh import pending_refreshes, refresh_incident
from app.jobs.runtime import Runtime
from app.jobs.tasks import incident_sweep, jobs
from app.models.canaries import PlantChannel
from app.models.incidents import Incident, IncidentCandidate
from app.models.links import Link
from app.models.sightings import Sighting, SightingSource
from app.planting.schemas import StoredCanary
from app.planting.service import mint_canaries
from app.queueing.inprocess import InProcessQueue
from app.settings import Settings
from app.sites.crawling import CrawlLoop
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from tests.conftest import (
    BACKENDS,
    SHANGHAI,
    RecordingQueue,
    add_sightings,
    migrated_database,
    session_scope,
)

URL = "http://market.example/listing/77"


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, list[Any]]]:
    """A region with two outlets, ten canaries planted at each; the first outlet's canaries."""
    with migrated_database(request.param, tmp_path) as (_, engine):
        with session_scope(engine) as session:
            region = Link(name="大区", kind=LinkKind.REGION, region_code="330100",
                          courier=Courier.ZTO)  # fmt: skip
            session.add(region)
            session.flush()
            planted: list[StoredCanary] = []
            for n, code in enumerate(("330106", "330108")):
                outlet = Link(name=f"网点{n}", kind=LinkKind.OUTLET, region_code=code,
                              courier=Courier.ZTO, parent_id=region.id)  # fmt: skip
                session.add(outlet)
                session.flush()
                result = mint_canaries(session, Actor.cli(), outlet.id, 10, PlantChannel.CLI,
                                       rng=random.Random(n))  # fmt: skip
                planted += result.planted if n == 0 else []
        yield engine, planted


def _store(engine: Engine, canaries: list[StoredCanary], later: RecordingQueue | None) -> None:
    """Sightings of these canaries on one listing, stored in one unit of work; with `later`,
    the incidents are handed to a job (recorded there) instead of refreshed in the unit."""
    with session_scope(engine) as session:
        pending = [
            Sighting(
                canary_id=c.id,
                link_id=c.link_id,
                source=SightingSource.SITE,
                dedup_key=uuid.uuid4().hex,
                score=45.0,
                location={"url": URL},
                excerpt=c.name,
            )
            for c in canaries
        ]
        add_sightings(session, pending, later)


def _incident(engine: Engine) -> tuple[Incident, list[IncidentCandidate]]:
    with Session(engine) as session:
        (incident,) = session.exec(select(Incident)).all()
        ranked = session.exec(
            select(IncidentCandidate).where(IncidentCandidate.incident_id == incident.id)
        ).all()
        return incident, list(ranked)


def test_sightings_leave_the_attribution_to_the_job_and_it_catches_up(
    world: tuple[Engine, list[StoredCanary]],
) -> None:
    engine, canaries = world
    later = RecordingQueue()
    _store(engine, canaries[:2], later)
    incident, ranked = _incident(engine)
    assert later.deferred == [("incident_refresh", {"incident_id": str(incident.id)})]
    assert incident.attribution_pending and ranked == [] and not incident.announced
    with Session(engine) as session:
        assert pending_refreshes(session) == [incident.id]

    assert refresh_incident(Database(engine), incident.id, SHANGHAI)
    incident, ranked = _incident(engine)
    assert not incident.attribution_pending and incident.announced
    assert str(ranked[0].link_id) == str(canaries[0].link_id)  # the outlet, not its region
    assert incident.surfaced == 2
    # Nothing new: nothing done.
    assert not refresh_incident(Database(engine), incident.id, SHANGHAI)

    # Without a job queue (the CLI), the writing transaction recomputes it itself.
    _store(engine, canaries[2:4], None)
    incident, _ = _incident(engine)
    assert not incident.attribution_pending and incident.surfaced == 4


def test_sightings_stored_while_the_job_computes_leave_the_incident_pending(
    world: tuple[Engine, list[StoredCanary]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job reads, a writer adds sightings, the job stores what it read: that answer is
    of the older revision, so the incident stays pending for the next job."""
    engine, canaries = world
    later = RecordingQueue()
    _store(engine, canaries[:2], later)
    compute = refresh.compute
    writes: list[threading.Thread] = []

    def compute_then_write(
        session: Session, sightings: list[Sighting], zone: ZoneInfo
    ) -> refresh.Computed:
        computed = compute(session, sightings, zone)
        if not writes:  # once: a concurrent writer commits between the read and the write
            writes.append(threading.Thread(target=_store, args=(engine, canaries[2:5], later)))
            writes[0].start()
            writes[0].join()
        return computed

    monkeypatch.setattr(refresh, "compute", compute_then_write)
    (incident_id,) = {uuid.UUID(arguments["incident_id"]) for _, arguments in later.deferred}
    assert refresh_incident(Database(engine), incident_id, SHANGHAI)
    incident, _ = _incident(engine)
    assert (incident.attributed_revision, incident.revision) == (1, 2)
    assert incident.attribution_pending and incident.surfaced == 2
    monkeypatch.setattr(refresh, "compute", compute)
    assert refresh_incident(Database(engine), incident_id, SHANGHAI)
    incident, _ = _incident(engine)
    assert not incident.attribution_pending and incident.surfaced == 5


def test_the_sweep_refreshes_incidents_whose_job_was_lost(
    world: tuple[Engine, list[StoredCanary]], tmp_path: Path
) -> None:
    engine, canaries = world
    _store(engine, canaries[:3], RecordingQueue())  # deferred to a queue that never ran it
    assert _incident(engine)[0].attribution_pending
    url = engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, rotation_interval_seconds=0,
                        site_check_interval_seconds=0, incident_sweep_interval_seconds=0,
                        alert_sweep_interval_seconds=0, evidence_dir=str(tmp_path))  # fmt: skip
    queue = InProcessQueue(jobs, concurrency=2)
    runtime = Runtime.assemble(Database(engine), settings, queue, CrawlLoop())
    queue.start(runtime)
    try:
        incident_sweep(runtime, timestamp=0)  # as its tick would
        for _ in range(600):
            if not _incident(engine)[0].attribution_pending:
                break
            threading.Event().wait(0.05)
    finally:
        queue.shutdown()
    incident, ranked = _incident(engine)
    assert not incident.attribution_pending and incident.surfaced == 3 and ranked


def test_explanations_write_their_times_in_the_configured_zone(
    world: tuple[Engine, list[StoredCanary]],
) -> None:
    """HONEYTRACE_TIME_ZONE is where every time people read is written, the explanation's
    included: the same incident refreshed for a UTC deployment and a Beijing one differs
    only by the times, each with its offset written out."""
    engine, canaries = world
    later = RecordingQueue()
    _store(engine, canaries[:3], later)
    incident, _ = _incident(engine)
    texts = {}
    for zone in ("UTC", "Asia/Shanghai"):
        with Session(engine) as session:
            incident.revision += 1
            session.merge(incident)
            session.commit()
        assert refresh_incident(Database(engine), incident.id, ZoneInfo(zone))
        incident, ranked = _incident(engine)
        texts[zone] = (incident.explanation_en, ranked[0].explanation_en)
    for text in texts["UTC"]:
        assert "(UTC+00:00)" in text and "UTC+08:00" not in text
    for text in texts["Asia/Shanghai"]:
        assert "(UTC+08:00)" in text and "UTC+00:00" not in text
