"""Finding canaries in leaked text: a prefilter in C, then parsing and scoring of the few
lines it lets through.

A block of a dump (thousands of lines of one layout) is searched with a handful of regular
expressions for the fragments every matchable record shows: a canary's waybill number, a
mobile's first three and last four digits, and, where a layout has neither column or the
text is free, a canary's full name of three or more characters. Only lines holding such a
fragment are parsed into an `Observed` record and scored against the canaries that share a
blocking key with it (`canaries.index`). A record showing no waybill number, no mobile and
no long name of a canary is never looked at: it cannot carry two identifying fields.

Structured rows are read by their columns, so a field that disagrees (another mobile in
the mobile column) counts against the match. Free text (a listing page, an SMS, a call
transcript) has no columns: around each fragment, the fields are read from a window of
text, and for each candidate canary the window's token agreeing with it is taken when
there is one. That is optimistic, so free-text windows are kept short (`WINDOW_CHARS`).
"""

import csv
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from itertools import repeat
from operator import add, getitem
from typing import TYPE_CHECKING, Protocol

from canaries.divisions import Level, division_table
from canaries.hostile import HOSTILE, clean_text
from canaries.index import ANCHOR_NAME_LENGTH, CanaryIndex
from canaries.mobiles import mobile_key, normalise_mobile
from canaries.names import MASK, homophone_in, masked_name_key, name_pattern
from canaries.places import ObservedPlace, parse_address, short_forms
from canaries.scoring import THRESHOLD_BITS, Field, IndexedCanary, Match, Observed, score
from canaries.waybills import normalise_waybill

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl

WINDOW_CHARS = 80
# Blocks shorter than this are searched by regular expressions at once; longer ones go to
# the columnar kernels, whose set-up (and Polars' import) would cost more for an SMS or a
# small sample.
_COLUMNAR_TEXT_CHARS = 64 << 10
_STREET_START = 4
_KEY_FIELDS = frozenset({"waybill_no", "mobile", "name"})
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９＊", "0123456789*")
_SUSPECT = re.compile(HOSTILE[:-1] + "０-９＊]")
_TOKEN = re.compile(r"[0-9A-Za-z]{8,30}")
_MOBILE = re.compile(
    r"(?<![0-9])(?:(?:00|\+)?86[ -]?)?(1[3-9][0-9])[ -]?[0-9*xX×•●]{4}[ -]?([0-9]{4})(?![0-9])"
)
_LAST_FOUR = re.compile(r"(?<![0-9*])\*{3,8}([0-9]{4})(?![0-9])")
_CJK = "\u4e00-\u9fff"
# Cells a column check finds odd: anything but what the normal form of the field holds.
_ODD_WAYBILL = re.compile(r"[^0-9A-Z\n]")
_ODD_MOBILE = re.compile(r"[^0-9*\n]")
_ODD_NAME = re.compile(rf"[^{_CJK}*\n]|^\*", re.M)
_CLEAN = re.compile(r"[\s\u3000,，.。;；:：()（）\[\]【】\"'#\-—_/\\|]")
_STREET_MASK = re.compile(r"[*＊×●•]")
_DOUBLED_DIVISION = re.compile(rf"^\s*([{_CJK}]{{2,3}}市)\s*\1")


class LayoutLike(Protocol):
    @property
    def delimiter(self) -> str | None: ...
    @property
    def fields(self) -> tuple[str | None, ...]: ...


class TableLike(Protocol):
    """Rows of one dump member already read into String columns, in the layout's order."""

    @property
    def member(self) -> str: ...
    @property
    def first_row(self) -> int: ...
    @property
    def frame(self) -> "pl.DataFrame": ...
    @property
    def ragged(self) -> Sequence[tuple[int, str]]: ...
    @property
    def layout(self) -> LayoutLike: ...


class TextLike(Protocol):
    """Lines of free text in UTF-8, joined by newlines (see watchers.tables)."""

    @property
    def member(self) -> str: ...
    @property
    def first_row(self) -> int: ...
    @property
    def data(self) -> bytes: ...


