"""The in-memory canary index: millions of canaries, blocked on exact fragments.

Memory matters more than anything here (every API process and worker holds the index), so
a canary is one packed UTF-8 record in a list, its id 16 bytes in one bytearray, and each
blocking key a 64-bit hash in a sorted `array` beside the row it points to. Lookups bisect.
New canaries go to a small dict first and are merged into the arrays in bulk. Hash
collisions only add candidates: scoring compares the real fields.

Blocking keys (a record is scored against a canary only if they share one): the waybill
number, the full mobile, the mobile's first three + last four digits, the full name, the
name + county, and the surname + county + the street's first four characters. The anchor
sets hold the fragments a scanner can find in raw text before parsing a row.
"""

import uuid
from array import array
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from canaries.mint import Canary as MintedCanary
from canaries.mobiles import mobile_key, normalise_mobile
from canaries.names import MASK, split_name
from canaries.places import normalise_street
from canaries.scoring import IndexedCanary, Observed
from canaries.waybills import normalise_waybill

_SEP = "\x1f"
_MERGE_AT = 65_536
_STREET_KEY_CHARS = 4
ANCHOR_NAME_LENGTH = 3


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """A stored canary as the index takes it."""

    id: uuid.UUID
    waybill_no: str
    name: str
    mobile: str
    mobile_secret: str | None
    mobile_form: str
    district_code: str
    address: str
    control: bool


class Anchors:
    """Fragments every matchable record shows one of, for a scanner's prefilter.

    Two sets are always held: waybill numbers, and a name's first and last characters with
    the mobile's first three and last four digits (`王辉1385678`: what a masked row
    `王*辉,138****5678` shows). The others are built the first time a scan needs them
    (free text, a table without a name column, names masked down to the surname) and then
    kept up to date: a process that never scans such files never pays for them.
    """

    def __init__(self, canaries: Callable[[], Iterator[IndexedCanary]]) -> None:
        self.waybills: set[str] = set()
        self.name_mobiles: set[str] = set()
        self._canaries = canaries
        self._lazy: dict[str, set[str]] = {}

    @property
    def mobile_keys(self) -> set[str]:
        """First three + last four digits of each canary's mobile."""
        return self._built("mobile_keys")

    @property
    def surname_mobiles(self) -> set[str]:
        """The name's first character, `*` and the mobile key, for names shown as `王**`."""
        return self._built("surname_mobiles")

    @property
    def names(self) -> set[str]:
        """Full names of three or more characters. A two-character name (张伟) is shared by
        so many people that it would let most rows through; it only supports a match."""
        return self._built("names")

    def add(self, canary: IndexedCanary) -> None:
        self.waybills.add(canary.waybill_no)
        key = mobile_key(canary.mobile_number)
        if key is not None:
            self.name_mobiles.add(canary.name[0] + canary.name[-1] + key)
        for kind, anchors in self._lazy.items():
            anchors.update(_lazy_anchors(kind, canary))

    def sets(self) -> list[set[str]]:
        return [self.waybills, self.name_mobiles, *self._lazy.values()]

    def _built(self, kind: str) -> set[str]:
        anchors = self._lazy.get(kind)
        if anchors is None:
            anchors = set()
            for canary in self._canaries():
                anchors.update(_lazy_anchors(kind, canary))
            self._lazy[kind] = anchors
        return anchors


def _lazy_anchors(kind: str, canary: IndexedCanary) -> Iterator[str]:
    if kind == "names":
        if len(canary.name) >= ANCHOR_NAME_LENGTH:
            yield canary.name
        return
    key = mobile_key(canary.mobile_number)
    if key is not None:
        yield key if kind == "mobile_keys" else canary.name[0] + MASK + key


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
    if observed.name and county:
        if "*" not in observed.name:
            yield "n" + observed.name + _SEP + county
        if observed.street and len(observed.street) >= _STREET_KEY_CHARS:
            surname = split_name(observed.name.replace("*", "?"))[0]
            street = observed.street[:_STREET_KEY_CHARS]
            yield "s" + surname + _SEP + county + _SEP + street


class CanaryIndex:
    def __init__(self) -> None:
        self._records: list[bytes] = []
        self._ids = bytearray()
        self._removed = bytearray()
        self._removed_count = 0
        # (hashes, rows) swapped as one tuple, so a scan reading while a refresh merges sees
        # the old pair or the new one, never a mix.
        self._keys: tuple[array[int], array[int]] = (array("q"), array("I"))
        self._pending: dict[int, list[int]] = defaultdict(list)
        self.anchors = Anchors(self._live)

    @property
    def rows(self) -> int:
        """Canaries ever added, removed ones included."""
        return len(self._records)

    def __len__(self) -> int:
        return len(self._records) - self._removed_count

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
            self._pending[hash(_id_key(entry.id))].append(row)
            for blocking_key in _keys(canary):
                self._pending[hash(blocking_key)].append(row)
            self.anchors.add(canary)
            added += 1
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
        return removed

    def __contains__(self, canary_id: object) -> bool:
        return isinstance(canary_id, uuid.UUID) and self._row_of(canary_id) is not None

    def _row_of(self, canary_id: uuid.UUID) -> int | None:
        wanted = canary_id.bytes
        for row in self._lookup(hash(_id_key(canary_id))):
            if not self._removed[row] and self._ids[row * 16 : row * 16 + 16] == wanted:
                return row
        return None

    def merge(self) -> None:
        """Fold pending keys into the sorted arrays (a linear merge, done in bulk)."""
        if not self._pending:
            return
        pairs = sorted(
            [(h, r) for h, rows in self._pending.items() for r in rows]
            + list(zip(*self._keys, strict=True))
        )
        # The sorted keys first, then a fresh pending map (never the old one cleared): a
        # lookup reads pending before keys (_lookup), so it sees each key at least once.
        self._keys = (array("q", (h for h, _ in pairs)), array("I", (r for _, r in pairs)))
        self._pending = defaultdict(list)

    def candidates(self, observed: Observed) -> list[IndexedCanary]:
        rows: set[int] = set()
        for key in observed_keys(observed):
            rows.update(self._lookup(hash(key)))
        return [self._unpack(row) for row in sorted(rows) if not self._removed[row]]

    def nbytes(self) -> int:
        """Bytes held by the index's own structures (records, ids, keys, anchors)."""
        from sys import getsizeof

        total = getsizeof(self._records) + sum(getsizeof(r) for r in self._records)
        total += getsizeof(self._ids) + getsizeof(self._removed)
        total += sum(a.buffer_info()[1] * a.itemsize for a in self._keys)
        for anchor in self.anchors.sets():
            total += getsizeof(anchor) + sum(getsizeof(a) for a in anchor)
        return total

    def _lookup(self, key_hash: int) -> Iterator[int]:
        pending = self._pending.get(key_hash, ())  # before the keys: see merge
        hashes, rows = self._keys
        start = bisect_left(hashes, key_hash)
        end = bisect_right(hashes, key_hash, lo=start)
        yield from rows[start:end]
        yield from pending

    def _live(self) -> Iterator[IndexedCanary]:
        for row in range(len(self._records)):
            if not self._removed[row]:
                yield self._unpack(row)

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
