"""The in-memory canary index: millions of canaries, blocked on exact fragments.

Memory matters more than anything here (every API process and worker holds the index), so
a canary is one packed UTF-8 record in a list, its id 16 bytes in one bytearray, and each
blocking key a stable 64-bit hash (`key_hash`) in sorted `array` runs beside the rows they
point to. Lookups bisect each run. New canaries go to a small dict first and are folded into
a run in bulk; runs of like size are merged. A key table (canaries.keytable) keeps the same
runs on disk, so a process loads them without hashing or sorting anything. Hash collisions
only add candidates: scoring compares the real fields.

Blocking keys (a record is scored against a canary only if they share one): the waybill
number, the full mobile, the mobile's first three + last four digits, the full name, the
name + county, the name + full street, and the surname + county + the street's first four
characters. The anchor sets hold the fragments a scanner can find in raw text before
parsing a row.
"""

from __future__ import annotations

import threading
import uuid
from array import array
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from hashlib import blake2b
from typing import TYPE_CHECKING

from canaries.mobiles import mobile_key, normalise_mobile
from canaries.names import MASK, split_name
from canaries.places import normalise_street
from canaries.scoring import IndexedCanary, Observed
from canaries.waybills import normalise_waybill

if TYPE_CHECKING:
    from canaries.mint import MintedCanary

_SEP = "\x1f"
_MERGE_AT = 65_536
# Sorted key runs are merged pairwise once they are about this many times apart in size,
# so a run of small top-ups costs O(n log n) in all and a lookup bisects a few runs.
_RUNS_APART = 4
_STREET_KEY_CHARS = 4
ANCHOR_NAME_LENGTH = 3
ANCHOR_KINDS = ("waybills", "name_mobiles", "mobile_keys", "surname_mobiles", "names")


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """A stored canary as the index takes it; `minted_at` only feeds a key table's
    watermark (see canaries.keytable)."""

    id: uuid.UUID
    waybill_no: str
    name: str
    mobile: str
    mobile_secret: str | None
    mobile_form: str
    district_code: str
    address: str
    control: bool
    minted_at: datetime | None = None


def key_hash(key: str) -> int:
    """A blocking key's 64-bit hash, the same in every process (Python's own `hash` of a
    str is salted per process), so hashes can be kept in a key table file."""
    return int.from_bytes(blake2b(key.encode(), digest_size=8).digest(), "little", signed=True)


