"""The columnar kernels of matching: blocking fragments derived as Polars expressions over
whole blocks and joined against the canaries' keys, so Python only looks at the few rows
they return (see canaries.matching, which scores those rows in full).

Polars is imported here and in canaries.freetext only: a process that never scans a block
(one answering `--help`, or screening orders) never loads it.

A row is a candidate when it shows a canary's waybill number, its mobile key (the first
three and last four digits) together with the name's first and last characters (or the
surname and a mask, or no name at all), a canary's full name in a table that has no waybill
or mobile column, or a canary's full name with its street's first characters in the address
(a brusher's row, with a phone of its own); free text has a kernel of its own
(canaries.freetext). Every candidate is then normalised and scored by the Python code as
before, so these kernels need only be generous, never exact.

The canaries' columns and anchors are derived from the index once, then only for the rows
appended since, and kept in a file beside the key table (`<key table>.columns`), which the
next process loads instead of deriving them again: at 1,000,000 canaries that is 0.2 s in
place of 4 s of CPU. The file carries the digest of the ids it was derived from and how it
was hashed, and is used only by an index that holds those ids in that order and hashes the
same way; anything else is derived again and the file replaced.
"""

from __future__ import annotations

import io
import json
import mmap
import os
import struct
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import polars as pl

from canaries.hostile import HOSTILE
from canaries.index import ANCHOR_NAME_LENGTH, CanaryIndex

_CJK = "\u3400-\u9fff"
_NAME_CELL = rf"^[{_CJK}*]+$"
_NAME_NOISE = r"[\s\u3000·•・.]"
_NAME_MASKS = r"[＊×●•○?？]"
FULL_WIDTH = [chr(c) for c in range(0xFF10, 0xFF1A)] + [chr(c) for c in range(0xFF21, 0xFF3B)]
HALF_WIDTH = [chr(c) for c in range(0x30, 0x3A)] + [chr(c) for c in range(0x41, 0x5B)]
_MOBILE_NOISE = r"[\s\-()（）]"
_MOBILE_MASKS = r"[＊xX×•●]"
_WAYBILL_NOISE = r"[\s\-_/]"
_WAYBILL_ODD = [" ", "-", "_", "/", *map(chr, range(32)), "\x7f"]
_JD_PARCEL_SUFFIX = r"-\d{1,3}-\d{1,3}-?$"
TEXT_CLEAN = r"[\s\u3000,，.。;；:：()（）\[\]【】\"'#\-—_/\\|]"
_STREET_START = 4


# Anchors are held as 64-bit hashes of their text, sorted (a set of the strings took a
# third of a second a block at a million canaries): a membership test hashes the cells
# (cheap) and either probes a hash set Polars builds of the anchors, or, for a block much
# smaller than the anchors (a one-row file against a million canaries), looks each cell's
# hash up by binary search, as building that set costs a quarter of a second at five
# million hashes whatever the block. A collision only adds a candidate.
_SEED = 0x6874
_SEARCH_SHARE = 16  # a block this many times smaller than the anchors is searched


def _hash(values: pl.Expr) -> pl.Expr:
    return values.hash(seed=_SEED)


def hashed_in(cell: pl.Expr, hashes: pl.Series, rows: int | None = None) -> pl.Expr:
    """Whether the cell's hash is one of `hashes` (sorted); `rows`, the block's height, lets
    a small block be searched instead (see above)."""
    hashed = _hash(cell)
    if rows is None or rows * _SEARCH_SHARE >= len(hashes):
        return hashed.is_in(hashes.implode())
    at = pl.lit(hashes).search_sorted(hashed).clip(upper_bound=len(hashes) - 1)
    return pl.lit(hashes).gather(at) == hashed


# The forms each kind of anchor takes, by the hash columns `_derive` makes of them.
_KINDS = {
    "waybills": ["waybill"],
    "waybill_forms": ["waybill", "waybill_lower"],  # as they stand in a list: either case
    "mobile_forms": ["mobile", "masked", "masked_x", "masked_upper_x", "number"],
    "composites": ["name_key", "surname_key", "key"],  # name_mobiles, surname_mobiles, keys
    "mobile_keys": ["key"],
    "names": ["full_name"],
}
_FIELDS = ["row", "name", "mobile_key", "first", "last", "street_start"]


