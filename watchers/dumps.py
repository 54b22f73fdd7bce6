"""Reading a leaked dump of any size, block by block, in whatever shape it was leaked in.

Leaks come as CSV re-saved from Excel (GBK, UTF-8 with or without a BOM, UTF-16), `----`
separated text, spreadsheets, JSON exports, saved listing pages, and archives of those. Every
reader streams, so memory stays bounded by `DumpLimits` whatever the size of the file, and a
file that cannot be read says why with a `DumpError` instead of yielding half of itself quietly.

This module tells the formats apart and hands each member to its reader: `textdump`,
`jsondump`, `htmldump`, `xlsx`, and `containers` for gzip and ZIP.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from watchers.containers import Inflating, gunzipped_name, open_zip, read_zip_members
from watchers.decoding import detect_encoding, head_text
from watchers.dumpbase import (
    FREE_TEXT,
    Block,
    Context,
    Counted,
    DumpError,
    DumpLimits,
    DumpReport,
    Layout,
    NotTextError,
    Peeked,
    Readable,
    read_head,
)
from watchers.htmldump import read_html
from watchers.jsondump import read_json
from watchers.textdump import read_text, sniff
from watchers.xlsx import read_xlsx

if TYPE_CHECKING:
    from watchers.tables import TableBlock, TextRun

__all__ = [
    "FREE_TEXT",
    "Block",
    "DumpError",
    "DumpLimits",
    "DumpReport",
    "Layout",
    "read_dump",
    "sniff_layout",
]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_JSON_START = re.compile(r'\[\s*[\[{\]"]|\{\s*["}]')  # an array of records, or an object
# Formats seen in leaks that are not read here: refused with a name rather than as "binary".
_UNSUPPORTED = (
    (re.compile(rb"Rar!\x1a\x07"), "a RAR archive"),
    (re.compile(rb"7z\xbc\xaf\x27\x1c"), "a 7z archive"),
    (re.compile(rb"\xfd7zXZ\x00"), "an xz archive"),
    (re.compile(rb"BZh[1-9]1AY&SY"), "a bzip2 archive"),
    (re.compile(rb"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), "a legacy Office file (.xls/.doc)"),
    (re.compile(rb"%PDF-"), "a PDF"),
    (re.compile(rb"\x89PNG\r\n"), "a PNG image"),
    (re.compile(rb"\xff\xd8\xff"), "a JPEG image"),
    (re.compile(rb".{257}ustar", re.DOTALL), "a tar archive"),
)


def read_dump(
    stream: Readable, name: str, limits: DumpLimits, report: DumpReport
) -> Iterator[Block]:
    """The blocks of a dump file, whatever its format, with bounded memory."""
    for block in _read_dump(stream, name, Context(limits, report)):
        assert isinstance(block, Block)  # noqa: S101 (no tables read into columns)
        yield block


def read_dump_columnar(
    stream: Readable, name: str, limits: DumpLimits, report: DumpReport
) -> Iterator[Block | TableBlock | TextRun]:
    """As `read_dump`, with delimited tables read into columns (watchers.tables), as a
    scan reads them."""
    return _read_dump(stream, name, Context(limits, report, columnar=True))


def _read_dump(
    stream: Readable, name: str, context: Context
) -> Iterator[Block | TableBlock | TextRun]:
    report = context.report

    def count(size: int) -> None:
        report.bytes_read += size

    yield from _read_member(Counted(stream, count), name, "", context, 0, origin=stream)


def sniff_layout(lines: list[str]) -> Layout:
    """The layout of a text member from its first lines: delimiter, then fields."""
    return sniff(lines)[0]


def _read_member(
    stream: Readable,
    name: str,
    member: str,
    context: Context,
    depth: int,
    origin: object = None,
) -> Iterator[Block | TableBlock | TextRun]:
    peeked = read_head(stream)
    head = peeked.head
    if not head:
        return
    label = member or name
    if head.startswith(b"\x1f\x8b") or head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        if depth >= context.limits.max_depth:
            context.skip(f"container nested deeper than {context.limits.max_depth}")
            return
        if head.startswith(b"\x1f\x8b"):
            inner = Inflating(peeked, label, context)
            yield from _read_member(inner, gunzipped_name(name), member, context, depth + 1)
        else:
            yield from _read_zip(peeked, name, member, context, depth, origin)
        return
    for magic, kind in _UNSUPPORTED:
        if magic.match(head):
            raise NotTextError(f"{label} is {kind}, which cannot be read")
    encoding = detect_encoding(head, label)
    text = head_text(head, encoding)
    controls = len(_CONTROL.findall(text))
    if controls > 8 and controls * 20 > len(text):
        raise NotTextError(f"{label} holds binary data, not text")
    context.report.encodings[encoding.label] += 1

    def decoded(size: int) -> None:
        context.report.bytes_decoded += size

    source = read_head(Counted(peeked, decoded))
    start = text.lstrip()
    suffix = name.lower().rpartition(".")[2]
    if start[:64].lower().startswith(("<!doctype html", "<html", "<table")) or (
        suffix in ("html", "htm") and start.startswith("<")
    ):
        yield from read_html(source, encoding, member, context)
    elif _JSON_START.match(start) or (suffix == "json" and start.startswith(("[", "{"))):
        yield from read_json(source, encoding, start, member, context)
    else:
        yield from read_text(source, encoding, text, member, context)


def _read_zip(
    peeked: Peeked, name: str, member: str, context: Context, depth: int, origin: object
) -> Iterator[Block | TableBlock | TextRun]:
    """A workbook is one table per sheet; any other ZIP is an archive of members."""
    label = member or name
    with open_zip(peeked, label, context, origin) as archive:
        if "xl/workbook.xml" in archive.namelist():
            yield from read_xlsx(archive, label, context)
        else:
            yield from read_zip_members(archive, member, context, depth, _read_member)
