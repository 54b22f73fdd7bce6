"""Reading a delimited text member straight into columns, for scanning at native speed.

The member's bytes are cut into runs of complete records about four blocks long (a cut
falls on a newline outside quotes), transcoded to UTF-8 when they are GB18030 (by the C
library's iconv where it gives Python's answer, watchers.transcode; UTF-16 arrives
transcoded), and parsed by Polars' multi-threaded CSV reader into String columns
(canaries.columnar.parse_table); free text goes on as UTF-8 bytes, which the
free-text kernel searches whole (canaries.freetext). What cannot be read so (a stray quote,
bytes that are not UTF-8) is decoded and yielded as a text Block as before, so no row is
lost; lines over the line limit are skipped and counted as the text reader does. Memory is
bounded by the run size, whatever the size of the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from canaries.columnar import NotColumnarError, parse_table
from canaries.freetext import is_utf8
from watchers.decoding import decode_records
from watchers.dumpbase import (
    Block,
    Context,
    Layout,
    Readable,
    join_quoted,
    read_full,
    size_text,
    without_padding,
)
from watchers.transcode import native_utf8

if TYPE_CHECKING:
    import polars as pl

_RUN_BLOCKS = 4  # a run is this many of DumpLimits.block_bytes: Polars reads big runs best


@dataclass(frozen=True, slots=True)
class TextRun:
    """Lines of free text in UTF-8, for the free-text kernel to search whole."""

    member: str
    first_row: int
    data: bytes  # complete lines joined with b"\n", no trailing newline
    lines: int


@dataclass(frozen=True, slots=True)
class TableBlock:
    """Rows of a table read into columns (in the layout's order), and its ragged rows."""

    member: str
    first_row: int
    frame: pl.DataFrame
    ragged: list[tuple[int, str]]
    layout: Layout


def read_table(
    stream: Readable,
    codec: str,
    mixed: bool,
    layout: Layout,
    skip_header: bool,
    quoting: bool,
    member: str,
    context: Context,
) -> Iterator[TableBlock | TextRun | Block]:
    """The member's rows from a byte stream in which b"\\n" ends a line (see
    watchers.decoding.line_source), in runs of columns; free text (a layout without a
    delimiter) in runs of UTF-8 lines.

    A run is read (hashed, cut, checked) and transcoded in a second thread while the one
    before it is matched: hashing, iconv, Polars and the automata let go of the interpreter
    (Python's GB18030 codec, where iconv cannot be used, holds it). A run that needed no
    transcoding is parsed into columns there too; one that did is parsed beside the
    matching instead, which keeps the two threads about evenly loaded either way.
    """
    label = member or "the file"
    row = 1
    runs = _runs(stream, context, label, quoting, skip_header)
    delimiter = layout.delimiter

    def next_run() -> _Run | None:
        run = next(runs, None)
        if run is None:
            return None
        data = _utf8(run, codec, mixed, delimiter is None)
        if data is not run:
            return _Run(run, data, None, parsed=False)
        return _Run(run, data, _parsed(data, layout), parsed=True)

    with ThreadPoolExecutor(max_workers=1) as reader:
        ahead = reader.submit(next_run)
        while (current := ahead.result()) is not None:
            ahead = reader.submit(next_run)
            for block in _read_run(current, codec, mixed, layout, quoting, member, row,
                                   context):  # fmt: skip
                row += _count(block, context)
                yield block


@dataclass(frozen=True, slots=True)
class _Run:
    raw: bytes  # complete records, as read
    data: bytes | None  # in UTF-8, if it can be read so whole (see _utf8)
    table: tuple[pl.DataFrame, list[tuple[int, str]]] | None  # parsed, if it is a table
    parsed: bool  # whether `table` says so already, or the run is still to be parsed


def _parsed(
    data: bytes | None, layout: Layout
) -> tuple[pl.DataFrame, list[tuple[int, str]]] | None:
    """A table's UTF-8 run in columns; None for free text, or a run Polars cannot read as a
    table (it is then read line by line, as text)."""
    if data is None or layout.delimiter is None:
        return None
    with suppress(NotColumnarError):
        return parse_table(data, layout.delimiter, len(layout.fields))
    return None


def _count(block: TableBlock | TextRun | Block, context: Context) -> int:
    if isinstance(block, TableBlock):
        rows = block.frame.height
    elif isinstance(block, TextRun):
        rows = block.lines
    else:
        rows = block.text.count("\n") + 1
    context.report.rows += rows
    return rows


def _utf8(run: bytes, codec: str, mixed: bool, free_text: bool) -> bytes | None:
    """The run in UTF-8, or None when it must be decoded line by line (mixed encodings, and
    free text in bytes that are not UTF-8 throughout, which Polars checks for a table)."""
    if run.isascii():
        return run
    if codec == "utf-8":
        return run if not free_text or is_utf8(run) else None
    if mixed:
        return None
    try:
        if codec != "gb18030":
            return run.decode(codec).encode()
        native = native_utf8(run)
        if native is not None:
            return native
        return b"".join(str(piece, codec).encode() for piece in _pieces(run))
    except UnicodeDecodeError:
        return None


_PIECE_BYTES = 1 << 20


def _pieces(run: bytes) -> Iterator[memoryview]:
    """The run in pieces of about a MiB, each ending with a line. Python's codec holds the
    interpreter for a whole call: a 16 MiB run took 90 ms in one, stalling the matching
    thread's Python between its Polars calls; a MiB takes 6. GB18030 never uses the byte of
    a newline inside a character, so a piece ends between characters."""
    view = memoryview(run)
    start = 0
    while start < len(run):
        end = run.find(b"\n", start + _PIECE_BYTES) + 1 or len(run)
        yield view[start:end]
        start = end


def _read_run(
    run: _Run,
    codec: str,
    mixed: bool,
    layout: Layout,
    quoting: bool,
    member: str,
    row: int,
    context: Context,
) -> Iterator[TableBlock | TextRun | Block]:
    data = run.data
    if data is not None and layout.delimiter is None:
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        yield TextRun(member, row, data[:-1], data.count(b"\n"))
        return
    table = run.table if run.parsed else _parsed(data, layout)
    if table is not None:
        frame, ragged = table
        yield TableBlock(member, row, frame, ragged, layout)
        return
    lines = run.raw.removesuffix(b"\n").split(b"\n")
    records, open_record = join_quoted(lines, quoting, 1 << 62)
    text = decode_records([*records, *open_record], codec, context, mixed)
    yield Block(member, row, text, layout)


def _runs(
    source: Readable, context: Context, label: str, quoting: bool, skip_header: bool
) -> Iterator[bytes]:
    """Runs of complete records (each ending with b"\\n"); lines over the limit dropped and
    counted as they stream past, never held whole."""
    limit = context.limits.max_line_bytes
    too_long = f"line longer than {size_text(limit)}"
    size = max(context.limits.block_bytes * _RUN_BLOCKS, 1)
    tail = b""
    discarding = False
    header = skip_header
    while chunk := read_full(source, size):
        if discarding:
            newline = chunk.find(b"\n")
            if newline < 0:
                continue
            chunk = chunk[newline + 1 :]
            discarding = False
        data = tail + chunk if tail else chunk
        if b"\x00" in data:
            data = without_padding(data, label, context)
        cut = _record_end(data, quoting)
        if cut <= 0:
            tail = data
            if len(tail) > limit:
                context.skip(too_long)
                tail, discarding = b"", True
            continue
        run, tail = data[:cut], data[cut:]
        if len(tail) > limit:
            context.skip(too_long)
            tail, discarding = b"", True
        if header:
            run, header = run[run.find(b"\n") + 1 :], False
        run = _without_long_lines(run, limit, too_long, context)
        if run:
            yield run
    if tail and not header:
        yield tail + b"\n"


def _record_end(data: bytes, quoting: bool) -> int:
    """Just past the last newline that ends a record: outside quotes when the file quotes
    (an even count of quotes before it), else the last newline; 0 when there is none."""
    end = data.rfind(b"\n")
    if end < 0 or not quoting:
        return end + 1
    quotes = data.count(b'"', 0, end)
    candidate = end
    while quotes & 1:
        previous = data.rfind(b"\n", 0, candidate)
        if previous < 0:
            return end + 1  # a stray quote: cut at the last newline, Polars decides
        quotes -= data.count(b'"', previous, candidate)
        candidate = previous
    return candidate + 1


def _without_long_lines(run: bytes, limit: int, reason: str, context: Context) -> bytes:
    """The run less its lines over `limit` bytes, found by jumping a limit at a time."""
    if len(run) <= limit:
        return run
    at = 0
    while len(run) - at > limit:
        newline = run.rfind(b"\n", at, at + limit + 1)
        if newline < 0:
            break
        at = newline + 1
    else:
        return run
    lines = run.split(b"\n")
    kept = [line for line in lines if len(line) <= limit]
    context.skip(reason, len(lines) - len(kept))
    return b"\n".join(kept)
