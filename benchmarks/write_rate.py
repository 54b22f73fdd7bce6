"""Write rates of the service: reports and Twilio SMS webhooks, each beside a yardstick
measured in the same run on the same database (goals, issue 17: p99 under 100 ms at 8
clients on SQLite and 32 on PostgreSQL). Minting has its own: benchmarks/mint_store.py.

A real `honeytrace serve` on loopback (its own process; the clients run here) on a fresh
SQLite file and on a scratch PostgreSQL database. With `--links` links in a courier's tree
and `--canaries` canaries stored at one of its outlets:

- `POST /v1/sightings`: listing texts that name a canary each (a sighting, its evidence,
  an incident, a burn and a replacement canary) and texts that name none (an audit entry);
- `POST /v1/webhooks/twilio/sms`: messages naming a canary, signed with twilio's
  RequestValidator;
- yardstick: `GET /healthz` under the same concurrency (the framework's floor).

Run: python benchmarks/write_rate.py [--requests 400] [--canaries 3000] [--links 10000]
                                      [--postgres URL | --no-postgres]
"""

import argparse
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.pool import Pool
from pathlib import Path

import httpx
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, make_url, text
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from app.auth.actor import Actor
from app.auth.keys import issue_key
from app.db import Database, make_engine, upgrade
from app.demo.serving import free_port
from app.links.importer import import_links_csv
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.models.canaries import Canary, CanaryStatus, PlantChannel
from app.models.keys import Role
from app.models.links import Link
from app.models.sightings import Sighting
from app.planting.service import mint_canaries
from attribution.kinds import LinkKind
from benchmarks.links_import import generate_csv
from canaries.couriers import Courier

BIN = Path(sys.executable).parent
TOKEN = "bench-twilio-token"  # noqa: S105 (a scratch server's)
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass
class Stored:
    link_id: uuid.UUID
    key: str
    canaries: list[Canary]


def prepare(url: str, canaries: int, links: int) -> Stored:
    """A courier of `links` links (benchmarks/links_import.py's tree) and, under its
    Zhejiang region, the outlet whose `canaries` the reports name."""
    engine = make_engine(url)
    upgrade(engine)
    database = Database(engine)
    with database.write() as session:
        import_links_csv(session, Actor.cli(), generate_csv(links))
        region = session.exec(select(Link.id).where(Link.external_ref == "r330000")).first()
        link = create_link(
            session,
            Actor.cli(),
            LinkCreate(
                name="网点",
                kind=LinkKind.OUTLET,
                region="330106",
                courier=Courier.ZTO,
                parent_id=region,
            ),
        )
        key = issue_key(session, role=Role.SECURITY, name="bench").secret
        link_id = link.id
    with database.write() as session:
        mint_canaries(session, Actor.cli(), link_id, canaries, PlantChannel.CLI)
    with database.read() as session:
        planted = session.exec(
            select(Canary).where(Canary.status == CanaryStatus.PLANTED).order_by(Canary.waybill_no)
        ).all()
    engine.dispose()
    return Stored(link_id, key, list(planted))


def listing(canary: Canary) -> str:
    return (
        f"出售快递单 {canary.waybill_no} 收件人{canary.name} 电话{canary.mobile} "
        f"{canary.province}{canary.city}{canary.district}{canary.address} 价格面议"
    )


@contextmanager
def served(url: str, tmp: Path, **settings: str) -> Iterator[str]:
    """A `honeytrace serve` on loopback; `settings` are more HONEYTRACE_ variables."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "HONEYTRACE_DATABASE_URL": url,
        "HONEYTRACE_LOG_LEVEL": "WARNING",
        "HONEYTRACE_PUBLIC_URL": base,
        "HONEYTRACE_TWILIO_AUTH_TOKEN": TOKEN,
        "HONEYTRACE_REQUESTS_PER_SECOND": "100000",
        "HONEYTRACE_EVIDENCE_DIR": str(tmp / "evidence"),
        "HONEYTRACE_ROTATION_INTERVAL_SECONDS": "0",
        **{f"HONEYTRACE_{name.upper()}": value for name, value in settings.items()},
    }
    server = subprocess.Popen(
        [str(BIN / "honeytrace"), "serve", "--port", str(port)], env=env, cwd=tmp
    )
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


@dataclass(frozen=True)
class Call:
    """One request, built before the clients start (they only send)."""

    method: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


def _client(port: int, calls: list[Call]) -> list[float]:
    """One client: its calls in turn over one kept-alive connection; latencies in s."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    latencies: list[float] = []
    for call in calls:
        started = time.perf_counter()
        connection.request(call.method, call.path, body=call.body, headers=dict(call.headers))
        response = connection.getresponse()
        text = response.read()
        latencies.append(time.perf_counter() - started)
        if response.status >= 300:
            raise RuntimeError(f"{response.status}: {text[:300]!r}")
    connection.close()
    return latencies


