"""Import a generated CSV of links (a realistic tree) and print rows per second.

    python benchmarks/links_import.py [--rows 100000] [--postgres postgresql+psycopg://...]

Runs the same code as `honeytrace links import`: parse, check every row, resolve parents,
insert, all in one transaction.
"""

import argparse
import random
import tempfile
import time
from pathlib import Path

from app.auth.actor import Actor
from app.db import Database, make_engine, upgrade
from app.links.importer import import_links_csv
from canaries.divisions import Level, division_table


def generate_csv(rows: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    table = division_table()
    provinces = [d for d in table.all() if d.level is Level.PROVINCE and table.children(d.code)]
    counties = [d for d in table.all() if d.level is Level.COUNTY]
    lines = ["ref,name,kind,region,courier,parent", "hq,总部,head_office,310000,zto,"]
    for p in provinces:
        lines.append(f"r{p.code},{p.name}大区,region,{p.code},zto,hq")
    outlets = []
    for i in range(max(1, rows // 20)):
        county = rng.choice(counties)
        ref = f"o{i}"
        outlets.append(ref)
        lines.append(f"{ref},{county.name}网点{i},outlet,{county.code},zto,r{county.code[:2]}0000")
    i = 0
    while len(lines) - 1 < rows:
        parent = rng.choice(outlets)
        lines.append(f"c{i},快递员{i},courier_staff,330106,zto,{parent}")
        i += 1
    return ("\n".join(lines[: rows + 1]) + "\n").encode("utf-8")


def run(url: str, data: bytes, label: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    with Database(engine).write() as session:
        report = import_links_csv(session, Actor.cli(), data)
    elapsed = time.perf_counter() - started
    engine.dispose()
    rate = report.created / elapsed
    print(f"{label}: {report.created} links in {elapsed:.2f} s = {rate:,.0f} rows/s", end="")
    print(f" ({len(data) / 1e6:.1f} MB CSV)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", help="an empty PostgreSQL database URL to import into too")
    args = parser.parse_args()
    data = generate_csv(args.rows)
    with tempfile.TemporaryDirectory() as directory:
        run(f"sqlite:///{Path(directory) / 'bench.db'}", data, "SQLite")
    if args.postgres:
        run(args.postgres, data, "PostgreSQL")


if __name__ == "__main__":
    main()