class Anchors:
    """Fragments every matchable record shows one of, for a scanner's prefilter.

    Five sets: waybill numbers; a name's first and last characters with the mobile's first
    three and last four digits (`王辉1385678`: what a masked row `王*辉,138****5678` shows);
    the mobile key alone; the surname, `*` and the mobile key (names shown as `王**`); full
    names of three or more characters (a two-character name such as 张伟 is shared by so
    many people that it would let most rows through; it only supports a match). Each set is
    built the first time a scan needs it, from newline-joined runs (a key table's, loaded in
    bulk) and single additions: a process that never scans free text never pays for names.
    """

    def __init__(self) -> None:
        self._sets: dict[str, set[str]] = {}
        self._keys: dict[str, list[str]] = {kind: [] for kind in ANCHOR_KINDS}
        self._single: dict[str, list[str]] = {kind: [] for kind in ANCHOR_KINDS}
        self._name_shape: tuple[frozenset[str], frozenset[int]] | None = None
        # Sets are built on first use by whichever thread asks, while the process's refresh
        # may be adding canaries: building and adding take turns, or an addition is lost.
        self._lock = threading.RLock()

    @property
    def waybills(self) -> set[str]:
        return self._built("waybills")

    @property
    def name_mobiles(self) -> set[str]:
        return self._built("name_mobiles")

    @property
    def mobile_keys(self) -> set[str]:
        return self._built("mobile_keys")

    @property
    def surname_mobiles(self) -> set[str]:
        return self._built("surname_mobiles")

    @property
    def names(self) -> set[str]:
        return self._built("names")

    def name_shape(self) -> tuple[frozenset[str], frozenset[int]]:
        """The names' first characters and lengths (a scanner's name windows), kept up to
        date as names are added: a matcher made for every request must not walk them all."""
        shape = self._name_shape
        if shape is None:
            with self._lock:
                names = self.names
                shape = (frozenset(n[0] for n in names), frozenset(len(n) for n in names))
                self._name_shape = shape
        return shape

    def add(self, canary: IndexedCanary) -> None:
        with self._lock:
            for kind, anchor in anchors_of(canary):
                built = self._sets.get(kind)
                if built is not None:
                    built.add(anchor)
                else:
                    self._single[kind].append(anchor)
                if kind == "names":
                    self._shape_with([anchor])

    def _shape_with(self, names: Iterable[str]) -> None:
        """Names just added: into the shape, if it is built (the caller holds the lock)."""
        shape = self._name_shape
        if shape is None:
            return
        firsts = {n[0] for n in names} - shape[0]
        lengths = {len(n) for n in names} - shape[1]
        if firsts or lengths:  # one swap: a reader sees the old shape or the new
            self._name_shape = (shape[0] | firsts, shape[1] | lengths)

    def add_runs(self, runs: dict[str, str]) -> None:
        """Anchors of many canaries at once, each kind's joined by newlines."""
        with self._lock:
            for kind, run in runs.items():
                if not run:
                    continue
                built = self._sets.get(kind)
                if built is not None:
                    built.update(run.split("\n"))
                else:
                    self._keys[kind].append(run)
                if kind == "names":
                    self._shape_with(run.split("\n"))

    def sets(self) -> list[set[str]]:
        return [self._built(kind) for kind in ANCHOR_KINDS]

    def _built(self, kind: str) -> set[str]:
        anchors = self._sets.get(kind)
        if anchors is None:
            with self._lock:
                anchors = self._sets.get(kind)
                if anchors is None:
                    anchors = set(self._single[kind])
                    for run in self._keys[kind]:
                        anchors.update(run.split("\n"))
                    self._sets[kind] = anchors
                    self._keys[kind] = []
                    self._single[kind] = []
        return anchors


def anchors_of(canary: IndexedCanary) -> Iterator[tuple[str, str]]:
    """(kind, anchor) of one canary, for each of `ANCHOR_KINDS` it has."""
    yield "waybills", canary.waybill_no
    key = mobile_key(canary.mobile_number)
    if key is not None:
        yield "name_mobiles", canary.name[0] + canary.name[-1] + key
        yield "mobile_keys", key
        yield "surname_mobiles", canary.name[0] + MASK + key
    if len(canary.name) >= ANCHOR_NAME_LENGTH:
        yield "names", canary.name


def _mobile_number(entry: IndexEntry, shown: str) -> str:
    if entry.mobile_form == "masked" and entry.mobile_secret:
        return shown[:3] + entry.mobile_secret + shown[7:11]
    return shown[:11]


def _keys(canary: IndexedCanary) -> Iterator[str]:
    yield "w" + canary.waybill_no
    if "*" not in canary.mobile:
        yield "f" + canary.mobile.partition("转")[0]
    key = mobile_key(canary.mobile_number)
    if key is not None:
        yield "m" + key
    yield "n" + canary.name
    yield "n" + canary.name + _SEP + canary.district_code
    yield "a" + canary.name + _SEP + canary.street
    surname = split_name(canary.name)[0]
    yield "s" + surname + _SEP + canary.district_code + _SEP + canary.street[:_STREET_KEY_CHARS]


def _id_key(canary_id: uuid.UUID) -> str:
    return "i" + canary_id.hex


