"""What the evidence chain costs: appends inside units of work, and a whole verify.

    python benchmarks/evidence_verify.py [--count 100000] [--batch 1000] [--postgres URL]

Mints and plants COUNT canaries, then stores COUNT sightings of them through the intake's
own hand-offs (chain, incidents, memberships), BATCH a unit of work, and prints the time
the chain's appends took of it. Then `honeytrace evidence verify` runs in a process of its
own, which prints its time and peak memory: the chain alone, then the chain and the tables.
"""

import argparse
import hashlib
import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session

import app.evidence.log as chain
from app.auth.actor import Actor
from app.db import Database, make_engine, upgrade
from app.evidence.log import verify_chain
from app.evidence.rows import verify_evidence
from app.evidence.store import EvidenceStore
from app.intake.record import keep_sightings
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.models.canaries import Canary, CanaryStatus, PlantChannel
from app.models.sightings import Sighting, SightingSource
from app.planting.service import mint_canaries
from attribution.kinds import LinkKind
from canaries.couriers import Courier

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _timed_appends() -> list[float]:
    """Time every append (app.evidence.log.append_events) from now on."""
    spent = [0.0]
    append = chain.append_events

    def timed(session: Session, events: Any) -> int:
        started = time.perf_counter()
        try:
            return append(session, events)
        finally:
            spent[0] += time.perf_counter() - started

    chain.append_events = timed
    return spent


def _sighting(canary_id: Any, link_id: Any, n: int, batch: int) -> Sighting:
    file = f"leak {n // batch}".encode()  # a file a unit of work: one incident each
    return Sighting(
        canary_id=canary_id,
        link_id=link_id,
        source=SightingSource.DUMP,
        dedup_key=hashlib.sha256(f"{n}".encode()).hexdigest(),
        score=38.5,
        evidence_sha256=hashlib.sha256(file).hexdigest(),
        location={"file": "leak.csv", "row": n},
        excerpt=f"row {n}",
    )


def build(url: str, count: int, batch: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    database = Database(engine)
    spent = _timed_appends()
    with database.write() as session:
        data = LinkCreate(name="网点", kind=LinkKind.OUTLET, region="330106", courier=Courier.ZTO)
        link_id = create_link(session, Actor.cli(), data).id
    started, canaries = time.perf_counter(), []
    for done in range(0, count, 10_000):
        with database.write() as session:
            size = min(10_000, count - done)
            minted = mint_canaries(session, Actor.cli(), link_id, size, PlantChannel.CLI)
            canaries += [c.id for c in minted.planted]
    print(f"  {count:,} canaries minted and planted in {time.perf_counter() - started:.1f} s,")
    print(f"    of which appends (mint, plant, audit) {spent[0]:.1f} s")
    with database.write() as session:  # no burns: each would mint a replacement
        session.execute(update(Canary).values(status=CanaryStatus.BURNED.value))
    spent[0], started = 0.0, time.perf_counter()
    for start in range(0, count, batch):
        with database.write() as session:
            part = canaries[start : start + batch]
            found = [_sighting(c, link_id, start + i, batch) for i, c in enumerate(part)]
            keep_sightings(
                session,
                Actor.cli(),
                [(s, None) for s in found],
                jobs=None,
                zone=SHANGHAI,
            )
    elapsed = time.perf_counter() - started
    print(f"  {count:,} sightings stored, grouped and chained in {elapsed:.1f} s,")
    print(f"    of which appends (sighting, membership) {spent[0]:.1f} s", end="")
    print(f" = {spent[0] / (2 * count) * 1e6:.0f} us an entry")
    engine.dispose()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _verify(url: str, tables: bool) -> None:
    engine = make_engine(url)
    with Session(engine) as session:
        if engine.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        check: Callable[..., Any] = verify_evidence if tables else verify_chain
        before, started = _peak_mb(), time.perf_counter()
        result = check(session, EvidenceStore(Path("unused")))
        elapsed = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"verify failed: {result.problem}")
    what = "chain and tables" if tables else "chain alone"
    print(f"  verify, {what}: {result.entries:,} entries, {result.rows:,} rows in", end="")
    print(f" {elapsed:.1f} s; peak memory {before:.0f} MB after imports, {_peak_mb():.0f} MB")


def verify(url: str, tables: bool) -> None:
    """In a fresh process, so its peak memory is its own."""
    child = multiprocessing.get_context("spawn").Process(target=_verify, args=(url, tables))
    child.start()
    child.join()


def run(url: str, count: int, batch: int, label: str) -> None:
    print(f"{label}:")
    build(url, count, batch)
    verify(url, tables=False)
    verify(url, tables=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--postgres", help="an empty PostgreSQL database URL to store into too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        run(f"sqlite:///{Path(directory) / 'bench.db'}", args.count, args.batch, "SQLite")
    if args.postgres:
        run(args.postgres, args.count, args.batch, "PostgreSQL")


if __name__ == "__main__":
    main()