class CanaryColumns:
    """The index's canaries as columns, and its anchors as sorted hashes by kind (see
    `hashed_in`). The canaries' columns may come later, from a kept file (see `_load`):
    only free text and a brusher's rows read them."""

    def __init__(
        self,
        canaries: pl.DataFrame | Callable[[], pl.DataFrame],
        rows: int,
        anchors: dict[str, pl.Series],  # by the kinds of _KINDS
    ) -> None:
        self._canaries = canaries
        self.rows = rows
        self.anchors = anchors

    @cached_property
    def canaries(self) -> pl.DataFrame:  # row, name, mobile_key, first, last, street_start
        canaries = self._canaries
        return canaries if isinstance(canaries, pl.DataFrame) else canaries()

    @property
    def waybills(self) -> pl.Series:
        return self.anchors["waybills"]

    @property
    def waybill_forms(self) -> pl.Series:
        return self.anchors["waybill_forms"]

    @property
    def mobile_forms(self) -> pl.Series:
        return self.anchors["mobile_forms"]

    @property
    def composites(self) -> pl.Series:
        return self.anchors["composites"]

    @property
    def mobile_keys(self) -> pl.Series:
        return self.anchors["mobile_keys"]

    @property
    def names(self) -> pl.Series:
        return self.anchors["names"]

    @cached_property
    def name_list(self) -> list[str]:
        """The full names anchored, for the automaton over free text (canaries.freetext)."""
        name = pl.col("name")
        anchored = self.canaries.lazy().filter(name.str.len_chars() >= ANCHOR_NAME_LENGTH)
        return anchored.select(name.unique()).collect().to_series().to_list()

    def extended(self, rows: pl.DataFrame) -> CanaryColumns:
        """These columns and those of the rows after them (a frame `_derive` made)."""
        canaries = pl.concat([self.canaries, rows.select(_FIELDS)])
        if canaries.n_chunks() > _CHUNKS:
            canaries = canaries.rechunk()
        anchors = {
            kind: pl.concat([held, *(rows.get_column(f"h_{form}") for form in _KINDS[kind])])
            .drop_nulls()
            .sort()
            for kind, held in self.anchors.items()
        }
        return CanaryColumns(canaries, canaries.height, anchors)


def _empty() -> CanaryColumns:
    return CanaryColumns(
        _derive([], 0).select(_FIELDS),
        0,
        {kind: pl.Series(kind, [], dtype=pl.UInt64) for kind in _KINDS},
    )


@dataclass(frozen=True)
class _Held:
    generation: int  # the index's, when `columns` were last brought up to date
    columns: CanaryColumns
    kept: int  # rows of them the store holds, as far as this process knows


_HELD: weakref.WeakKeyDictionary[CanaryIndex, _Held] = weakref.WeakKeyDictionary()
_DERIVING = threading.Lock()


def canary_columns(index: CanaryIndex, store: Path | None = None) -> CanaryColumns:
    """The index's columns, derived with no Python code per canary (the anchors as
    canaries.index.anchors_of derives them), again only for the rows added since: rows are
    only ever appended to an index, and a removal leaves them in place.

    With a `store` (a file beside the key table), a process starts from the columns another
    process kept there, when they belong to this index (see `_stamp`), and writes them
    there again once it has derived many rows more than the file holds (rewriting a
    file of a million canaries' columns costs about as much as deriving 60,000 rows).
    """
    held = _HELD.get(index)
    if held is not None and held.generation == index.generation:
        return held.columns
    with _DERIVING:  # scans in threads of one process derive (and write) once
        return _brought_up_to_date(index, store)


