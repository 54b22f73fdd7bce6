"""Reading delimited and free text: the layout from the first lines, then complete records.

Covers CSV/TSV and any other delimiter (`|`, `;`, `----`), one value a line, and free text;
quoted cells that hold newlines are joined into one record, and over-long lines are skipped
as they stream past rather than held whole.
"""

import csv
import re
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from watchers.columns import GUESS_ROWS, guess_fields, header_fields
from watchers.decoding import Encoding, decode_records, line_source
from watchers.dumpbase import (
    FREE_TEXT,
    SNIFF_BYTES,
    Block,
    Context,
    Layout,
    Peeked,
    Readable,
    join_quoted,
    read_full,
    size_text,
    without_padding,
)

if TYPE_CHECKING:
    from watchers.tables import TableBlock, TextRun

_DELIMITERS = ("\t", ",", "|", ";", "----")
# A table with one of these columns is read into columns (watchers.tables) by a scan.
_KEY_FIELDS = frozenset({"waybill_no", "mobile", "name"})
_CONSISTENT_SHARE = 0.8  # of the sampled lines that must split into the same number of cells
_QUOTED_FIELD = {d: re.compile(rf'(?:^|{re.escape(d)})[ ]*"') for d in _DELIMITERS}


def sniff(lines: list[str]) -> tuple[Layout, bool]:
    """The layout, and whether the first line is a header."""
    sample = [line.rstrip("\r") for line in lines[: GUESS_ROWS + 1] if line.strip()]
    if not sample:
        return FREE_TEXT, False
    best: tuple[int, str, list[list[str]]] | None = None
    for delimiter in _DELIMITERS:
        rows = _split_rows(sample, delimiter)
        if not rows:
            continue
        width, hits = Counter(len(row) for row in rows).most_common(1)[0]
        consistent = width > 1 and hits >= _CONSISTENT_SHARE * len(rows)
        if consistent and (best is None or width > best[0]):
            best = (width, delimiter, rows)
    if best is None:
        return _single_column(sample, lines[0])
    width, delimiter, rows = best
    header = header_fields(rows[0]) if lines[0].strip() else None
    data = rows[1:] if header is not None else rows
    # As wide as most rows: a row with cells beyond is ragged (a delimiter unquoted in a
    # cell) and is read by its known columns from either end (canaries.matching).
    fields = guess_fields(data[:GUESS_ROWS], header or ())[: max(width, len(header or ()))]
    return Layout(delimiter, fields), header is not None


def _single_column(sample: list[str], first: str) -> tuple[Layout, bool]:
    """One value a line (a list of mobiles, of waybill numbers) is a column when its values
    look like one field; its first line may name it. Anything else is free text."""
    delimiter = next((d for d in _DELIMITERS if not any(d in line for line in sample)), None)
    header = header_fields([first.strip()]) if first.strip() else None
    data = [[line.strip()] for line in (sample[1:] if header is not None else sample)]
    guessed = guess_fields(data[:GUESS_ROWS])
    if delimiter is None or not guessed or guessed[0] is None:
        return FREE_TEXT, False
    return Layout(delimiter, (header or guessed)[:1]), header is not None


def _split_rows(lines: list[str], delimiter: str) -> list[list[str]] | None:
    if len(delimiter) > 1:
        return [line.split(delimiter) for line in lines]
    try:
        return list(csv.reader(lines, delimiter=delimiter))
    except csv.Error:
        return None


def read_text(
    source: Peeked, encoding: Encoding, head_text: str, member: str, context: Context
) -> Iterator["Block | TableBlock | TextRun"]:
    carriage_returns = "\r" in head_text and "\n" not in head_text
    lines = head_text.split("\r" if carriage_returns else "\n")
    if len(source.head) >= SNIFF_BYTES:
        lines = lines[:-1]  # the last may be cut off
    layout, has_header = sniff(lines)
    # Quoted cells may hold newlines; only a file that quotes cells pays for tracking them.
    quoting = bool(
        layout.delimiter
        and len(layout.delimiter) == 1
        and any(_QUOTED_FIELD[layout.delimiter].search(line) for line in lines)
    )
    stream, codec = line_source(source, encoding, carriage_returns)
    if context.columnar:
        from watchers.tables import read_table

        # A table is read by its columns only with a name, mobile or waybill column; any
        # other text (one value a line, columns of nothing to key on) is read as lines.
        table = len(layout.fields) > 1 and bool(_KEY_FIELDS & set(layout.fields))
        yield from read_table(
            stream,
            codec,
            encoding.mixed,
            layout if table else FREE_TEXT,
            has_header,
            quoting and table,
            member,
            context,
        )
        return
    row = 1
    label = member or "the file"
    for records in record_batches(stream, context, label, quoting, has_header):
        text = decode_records(records, codec, context, encoding.mixed)
        context.report.rows += len(records)
        yield Block(member, row, text, layout)
        row += len(records)


def record_batches(
    source: Readable, context: Context, label: str, quoting: bool, drop_first: bool
) -> Iterator[list[bytes]]:
    """Complete records of an ASCII-compatible byte stream, about a block at a time.

    A record is a line, or with `quoting` the lines of a quoted cell's record joined by
    spaces so each record stays one line. Lines longer than the limit are dropped as they
    stream past, never held whole.
    """
    limit = context.limits.max_line_bytes
    too_long = f"line longer than {size_text(limit)}"
    pending: list[bytes] = []  # lines of a quoted record still open
    tail = b""  # the unfinished last line
    discarding = False  # inside a too-long line, dropping up to its end
    first = drop_first

    def emit(records: list[bytes], data: bytes) -> list[bytes]:
        nonlocal first
        if len(data) > limit and max(map(len, records), default=0) > limit:
            kept = [record for record in records if len(record) <= limit]
            context.skip(too_long, len(records) - len(kept))
            records = kept
        if first and records:
            first = False
            records = records[1:]
        return records

    held: list[bytes] = []  # one batch held back, so a last unfinished line joins it
    while chunk := read_full(source, max(context.limits.block_bytes, 1)):
        if discarding:
            newline = chunk.find(b"\n")
            if newline < 0:
                continue
            chunk = chunk[newline + 1 :]
            discarding = False
        data = tail + chunk if tail else chunk
        if b"\x00" in data:
            data = without_padding(data, label, context)
        records: list[bytes] = []
        cut = data.rfind(b"\n")
        if cut < 0:
            tail = data
        else:
            tail = data[cut + 1 :]
            lines = data[:cut].split(b"\n")
            records, pending = join_quoted([*pending, *lines], quoting, limit)
            records = emit(records, data)
        if len(tail) > limit:
            context.skip(too_long)
            tail, discarding = b"", True
            records.extend(emit(pending, b""))
            pending = []
        if records:
            if held:
                yield held
            held = records
    lines = [*pending, tail] if tail else pending
    records, pending = join_quoted(lines, quoting, limit)
    held.extend(emit([*records, *pending], tail))
    if held:
        yield held