def observed_keys(observed: Observed) -> Iterator[str]:
    """The blocking keys an observed record can share with a canary."""
    if observed.waybill_no:
        yield "w" + observed.waybill_no
    if observed.mobile:
        number = observed.mobile.partition("转")[0]
        if "*" not in number and len(number) == 11:
            yield "f" + number
        key = mobile_key(number)
        if key is not None:
            yield "m" + key
    county = observed.place.county if observed.place is not None else None
    if observed.name and "*" not in observed.name:
        yield "n" + observed.name
    if observed.name and "*" not in observed.name and observed.street and not observed.street_cut:
        # Name and full street, as a brusher writes them with a phone of its own.
        yield "a" + observed.name + _SEP + observed.street
    if observed.name and county:
        if "*" not in observed.name:
            yield "n" + observed.name + _SEP + county
        if observed.street and len(observed.street) >= _STREET_KEY_CHARS:
            surname = split_name(observed.name.replace("*", "?"))[0]
            street = observed.street[:_STREET_KEY_CHARS]
            yield "s" + surname + _SEP + county + _SEP + street


@dataclass(frozen=True, slots=True)
class KeyRun:
    """Sorted blocking-key hashes and the rows they point to: one immutable run."""

    hashes: array[int]  # "q"
    rows: array[int]  # "I"


@dataclass(frozen=True, slots=True)
class RowsExport:
    """Rows [first_row, first_row + count) of an index in bulk form, as a key table keeps
    them: ids, packed records, one sorted key run, and the anchors by kind."""

    first_row: int
    ids: bytes
    records: list[bytes]
    run: KeyRun
    anchors: dict[str, str]


