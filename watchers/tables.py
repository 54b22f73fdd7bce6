"""Reading a delimited text member straight into columns, for scanning at native speed.

The member's bytes are cut into runs of complete records about four blocks long (a cut
falls on a newline outside quotes), transcoded to UTF-8 in one piece when they are GB18030
(UTF-16 arrives transcoded), and parsed by Polars' multi-threaded CSV reader into String
columns (canaries.columnar.parse_table). What Polars cannot read (a stray quote, bytes that
are not UTF-8) is decoded and yielded as a text Block as before, so no row is lost; lines
over the line limit are skipped and counted as the text reader does. Memory is bounded by
the run size, whatever the size of the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from canaries.columnar import NotColumnarError, parse_table
from canaries.hostile import without_hostile
from watchers.decoding import decode_records
from watchers.dumpbase import Block, Context, Layout, Readable, read_full, size_text
from watchers.textdump import join_quoted, without_padding

if TYPE_CHECKING:
    import polars as pl

_RUN_BLOCKS = 4  # a run is this many of DumpLimits.block_bytes: Polars reads big runs best


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
) -> Iterator[TableBlock | Block]:
    """The member's rows from a byte stream in which b"\\n" ends a line (see
    watchers.decoding.line_source), in runs of columns."""
    assert layout.delimiter is not None  # noqa: S101 (the caller reads only tables here)
    label = member or "the file"
    row = 1
    for run in _runs(stream, context, label, quoting, skip_header):
        for block in _read_run(run, codec, mixed, layout, quoting, member, row, context):
            rows = (
                block.frame.height if isinstance(block, TableBlock) else block.text.count("\n") + 1
            )
            context.report.rows += rows
            row += rows
            yield block


def _read_run(
    run: bytes,
    codec: str,
    mixed: bool,
    layout: Layout,
    quoting: bool,
    member: str,
    row: int,
    context: Context,
) -> Iterator[TableBlock | Block]:
    assert layout.delimiter is not None  # noqa: S101
    data: bytes | None = run
    if codec != "utf-8" and not run.isascii():
        data = None
        if not mixed:
            with suppress(UnicodeDecodeError):
                data = without_hostile(run.decode(codec)).encode()
    if data is not None:
        try:
            frame, ragged = parse_table(data, layout.delimiter, len(layout.fields))
        except NotColumnarError:
            pass
        else:
            yield TableBlock(member, row, frame, ragged, layout)
            return
    records, open_record = join_quoted(run.removesuffix(b"\n").split(b"\n"), quoting, 1 << 62)
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
