"""Reading an XLSX workbook: each sheet's rows, in workbook order, as a table of cells.

Sheets are parsed with expat as they inflate, without building elements, so a million-row
export stays affordable; a DOCTYPE is refused before any XML is parsed (entity expansion).
"""

import codecs
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

from watchers.containers import zip_member
from watchers.dumpbase import (
    CHUNK_BYTES,
    SNIFF_BYTES,
    Block,
    Context,
    DumpError,
    Peeked,
    Readable,
    RowBlocks,
    Table,
    read_head,
)

_MAX_SHEET_COLUMNS = 16_384  # Excel's own limit (XFD)
_XML_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_XML_ELEMENT = re.compile(rb"<[A-Za-z_]")
# Rows with no cell or only empty (styled) cells: exports pad sheets with a million of them.
_EMPTY_ROW = re.compile(rb"<row\b[^>]*/>|<row\b[^>]*>(?:\s*<c\b[^>]*/>)*\s*</row>")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


@contextmanager
def _xml_part(
    archive: zipfile.ZipFile, path: str, label: str, context: Context
) -> Iterator[Peeked]:
    with zip_member(archive, archive.getinfo(path), label, context) as member:
        source = read_head(member)
        _refuse_doctype(source.head, label)
        yield source


def _refuse_doctype(head: bytes, label: str) -> None:
    """A DOCTYPE can declare entities that expand exponentially ("billion laughs"); a sheet
    never needs one, so none is accepted."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        head = head.decode("utf-16", errors="replace").encode("utf-8")
    prolog = _XML_COMMENT.sub(b"", head)
    element = _XML_ELEMENT.search(prolog)
    if element is None and len(head) >= SNIFF_BYTES:
        raise DumpError(f"{label}: the XML prolog is too long to check")
    if b"<!DOCTYPE" in prolog[: element.start() if element else None].upper():
        raise DumpError(f"{label}: XML with a DOCTYPE is refused (entity expansion)")


def read_xlsx(archive: zipfile.ZipFile, label: str, context: Context) -> Iterator[Block]:
    names = set(archive.namelist())
    strings = _shared_strings(archive, label, context) if "xl/sharedStrings.xml" in names else []
    for sheet, path in _sheets(archive, names, label, context):
        member = f"{label}:{sheet}"
        context.add_member(member)
        yield from _read_sheet(archive, path, member, strings, context)


class _EmptyRowsDropped:
    """Sheet XML with its empty rows cut out before parsing, which they would slow down."""

    def __init__(self, stream: Readable) -> None:
        self.stream = stream
        self.dropped = 0
        self._carry = b""

    def read(self, size: int = -1, /) -> bytes:
        while data := self.stream.read(size):
            data = self._carry + data
            cut = data.rfind(b">") + 1  # a row cut off at the end waits for the next read
            data, self._carry = data[:cut], data[cut:]
            data, dropped = _EMPTY_ROW.subn(b"", data)
            self.dropped += dropped
            if data:
                return data
        data, self._carry = self._carry, b""
        return data


def _parse(source: Peeked, label: str) -> Iterator[tuple[str, ET.Element]]:
    try:
        # Safe here: _xml_part refused any DOCTYPE, so no entity can be declared.
        yield from ET.iterparse(source, events=("start", "end"))  # noqa: S314
    except ET.ParseError as error:
        raise DumpError(f"{label}: malformed XML ({error})") from error


def _shared_strings(archive: zipfile.ZipFile, label: str, context: Context) -> list[str]:
    part = f"{label}:xl/sharedStrings.xml"
    target = _SharedStrings()
    with _xml_part(archive, "xl/sharedStrings.xml", part, context) as source:
        for _ in _feed(source, target, part):
            pass
    return target.strings


class _SharedStrings:
    """expat target: each `<si>`'s text, plain or in rich-text runs, without phonetic hints."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self._parts: list[str] | None = None
        self._text: list[str] | None = None
        self._phonetic = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        name = tag.rpartition("}")[2]
        if name == "si":
            self._parts = []
        elif name == "t" and not self._phonetic:
            self._text = self._parts
        elif name == "rPh":
            self._phonetic += 1

    def data(self, text: str) -> None:
        if self._text is not None:
            self._text.append(text)

    def end(self, tag: str) -> None:
        name = tag.rpartition("}")[2]
        if name == "t":
            self._text = None
        elif name == "rPh":
            self._phonetic -= 1
        elif name == "si" and self._parts is not None:
            self.strings.append("".join(self._parts))
            self._parts = None

    def close(self) -> None:
        return None


def _feed(source: Readable, target: object, label: str) -> Iterator[None]:
    """Feeds a part to an expat target, pausing after each chunk so its rows can go out."""
    # Safe here: _xml_part refused any DOCTYPE, so no entity can be declared.
    parser = ET.XMLParser(target=target)  # noqa: S314
    try:
        while data := source.read(CHUNK_BYTES):
            parser.feed(data)
            yield
        parser.close()
    except ET.ParseError as error:
        raise DumpError(f"{label}: malformed XML ({error})") from error