class CanaryIndex:
    """Canaries by blocking key. Rows are only ever appended (a removed one is flagged), so
    a row number names one canary for the life of the index and of its key table."""

    def __init__(self) -> None:
        self._records: list[bytes] = []
        self._ids = bytearray()
        self._removed = bytearray()
        self._removed_count = 0
        # The sorted runs are swapped as one tuple, so a scan reading while a refresh merges
        # sees the old runs or the new ones, never a mix.
        self._keys: tuple[KeyRun, ...] = ()
        self._pending: dict[int, list[int]] = defaultdict(list)
        self.anchors = Anchors()
        self.generation = 0  # bumped by every change, for caches built from the index

    @property
    def rows(self) -> int:
        """Canaries ever added, removed ones included."""
        return len(self._records)

    def __len__(self) -> int:
        return len(self._records) - self._removed_count

    def rows_of(self, entries: Iterable[IndexEntry]) -> RowsExport:
        """The entries this index does not hold yet, in bulk form as the next rows (each id
        once), for `import_rows`: a key table writes the same object it imports."""
        records: list[bytes] = []
        ids: dict[bytes, None] = {}
        pairs: list[tuple[int, int]] = []
        anchors: dict[str, list[str]] = {kind: [] for kind in ANCHOR_KINDS}
        row = len(self._records)
        for entry in entries:
            if entry.id.bytes in ids or self._row_of(entry.id) is not None:
                continue
            canary = self._indexed(entry)
            ids[entry.id.bytes] = None
            records.append(self._pack(canary))
            pairs.extend((key_hash(k), row) for k in _all_keys(canary))
            for kind, anchor in anchors_of(canary):
                anchors[kind].append(anchor)
            row += 1
        pairs.sort()
        return RowsExport(
            first_row=len(self._records),
            ids=b"".join(ids),
            records=records,
            run=_run_of(pairs),
            anchors={kind: "\n".join(values) for kind, values in anchors.items()},
        )

    def add(self, entries: Iterable[IndexEntry]) -> int:
        added = 0
        for entry in entries:
            if self._row_of(entry.id) is not None:
                continue
            canary = self._indexed(entry)
            row = len(self._records)
            self._records.append(self._pack(canary))
            self._ids += entry.id.bytes
            self._removed.append(0)
            for blocking_key in _all_keys(canary):
                self._pending[key_hash(blocking_key)].append(row)
            self.anchors.add(canary)
            added += 1
        if added:
            self.generation += 1
        if len(self._pending) >= _MERGE_AT:
            self.merge()
        return added

    def remove(self, ids: Iterable[uuid.UUID]) -> int:
        """Stop matching these canaries (anchors stay until a rebuild: they only prefilter)."""
        removed = 0
        for canary_id in ids:
            row = self._row_of(canary_id)
            if row is not None:
                self._removed[row] = 1
                self._removed_count += 1
                removed += 1
        if removed:
            self.generation += 1
        return removed

    def removed(self, row: int) -> bool:
        return bool(self._removed[row])

    def __contains__(self, canary_id: object) -> bool:
        return isinstance(canary_id, uuid.UUID) and self._row_of(canary_id) is not None

    def _row_of(self, canary_id: uuid.UUID) -> int | None:
        wanted = canary_id.bytes
        for row in self._lookup(key_hash(_id_key(canary_id))):
            if not self._removed[row] and self._ids[row * 16 : row * 16 + 16] == wanted:
                return row
        return None

    def merge(self) -> None:
        """Fold pending keys into a sorted run, then merge the newest runs while they are
        of like size (a binary counter: each key is merged O(log n) times in all)."""
        if not self._pending:
            return
        pairs = sorted((h, r) for h, rows in self._pending.items() for r in rows)
        runs = [*self._keys, _run_of(pairs)]
        while len(runs) > 1 and len(runs[-2].hashes) < _RUNS_APART * len(runs[-1].hashes):
            newer, older = runs.pop(), runs.pop()
            runs.append(_merged(older, newer))
        # The runs first, then a fresh pending map (never the old one cleared): a lookup
        # reads pending before the runs (_lookup), so it sees each key at least once.
        self._keys = tuple(runs)
        self._pending = defaultdict(list)

    def settle(self) -> KeyRun:
        """Every key in one sorted run (pending ones folded in), as a compacted key table
        keeps it; the smallest runs are merged first."""
        self.merge()
        runs = sorted(self._keys, key=lambda run: len(run.hashes))
        while len(runs) > 1:
            small, other = runs.pop(0), runs.pop(0)
            runs.append(_merged(other, small))
            runs.sort(key=lambda run: len(run.hashes))
        run = runs[0] if runs else KeyRun(array("q"), array("I"))
        self._keys = (run,) if runs else ()
        return run

    def run_count(self) -> int:
        return len(self._keys)

    def candidates(self, observed: Observed) -> list[IndexedCanary]:
        rows: set[int] = set()
        for key in observed_keys(observed):
            rows.update(self._lookup(key_hash(key)))
        return [self._unpack(row) for row in sorted(rows) if not self._removed[row]]

    def canary(self, row: int) -> IndexedCanary:
        return self._unpack(row)

    def fingerprint(self, rows: int) -> bytes:
        """A digest of the ids of the first `rows` rows, in order: what is derived from those
        rows and kept elsewhere (canaries.columnar's columns) belongs to this index when it
        carries the same digest, as a canary's record never changes."""
        return blake2b(memoryview(self._ids)[: rows * 16], digest_size=16).digest()

    def records(self, start: int = 0) -> list[bytes]:
        """Packed records from row `start` on, for bulk readers (canaries.columnar)."""
        return self._records[start:]

    def nbytes(self) -> int:
        """Bytes held by the index's own structures (records, ids, keys, anchors)."""
        from sys import getsizeof

        total = getsizeof(self._records) + sum(getsizeof(r) for r in self._records)
        total += getsizeof(self._ids) + getsizeof(self._removed)
        for run in self._keys:
            total += sum(a.buffer_info()[1] * a.itemsize for a in (run.hashes, run.rows))
        for anchor in self.anchors.sets():
            total += getsizeof(anchor) + sum(getsizeof(a) for a in anchor)
        return total

    # -- bulk form, for canaries.keytable ---------------------------------------------------

    def export_all(self) -> RowsExport:
        """Every row with every key in one run: what a compacted key table holds."""
        return RowsExport(
            first_row=0,
            ids=bytes(self._ids),
            records=list(self._records),
            run=self.settle(),
            anchors={kind: "\n".join(self.anchors._built(kind)) for kind in ANCHOR_KINDS},
        )

    def removed_ids(self) -> list[uuid.UUID]:
        return [
            uuid.UUID(bytes=bytes(self._ids[row * 16 : row * 16 + 16]))
            for row, flag in enumerate(self._removed)
            if flag
        ]

    def import_rows(self, rows: RowsExport) -> None:
        """Append rows exported by an index (a key table's): no record is parsed again."""
        if rows.first_row != len(self._records):
            raise ValueError(f"rows start at {rows.first_row}, the index holds {self.rows}")
        self._records.extend(rows.records)
        self._ids += rows.ids
        self._removed += bytes(len(rows.records))
        if len(rows.run.hashes):
            self._keys = (*self._keys, rows.run)
        self.anchors.add_runs(rows.anchors)
        self.generation += 1

    # -- internals ------------------------------------------------------------------------

    def _lookup(self, key_hash: int) -> Iterator[int]:
        pending = self._pending.get(key_hash, ())  # before the runs: see merge
        for run in self._keys:
            start = bisect_left(run.hashes, key_hash)
            end = bisect_right(run.hashes, key_hash, lo=start)
            yield from run.rows[start:end]
        yield from pending

    @staticmethod
    def _indexed(entry: IndexEntry) -> IndexedCanary:
        shown = normalise_mobile(entry.mobile)
        return IndexedCanary(
            id=entry.id.bytes,
            waybill_no=normalise_waybill(entry.waybill_no),
            name=entry.name,
            mobile=shown,
            mobile_number=_mobile_number(entry, shown),
            district_code=entry.district_code,
            street=normalise_street(entry.address)[0],
            control=entry.control,
        )

    @staticmethod
    def _pack(canary: IndexedCanary) -> bytes:
        fields = (
            canary.waybill_no,
            canary.name,
            canary.mobile,
            canary.mobile_number,
            canary.district_code,
            canary.street,
            "1" if canary.control else "",
        )
        return _SEP.join(fields).encode()

    def _unpack(self, row: int) -> IndexedCanary:
        waybill, name, mobile, number, district, street, control = (
            self._records[row].decode().split(_SEP)
        )
        return IndexedCanary(
            id=bytes(self._ids[row * 16 : row * 16 + 16]),
            waybill_no=waybill,
            name=name,
            mobile=mobile,
            mobile_number=number,
            district_code=district,
            street=street,
            control=bool(control),
        )