class BlockLike(Protocol):
    """A run of complete lines of one dump member, all of one layout (see watchers.dumps)."""

    @property
    def member(self) -> str: ...
    @property
    def first_row(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def layout(self) -> LayoutLike: ...


@dataclass(frozen=True, slots=True)
class RowMatch:
    member: str
    row: int  # 1-based data row of the member
    # The matched row as it stood in the dump, kept as evidence; in free text only the
    # window around the canary, so the neighbouring records are not kept.
    line: str
    match: Match


class Matcher:
    """Scores the lines of dump blocks against an index; one per scan, not thread-safe."""

    short_text_bytes = _COLUMNAR_TEXT_CHARS  # runs of free text shorter: see `scan_text`

    def __init__(
        self,
        index: CanaryIndex,
        threshold: float = THRESHOLD_BITS,
        columns_store: "Path | None" = None,
    ) -> None:
        self.index = index
        self.threshold = threshold
        self.columns_store = columns_store  # where the index's columns are kept, if anywhere
        self.rows_scored = 0
        self._name_patterns: list[re.Pattern[str]] = []
        self._name_shape: tuple[frozenset[str], frozenset[int]] | None = None

    def scan(self, block: BlockLike) -> list[RowMatch]:
        text = block.text
        if _SUSPECT.search(text):  # one pass over the block for both, as both are rare
            text = _readable(text)
        layout = block.layout
        # A table is read by its columns only if it has a column for a name, a mobile or a
        # waybill number; anything else (one column of text, say) is read as free text.
        columns = len(layout.fields) > 1 and bool(_KEY_FIELDS & set(layout.fields))
        if not columns:
            layout = _Free()
        if len(text) < _COLUMNAR_TEXT_CHARS:
            return self._scan_lines(block.member, block.first_row, text, layout)
        if layout.delimiter is not None:
            from canaries.columnar import NotColumnarError, parse_table

            try:
                frame, ragged = parse_table(text.encode(), layout.delimiter, len(layout.fields))
            except NotColumnarError:
                return self._scan_lines(block.member, block.first_row, text, layout)
            return self.scan_table(_Table(block.member, block.first_row, frame, ragged, layout))
        # A lone surrogate (a JSON escape) cannot be UTF-8: it becomes "?", as nothing keys on it.
        return self._scan_utf8(block.member, block.first_row, text.encode(errors="replace"))

    def scan_text(self, run: TextLike) -> list[RowMatch]:
        """Free text already in UTF-8 (see canaries.freetext), a line a row. A short run
        (an SMS, a one-line file) is searched as a short block is: the free-text kernel's
        automaton of every canary's name costs seconds to build at a million canaries."""
        if len(run.data) < self.short_text_bytes:
            return self.scan(_Text(run.data.decode(errors="replace"), run.member, run.first_row))
        return self._scan_utf8(run.member, run.first_row, run.data)

    def scan_table(self, table: TableLike) -> list[RowMatch]:
        """The rows of a table already read into columns (see canaries.columnar) that match:
        candidates found by the columnar kernels, each scored in full; ragged rows are read
        line by line."""
        from canaries.columnar import canary_columns, row_cells, table_candidates

        fields = table.layout.fields
        delimiter = table.layout.delimiter or "\t"
        matches: list[RowMatch] = []
        for row in table_candidates(
            table.frame, fields, canary_columns(self.index, self.columns_store)
        ):
            cells = [clean_text(cell) for cell in row_cells(table.frame, row)]
            line = delimiter.join(cells).replace("\r", " ").replace("\n", " ")
            matches.extend(
                RowMatch(table.member, table.first_row + row, line, match)
                for match in self._best(observe_cells(fields, cells))
            )
        for row, line in table.ragged:
            matches.extend(
                self._scan_lines(table.member, table.first_row + row, _readable(line),
                                 table.layout)
            )  # fmt: skip
        return sorted(matches, key=lambda m: m.row)

    def _scan_utf8(self, member: str, first_row: int, data: bytes) -> list[RowMatch]:
        """Free text, a line a row: candidate lines found over the whole block by the
        free-text kernel, each read around its fragments as `match_text` reads a text."""
        from canaries.columnar import canary_columns
        from canaries.freetext import text_automaton, text_candidates

        lines, candidates = text_candidates(
            data, canary_columns(self.index, self.columns_store), text_automaton(self.index)
        )
        matches: list[RowMatch] = []
        for at in candidates:
            line = lines[at]
            found = self._match_text(line, self._hit_positions(line, True))
            matches.extend(
                RowMatch(member, first_row + at, excerpt, match) for excerpt, match in found
            )
        return matches

    def _scan_lines(
        self, member: str, first_row: int, text: str, layout: LayoutLike
    ) -> list[RowMatch]:
        """Lines found by regular expressions over the whole text, then parsed one by one:
        for short texts, and for blocks the columnar reader cannot take. Full names are
        looked for in tables too, for rows that show a name and address with another
        mobile (a brusher's)."""
        delimiter = layout.delimiter
        hits = self._hit_positions(text, True)
        if not hits:
            return []
        matches: list[RowMatch] = []
        for line_index, start, end, positions in _lines_of(text, hits):
            line = text[start:end]
            if delimiter is not None:
                found = [(line, m) for m in self._match_row(line, delimiter, layout.fields)]
            else:
                found = self._match_text(line, [p - start for p in positions])
            matches.extend(
                RowMatch(member, first_row + line_index, excerpt, match) for excerpt, match in found
            )
        return matches

    # -- the prefilter --------------------------------------------------------------------

    def _anchored_rows(
        self, waybills: list[str] | None, mobiles: list[str] | None, names: list[str] | None
    ) -> set[int]:
        """Rows (indexes into the columns) showing a canary's waybill number, or its mobile
        key with the name's first and last characters; C-level maps and set intersections,
        cells normalised one by one only in a column where some cell is odd."""
        anchors = self.index.anchors
        rows: set[int] = set()
        if waybills is not None:
            waybills = _normalised(waybills, _ODD_WAYBILL, normalise_waybill)
            rows.update(_indexes(waybills, set(waybills) & anchors.waybills))
        if mobiles is not None:
            mobiles = _normalised(mobiles, _ODD_MOBILE, normalise_mobile, 11)
            keys = list(map(add, _slices(mobiles, 0, 3), _slices(mobiles, 7, 11)))
            if names is not None:
                # One composite per row: the name's first and last characters and the key.
                # A name shown as 王** or 王* makes 王* + key; no name at all, the key alone.
                names = _normalised(names, _ODD_NAME, _name_cell)
                firsts = _slices(names, 0, 1)
                lasts = list(_slices(names, -1, None))
                composite = list(map(add, map(add, firsts, lasts), keys))
                found = set(composite)
                hits = found & anchors.name_mobiles
                if MASK in lasts:
                    hits |= found & anchors.surname_mobiles
                if "" in lasts:
                    hits |= found & anchors.mobile_keys
                rows.update(_indexes(composite, hits))
            else:
                rows.update(_indexes(keys, set(keys) & anchors.mobile_keys))
        return rows

    def match_records(
        self, records: Sequence[Mapping[str, str]], *, orderer_mobile: bool = False
    ) -> list[tuple[int, Match]]:
        """(index, best match) of each structured record that matches a canary: orders to
        screen, a watcher's extracted fields. Keys as in `observe_cells`'s fields.

        `orderer_mobile`: the mobile may be the orderer's own, as on a brushing order (a
        brusher holding a masked list writes the canary's full name and street with a
        phone of its own). A mobile that disagrees with a canary then counts as missing
        rather than against the match, provided no other field disagrees (a brusher copies
        the whole address: the same name and street in another county is a stranger, as
        street names repeat from city to city), and a record showing a canary's full name
        of three or more characters is scored even without its mobile or waybill number.

        What that costs in false matches: with no waybill number and no agreeing mobile, a
        record reaches THRESHOLD_BITS only with the canary's exact full name (at least
        log2(0.95 x 3000 / 0.074) = 15.3 bits, the most common surname 王 with a common
        given name), its exact street (road + number, compound + building + unit + room,
        village + group: 16.5 bits) and no field that disagrees; the county adds 10.5.
        The model bound stays 2^-32 per canary compared. Concretely, a stranger must carry
        the canary's full three-character name (about 1 person in 40,000 for the commonest
        surname, far fewer for most) and live at its exact street address (at most a few
        hundred of a county's people, about 1 in 2,800 of the country): under 1 in 10^10
        per canary, so under 1 in 10,000 orders even against 1,000,000 canaries.
        A brusher's order is found; a neighbour with the same name at another number, or
        the same name and street in another county, is not.
        """

        def column(field: str) -> list[str]:
            return [record.get(field) or "" for record in records]

        names = column("name")
        rows = self._anchored_rows(column("waybill_no"), column("mobile"), names)
        if orderer_mobile:
            full_names = set(map(_name_cell, names)) & self.index.anchors.names
            rows.update(_indexes(list(map(_name_cell, names)), full_names))
        matched: list[tuple[int, Match]] = []
        for row in sorted(rows):
            record = records[row]
            cells = [clean_text(record[field] or "") for field in record]
            observed = observe_cells(tuple(record), cells)
            matched.extend(
                (row, match) for match in self._best(observed, orderer_mobile=orderer_mobile)
            )
        return matched

    def match_combined(self, record: Mapping[str, str], text: str) -> list[Match]:
        """Matches of a record whose fields are known (the number an SMS was sent to) and
        whose text says the rest (the SMS body, a call's transcript): candidates come from
        the fields, and the text fills in what they lack, homophones of names included."""
        known = observe_cells(tuple(record), [clean_text(record[field] or "") for field in record])
        text = clean_text(text)
        matches: list[Match] = []
        for canary in self.index.candidates(known):
            said = observe_window(text, canary)
            observed = Observed(
                waybill_no=known.waybill_no or said.waybill_no,
                mobile=known.mobile or said.mobile,
                name=known.name or said.name,
                place=known.place or said.place,
                street=known.street or said.street,
                street_cut=known.street_cut if known.street else said.street_cut,
            )
            self.rows_scored += 1
            match = score(observed, canary)
            if match.score >= self.threshold:
                matches.append(match)
        return sorted(matches, key=lambda m: -m.score)

    def match_text(self, text: str) -> list[tuple[str, Match]]:
        """(excerpt, match) for each canary a free text shows: an SMS, a listing, a note."""
        return [(m.line, m.match) for m in self.scan(_Text(text))]

    def _hit_positions(self, text: str, use_names: bool) -> list[int]:
        anchors = self.index.anchors
        positions: list[int] = []
        waybills = set(_TOKEN.findall(text))
        hits = (waybills & anchors.waybills) | ({w.upper() for w in waybills} & anchors.waybills)
        for waybill in hits:
            positions.extend(_occurrences(text, waybill))
        keys = {a + b for a, b in _MOBILE.findall(text)} & anchors.mobile_keys
        if keys:
            positions.extend(
                m.start() for m in _MOBILE.finditer(text) if m.group(1) + m.group(2) in keys
            )
        if use_names and anchors.names:
            for pattern in self._names_regexes():
                for m in pattern.finditer(text):
                    if m.group(1) in anchors.names:
                        positions.append(m.start())
        return sorted(set(positions))

    def _names_regexes(self) -> list[re.Pattern[str]]:
        """Overlapping windows of each anchored name length, starting at a surname's first
        character: far fewer windows than every position, and a C loop finds them."""
        shape = self.index.anchors.name_shape()
        if shape is not self._name_shape:
            firsts, lengths = shape
            self._name_patterns = [
                re.compile(rf"(?=([{re.escape(''.join(sorted(firsts)))}][{_CJK}]{{{length - 1}}}))")
                for length in sorted(lengths)
                if length >= ANCHOR_NAME_LENGTH
            ]
            self._name_shape = shape
        return self._name_patterns

    # -- structured rows ------------------------------------------------------------------

    def _match_row(self, line: str, delimiter: str, fields: tuple[str | None, ...]) -> list[Match]:
        cells = _cells(line, delimiter)
        if len(cells) > len(fields) and "address" in fields:
            # A row with cells too many holds the delimiter unquoted, in its address most
            # often (浙江省,杭州市...): the columns around it are read from either end.
            at = fields.index("address")
            extra = len(cells) - len(fields)
            address = delimiter.join(cells[at : at + extra + 1])
            cells = [*cells[:at], address, *cells[at + extra + 1 :]]
        observed = observe_cells(fields, cells)
        return self._best(observed)

    def _best(self, observed: Observed, orderer_mobile: bool = False) -> list[Match]:
        best: Match | None = None
        for canary in self.index.candidates(observed):
            self.rows_scored += 1
            match = score(observed, canary)
            if orderer_mobile and _disagrees(match, Field.MOBILE):
                match = score(replace(observed, mobile=None), canary)
                if any(_disagrees(match, field) for field in Field):
                    continue
            if match.score >= self.threshold and (best is None or match.score > best.score):
                best = match
        return [best] if best is not None else []

    # -- free text ------------------------------------------------------------------------

    def _match_text(self, line: str, positions: list[int]) -> list[tuple[str, Match]]:
        found: dict[bytes, tuple[str, Match]] = {}
        for position in positions:
            window = line[max(0, position - WINDOW_CHARS) : position + WINDOW_CHARS]
            for canary in self._window_candidates(window):
                self.rows_scored += 1
                match = score(observe_window(window, canary), canary)
                if match.score >= self.threshold:
                    kept = found.get(canary.id)
                    if kept is None or match.score > kept[1].score:
                        found[canary.id] = (window, match)
        return sorted(found.values(), key=lambda pair: -pair[1].score)

    def _window_candidates(self, window: str) -> list[IndexedCanary]:
        anchors = self.index.anchors
        waybills, mobile_keys, names = anchors.waybills, anchors.mobile_keys, anchors.names
        seen: dict[bytes, IndexedCanary] = {}
        probes: list[Observed] = []
        for token in _TOKEN.findall(window):
            if token.upper() in waybills:
                probes.append(Observed(waybill_no=token.upper()))
        for prefix, last_four in _MOBILE.findall(window):
            if prefix + last_four in mobile_keys:
                probes.append(Observed(mobile=prefix + "****" + last_four))
        for pattern in self._names_regexes():
            probes.extend(Observed(name=name) for name in pattern.findall(window) if name in names)
        for probe in probes:
            for canary in self.index.candidates(probe):
                if canary.id not in seen and _plausible(window, canary):
                    seen[canary.id] = canary
        return list(seen.values())


def _readable(line: str) -> str:
    """A line without hostile characters, its full-width digits and asterisks made ASCII."""
    return clean_text(line).translate(_FULL_WIDTH_DIGITS)


def _disagrees(match: Match, field: Field) -> bool:
    return any(f.field is field and f.level == "disagree" for f in match.fields)


def _plausible(window: str, canary: IndexedCanary) -> bool:
    """Whether free text around a fragment shows enough of the canary to be worth scoring:
    its waybill number, or two of its name's first and last characters, its mobile's first
    three and last four digits, and its street's start. A mobile key alone is shared by
    one stranger in a few thousand; a surname by many more."""
    if canary.waybill_no in window:
        return True
    shown = (canary.name[0] in window and canary.name[-1] in window) + (
        canary.mobile_number[:3] in window and canary.mobile_number[7:11] in window
    )
    if shown < 2 and canary.street[:_STREET_START] in _CLEAN.sub("", window):
        shown += 1
    return shown >= 2


def _normalised(
    values: list[str], odd: re.Pattern[str], normalise: Callable[[str], str], length: int = 0
) -> list[str]:
    """A column as is, or normalised cell by cell when some cell is odd (spaces, full-width
    digits, other mask characters, or not `length` long), as a whole column rarely is."""
    if odd.search("\n".join(values)) or (length and set(map(len, values)) != {length}):
        return [normalise(value) for value in values]
    return values


@dataclass(frozen=True, slots=True)
class _Free:
    delimiter: str | None = None
    fields: tuple[str | None, ...] = ()


@dataclass(frozen=True, slots=True)
class _Table:
    member: str
    first_row: int
    frame: "pl.DataFrame"
    ragged: list[tuple[int, str]]
    layout: LayoutLike


@dataclass(frozen=True, slots=True)
class _Text:
    text: str
    member: str = ""
    first_row: int = 1
    layout: _Free = _Free()


def _slices(values: list[str], start: int, stop: int | None) -> Iterator[str]:
    return map(getitem, values, repeat(slice(start, stop)))


def _indexes(values: list[str], hits: set[str]) -> list[int]:
    return [at for at, value in enumerate(values) if value in hits] if hits else []


def _name_cell(cell: str) -> str:
    pattern = name_pattern(cell)
    return pattern if pattern is not None else ""


def _occurrences(text: str, fragment: str) -> Iterator[int]:
    start = text.find(fragment)
    while start >= 0:
        yield start
        start = text.find(fragment, start + 1)


def _lines_of(text: str, positions: list[int]) -> Iterator[tuple[int, int, int, list[int]]]:
    """(line index, start, end, positions in it) for each line holding a position, in order;
    newlines are counted between consecutive positions only."""
    line_index = 0
    counted_to = 0
    current: tuple[int, int, int, list[int]] | None = None
    for position in positions:
        if current is not None and position < current[2]:
            current[3].append(position)
            continue
        if current is not None:
            yield current
        line_index += text.count("\n", counted_to, position)
        counted_to = position
        start = text.rfind("\n", 0, position) + 1
        end = text.find("\n", position)
        current = (line_index, start, len(text) if end < 0 else end, [position])
    if current is not None:
        yield current


def _cells(line: str, delimiter: str) -> list[str]:
    if len(delimiter) == 1:
        try:
            return next(csv.reader([line], delimiter=delimiter), [])
        except csv.Error:
            return line.split(delimiter)
    return line.split(delimiter)


def observe_cells(fields: tuple[str | None, ...], cells: list[str]) -> Observed:
    """A structured row's fields, normalised; cells of unknown columns are read as text for
    a mobile or waybill number its known columns lack."""
    value: dict[str, str] = {}
    unknown: list[str] = []
    for column, cell in enumerate(cells):
        cell = cell.strip()
        if not cell:
            continue
        field = fields[column] if column < len(fields) else None
        if field is None:
            unknown.append(cell)
        else:
            value.setdefault(field, cell)
    waybill = normalise_waybill(value["waybill_no"]) if "waybill_no" in value else None
    mobile = normalise_mobile(value["mobile"]) if "mobile" in value else None
    if mobile is None and unknown:
        found = _MOBILE.search(" ".join(unknown))
        mobile = normalise_mobile(found.group(0)) if found else None
    name = name_pattern(value["name"]) if "name" in value else None
    place: ObservedPlace | None = None
    street: str | None = None
    cut = False
    division_columns = [value.get(f) for f in ("province", "city", "district")]
    address = value.get("address")
    # A municipality written twice, as province and as city (天津市天津市武清区): the
    # division table names its prefecture otherwise, and the county would be lost.
    if division_columns[0] and division_columns[0] == division_columns[1]:
        division_columns[1] = None
    if address:
        address = _DOUBLED_DIVISION.sub(r"\1", address)
    if address or any(division_columns):
        parsed = parse_address(address, *division_columns)
        place = parsed.place if parsed.place.finest is not None else None
        street, cut = parsed.street, parsed.cut
    return Observed(
        waybill_no=waybill or None,
        mobile=mobile or None,
        name=name,
        place=place,
        street=street,
        street_cut=cut,
    )


def observe_window(window: str, canary: IndexedCanary) -> Observed:
    """What a window of free text shows of the fields `canary` has, read in its favour
    where the window holds several candidates for one field (see the module docstring)."""
    waybill: str | None = None
    tokens = [t.upper() for t in _TOKEN.findall(window)]
    if canary.waybill_no in tokens:
        waybill = canary.waybill_no
    mobile: str | None = None
    mobiles = [normalise_mobile(m.group(0)) for m in _MOBILE.finditer(window)]
    if mobiles:
        key = mobile_key(canary.mobile_number)
        agreeing = [m for m in mobiles if mobile_key(m.partition("转")[0]) == key]
        mobile = (agreeing or mobiles)[0]
    else:
        last_four = _LAST_FOUR.search(window)
        if last_four is not None:
            mobile = "*******" + last_four.group(1)
    name: str | None = None
    if canary.name in window:
        name = canary.name
    else:
        masked = masked_name_key(canary.name)
        pattern = name_pattern(window)  # a window that is nothing but a masked name
        for form in (masked, canary.name[0] + MASK * (len(canary.name) - 1)):
            if form is not None and form in window.replace("＊", MASK):
                name = form
                break
        if name is None and pattern is not None:
            name = pattern
        if name is None:
            name = homophone_in(window, canary.name)
    place, street, cut = _window_address(window, canary)
    return Observed(
        waybill_no=waybill, mobile=mobile, name=name, place=place, street=street, street_cut=cut
    )


def _window_address(
    window: str, canary: IndexedCanary
) -> tuple[ObservedPlace | None, str | None, bool]:
    clean = _CLEAN.sub("", window)
    street: str | None = None
    cut = False
    if canary.street and canary.street in clean:
        street = canary.street
    else:
        for length in range(min(len(canary.street), 12), 2, -1):
            at = clean.find(canary.street[:length])
            if at >= 0 and _STREET_MASK.match(clean, at + length):
                street, cut = canary.street[:length], True
                break
    return _window_place(clean, canary.district_code), street, cut


@cache
def _division_forms(district_code: str) -> tuple[tuple[Level, str, tuple[str, ...]], ...]:
    """The canary's divisions and the names free text may call them by (a county only by
    its full name: its short form is often an ordinary word)."""
    return tuple(
        (d.level, d.code, tuple(short_forms(d)[: 1 if d.level is Level.COUNTY else None]))
        for d in division_table().ancestors(district_code)
    )


def _window_place(clean: str, district_code: str) -> ObservedPlace | None:
    """The canary's own divisions that the window names, by any of their names."""
    found: dict[Level, str] = {}
    for level, code, forms in _division_forms(district_code):
        if any(form in clean for form in forms):
            found[level] = code
    if not found:
        return None
    return ObservedPlace(
        found.get(Level.PROVINCE), found.get(Level.PREFECTURE), found.get(Level.COUNTY)
    )
