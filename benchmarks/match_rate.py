"""Dump scanning speed beside GNU grep, and key table load times.

Each figure is printed beside its yardstick, measured in the same run on the same file:

- a structured leak: a generated 1,000,000-row UTF-8 CSV (order id, masked name, masked
  mobile, cut address, waybill number, courier) with 300 canary rows planted among
  strangers, scanned with 30,000 canaries stored, through `watchers.scan.scan_stream` as
  `honeytrace scan` runs it (reading, sha256, decoding, the columnar kernels, full scoring of
  candidates), beside `LC_ALL=C grep -F -c -f waybills.txt` with the canaries' waybill
  numbers; every planted row must be found at its row and nothing else;
- the same rows in GB18030, beside grep on that file;
- free text (listing lines: name, mobile, address, waybill number) in MB/s, read by the
  free-text kernel (canaries.freetext) as `honeytrace scan` reads it, beside grep on that
  file, with the same recall check; what a process does once (build the automaton, load
  pypinyin's tables for homophones, about half a second) is done and timed beforehand;
- the key table (canaries.keytable) loaded at 30,000 and at 1,000,000 canaries (the large
  one made of the minted canaries with their ids and waybill numbers made unique), beside
  building the index from the same entries in memory.

Ratios matter, not absolute times: the machine is shared. Targets (issue 17): the CSV at
least as fast as grep and at least 2,000,000 rows/s; GB18030 at least half of grep's speed
on it; free text at least 50 MB/s.

Run: python benchmarks/match_rate.py [--rows N] [--canaries N] [--text-rows N]
         [--table-canaries N]
"""

import argparse
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from canaries.couriers import Courier
from canaries.freetext import text_automaton
from canaries.index import CanaryIndex, IndexEntry, entry_of
from canaries.keytable import KeyTable
from canaries.matching import Matcher
from canaries.mint import LinkProfile, MintedCanary, Minter
from canaries.names import homophone_in
from watchers.dumps import DumpLimits
from watchers.scan import scan_stream

WINDOW = (date(2026, 10, 1), date(2026, 10, 31))
HEADER = "订单编号,收货人姓名,联系手机,收货地址,物流单号,物流公司\n"
PLANTED = 300
TEXT_PLANTED = 100


