"""Brushing-order screening speed: in-process and through HTTP (goals: 200,000 orders/s
in-process; 20,000 orders/s through HTTP in batches of 1,000 with p99 under 100 ms).

A fresh SQLite database gets one outlet with `--canaries` canaries minted and planted
through the same code as `honeytrace mint`; orders are strangers' (a few addressed to
canaries). In-process: `Matcher.match_records` over batches of 1,000. HTTP: a real
`honeytrace serve` on loopback, `POST /v1/screen` with an integration key, batches sent
one after another by `--clients` concurrent clients, each a process of its own.

Run: python benchmarks/screen_rate.py [--canaries N] [--batches N] [--clients N]
"""

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from multiprocessing import Pool
from pathlib import Path

import httpx
from sqlmodel import Session, select

from app.auth.actor import Actor
from app.canary_index import LiveIndex
from app.db import Database, make_engine, upgrade
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.models.canaries import Canary, PlantChannel
from app.planting.service import mint_canaries
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from canaries.matching import Matcher
from canaries.mint import LinkProfile, Minter

BATCH = 1000
BIN = Path(sys.executable).parent


def planted_orders(url: str, count: int) -> list[dict[str, str]]:
    """Orders addressed to stored canaries, as a brusher fills them in."""
    engine = make_engine(url)
    with Session(engine) as session:
        rows = session.exec(select(Canary).limit(count)).all()
        return [
            {"order_id": f"brushed-{c.id.hex[:8]}", "name": c.name, "mobile": c.mobile,
             "address": c.province + c.city + c.district + c.address, "merchant_id": "brush"}
            for c in rows
        ]  # fmt: skip


def orders(batches: int, brushed: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    """Batches of strangers' orders; every tenth batch has one brushed order in it."""
    people = Minter(
        LinkProfile(Courier.YTO, window=(date(2026, 10, 1), date(2026, 10, 31))),
        random.Random(3),
        control_share=0,
    ).mint(20_000)
    rng = random.Random(4)
    made = [
        [
            {
                "order_id": f"{b}-{n}",
                "name": p.name,
                "mobile": p.mobile,
                "address": p.province + p.city + p.district + p.address,
                "merchant_id": "m",
            }
            for n, p in enumerate(rng.choices(people, k=BATCH))
        ]
        for b in range(batches)
    ]
    for b in range(0, batches, 10):
        made[b][b % BATCH] = brushed[(b // 10) % len(brushed)]
    return made


def seed(url: str, count: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with Database(engine).write() as session:
        data = LinkCreate(name="网点", kind=LinkKind.OUTLET, region="330106", courier=Courier.ZTO)
        link = create_link(session, Actor.cli(), data)
    for start in range(0, count, 10_000):
        with Database(engine).write() as session:
            mint_canaries(
                session, Actor.cli(), link.id, min(10_000, count - start), PlantChannel.CLI
            )
    engine.dispose()


def in_process(url: str, batches: list[list[dict[str, str]]]) -> None:
    engine = make_engine(url)
    holder = LiveIndex()
    with Database(engine).write() as session:
        holder.refresh(session)
    index = holder.index
    matcher = Matcher(index)
    records = [[{k: v for k, v in o.items() if k != "order_id"} for o in b] for b in batches]
    start = time.perf_counter()
    hits = sum(len(matcher.match_records(batch)) for batch in records)
    seconds = time.perf_counter() - start
    total = len(batches) * BATCH
    print(f"in-process: {total:,} orders in {seconds:.2f} s = {total / seconds:,.0f} orders/s "
          f"({hits} hits)")  # fmt: skip


def over_http(directory: Path, url: str, batches: list[list[dict[str, str]]], clients: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HONEYTRACE_")}
    env |= {"HONEYTRACE_DATABASE_URL": url, "HONEYTRACE_REQUESTS_PER_SECOND": "100000",
            "HONEYTRACE_EVIDENCE_DIR": str(directory / "evidence"),
            "HONEYTRACE_LOG_LEVEL": "WARNING"}  # fmt: skip
    created = subprocess.run(
        [str(BIN / "honeytrace"), "keys", "create", "--role", "integration", "--json"],
        env=env, capture_output=True, check=True, text=True,
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {json.loads(created.stdout)['key']}"}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [str(BIN / "honeytrace"), "serve", "--port", str(port)],
        env=env, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(base_url=base, headers=headers, timeout=60) as warm:
            warm.post("/v1/screen", json={"orders": batches[0]}).raise_for_status()  # index load
        # Bodies encoded before the clock starts; each client a process of plain
        # http.client, as benchmarks/write_rate.py's, so no client work is timed as the
        # server's (the httpx threads used before gave the same figures, 2026-12-06: here
        # the server is what takes the time).
        bodies = [json.dumps({"orders": batch}).encode() for batch in batches]
        shares = [(port, headers["Authorization"], bodies[i::clients]) for i in range(clients)]
        with Pool(clients) as pool:
            pool.map(abs, range(clients))  # the processes started before the clock
            start = time.perf_counter()
            answered = [x for share in pool.starmap(_client, shares) for x in share]
            seconds = time.perf_counter() - start
        latencies = [latency for latency, _ in answered]
        hits = [found for _, found in answered]
    finally:
        server.terminate()
        server.wait(timeout=20)
    total = len(latencies) * BATCH
    p50 = statistics.median(latencies) * 1000
    p99 = (
        statistics.quantiles(latencies, n=100)[98] * 1000
        if len(latencies) >= 100
        else max(latencies) * 1000
    )
    print(f"HTTP, {clients} client(s): {total:,} orders in {seconds:.1f} s = "
          f"{total / seconds:,.0f} orders/s; per batch of {BATCH}: p50 {p50:.0f} ms, "
          f"p99 {p99:.0f} ms; {sum(hits)} hits")  # fmt: skip
    hit = sorted(t * 1000 for t, n in zip(latencies, hits, strict=True) if n)
    clean = sorted(t * 1000 for t, n in zip(latencies, hits, strict=True) if not n)
    if hit and clean:
        print(f"  batches with a hit ({len(hit)}): p50 {statistics.median(hit):.0f} ms, "
              f"max {hit[-1]:.0f} ms; without ({len(clean)}): p50 "
              f"{statistics.median(clean):.0f} ms, max {clean[-1]:.0f} ms")  # fmt: skip


def _client(port: int, authorization: str, bodies: list[bytes]) -> list[tuple[float, int]]:
    """One client: its batches in turn over one kept-alive connection; (seconds, hits) each,
    the answer read whole inside the time and parsed after it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": authorization, "Content-Type": "application/json"}
    answered = []
    for body in bodies:
        started = time.perf_counter()
        connection.request("POST", "/v1/screen", body=body, headers=headers)
        response = connection.getresponse()
        text = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {text[:300]!r}")
        answered.append((elapsed, len(json.loads(text)["hits"])))
    connection.close()
    return answered


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--canaries", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        url = f"sqlite:///{directory / 'screen.db'}"
        start = time.perf_counter()
        seed(url, args.canaries)
        print(
            f"minted and planted {args.canaries:,} canaries in {time.perf_counter() - start:.0f} s"
        )
        batches = orders(args.batches, planted_orders(url, 50))
        in_process(url, batches)
        for clients in args.clients:
            # Fresh order ids per run, so no run re-reads another's sightings.
            run = [[{**o, "order_id": f"{uuid.uuid4().hex[:8]}-{o['order_id']}"} for o in b]
                   for b in batches]  # fmt: skip
            over_http(directory, url, run, clients)


if __name__ == "__main__":
    main()
