"""The key table file: appends, watermark, several processes at once, and damage detected.

Each test keeps its file in its own temporary directory; the concurrent tests start real
processes (multiprocessing, spawn) that append to one file under its lock.
"""

import multiprocessing
import random
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from canaries.couriers import Courier
from canaries.index import IndexEntry, entry_of
from canaries.keytable import MAGIC, KeyTable, KeyTableError
from canaries.matching import Matcher
from canaries.mint import LinkProfile, MintedCanary, Minter
from canaries.scoring import Observed

WINDOW = (date(2026, 10, 1), date(2026, 10, 31))
START = datetime(2026, 10, 1, tzinfo=UTC)


def _canaries(seed: int, count: int) -> list[MintedCanary]:
    return Minter(
        LinkProfile(Courier.ZTO, window=WINDOW), random.Random(seed), control_share=0
    ).mint(count)


def _entries(seed: int, count: int, first: int = 0) -> list[IndexEntry]:
    """Entries with ids and minting times in the order they were minted."""
    return [
        replace(
            entry_of(canary, uuid.UUID(int=seed << 64 | first + n)),
            minted_at=START + timedelta(seconds=first + n),
        )
        for n, canary in enumerate(_canaries(seed, count))
    ]


def _found(table: KeyTable, entry: IndexEntry) -> bool:
    observed = Observed(waybill_no=entry.waybill_no.upper().replace(" ", ""))
    return any(c.id == entry.id.bytes for c in table.index.candidates(observed))


def test_appends_load_in_another_process_view_with_the_watermark(tmp_path: Path) -> None:
    path = tmp_path / "keys.bin"
    writer = KeyTable(path)
    first, second = _entries(1, 40), _entries(2, 30, first=40)
    assert writer.append(first) == 40
    assert writer.append([*first[:5], *second]) == 30  # held ones are not written again
    assert writer.watermark == (second[-1].minted_at, second[-1].id)
    reader = KeyTable(path)
    assert reader.load() == 70
    assert len(reader.index) == 70 and reader.watermark == writer.watermark
    assert all(_found(reader, e) for e in (*first, *second))
    # What the writer appends later reaches the reader's next load, and only that.
    third = _entries(3, 10, first=70)
    writer.append(third)
    assert reader.load() == 10 and reader.load() == 0
    assert _found(reader, third[-1])
    # The loaded index matches like one built in memory: anchors and blocking keys.
    canary = _canaries(3, 10)[-1]
    line = ",".join((canary.name[0] + "*" + canary.name[-1], canary.mobile, canary.waybill_no))
    found = Matcher(reader.index).match_text(line)
    assert [uuid.UUID(bytes=m.canary.id) for _, m in found] == [third[-1].id]


def test_removals_are_kept_and_an_empty_or_missing_file_is_an_empty_table(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.bin"
    assert KeyTable(path).load() == 0
    writer = KeyTable(path)
    entries = _entries(4, 20)
    writer.append(entries)
    assert writer.remove([entries[3].id, uuid.uuid4()]) == 1
    reader = KeyTable(path)
    reader.load()
    assert len(reader.index) == 19 and entries[3].id not in reader.index
    assert entries[4].id in reader.index


def test_compaction_rewrites_in_place_and_readers_follow(tmp_path: Path) -> None:
    path = tmp_path / "keys.bin"
    writer = KeyTable(path)
    reader = KeyTable(path)
    for batch in range(6):
        writer.append(_entries(10 + batch, 5, first=5 * batch))
    assert reader.load() == 30
    removed = _entries(10, 5)[0].id
    writer.remove([removed])
    writer.compact()
    assert reader.load() == 0  # the same canaries, read again from the rewritten file
    assert len(reader.index) == 29 and reader.index.run_count() == 1
    assert removed not in reader.index and reader.index.rows == 30
    writer.append(_entries(20, 5, first=30))
    assert reader.load() == 5


def _append_in_process(path: str, seed: int, first: int) -> None:
    table = KeyTable(path)
    entries = _entries(seed, 50, first=first)
    for part in range(4):
        table.append(entries[part * 10 : part * 10 + 20])


def test_two_processes_appending_at_once_write_each_canary_once(tmp_path: Path) -> None:
    path = tmp_path / "keys.bin"
    context = multiprocessing.get_context("spawn")
    # Both append the same 50 canaries (overlapping slices) and 50 of their own.
    workers = [
        context.Process(target=_append_in_process, args=(str(path), seed, first))
        for seed, first in ((30, 0), (30, 0), (31, 100), (32, 200))
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    table = KeyTable(path)
    table.load()
    assert len(table.index) == table.index.rows == 150
    expected = [*_entries(30, 50), *_entries(31, 50, 100), *_entries(32, 50, 200)]
    assert all(entry.id in table.index for entry in expected)


def _write(path: Path) -> None:
    """A first batch of 40 and a second of 5 (small enough not to set off a rewrite)."""
    table = KeyTable(path)
    table.append(_entries(40, 40))
    table.append(_entries(41, 5, first=40))
    assert table.index.run_count() == 2


def test_a_torn_last_batch_is_not_read_and_the_next_writer_cuts_it(tmp_path: Path) -> None:
    path = tmp_path / "keys.bin"
    _write(path)
    whole = path.read_bytes()
    for cut in (len(whole) - 1, len(whole) - 200, len(whole) - 700):
        path.write_bytes(whole[:cut])
        reader = KeyTable(path)
        assert reader.load() == 40  # the first batch whole, the torn one not at all
    # A torn tail of zeros (a crash after the file grew): also not read.
    path.write_bytes(whole + bytes(300))
    assert KeyTable(path).load() == 45
    path.write_bytes(whole[: len(whole) - 50])
    writer = KeyTable(path)
    assert writer.append(_entries(42, 3, first=100)) == 3
    reader = KeyTable(path)
    assert reader.load() == 43
    assert path.stat().st_size < len(whole)


def test_corrupt_or_foreign_files_raise_for_a_rebuild(tmp_path: Path) -> None:
    path = tmp_path / "keys.bin"
    _write(path)
    whole = bytearray(path.read_bytes())
    damaged = bytearray(whole)
    damaged[200] ^= 0xFF  # inside the first batch, which a second one follows
    path.write_bytes(bytes(damaged))
    with pytest.raises(KeyTableError):
        KeyTable(path).load()
    for foreign in (b"PK\x03\x04" + bytes(100), b"not a key table at all" * 10):
        path.write_bytes(foreign)
        with pytest.raises(KeyTableError):
            KeyTable(path).load()
    other_version = bytearray(whole)
    other_version[len(MAGIC)] += 1
    path.write_bytes(bytes(other_version))
    with pytest.raises(KeyTableError):
        KeyTable(path).load()
    # The caller's remedy: delete and rebuild.
    path.unlink()
    assert KeyTable(path).append(_entries(43, 3)) == 3
