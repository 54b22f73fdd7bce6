"""The canaries' columns kept beside the key table (canaries.columnar): a process starts from
the file another one wrote when, and only when, it belongs to its index; anything else
(another index's, a damaged or stale file, another way of hashing) is derived again, and
small blocks searched by bisection find what the hash-set test finds.
"""

import json
import random
import struct
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from canaries import columnar
from canaries.couriers import Courier
from canaries.index import CanaryIndex, IndexEntry, entry_of
from canaries.mint import LinkProfile, MintedCanary, Minter

WINDOW = (date(2026, 10, 1), date(2026, 10, 31))
CANARIES = Minter(LinkProfile(Courier.ZTO, window=WINDOW), random.Random(7), control_share=0).mint(
    400
)
FIELDS = ("name", "mobile", "address", "waybill_no")


def _entries(people: list[MintedCanary], first_id: int) -> list[IndexEntry]:
    return [entry_of(person, uuid.UUID(int=first_id + n)) for n, person in enumerate(people)]


def _index(people: list[MintedCanary], first_id: int = 1) -> CanaryIndex:
    index = CanaryIndex()
    index.add(_entries(people, first_id))
    return index


def _same(got: columnar.CanaryColumns, want: columnar.CanaryColumns) -> None:
    assert got.rows == want.rows
    assert got.canaries.equals(want.canaries)
    for kind, hashes in want.anchors.items():
        assert got.anchors[kind].equals(hashes), kind
        assert len(hashes) > 0, kind


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(columnar, "_STORE_AFTER", 1)  # keep even a small index's columns
    return tmp_path / "canaries.keys.columns"


def test_a_new_process_starts_from_the_kept_columns(store: Path) -> None:
    written = columnar.canary_columns(_index(CANARIES[:300]), store)
    assert store.exists()
    loaded = columnar._load(store, _index(CANARIES[:300]))  # another process, same table
    assert loaded is not None
    _same(loaded, written)
    # Rows appended since (minted after the file was written) are derived on top of it.
    grown = _index(CANARIES[:300])
    grown.add(_entries(CANARIES[300:], 301))
    _same(columnar.canary_columns(grown, store), columnar.canary_columns(_index(CANARIES)))


def test_columns_of_another_index_are_not_used(store: Path) -> None:
    columnar.canary_columns(_index(CANARIES[:300]), store)
    other = _index(CANARIES[:300], first_id=10_000)  # the same people under other ids
    assert columnar._load(store, other) is None
    entries = _entries(CANARIES[:300], 1)  # each canary its own id, as in the store
    reordered = CanaryIndex()
    reordered.add(entries[1:] + entries[:1])
    assert columnar._load(store, reordered) is None
    smaller = _index(CANARIES[:100])  # a file with more rows than the index holds
    assert columnar._load(store, smaller) is None
    _same(columnar.canary_columns(smaller, store), columnar.canary_columns(_index(CANARIES[:100])))


def _rewrite_stamp(store: Path, change: dict[str, object]) -> None:
    data = store.read_bytes()
    head = len(columnar._MAGIC) + columnar._LENGTH.size
    (length,) = columnar._LENGTH.unpack(data[len(columnar._MAGIC) : head])
    stamp = json.loads(data[head : head + length]) | change
    encoded = json.dumps(stamp).encode()
    rest = data[head + length :]
    store.write_bytes(columnar._MAGIC + struct.pack("<I", len(encoded)) + encoded + rest)


@pytest.mark.parametrize(
    "change", [{"probe": 12345}, {"polars": "0.0.1"}, {"format": 99}, {"sizes": [1, 2]}]
)
def test_a_file_hashed_or_written_otherwise_is_derived_again(
    store: Path, change: dict[str, object]
) -> None:
    index = _index(CANARIES[:300])
    want = columnar.canary_columns(index, store)
    _rewrite_stamp(store, change)
    assert columnar._load(store, _index(CANARIES[:300])) is None
    _same(columnar.canary_columns(_index(CANARIES[:300]), store), want)