def _sheets(
    archive: zipfile.ZipFile, names: set[str], label: str, context: Context
) -> list[tuple[str, str]]:
    """(sheet name, part path) in workbook order."""
    declared: list[tuple[str, str]] = []
    part = f"{label}:xl/workbook.xml"
    with _xml_part(archive, "xl/workbook.xml", part, context) as source:
        for event, element in _parse(source, part):
            if event == "end" and _local(element.tag) == "sheet":
                rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), "")
                declared.append((element.get("name", ""), rid))
    targets: dict[str, str] = {}
    if "xl/_rels/workbook.xml.rels" in names:
        part = f"{label}:xl/_rels/workbook.xml.rels"
        with _xml_part(archive, "xl/_rels/workbook.xml.rels", part, context) as source:
            for event, element in _parse(source, part):
                if event == "end" and _local(element.tag) == "Relationship":
                    target = element.get("Target", "")
                    path = target[1:] if target.startswith("/") else f"xl/{target}"
                    targets[element.get("Id", "")] = path.replace("/./", "/")
    sheets: list[tuple[str, str]] = []
    for number, (sheet, rid) in enumerate(declared, 1):
        path = targets.get(rid, f"xl/worksheets/sheet{number}.xml")
        if path in names:
            sheets.append((sheet or f"Sheet{number}", path))
        else:
            context.skip("sheet without its part")
    if not declared:
        found = sorted(n for n in names if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))
        sheets = [(path.rpartition("/")[2].removesuffix(".xml"), path) for path in found]
    return sheets


def _read_sheet(
    archive: zipfile.ZipFile, path: str, member: str, strings: list[str], context: Context
) -> Iterator[Block]:
    blocks = RowBlocks(context, member)
    table = Table(blocks)
    target = _SheetRows(strings)
    with _xml_part(archive, path, member, context) as part:
        source = _EmptyRowsDropped(part)
        for _ in _feed(source, target, member):
            rows, target.rows = target.rows, []
            for cells in rows:
                yield from table.add(cells)
    context.skip("empty rows", target.empty + source.dropped)
    yield from table.finish()
    yield from blocks.flush()


class _SheetRows:
    """expat target: a worksheet's non-empty rows as cells, placed by their references.

    No element objects are built, which is what makes a million-row sheet affordable.
    """

    def __init__(self, strings: list[str]) -> None:
        self.strings = strings
        self.rows: list[list[str]] = []
        self.empty = 0
        self._cells: list[str] = []
        self._column = 0
        self._kind: str | None = None
        self._value: list[str] = []
        self._text: list[str] | None = None  # the cell text being collected, if any
        self._phonetic = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        name = _local_names.get(tag) or _local_name(tag)
        if name == "c":
            self._kind = attrib.get("t")
            reference = attrib.get("r")
            column = _column_index(reference) if reference else -1
            self._column = column if column >= 0 else len(self._cells)
            self._value = []
        elif name in ("v", "t"):
            if not self._phonetic:
                self._text = self._value
        elif name == "rPh":
            self._phonetic += 1
        elif name == "row":
            self._cells = []

    def data(self, text: str) -> None:
        if self._text is not None:
            self._text.append(text)

    def end(self, tag: str) -> None:
        name = _local_names.get(tag) or _local_name(tag)
        if name in ("v", "t"):
            self._text = None
        elif name == "rPh":
            self._phonetic -= 1
        elif name == "c":
            self._end_cell()
        elif name == "row":
            if any(cell.strip() for cell in self._cells):
                self.rows.append(self._cells)
            else:
                self.empty += 1
            self._cells = []

    def close(self) -> None:
        return None

    def _end_cell(self) -> None:
        value = "".join(self._value)
        if self._kind == "s":
            try:
                value = self.strings[int(value)]
            except (ValueError, IndexError):
                value = ""
        cells, column = self._cells, self._column
        if not value or column >= _MAX_SHEET_COLUMNS:
            return
        if column < len(cells):
            cells[column] = value
        else:
            cells.extend([""] * (column - len(cells)))
            cells.append(value)


_local_names: dict[str, str] = {}  # "{namespace}c" -> "c", filled as tags are met
_column_indexes: dict[str, int] = {}  # "AB" -> 27


def _local_name(tag: str) -> str:
    name = tag.rpartition("}")[2]
    if len(_local_names) < 1000:  # a hostile file could invent endless tags
        _local_names[tag] = name
    return name


def _column_index(reference: str) -> int:
    """0-based column of a cell reference such as "AB12"; -1 without letters."""
    letters = reference.rstrip("0123456789$")
    index = _column_indexes.get(letters)
    if index is None:
        index = 0
        for char in letters.upper():
            if not "A" <= char <= "Z":
                return -1
            index = index * 26 + ord(char) - 64
        index -= 1
        if len(_column_indexes) < _MAX_SHEET_COLUMNS:
            _column_indexes[letters] = index
    return index
