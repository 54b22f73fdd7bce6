"""Canaries minted per second end to end through the CLI and the API, each beside a yardstick
measured in the same run on the same database (goal, issue 17: 5,000 canaries/s).

On a SQLite file and on a scratch PostgreSQL database:
- minting alone: the records of N canaries (canaries/, CPU only, no database), the ceiling
  of every figure below;
- in-process: `mint_apart` (what the CLI and the API call): the records, then checking,
  storing, planting and chaining them in one unit of work;
- `honeytrace mint --count 1` (start-up) and `--count N` (a process of its own, start-up
  included, JSON lines written to a file);
- a real `honeytrace serve`: N canaries as requests of 1,000 (201, the canaries in the
  answer), and N in one request (202, a mint job) polled until done, then read back a page
  of 1,000 at a time;
- yardstick: N plain rows of a canary's width in one insert, same engine.

Every mint also stores its 5% of control canaries, and a mint and a plant entry per canary
in the evidence log.

Run: python -m benchmarks.mint_store [--count 20000] [--postgres URL | --no-postgres]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from app.auth.actor import Actor
from app.auth.keys import issue_key
from app.db import Database, make_engine, upgrade
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.models.canaries import PlantChannel
from app.models.keys import Role
from app.planting.mint_jobs import SYNCHRONOUS_MINT_MAX
from app.planting.service import mint_apart, plan_mint
from attribution.kinds import LinkKind
from benchmarks.write_rate import BIN, POSTGRES, plain_rows, scratch_postgres, served
from canaries.couriers import Courier

WIDTH = 52


def expect(holds: bool, problem: object) -> None:
    """A figure counts only if the work was done: stop the run otherwise."""
    if not holds:
        raise SystemExit(f"benchmark stopped: {problem}")


def line(label: str, seconds: float, count: int) -> None:
    print(f"  {label:{WIDTH}} {seconds:8.2f} s = {count / seconds:8,.0f}/s")


def prepare(database: Database) -> tuple[uuid.UUID, str]:
    with database.write() as session:
        link = create_link(
            session,
            Actor.cli(),
            LinkCreate(
                name="电商平台", kind=LinkKind.PLATFORM, region="330000", courier=Courier.ZTO
            ),
        )
        key = issue_key(session, role=Role.SECURITY, name="bench").secret
        return link.id, key


def in_process(database: Database, link_id: uuid.UUID, count: int) -> None:
    mint_apart(database, Actor.cli(), link_id, 1, PlantChannel.CLI)  # minting's tables
    with database.read() as session:
        plan = plan_mint(session, Actor.cli(), link_id, count)
    started = time.perf_counter()
    plan.records()
    line(f"minting alone: {count:,} records, no database", time.perf_counter() - started, count)
    started = time.perf_counter()
    mint_apart(database, Actor.cli(), link_id, count, PlantChannel.CLI)
    line(f"in-process mint_apart, {count:,}", time.perf_counter() - started, count)


def cli(url: str, tmp: Path, link_id: uuid.UUID, count: int) -> None:
    env = {**os.environ, "HONEYTRACE_DATABASE_URL": url, "HONEYTRACE_LOG_LEVEL": "WARNING"}
    command = [str(BIN / "honeytrace"), "mint", "--link", str(link_id)]
    out = tmp / "minted.jsonl"
    started = time.perf_counter()
    with out.open("w") as sink:
        subprocess.run([*command, "--count", "1"], env=env, cwd=tmp, check=True, stdout=sink)
    one = time.perf_counter() - started
    started = time.perf_counter()
    with out.open("w") as sink:
        subprocess.run([*command, "--count", str(count)], env=env, cwd=tmp, check=True, stdout=sink)
    elapsed = time.perf_counter() - started
    printed = sum(1 for _ in out.open())
    expect(printed == count, f"the CLI printed {printed} canaries, not {count}")
    print(f"  {'honeytrace mint --count 1 (start-up)':{WIDTH}} {one:8.2f} s")
    line(f"honeytrace mint --count {count:,}", elapsed, count)
    line("  the same less the start-up of --count 1", elapsed - one, count)


def api(url: str, tmp: Path, link_id: uuid.UUID, key: str, count: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    # On PostgreSQL the mint job goes to the queue: this one process works it too.
    server = served(url, tmp, jobs_in_process="true")
    with server as base, httpx.Client(base_url=base, headers=headers) as http:
        endpoint = f"/v1/links/{link_id}/canaries"
        http.post(endpoint, json={"count": 1}, timeout=60).raise_for_status()
        started = time.perf_counter()
        left = count
        while left:
            size = min(left, SYNCHRONOUS_MINT_MAX)
            answer = http.post(endpoint, json={"count": size}, timeout=600)
            expect(answer.status_code == 201, answer.text)
            left -= size
        requests = -(-count // SYNCHRONOUS_MINT_MAX)
        line(f"POST .../canaries, {count:,} in {requests} requests", time.perf_counter() - started,
             count)  # fmt: skip
        started = time.perf_counter()
        answer = http.post(endpoint, json={"count": count}, timeout=600)
        expect(answer.status_code == 202, answer.text)
        location = answer.headers["Location"]
        deadline = time.monotonic() + 600
        while (job := http.get(location, timeout=60).json())["status"] not in ("done", "failed"):
            expect(time.monotonic() < deadline, f"the mint job is still {job['status']}")
            time.sleep(0.05)
        expect(job["status"] == "done", job)
        done = time.perf_counter() - started
        read = 0
        while read < count:
            page = http.get(job["canaries"], params={"limit": 1000, "offset": read}, timeout=60)
            read += len(page.json()["items"])
        line(f"POST .../canaries, {count:,} as a job, until done", done, count)
        line("  and read back 1,000 a page", time.perf_counter() - started, count)


def backend(label: str, url: str, count: int) -> None:
    print(f"{label}:")
    engine = make_engine(url)
    upgrade(engine)
    database = Database(engine)
    link_id, key = prepare(database)
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        in_process(database, link_id, count)
        engine.dispose()
        cli(url, tmp, link_id, count)
        api(url, tmp, link_id, key, count)
    print(
        f"  {'yardstick: ' + f'{count:,} plain rows, one insert':{WIDTH}} {plain_rows(url, count)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000, help="canaries a run (<= 100,000)")
    parser.add_argument("--postgres", default=POSTGRES, help="a server to make a scratch db on")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as directory:
            backend("SQLite", f"sqlite:///{Path(directory) / 'bench.db'}", args.count)
    if not args.no_postgres:
        with scratch_postgres(args.postgres) as url:
            backend("PostgreSQL", url, args.count)


if __name__ == "__main__":
    main()
