"""A reference sample of real waybill records, for the realism audit to compare canaries with.

The sample holds real people's data: it is read once, as a stream, and turned into
normalised records the caller keeps in memory only as long as the audit runs. Nothing here
writes, caches or logs a row. Exports come in many shapes (UTF-8 with or without BOM,
GB18030 from Excel, Chinese or English headers, masked fields such as `138****5678` and
`张*伟`, missing columns), so every field is optional and a masked character counts as
unknown, never as a value.
"""

import codecs
import csv
import itertools
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, BinaryIO

from canaries.addresses import area_class, county_towns, county_village_share, fit_town_power
from canaries.couriers import Courier
from canaries.divisions import Level, division_table
from canaries.headers import COURIER_NAMES, HEADER_SYNONYMS
from canaries.items import CHINA_STANDARD_TIME
from canaries.mint import MintedCanary
from canaries.mobiles import normalise_mobile
from canaries.names import normalise_name
from canaries.places import parse_address
from canaries.splice import field_of
from canaries.style import StyleLearner, StyleProfile, default_style
from canaries.waybills import couriers_for, normalise_waybill

_FIELD_BY_HEADER = {header: field for field, names in HEADER_SYNONYMS.items() for header in names}
MASK = "*"
_MASK_CHARS = str.maketrans({"＊": MASK, "×": MASK, "●": MASK, "•": MASK})
_MOBILE_SHOWN = re.compile(r"1[3-9]\d[\d*]{4,}\d{0,4}(?:转\d+)?")
_HEADER_NOISE = re.compile(r"[\s\ufeff\"']|[(（\[【].*?[)）\]】]")
_WEIGHT = re.compile(r"(\d+(?:\.\d+)?)\s*(kg|公斤|千克|g|克|斤)?", re.IGNORECASE)
_DATE_TIME = re.compile(
    r"(\d{4})\D{1,2}(\d{1,2})\D{1,2}(\d{1,2})日?"
    r"(?:[T\s]*(\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2}))?)?"
)
_UTF8_BOM = b"\xef\xbb\xbf"
_GB18030_BOM = b"\x84\x31\x95\x33"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class ReferenceSampleError(ValueError):
    """The reference sample cannot be read as waybill records."""


@dataclass(frozen=True, slots=True)
class ReferenceRecord:
    """One waybill record, normalised; None means the sample does not say.

    `province`, `city` and `district` are "" when the sample has the column (or names the
    division in the address) but the value is empty, so "no district" stays a fact.
    """

    name: str | None = None
    mobile: str | None = None  # digits, `*` for each masked digit
    province: str | None = None
    city: str | None = None
    district: str | None = None
    address: str | None = None  # the street-level part
    item: str | None = None
    weight_kg: float | None = None
    created_at: datetime | None = None  # China Standard Time
    waybill_no: str | None = None
    courier: Courier | None = None


def reference_from_canary(canary: MintedCanary) -> ReferenceRecord:
    """A canary as a buyer sees it: the display mobile, never the hidden middle."""
    return ReferenceRecord(
        name=canary.name,
        mobile=canary.mobile,
        province=canary.province,
        city=canary.city,
        district=canary.district,
        address=canary.address,
        item=canary.item,
        weight_kg=canary.weight_kg,
        created_at=canary.created_at,
        waybill_no=canary.waybill_no,
        courier=canary.courier,
    )


Source = str | os.PathLike[str] | BinaryIO


def read_reference(
    source: Source, columns: Mapping[str, str] | None = None
) -> Iterator[ReferenceRecord]:
    """Stream normalised records from a CSV (or tab-separated) export or NDJSON, row by row.

    `columns` names the field of headers (or keys) the reader's own synonyms do not know,
    as a caller that looked at the cells found them (`watchers.columns` does it by content).
    """
    for cells in read_cells(source, columns):
        yield _record(cells)


def read_cells(
    source: Source, columns: Mapping[str, str] | None = None
) -> Iterator[dict[str, str]]:
    """The raw cells of each record by field, as the export writes them (the address with
    whatever divisions it repeats): what a style is learned from."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as stream:
            yield from _cells(_decoded_lines(stream), columns)
    else:
        yield from _cells(_decoded_lines(source), columns)


def header_rows(source: Source, rows: int) -> list[list[str]]:
    """The first `rows` rows of a CSV export as cells (header first), or the first records'
    keys and values of NDJSON as two-row tables: for a caller that guesses fields by
    content. Read and dropped; nothing is kept."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as stream:
            return _first_rows(_decoded_lines(stream), rows)
    return _first_rows(_decoded_lines(source), rows)