@pytest.mark.parametrize("damage", ["truncated", "zeros", "garbage", "empty"])
def test_a_damaged_file_is_derived_again(store: Path, damage: str) -> None:
    want = columnar.canary_columns(_index(CANARIES[:300]), store)
    data = store.read_bytes()
    broken = {
        "truncated": data[: len(data) * 2 // 3],
        "zeros": data[:200] + bytes(len(data) - 200),
        "garbage": random.Random(1).randbytes(len(data)),
        "empty": b"",
    }[damage]
    store.write_bytes(broken)
    _same(columnar.canary_columns(_index(CANARIES[:300]), store), want)


def test_canaries_columns_that_do_not_read_are_derived_from_the_index(store: Path) -> None:
    want = columnar.canary_columns(_index(CANARIES[:300]), store)
    data = bytearray(store.read_bytes())
    head = len(columnar._MAGIC) + columnar._LENGTH.size
    (length,) = columnar._LENGTH.unpack(data[len(columnar._MAGIC) : head])
    first = head + length  # the canaries' section comes first; its anchors stay whole
    data[first : first + 64] = bytes(64)
    store.write_bytes(bytes(data))
    loaded = columnar._load(store, _index(CANARIES[:300]))
    assert loaded is not None
    _same(loaded, want)


def _row(person: MintedCanary, rng: random.Random) -> list[str]:
    """A canary as a leaked list shows it, in one of the forms the anchors are for."""
    name, mobile, waybill = person.name, person.mobile_number, person.waybill_no
    masked = mobile[:3] + "****" + mobile[7:]
    form = rng.choice(["waybill", "lower", "masked", "x", "surname", "full"])
    shown = {
        "waybill": (name[0] + "*" * (len(name) - 1), masked, waybill),
        "lower": ("", "", waybill.lower()),
        "masked": (name[0] + "*" + name[-1], masked, ""),
        "x": (name[0] + "*" + name[-1], masked.replace("*", "x"), ""),
        "surname": (name[0] + "**", masked, ""),
        "full": (name, mobile, ""),
    }[form]
    return [shown[0], shown[1], person.address, shown[2]]


def test_a_small_block_searched_by_bisection_finds_what_the_hash_set_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    columns = columnar.canary_columns(_index(CANARIES))
    rng = random.Random(3)
    strangers = Minter(
        LinkProfile(Courier.ZTO, window=WINDOW), random.Random(8), control_share=0
    ).mint(20)
    planted = rng.sample(range(len(CANARIES)), 12)
    rows = [_row(CANARIES[n], rng) for n in planted] + [_row(s, rng) for s in strangers]
    frame = pl.DataFrame(
        [pl.Series(f"c{i}", [row[i] for row in rows], dtype=pl.String) for i in range(4)]
    )
    # 32 rows against about 1,200 mobile forms: the bisection path (see hashed_in).
    assert frame.height * columnar._SEARCH_SHARE < len(columns.mobile_forms)
    searched = columnar.table_candidates(frame, FIELDS, columns)
    monkeypatch.setattr(columnar, "_SEARCH_SHARE", 10**9)  # every block: the hash set
    hashed = columnar.table_candidates(frame, FIELDS, columns)
    assert searched == hashed
    assert set(range(12)) <= set(searched)


def _kept_rows(store: Path) -> int:
    data = store.read_bytes()
    head = len(columnar._MAGIC) + columnar._LENGTH.size
    (length,) = columnar._LENGTH.unpack(data[len(columnar._MAGIC) : head])
    rows: int = json.loads(data[head : head + length])["rows"]
    return rows


def test_a_process_rewrites_the_file_only_after_many_new_rows(store: Path) -> None:
    """A server that mints a few canaries between scans must not rewrite the whole file at
    each scan: only once it holds a sixteenth more rows than the file (and _STORE_AFTER)."""
    index = _index(CANARIES[:320])
    columnar.canary_columns(index, store)
    assert _kept_rows(store) == 320
    index.add(_entries(CANARIES[320:330], 321))  # 10 rows: under 320 / 16
    columnar.canary_columns(index, store)
    assert _kept_rows(store) == 320
    index.add(_entries(CANARIES[330:345], 331))  # 25 rows since the file: over 20
    _same(columnar.canary_columns(index, store), columnar.canary_columns(_index(CANARIES[:345])))
    assert _kept_rows(store) == 345


def test_scans_in_threads_derive_once_and_keep_a_whole_file(store: Path) -> None:
    index = _index(CANARIES)
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda _: columnar.canary_columns(index, store), range(8)))
    assert all(columns is got[0] for columns in got)  # one derivation, shared
    loaded = columnar._load(store, _index(CANARIES))
    assert loaded is not None
    _same(loaded, columnar.canary_columns(_index(CANARIES)))
