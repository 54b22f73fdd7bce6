"""Dump scanning speed and index size, with GNU grep as the yardstick.

A generated leaked CSV (2,000,000 rows by default, about 170 MB: order id, masked name,
masked mobile, cut address, waybill number, courier) with a few hundred canary rows in it is
scanned with 100,000 canaries indexed, through the same code as `honeytrace scan` (reading,
decoding, prefilter, parsing and full scoring of candidates). The same rows as free text
lines are scanned too. In the same run, `grep -F -c -f` with the canaries' waybill numbers
as fixed patterns reads the CSV, and the ratio is printed. Then the index alone is built at
1,000,000 canaries (`--index-canaries`) to report bytes per canary at scale.

Run: python benchmarks/match_rate.py [--rows N] [--canaries N] [--text-rows N]
         [--index-canaries N]
"""

import argparse
import random
import resource
import shutil
import subprocess
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from canaries.couriers import Courier
from canaries.index import CanaryIndex, entry_of
from canaries.matching import Matcher
from canaries.mint import Canary, LinkProfile, Minter
from watchers.dumps import DumpLimits
from watchers.scan import scan_stream

WINDOW = (date(2026, 10, 1), date(2026, 10, 31))
HEADER = "订单编号,收货人姓名,联系手机,收货地址,物流单号,物流公司\n"
PLANTED = 300


def _mint(seed: int, count: int) -> list[Canary]:
    canaries: list[Canary] = []
    for n, courier in enumerate((Courier.ZTO, Courier.YTO, Courier.SF, Courier.JD)):
        profile = LinkProfile(courier, window=WINDOW)
        minter = Minter(profile, random.Random(seed * 10 + n), control_share=0)
        canaries.extend(minter.mint(count // 4))
    return canaries


def _csv_row(rng: random.Random, name: Canary, mobile: Canary, place: Canary, bill: Canary) -> str:
    masked = name.name[0] + "*" + name.name[-1] if len(name.name) > 2 else name.name[0] + "*"
    street = place.address[: rng.randint(4, 9)] + "***"
    return (
        f"{rng.randrange(10**17, 10**18)},{masked},{mobile.mobile},"
        f"{place.province}{place.city}{place.district}{street},{bill.waybill_no},快递\n"
    )


def _text_row(rng: random.Random, person: Canary) -> str:
    return (
        f"收件人 {person.name} 电话{person.mobile} 地址 {person.province}{person.city}"
        f"{person.district}{person.address} 单号{person.waybill_no} 售价0.{rng.randint(1, 9)}元\n"
    )


def write_files(
    directory: Path, rows: int, text_rows: int, canaries: list[Canary]
) -> tuple[Path, Path]:
    rng = random.Random(5)
    people = _mint(2, 40_000)
    planted_at = set(rng.sample(range(rows), PLANTED))
    csv_path = directory / "leak.csv"
    text_path = directory / "leak.txt"
    with csv_path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        batch: list[str] = []
        for row in range(rows):
            if row in planted_at:
                c = rng.choice(canaries)
                batch.append(_csv_row(rng, c, c, c, c))
            else:
                batch.append(_csv_row(rng, *(rng.choice(people) for _ in range(4))))
            if len(batch) == 10_000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))
    with text_path.open("w", encoding="utf-8") as out:
        for row in range(text_rows):
            person = rng.choice(canaries) if row % (text_rows // 100) == 0 else rng.choice(people)
            out.write(_text_row(rng, person))
    return csv_path, text_path


def scan(path: Path, matcher: Matcher) -> tuple[float, int, int]:
    with path.open("rb") as stream:
        result = scan_stream(stream, path.name, matcher, DumpLimits())
    if result.error is not None:
        raise SystemExit(f"{path.name}: {result.error}")
    return result.seconds, result.report.rows, len(result.matches)


def grep_seconds(path: Path, patterns: Path) -> float | None:
    if shutil.which("grep") is None:
        return None
    start = time.perf_counter()
    subprocess.run(["grep", "-F", "-c", "-f", str(patterns), str(path)], capture_output=True)
    return time.perf_counter() - start


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--canaries", type=int, default=100_000)
    parser.add_argument("--text-rows", type=int, default=200_000)
    parser.add_argument("--index-canaries", type=int, default=1_000_000)
    args = parser.parse_args()

    start = time.perf_counter()
    canaries = _mint(1, args.canaries)
    print(f"minted {len(canaries):,} canaries in {time.perf_counter() - start:.1f} s")
    index = CanaryIndex()
    rss_before = rss_mb()
    start = time.perf_counter()
    index.add(entry_of(c, uuid.uuid4()) for c in canaries)
    index.merge()
    seconds = time.perf_counter() - start
    print(
        f"indexed {len(index):,} canaries in {seconds:.1f} s ({len(index) / seconds:,.0f}/s); "
        f"{index.nbytes() / len(index):,.0f} bytes per canary (structures), "
        f"peak RSS grew {rss_mb() - rss_before:,.0f} MB"
    )

    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        start = time.perf_counter()
        csv_path, text_path = write_files(directory, args.rows, args.text_rows, canaries)
        size = csv_path.stat().st_size
        print(
            f"wrote {args.rows:,} CSV rows ({size / 1e6:,.0f} MB) and {args.text_rows:,} text "
            f"lines in {time.perf_counter() - start:.1f} s"
        )
        rss_before = rss_mb()
        seconds, rows, matches = scan(csv_path, Matcher(index))
        print(
            f"structured CSV: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s, "
            f"{size / 1e6 / seconds:,.1f} MB/s; {matches} matches of {PLANTED} planted rows; "
            f"peak RSS {rss_mb():,.0f} MB ({rss_mb() - rss_before:,.0f} MB more than before)"
        )
        text_size = text_path.stat().st_size
        t_seconds, t_rows, t_matches = scan(text_path, Matcher(index))
        print(
            f"free text: {t_rows:,} lines in {t_seconds:.1f} s = {t_rows / t_seconds:,.0f} "
            f"lines/s, {text_size / 1e6 / t_seconds:,.1f} MB/s; {t_matches} matches"
        )
        patterns = directory / "waybills.txt"
        patterns.write_text("".join(c.waybill_no + "\n" for c in canaries))
        grep = grep_seconds(csv_path, patterns)
        if grep is not None:
            print(
                f"grep -F -f ({len(canaries):,} waybill numbers): {grep:.1f} s = "
                f"{rows / grep:,.0f} rows/s; honeytrace/grep speed ratio {grep / seconds:.2f}"
            )
    del index, canaries

    if args.index_canaries:
        start = time.perf_counter()
        big = CanaryIndex()
        rss_before = rss_mb()
        for seed in range(args.index_canaries // 100_000):
            big.add(entry_of(c, uuid.uuid4()) for c in _mint(100 + seed, 100_000))
        big.merge()
        print(
            f"index of {len(big):,} canaries: {big.nbytes() / len(big):,.0f} bytes per canary "
            f"(structures), peak RSS grew {(rss_mb() - rss_before) * 1e6 / len(big):,.0f} bytes "
            f"per canary; built in {time.perf_counter() - start:.0f} s (minting included)"
        )


if __name__ == "__main__":
    main()