def _brought_up_to_date(index: CanaryIndex, store: Path | None) -> CanaryColumns:
    """Under _DERIVING. What it holds is replaced whole, never changed in place: a reader
    outside the lock sees the columns before or after, never half made."""
    generation = index.generation  # before its rows are read: a refresh may add more
    held = _HELD.get(index)
    if held is not None and held.generation == generation:
        return held.columns
    if held is None:
        loaded = _load(store, index) if store is not None else None
        columns, kept = (loaded, loaded.rows) if loaded is not None else (_empty(), 0)
    else:
        columns, kept = held.columns, held.kept
    if columns.rows < index.rows:
        columns = columns.extended(_derive(index.records(columns.rows), columns.rows))
        if store is not None and columns.rows - kept >= max(_STORE_AFTER, kept // 16):
            _keep(store, index, columns)
            kept = columns.rows
    _HELD[index] = _Held(generation, columns, kept)
    return columns


def _derive(records: list[bytes], first_row: int) -> pl.DataFrame:
    """A row per packed record (canaries.index): the fields and the hashed anchor forms."""
    fields = (
        pl.Series("record", records, dtype=pl.Binary)
        .cast(pl.String)
        .str.split_exact("\x1f", 6)
        .struct.rename_fields(
            ["waybill", "name", "mobile", "number", "district", "street", "control"]
        )
        .struct.unnest()
    )
    waybill, name, number = pl.col("waybill"), pl.col("name"), pl.col("number")
    key = number.str.slice(0, 3) + number.str.slice(7, 4)
    first, last = name.str.slice(0, 1), name.str.slice(-1, 1)
    keyed = number.str.contains(r"^1[3-9][0-9][0-9*]{4}[0-9]{4}$")
    masked = number.str.slice(0, 3) + "****" + number.str.slice(7, 4)
    return fields.select(
        pl.int_range(first_row, first_row + len(records), dtype=pl.UInt32).alias("row"),
        name,
        key.alias("mobile_key"),
        first.alias("first"),
        last.alias("last"),
        pl.col("street").str.slice(0, _STREET_START).alias("street_start"),
        _hash(waybill).alias("h_waybill"),
        pl.when(waybill.str.to_lowercase() != waybill)
        .then(_hash(waybill.str.to_lowercase()))
        .alias("h_waybill_lower"),
        _hash(pl.col("mobile")).alias("h_mobile"),
        _hash(masked).alias("h_masked"),
        _hash(masked.str.replace_all("*", "x", literal=True)).alias("h_masked_x"),
        _hash(masked.str.replace_all("*", "X", literal=True)).alias("h_masked_upper_x"),
        _hash(number).alias("h_number"),
        pl.when(keyed).then(_hash(first + last + key)).alias("h_name_key"),
        pl.when(keyed).then(_hash(first + "*" + key)).alias("h_surname_key"),
        pl.when(keyed).then(_hash(key)).alias("h_key"),
        pl.when(name.str.len_chars() >= ANCHOR_NAME_LENGTH).then(_hash(name)).alias("h_full_name"),
    )


def _mobile_key(cell: pl.Expr) -> pl.Expr:
    """First three and last four digits of the number, after canaries.mobiles'
    normalisation (an extension after the number does not move them)."""
    number = (
        cell.str.replace_all(HOSTILE, "")
        .str.strip_chars()
        .str.replace_many(FULL_WIDTH[:10], HALF_WIDTH[:10])
        .str.replace_all(_MOBILE_NOISE, "")
        .str.replace_all(_MOBILE_MASKS, "*")
        .str.replace(r"^(?:\+86|0086)", "")
        .str.replace(r"^86(1[0-9]{10})$", "${1}")
    )
    return number.str.slice(0, 3) + number.str.slice(7, 4)


def _waybill(cell: pl.Expr) -> pl.Expr:
    return (
        cell.str.replace_all(HOSTILE, "")
        .str.strip_chars()
        .str.replace_many(FULL_WIDTH, HALF_WIDTH)
        .str.replace(_JD_PARCEL_SUFFIX, "")
        .str.replace_all(_WAYBILL_NOISE, "")
        .str.to_uppercase()
    )


def _name(cell: pl.Expr) -> pl.Expr:
    return (
        cell.str.replace_all(HOSTILE, "")
        .str.replace_all(_NAME_NOISE, "")
        .str.replace_all(_NAME_MASKS, "*")
    )


def table_candidates(
    frame: pl.DataFrame, fields: tuple[str | None, ...], columns: CanaryColumns
) -> list[int]:
    """Rows of a table (String columns in the layout's order) worth scoring, in order.

    Cells are first compared as they stand with the forms a canary's fields take in a list
    (one hash lookup a cell, all columns at once); only the rows that pass, or whose cells
    are odd by a cheap test (a mobile not 11 bytes long, a waybill number with non-ASCII
    or separator characters, a name not all CJK), are gathered and normalised as
    canaries.mobiles, canaries.names and canaries.waybills do. The usual dump pays for no
    string rewriting at all.
    """
    named = {f: frame.columns[i] for i, f in enumerate(fields) if f and i < frame.width}
    waybill = pl.col(named["waybill_no"]) if "waybill_no" in named else None
    mobile = pl.col(named["mobile"]) if "mobile" in named else None
    name = pl.col(named["name"]) if "name" in named else None
    address = pl.col(named["address"]) if "address" in named else None
    height = frame.height
    tests: dict[str, pl.Expr] = {}
    if waybill is not None:
        tests["waybill"] = hashed_in(waybill, columns.waybill_forms, height)
        tests["odd_waybill"] = (
            waybill.str.len_chars() != waybill.str.len_bytes()
        ) | waybill.str.contains_any(_WAYBILL_ODD)
    if mobile is not None:
        known = hashed_in(mobile, columns.mobile_forms, height)
        tests["mobile"] = known | (mobile.str.len_bytes() != 11)
    # A full name (no mask) that is a canary's, or that is odd and might be one cleaned.
    full_name = None
    if name is not None:
        odd_name = (name.str.len_bytes() != name.str.len_chars() * 3) & ~name.str.contains(
            "*", literal=True
        )
        full_name = hashed_in(name, columns.names, height) | odd_name
    if full_name is not None and mobile is None and waybill is None:
        tests["name"] = full_name
    if full_name is not None and address is not None:
        tests["name_street"] = full_name
    if not tests:
        return []
    passed = frame.select(
        pl.arg_where(test.fill_null(False)).implode().alias(label) for label, test in tests.items()
    ).row(0, named=True)
    rows: set[int] = set(passed.get("waybill", []))

    def subset(label: str, wanted: list[pl.Expr], test: Callable[[int], pl.Expr]) -> None:
        at = passed.get(label)
        if at:
            part = frame.select(*wanted)[at].with_columns(pl.Series("at", at))
            rows.update(part.filter(test(len(at)).fill_null(False)).get_column("at").to_list())

    if waybill is not None:
        clean_waybill = _waybill(waybill)
        subset("odd_waybill", [waybill], lambda n: hashed_in(clean_waybill, columns.waybills, n))
    if mobile is not None:
        key = _mobile_key(mobile)
        if name is not None:
            clean_name = _name(name).fill_null("")
            initials = pl.when(clean_name.str.contains(_NAME_CELL)).then(
                clean_name.str.slice(0, 1) + clean_name.str.slice(-1, 1)
            )
            composite = initials.otherwise(pl.lit("")) + key
            subset("mobile", [name, mobile], lambda n: hashed_in(composite, columns.composites, n))
        else:
            subset("mobile", [mobile], lambda n: hashed_in(key, columns.mobile_keys, n))
    if name is not None:
        cleaned = _name(name)
        subset("name", [name], lambda n: hashed_in(cleaned, columns.names, n))
    if name is not None and address is not None and passed.get("name_street"):
        at = passed["name_street"]
        part = frame.select(name, address)[at].with_columns(pl.Series("at", at))
        rows.update(_name_street_rows(part, _name(name), address, columns))
    return sorted(rows)


def _name_street_rows(
    part: pl.DataFrame, name: pl.Expr, address: pl.Expr, columns: CanaryColumns
) -> list[int]:
    """Rows showing a canary's full name and its street's start in the address column."""
    named = part.select("at", name.alias("name"), address.fill_null("").alias("address"))
    joined = named.join(columns.canaries.select("name", "street_start"), on="name")
    address_text = pl.col("address").str.replace_all(TEXT_CLEAN, "")
    hits = joined.filter(address_text.str.contains(pl.col("street_start"), literal=True))
    return hits.get_column("at").unique().to_list()


class NotColumnarError(ValueError):
    """A block Polars cannot read as a table (a stray quote, a delimiter it does not take):
    the caller reads it line by line instead."""


# Columns read beyond a layout's width: a row that fills any is ragged (an unquoted
# delimiter inside a cell) and is read line by line, as its columns cannot be trusted.
_EXTRA_COLUMNS = 4


def parse_table(
    data: bytes, delimiter: str, width: int, quoting: bool = True
) -> tuple[pl.DataFrame, list[tuple[int, str]]]:
    """UTF-8 lines of a delimited table as String columns (multi-threaded), and the ragged
    rows as lines. Raises NotColumnarError when the block is no table Polars can read."""
    if len(delimiter) > 1:
        if b"\x1f" in data:
            raise NotColumnarError("the block holds the stand-in separator")
        data, delimiter = data.replace(delimiter.encode(), b"\x1f"), "\x1f"
    if not delimiter.isascii():
        raise NotColumnarError(f"delimiter {delimiter!r} is not a single byte")
    schema = {f"c{i}": pl.String for i in range(width + _EXTRA_COLUMNS)}
    quotes: list[str | None] = ['"', None] if quoting and b'"' in data else [None]
    for quote in quotes:
        try:
            frame = pl.read_csv(
                data,
                has_header=False,
                separator=delimiter,
                quote_char=quote,
                schema=schema,
                truncate_ragged_lines=True,
                missing_columns="insert",
            )
        except pl.exceptions.PolarsError:
            continue
        extra = frame.columns[width:]
        ragged = frame.select(pl.arg_where(pl.any_horizontal(pl.col(extra).is_not_null())))
        lines = [
            (row, delimiter.join(c for c in frame.row(row) if c is not None))
            for row in ragged.to_series().to_list()
        ]
        return frame.select(frame.columns[:width]), lines
    raise NotColumnarError("the block does not parse as a table")


def row_cells(frame: pl.DataFrame, row: int) -> list[str]:
    return ["" if cell is None else str(cell) for cell in frame.row(row)]


# -- kept on disk ------------------------------------------------------------------------
#
# A file of MAGIC, the stamp's length (4 bytes) and the stamp (JSON), then the frame as an
# Arrow IPC file. It is a cache: one that is missing, torn, foreign or stale is ignored and
# replaced, never trusted.

_MAGIC = b"HTCOLS\x00\x01"
_LENGTH = struct.Struct("<I")
_STORE_AFTER = 1_000  # rows derived by a process before it rewrites the file
_CHUNKS = 16  # appends a frame holds before its columns are made contiguous again


def _stamp(index: CanaryIndex, rows: int) -> dict[str, object]:
    """What kept columns of `rows` rows must carry to serve `index`: the index's ids of
    those rows (a key table rebuilt, or another database's, has other ids or another order;
    a canary's record never changes), and how this process hashes (the Polars version and a
    probe: anchors hashed otherwise would miss every cell)."""
    probe = pl.Series(["honeytrace"]).hash(seed=_SEED).item()
    return {
        "format": 1,
        "polars": pl.__version__,
        "probe": probe,
        "rows": rows,
        "ids": index.fingerprint(rows).hex(),
    }


def _load(store: Path, index: CanaryIndex) -> CanaryColumns | None:
    """The columns kept in `store`, if they belong to `index`: the anchors read now, the
    canaries' columns when first used (from the file as it was now, mapped)."""
    try:
        with store.open("rb") as file:
            mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        at = len(_MAGIC) + _LENGTH.size
        if mapped[: len(_MAGIC)] != _MAGIC:
            return None
        (length,) = _LENGTH.unpack(mapped[len(_MAGIC) : at])
        stamp = json.loads(mapped[at : at + length])
        at += length
        sizes = stamp.pop("sizes", None) if isinstance(stamp, dict) else None
        rows = stamp.get("rows") if isinstance(stamp, dict) else None
        if not isinstance(rows, int) or not 0 < rows <= index.rows:
            return None
        if stamp != _stamp(index, rows) or not isinstance(sizes, list):
            return None
        if len(sizes) != 1 + len(_KINDS) or not all(isinstance(n, int) for n in sizes):
            return None
        starts = [at + sum(sizes[:i]) for i in range(len(sizes) + 1)]
        sets = {
            kind: pl.read_ipc(mapped[start:end]).to_series()
            for kind, start, end in zip(_KINDS, starts[1:-1], starts[2:], strict=True)
        }
    except (OSError, ValueError, struct.error, pl.exceptions.PolarsError):
        return None
    if any(held.dtype != pl.UInt64 or not held.is_sorted() for held in sets.values()):
        return None  # searched by bisection (see `hashed_in`): order is part of the format
    owner = weakref.ref(index)

    def canaries() -> pl.DataFrame:
        """The kept section, or (should it not read) the same derived again."""
        schema = _empty().canaries.schema
        try:
            frame = pl.read_ipc(mapped[starts[0] : starts[1]])
            if frame.height == rows and frame.schema == schema:
                return frame
        except pl.exceptions.PolarsError:
            pass
        held = owner()
        records = held.records()[:rows] if held is not None else []
        return _derive(records, 0).select(_FIELDS)

    return CanaryColumns(canaries, rows, sets)


def _keep(store: Path, index: CanaryIndex, columns: CanaryColumns) -> None:
    """Written whole to a file of its own, then renamed over the store: a reader sees the
    old file or the new one. A store that cannot be written is left as it is."""
    frames = [columns.canaries, *(columns.anchors[kind].to_frame() for kind in _KINDS)]
    sections = [_ipc(frame) for frame in frames]
    stamp = _stamp(index, columns.rows) | {"sizes": [len(s) for s in sections]}
    encoded = json.dumps(stamp).encode()
    temporary = store.with_name(f"{store.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as file:
            file.write(_MAGIC + _LENGTH.pack(len(encoded)) + encoded)
            for section in sections:
                file.write(section)
        os.replace(temporary, store)
    except OSError:
        temporary.unlink(missing_ok=True)


def _ipc(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    return buffer.getvalue()