def _mint(seed: int, count: int) -> list[MintedCanary]:
    canaries: list[MintedCanary] = []
    for n, courier in enumerate((Courier.ZTO, Courier.YTO, Courier.SF, Courier.JD)):
        profile = LinkProfile(courier, window=WINDOW)
        minter = Minter(profile, random.Random(seed * 10 + n), control_share=0)
        canaries.extend(minter.mint(count // 4))
    return canaries


def _csv_row(
    rng: random.Random,
    name: MintedCanary,
    mobile: MintedCanary,
    place: MintedCanary,
    bill: MintedCanary,
) -> str:
    masked = name.name[0] + "*" + name.name[-1] if len(name.name) > 2 else name.name[0] + "*"
    street = place.address[: rng.randint(4, 9)] + "***"
    return (
        f"{rng.randrange(10**17, 10**18)},{masked},{mobile.mobile},"
        f"{place.province}{place.city}{place.district}{street},{bill.waybill_no},快递\n"
    )


def _text_row(rng: random.Random, person: MintedCanary) -> str:
    return (
        f"收件人 {person.name} 电话{person.mobile} 地址 {person.province}{person.city}"
        f"{person.district}{person.address} 单号{person.waybill_no} 售价0.{rng.randint(1, 9)}元\n"
    )


def write_files(
    directory: Path, rows: int, text_rows: int, canaries: list[MintedCanary]
) -> tuple[Path, Path, dict[int, int], dict[int, int]]:
    """The CSV and text files, and which row of each holds which canary (by position)."""
    rng = random.Random(5)
    people = _mint(2, 40_000)
    planted_at = set(rng.sample(range(rows), PLANTED))
    csv_planted: dict[int, int] = {}
    text_planted: dict[int, int] = {}
    csv_path = directory / "leak.csv"
    text_path = directory / "leak.txt"
    with csv_path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        batch: list[str] = []
        for row in range(rows):
            if row in planted_at:
                at = rng.randrange(len(canaries))
                csv_planted[row + 1] = at
                c = canaries[at]
                batch.append(_csv_row(rng, c, c, c, c))
            else:
                batch.append(_csv_row(rng, *(rng.choice(people) for _ in range(4))))
            if len(batch) == 10_000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))
    step = max(text_rows // TEXT_PLANTED, 1)
    with text_path.open("w", encoding="utf-8") as out:
        for row in range(text_rows):
            if row % step == 0:
                at = rng.randrange(len(canaries))
                text_planted[row + 1] = at
                out.write(_text_row(rng, canaries[at]))
            else:
                out.write(_text_row(rng, rng.choice(people)))
    return csv_path, text_path, csv_planted, text_planted


def scan(
    path: Path, index: CanaryIndex, ids: dict[bytes, int]
) -> tuple[float, int, dict[int, int]]:
    """Seconds, rows, and the canary (by position) found at each row."""
    with path.open("rb") as stream:
        result = scan_stream(stream, path.name, Matcher(index), DumpLimits())
    if result.error is not None:
        raise SystemExit(f"{path.name}: {result.error}")
    found = {m.row: ids[m.match.canary.id] for m in result.matches}
    return result.seconds, result.report.rows, found


def grep_seconds(path: Path, patterns: Path) -> float:
    if shutil.which("grep") is None:
        raise SystemExit("grep is the yardstick and is not installed")
    start = time.perf_counter()
    subprocess.run(
        ["grep", "-F", "-c", "-f", str(patterns), str(path)],
        capture_output=True,
        env={"LC_ALL": "C"},
        check=False,
    )
    return time.perf_counter() - start


def recall(found: dict[int, int], planted: dict[int, int]) -> str:
    hits = sum(found.get(row) == at for row, at in planted.items())
    false = sum(planted.get(row) != at for row, at in found.items())
    return f"{hits}/{len(planted)} planted found, {false} false matches"


def _entries(canaries: list[MintedCanary], count: int) -> list[IndexEntry]:
    """`count` entries cycling through the minted canaries, with unique ids, waybill
    numbers and minting times (records of the real size, without minting a million)."""
    start = datetime(2026, 10, 1, tzinfo=UTC)
    entries = []
    for n in range(count):
        canary = canaries[n % len(canaries)]
        entry = entry_of(canary, uuid.UUID(int=n + 1))
        waybill = canary.waybill_no if n < len(canaries) else f"{canary.waybill_no}{n}"
        entries.append(replace(entry, waybill_no=waybill, minted_at=start + timedelta(seconds=n)))
    return entries


def key_table_figures(directory: Path, canaries: list[MintedCanary], count: int) -> None:
    entries = _entries(canaries, count)
    path = directory / f"keys-{count}.bin"
    start = time.perf_counter()
    table = KeyTable(path)
    for at in range(0, count, 50_000):
        table.append(entries[at : at + 50_000])
    built = time.perf_counter() - start
    start = time.perf_counter()
    loaded = KeyTable(path)
    loaded.load()
    load = time.perf_counter() - start
    start = time.perf_counter()
    index = CanaryIndex()
    index.add(entries)
    index.merge()
    in_memory = time.perf_counter() - start
    assert len(loaded.index) == len(index) == count  # noqa: S101
    print(
        f"key table, {count:,} canaries ({path.stat().st_size / 1e6:,.0f} MB): loads in "
        f"{load:.2f} s; building the index from the entries in memory takes {in_memory:.1f} s "
        f"({in_memory / load:,.0f}x); written in {built:.1f} s in 50,000-canary appends"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--canaries", type=int, default=30_000)
    parser.add_argument("--text-rows", type=int, default=400_000)
    parser.add_argument("--table-canaries", type=int, default=1_000_000)
    args = parser.parse_args()

    canaries = _mint(1, args.canaries)
    index = CanaryIndex()
    ids = [uuid.uuid4() for _ in canaries]
    index.add(entry_of(c, i) for c, i in zip(canaries, ids, strict=True))
    index.merge()
    position = {canary_id.bytes: at for at, canary_id in enumerate(ids)}
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        csv_path, text_path, csv_planted, text_planted = write_files(
            directory, args.rows, args.text_rows, canaries
        )
        gb_path = directory / "leak-gb18030.csv"
        gb_path.write_bytes(csv_path.read_text(encoding="utf-8").encode("gb18030"))
        patterns = directory / "waybills.txt"
        patterns.write_text("".join(c.waybill_no + "\n" for c in canaries))
        scan(csv_path, index, position)  # Polars' import and the canaries' columns, once

        for label, path in (("UTF-8 CSV", csv_path), ("GB18030 CSV", gb_path)):
            seconds, rows, found = scan(path, index, position)
            grep = grep_seconds(path, patterns)
            print(
                f"{label}: {rows:,} rows, {path.stat().st_size / 1e6:,.0f} MB, "
                f"{len(canaries):,} canaries stored: {seconds:.2f} s = {rows / seconds:,.0f} "
                f"rows/s; grep -F -f {grep:.2f} s = {rows / grep:,.0f} rows/s; "
                f"honeytrace/grep speed {grep / seconds:.2f}; {recall(found, csv_planted)}"
            )
        size = text_path.stat().st_size
        start = time.perf_counter()
        names = len(text_automaton(index).names)  # built once per change of the index
        automaton = time.perf_counter() - start
        start = time.perf_counter()
        homophone_in("张伟", "章伟")  # pypinyin's tables, loaded once a process on first use
        pinyin = time.perf_counter() - start
        seconds, rows, found = scan(text_path, index, position)
        grep = grep_seconds(text_path, patterns)
        print(
            f"free text: {rows:,} lines, {size / 1e6:,.0f} MB: {seconds:.2f} s = "
            f"{size / 1e6 / seconds:,.1f} MB/s; grep -F -f {grep:.2f} s = "
            f"{size / 1e6 / grep:,.1f} MB/s; honeytrace/grep speed {grep / seconds:.2f}; "
            f"{recall(found, text_planted)} (the automaton of {names:,} names built "
            f"beforehand in {automaton:.2f} s, pypinyin's tables loaded in {pinyin:.2f} s)"
        )
        del index
        counts = {min(args.canaries, args.table_canaries), args.table_canaries} - {0}
        for count in sorted(counts):  # --table-canaries 0 skips the key table
            key_table_figures(directory, canaries, count)


if __name__ == "__main__":
    main()
