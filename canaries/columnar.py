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
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

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


# Anchors are held as 64-bit hashes of their text: a membership test then hashes the cells
# (cheap) and probes a set of integers that Polars builds in milliseconds, where a set of
# strings took a third of a second a block at a million canaries. A collision only adds a
# candidate.
_SEED = 0x6874


def _hashes(values: pl.Series) -> pl.Series:
    return values.hash(seed=_SEED).unique()


def hashed_in(cell: pl.Expr, hashes: pl.Series) -> pl.Expr:
    return cell.hash(seed=_SEED).is_in(hashes.implode())


@dataclass(frozen=True)
class CanaryColumns:
    """The index's canaries as columns, and its anchors as hash sets (see `hashed_in`)."""

    canaries: pl.DataFrame  # row, name, mobile_key, first, last, street_start
    waybills: pl.Series
    waybill_forms: pl.Series  # as they stand in a list: upper and lower case
    mobile_forms: pl.Series  # masked with *, x or X, and the full number
    composites: pl.Series  # name_mobiles, surname_mobiles and bare mobile keys
    mobile_keys: pl.Series
    names: pl.Series
    name_list: list[str]  # for the automaton over free text (canaries.freetext)


_CACHE: weakref.WeakKeyDictionary[CanaryIndex, tuple[int, CanaryColumns]] = (
    weakref.WeakKeyDictionary()
)


def canary_columns(index: CanaryIndex) -> CanaryColumns:
    """Built once per change of the index, from its packed records and with no Python code
    per canary: the anchors are derived here as canaries.index.anchors_of derives them."""
    cached = _CACHE.get(index)
    if cached is not None and cached[0] == index.generation:
        return cached[1]
    records = pl.Series("record", index.records(), dtype=pl.Binary).cast(pl.String)
    fields = records.str.split_exact("\x1f", 6).struct.rename_fields(
        ["waybill", "name", "mobile", "number", "district", "street", "control"]
    )
    waybills = fields.struct.field("waybill")
    number = fields.struct.field("number")
    name = fields.struct.field("name")
    street = fields.struct.field("street")
    key = number.str.slice(0, 3) + number.str.slice(7, 4)
    first, last = name.str.slice(0, 1), name.str.slice(-1, 1)
    canaries = pl.DataFrame(
        {
            "row": pl.int_range(0, len(records), dtype=pl.UInt32, eager=True),
            "name": name,
            "mobile_key": key,
            "first": first,
            "last": last,
            "street_start": street.str.slice(0, _STREET_START),
        }
    )
    keyed = number.str.contains(r"^1[3-9][0-9][0-9*]{4}[0-9]{4}$")
    mobile_keys = key.filter(keyed)
    names = name.filter(name.str.len_chars() >= ANCHOR_NAME_LENGTH).unique()
    masked = number.str.slice(0, 3) + "****" + number.str.slice(7, 4)
    mobile_forms = pl.concat(
        [
            fields.struct.field("mobile"),
            masked,
            masked.str.replace_all("*", "x", literal=True),
            masked.str.replace_all("*", "X", literal=True),
            number,
        ]
    )
    columns = CanaryColumns(
        canaries=canaries,
        waybills=_hashes(waybills),
        waybill_forms=_hashes(pl.concat([waybills, waybills.str.to_lowercase()])),
        mobile_forms=_hashes(mobile_forms),
        composites=_hashes(
            pl.concat(
                [(first + last + key).filter(keyed), (first + "*" + key).filter(keyed)]
            ).append(mobile_keys)
        ),
        mobile_keys=_hashes(mobile_keys),
        names=_hashes(names),
        name_list=names.to_list(),
    )
    _CACHE[index] = (index.generation, columns)
    return columns


def clean(frame: pl.DataFrame) -> pl.DataFrame:
    """Every cell without hostile characters (see HOSTILE)."""
    return frame.with_columns(pl.all().str.replace_all(HOSTILE, ""))


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
    tests: dict[str, pl.Expr] = {}
    if waybill is not None:
        tests["waybill"] = hashed_in(waybill, columns.waybill_forms)
        tests["odd_waybill"] = (
            waybill.str.len_chars() != waybill.str.len_bytes()
        ) | waybill.str.contains_any(_WAYBILL_ODD)
    if mobile is not None:
        tests["mobile"] = hashed_in(mobile, columns.mobile_forms) | (mobile.str.len_bytes() != 11)
    # A full name (no mask) that is a canary's, or that is odd and might be one cleaned.
    full_name = None
    if name is not None:
        odd_name = (name.str.len_bytes() != name.str.len_chars() * 3) & ~name.str.contains(
            "*", literal=True
        )
        full_name = hashed_in(name, columns.names) | odd_name
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

    def subset(label: str, wanted: list[pl.Expr], test: pl.Expr) -> None:
        at = passed.get(label)
        if at:
            part = frame.select(*wanted)[at].with_columns(pl.Series("at", at))
            rows.update(part.filter(test.fill_null(False)).get_column("at").to_list())

    if waybill is not None:
        subset("odd_waybill", [waybill], hashed_in(_waybill(waybill), columns.waybills))
    if mobile is not None:
        key = _mobile_key(mobile)
        if name is not None:
            clean_name = _name(name).fill_null("")
            initials = pl.when(clean_name.str.contains(_NAME_CELL)).then(
                clean_name.str.slice(0, 1) + clean_name.str.slice(-1, 1)
            )
            hit = hashed_in(initials.otherwise(pl.lit("")) + key, columns.composites)
            subset("mobile", [name, mobile], hit)
        else:
            subset("mobile", [mobile], hashed_in(key, columns.mobile_keys))
    if name is not None:
        subset("name", [name], hashed_in(_name(name), columns.names))
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