def _first_rows(lines: Iterator[str], rows: int) -> list[list[str]]:
    first = next(lines, None)
    if first is None or first.lstrip().startswith("{"):
        return []
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    return list(
        itertools.islice(csv.reader(itertools.chain([first], lines), delimiter=delimiter), rows)
    )


def style_of(source: Source, columns: Mapping[str, str] | None = None) -> StyleProfile:
    """The style a link's sample shows: statistics only, each record dropped once counted."""
    learner = StyleLearner(county_towns)
    for cells in read_cells(source, columns):
        address = cells.get("address")
        place = parse_address(
            address, cells.get("province"), cells.get("city"), cells.get("district")
        ).place
        learner.add(
            county=place.county or None,
            name=cells.get("name"),
            mobile=cells.get("mobile"),
            address=cells.get("address"),
            item=cells.get("item"),
            weight_kg=_weight(cells.get("weight")),
            created_at=_created_at(cells.get("created_at")),
        )
    power = fit_town_power(learner.town_mentions)
    if power is None:
        power = default_style().town_power
    return learner.profile(
        lambda county: area_class(county, power),
        power,
        lambda county: county_village_share(county, power),
    )


def _decoded_lines(stream: Iterable[bytes]) -> Iterator[str]:
    """Lines decoded as UTF-8 until a line proves the file is GB18030.

    Splitting bytes at b"\\n" is safe in both encodings (no GB18030 multi-byte sequence
    contains 0x0A), so the encoding can be settled while streaming.
    """
    encoding: str | None = None
    chunks = iter(stream)
    for number, raw in enumerate(chunks, start=1):
        if number == 1:
            if raw.startswith(_UTF16_BOMS):
                # Excel's "Unicode text": UTF-16, where b"\n" may be half a character.
                yield from _utf16_lines(itertools.chain([raw], chunks))
                return
            if raw.startswith(_UTF8_BOM):
                raw, encoding = raw[len(_UTF8_BOM) :], "utf-8"
            elif raw.startswith(_GB18030_BOM):
                raw, encoding = raw[len(_GB18030_BOM) :], "gb18030"
        if encoding is None and not raw.isascii():
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                encoding = "gb18030"
            else:
                encoding = "utf-8"
        try:
            yield raw.decode(encoding or "ascii")
        except UnicodeDecodeError:
            raise ReferenceSampleError(f"line {number} is not valid {encoding}") from None


def _utf16_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-16")()
    pending = ""
    try:
        for chunk in chunks:
            pending += decoder.decode(chunk)
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line + "\n"
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ReferenceSampleError("the file is not valid UTF-16") from None
    if pending:
        yield pending


def _header_field(header: str, columns: Mapping[str, str] | None = None) -> str | None:
    if columns is not None and header in columns:
        return _READER_FIELD.get(columns[header], columns[header])
    found = _FIELD_BY_HEADER.get(_HEADER_NOISE.sub("", header).lower())
    if found is None:
        # Compound export headers (收货客户名称, 目的站：省) and API keys (receiverMobile).
        spliced = field_of(header)
        found = _READER_FIELD.get(spliced, spliced) if spliced else None
    return found


# The splicer's field names that the reader calls otherwise.
_READER_FIELD = {"weight_kg": "weight", "full_address": "address"}


def _cells(lines: Iterator[str], columns: Mapping[str, str] | None) -> Iterator[dict[str, str]]:
    first = next(lines, None)
    if first is None:
        return
    if first.lstrip().startswith("{"):
        yield from _json_cells(itertools.chain([first], lines), columns)
        return
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    rows = csv.reader(itertools.chain([first], lines), delimiter=delimiter)
    found: dict[str, int] = {}
    for index, header in enumerate(next(rows)):
        field = _header_field(header, columns)
        if field is not None and field not in found:
            found[field] = index
    if not found:
        raise ReferenceSampleError("no column header names a waybill field")
    for row in rows:
        if any(cell.strip() for cell in row):
            yield {field: row[i] if i < len(row) else "" for field, i in found.items()}