def load(label: str, pool: Pool, clients: int, port: int, calls: list[Call]) -> None:
    """The calls sent by the pool's clients at once, each its share in turn, over
    loopback. Each client is a process of plain `http.client`: a client in the server's
    interpreter, or one event loop of httpx clients, is slower than the service and its
    pauses were read as the server's (GET /healthz at p99 150 ms, 6 ms with these)."""
    shares = [(port, calls[i::clients]) for i in range(clients)]
    started = time.perf_counter()
    latencies = [x for share in pool.starmap(_client, shares) for x in share]
    rate = len(calls) / (time.perf_counter() - started)
    ms = sorted(x * 1000 for x in latencies)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, round(len(ms) * 0.99))]
    print(f"  {label:44} {rate:8,.0f} req/s   p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")


def requests_run(url: str, tmp: Path, stored: Stored, clients: int, count: int) -> None:
    bearer = (("Authorization", f"Bearer {stored.key}"), ("Content-Type", "application/json"))
    hits = stored.canaries
    run = secrets.token_hex(3)
    with served(url, tmp) as base:
        port = int(base.rsplit(":", 1)[1])
        signer = RequestValidator(TOKEN)
        sms_url = f"{base}/v1/webhooks/twilio/sms"

        def report(body: dict[str, str]) -> Call:
            return Call("POST", "/v1/sightings", json.dumps(body).encode(), bearer)

        def sms(i: int) -> Call:
            canary = hits[count + i]
            params = {
                "MessageSid": f"SM{run}{i:08d}",
                "From": "+8613912345678",
                "To": "+8617000000000",
                "Body": f"你好 {canary.name} 快递 {canary.waybill_no} 到了",
            }
            signature = signer.compute_signature(sms_url, params)
            headers = (
                ("X-Twilio-Signature", signature),
                ("Content-Type", "application/x-www-form-urlencoded"),
            )
            body = urllib.parse.urlencode(params).encode()
            return Call("POST", "/v1/webhooks/twilio/sms", body, headers)

        health = [Call("GET", "/healthz")] * count
        report_hit = [
            report({"kind": "listing", "text": listing(hits[i]), "reference": f"{run}-hit-{i}"})
            for i in range(count)
        ]
        report_miss = [
            report(
                {
                    "kind": "listing",
                    "text": f"出售快递单 第{i}批 浙江杭州 价格面议 联系微信 shop{i}",
                    "reference": f"{run}-miss-{i}",
                }
            )
            for i in range(count)
        ]
        messages = [sms(i) for i in range(count)]
        with Pool(clients) as pool:
            load("warm-up (first connections)", pool, clients, port, health[: clients * 4])
            # A service that has run a while: its index read, matching's modules imported
            # and minting's tables built (the first burn after a start waits for them).
            warm = {"kind": "listing", "text": listing(hits[-1]), "reference": f"{run}-warm"}
            httpx.post(f"{base}/v1/sightings", json=warm, headers=dict(bearer), timeout=300)
            load("yardstick: GET /healthz", pool, clients, port, health)
            load("POST /v1/sightings naming a canary", pool, clients, port, report_hit)
            load("POST /v1/sightings naming none", pool, clients, port, report_miss)
            load("Twilio SMS webhook naming a canary", pool, clients, port, messages)
            load("yardstick again: GET /healthz", pool, clients, port, health)
    engine = make_engine(url)
    with Session(engine) as session:
        sightings = len(session.exec(select(Sighting.id)).all())
    engine.dispose()
    print(f"  sightings stored: {sightings} (expected {2 * count + 1})")


def plain_rows(url: str, count: int) -> str:
    """As many rows of a canary's width as plain strings, one executemany, one commit."""
    engine = make_engine(url)
    table = Table(
        f"bench_plain_{secrets.token_hex(4)}",
        MetaData(),
        *(Column(f"c{i}", String) for i in range(20)),
    )
    table.create(engine)
    rows = [{f"c{i}": f"{n:012d}-{i}-字段" for i in range(20)} for n in range(count)]
    try:
        started = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(insert(table), rows)
        elapsed = time.perf_counter() - started
    finally:
        table.drop(engine)
        engine.dispose()
    return f"{elapsed:8.2f} s = {count / elapsed:8,.0f}/s"


@contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"honeytrace_bench_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def backend(label: str, url: str, args: argparse.Namespace, clients: int) -> None:
    print(f"{label}: {clients} clients, {args.requests} requests a case, {args.links:,} links")
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        stored = prepare(url, max(args.canaries, 2 * args.requests + 100), args.links)
        requests_run(url, tmp, stored, clients, args.requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="requests a case")
    parser.add_argument("--canaries", type=int, default=3000, help="canaries stored first")
    parser.add_argument("--links", type=int, default=10_000, help="links in the courier's tree")
    parser.add_argument("--sqlite-clients", type=int, default=8)
    parser.add_argument("--postgres-clients", type=int, default=32)
    parser.add_argument("--postgres", default=POSTGRES, help="a server to make a scratch db on")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite:///{Path(directory) / 'bench.db'}"
            backend("SQLite", url, args, args.sqlite_clients)
    if not args.no_postgres:
        with scratch_postgres(args.postgres) as url:
            backend("PostgreSQL", url, args, args.postgres_clients)


if __name__ == "__main__":
    main()