def _all_keys(canary: IndexedCanary) -> Iterator[str]:
    yield _id_key(uuid.UUID(bytes=canary.id))
    yield from _keys(canary)


def _run_of(pairs: list[tuple[int, int]]) -> KeyRun:
    return KeyRun(array("q", (h for h, _ in pairs)), array("I", (r for _, r in pairs)))


def _merged(big: KeyRun, small: KeyRun) -> KeyRun:
    """One sorted run of two. A much smaller run is spliced into the big one (a bisect per
    small key, the big one copied slice by slice in C); runs of like size are sorted."""
    if len(small.hashes) * 8 > len(big.hashes):
        pairs = list(zip(big.hashes, big.rows, strict=True))
        pairs += zip(small.hashes, small.rows, strict=True)
        pairs.sort()
        return _run_of(pairs)
    hashes, rows = array("q"), array("I")
    at = 0
    for key, row in zip(small.hashes, small.rows, strict=True):
        cut = bisect_right(big.hashes, key, lo=at)
        hashes += big.hashes[at:cut]
        rows += big.rows[at:cut]
        hashes.append(key)
        rows.append(row)
        at = cut
    hashes += big.hashes[at:]
    rows += big.rows[at:]
    return KeyRun(hashes, rows)


def entry_of(canary: MintedCanary, canary_id: uuid.UUID) -> IndexEntry:
    """The index entry of a freshly minted canary (the app builds them from stored rows)."""
    return IndexEntry(
        id=canary_id,
        waybill_no=canary.waybill_no,
        name=canary.name,
        mobile=canary.mobile,
        mobile_secret=canary.mobile_secret,
        mobile_form=canary.mobile_form.value,
        district_code=canary.district_code,
        address=canary.address,
        control=canary.control,
    )
