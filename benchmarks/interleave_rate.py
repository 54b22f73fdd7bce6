"""Interleave throughput: the splicer alone, and through the HTTP endpoint of a real
`honeytrace serve` on loopback (client and server in separate processes).

    python benchmarks/interleave_rate.py [--mb 200] [--rate 0.002 0.01]

0.002 is a feed profile's default rate; the cost grows with the rate, since every canary is
minted, shaped like its neighbour, stored and planted as it goes out.
"""

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from app.auth.actor import Actor
from app.auth.keys import issue_key
from app.db import Database, make_engine, upgrade
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.models.keys import Role
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from canaries.mint import LinkProfile, Minter
from canaries.splice import splice_feed, splice_fields

HEADER = "订单编号,运单号,收件人,联系电话,收货地址,商品名称,重量,下单时间\n"


def feed_block(rows: int = 5000) -> bytes:
    minter = Minter(LinkProfile(courier=Courier.ZTO, area="330106"), random.Random(1))
    return "".join(
        f"DD{7000000 + i},{c.waybill_no},{c.name},{c.mobile},"
        f"{c.province}{c.city}{c.district}{c.address},{c.item},{c.weight_kg:.2f},"
        f"{c.created_at:%Y-%m-%d %H:%M:%S}\n"
        for i, c in enumerate(minter.mint(rows))
    ).encode()


def feed(megabytes: int, block: bytes) -> Iterator[bytes]:
    yield HEADER.encode()
    for _ in range(megabytes * 1_000_000 // len(block)):
        yield block


def splicer_alone(megabytes: int, rate: float, block: bytes) -> None:
    minter = Minter(LinkProfile(courier=Courier.ZTO, area="330106"), random.Random(2))

    def next_canary() -> Mapping[str, object]:
        return splice_fields(minter.mint_one())

    started = time.perf_counter()
    size = sum(
        len(chunk)
        for chunk in splice_feed(
            feed(megabytes, block), feed_format="csv", next_canary=next_canary, rate=rate,
            rng=random.Random(3),
        )
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    print(
        f"splicer alone: {size / 1e6:.0f} MB in {elapsed:.2f} s = {size / 1e6 / elapsed:.0f} MB/s"
    )


def through_http(megabytes: int, rate: float, block: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'bench.db'}"
        engine = make_engine(url)
        upgrade(engine)
        with Database(engine).write() as session:
            link = create_link(
                session,
                Actor.cli(),
                LinkCreate(name="网点", kind=LinkKind.OUTLET, region="330106", courier=Courier.ZTO),
            )
            key = issue_key(session, role=Role.INTEGRATION, name="bench").secret
            link_id = link.id
        engine.dispose()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "HONEYTRACE_DATABASE_URL": url, "HONEYTRACE_LOG_LEVEL": "WARNING"}
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "honeytrace"), "serve", "--port", str(port)],
            env=env, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    httpx.get(f"{base}/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            started = time.perf_counter()
            received = duplex_post(
                port,
                f"/v1/links/{link_id}/feed/interleave?rate={rate}",
                key,
                feed(megabytes, block),
            )
            elapsed = time.perf_counter() - started
            print(
                f"through HTTP: {received / 1e6:.0f} MB in {elapsed:.2f} s = "
                f"{received / 1e6 / elapsed:.0f} MB/s (upload and download on one loopback)"
            )
        finally:
            server.terminate()
            server.wait(timeout=30)


def duplex_post(port: int, path: str, key: str, body: Iterator[bytes]) -> int:
    """POST a chunked body while reading the response, as a streaming client must: a client
    that sends the whole body before reading (httpx, http.client) would fill the socket
    buffers and stall a feed larger than them. Returns the response body's size."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
    )

    def send() -> None:
        sock.sendall(head.encode())
        for chunk in body:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        sock.sendall(b"0\r\n\r\n")

    sender = threading.Thread(target=send)
    sender.start()
    reader = sock.makefile("rb")
    status = reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"the server answered {status!r}")
    while reader.readline() not in (b"\r\n", b""):
        pass
    received = 0
    while True:
        size = int(reader.readline().split(b";")[0], 16)
        if size == 0:
            break
        received += len(reader.read(size))
        reader.readline()
    sender.join()
    sock.close()
    return received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--rate", type=float, nargs="+", default=[0.002, 0.01])
    args = parser.parse_args()
    block = feed_block()
    for rate in args.rate:
        print(f"rate {rate}:")
        splicer_alone(args.mb, rate, block)
        through_http(args.mb, rate, block)


if __name__ == "__main__":
    main()