def _json_cells(
    lines: Iterable[str], columns: Mapping[str, str] | None
) -> Iterator[dict[str, str]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise ReferenceSampleError(f"line {number} is not a JSON object") from None
        if not isinstance(record, dict):
            raise ReferenceSampleError(f"line {number} is not a JSON object")
        cells: dict[str, str] = {}
        for key, value in _json_leaves(record):
            field = _header_field(key, columns)
            if field is not None and field not in cells and value is not None:
                cells[field] = str(value)
        if number == 1 and not cells:
            raise ReferenceSampleError("no key names a waybill field")
        yield cells


def _json_leaves(record: Mapping[str, Any]) -> Iterator[tuple[str, object]]:
    for key, value in record.items():
        if isinstance(value, dict):
            yield from _json_leaves(value)
        else:
            yield key, value


def _record(cells: dict[str, str]) -> ReferenceRecord:
    def text(field: str) -> str | None:
        value = cells.get(field)
        return None if value is None else value.strip().translate(_MASK_CHARS)

    province, city, district = text("province"), text("city"), text("district")
    address = text("address")
    if address is not None:
        address, found = _street_part(address, [p for p in (province, city, district) if p])
        province, city, district = _fill_divisions(province, city, district, found)
    waybill = text("waybill_no")
    waybill_no = normalise_waybill(waybill) if waybill else None
    return ReferenceRecord(
        name=normalise_name(text("name") or "") or None,
        mobile=_mobile(text("mobile")),
        province=province,
        city=city,
        district=district,
        address=address or None,
        item=text("item") or None,
        weight_kg=_weight(text("weight")),
        created_at=_created_at(text("created_at")),
        waybill_no=waybill_no,
        courier=_courier(text("courier"), waybill_no),
    )


@cache
def _division_levels() -> dict[str, Level]:
    levels: dict[str, Level] = {}
    for division in division_table().all():
        levels.setdefault(division.name, division.level)
    return levels


def _street_part(address: str, given: list[str]) -> tuple[str, dict[Level, str]]:
    """The address without the division names it starts with, and those names by level."""
    for name in given:
        address = address.removeprefix(name).lstrip()
    levels = _division_levels()
    found: dict[Level, str] = {}
    for _ in range(3):
        # A bare two-character name (东区, 城区) starts many compound addresses; only after a
        # division above it is it read as a division.
        shortest = 2 if found else 3
        for length in range(min(len(address), 12), shortest - 1, -1):
            level = levels.get(address[:length])
            if level is not None:
                found[level] = address[:length]
                address = address[length:].lstrip()
                break
        else:
            break
    return address, found


def _fill_divisions(
    province: str | None, city: str | None, district: str | None, found: dict[Level, str]
) -> tuple[str | None, str | None, str | None]:
    if not found:
        return province, city, district
    province = province or found.get(Level.PROVINCE, "")
    city = city or found.get(Level.PREFECTURE, "")
    district = district or found.get(Level.COUNTY, "")
    return province, city, district


def _mobile(value: str | None) -> str | None:
    if not value:
        return None
    number = normalise_mobile(value)
    return number if _MOBILE_SHOWN.fullmatch(number) else None


def _weight(value: str | None) -> float | None:
    match = _WEIGHT.search(value or "")
    if match is None:
        return None
    amount, unit = float(match.group(1)), (match.group(2) or "kg").lower()
    if unit in ("g", "克"):
        return amount / 1000
    return amount / 2 if unit == "斤" else amount


def _created_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        match = _DATE_TIME.match(value)
        if match is None:
            return None
        year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
        try:
            moment = datetime(year, month, day, hour, minute, second)
        except ValueError:
            return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=CHINA_STANDARD_TIME)
    return moment.astimezone(CHINA_STANDARD_TIME)


def _courier(value: str | None, waybill_no: str | None) -> Courier | None:
    if value:
        lowered = value.lower()
        for courier, names in COURIER_NAMES.items():
            if any(name in lowered for name in names):
                return courier
    if waybill_no:
        candidates = couriers_for(waybill_no)
        if len(candidates) == 1:
            return candidates[0]
    return None
