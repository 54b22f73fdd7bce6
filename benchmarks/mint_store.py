"""Mint, store and plant canaries through the service, in batches, and print the rate.

    python benchmarks/mint_store.py [--count 1000000] [--batch 10000] [--postgres URL]

Uses the same code as `honeytrace mint`: mint (SystemRandom), check uniqueness against the
store, insert canaries and plants, commit per batch.
"""

import argparse
import tempfile
import time
from pathlib import Path

from app.auth.actor import Actor
from app.db import Database, make_engine, upgrade
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.models.canaries import PlantChannel
from app.planting.service import mint_canaries
from attribution.kinds import LinkKind
from canaries.couriers import Courier


def run(url: str, count: int, batch: int, label: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with Database(engine).write() as session:
        link = create_link(
            session,
            Actor.cli(),
            LinkCreate(
                name="电商平台", kind=LinkKind.PLATFORM, region="330000", courier=Courier.ZTO
            ),
        )
        link_id = link.id
    started = time.perf_counter()
    done = 0
    while done < count:
        size = min(batch, count - done)
        with Database(engine).write() as session:
            mint_canaries(session, Actor.cli(), link_id, size, PlantChannel.CLI)
        done += size
    elapsed = time.perf_counter() - started
    engine.dispose()
    print(f"{label}: {done:,} canaries minted, stored and planted in {elapsed:.1f} s", end="")
    print(f" = {done / elapsed:,.0f}/s (plus 5% controls)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--postgres", help="an empty PostgreSQL database URL to store into too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        run(f"sqlite:///{Path(directory) / 'bench.db'}", args.count, args.batch, "SQLite")
    if args.postgres:
        run(args.postgres, args.count, args.batch, "PostgreSQL")


if __name__ == "__main__":
    main()
