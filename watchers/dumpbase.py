"""The shapes shared by the dump readers: blocks, limits, the report, the reading context,
byte streams that count or replay, and rows of cells turned into blocks.

They live apart from `watchers.dumps` so the per-format readers can use them without a cycle;
`watchers.dumps` re-exports the public ones.
"""

import collections
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from watchers.columns import GUESS_ROWS, guess_fields, header_fields

# A ratio is meaningless for a small member (a few KiB of repeated commas compress 500:1),
# so it is only enforced past this many decompressed bytes.
RATIO_GRACE_BYTES = 1 << 20
SNIFF_BYTES = 64 << 10
CHUNK_BYTES = 1 << 20  # what a reader asks of a stream at a time when nothing bounds it


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Layout:
    delimiter: str | None  # None: free-text lines, no columns
    fields: tuple[str | None, ...]  # canonical field per column (None: unknown); () for free text


FREE_TEXT = Layout(None, ())


@dataclass(frozen=True, slots=True)
class Block:
    member: str  # "" for the top-level file, else the path inside the container
    first_row: int  # 1-based data-row number (header excluded) of the first line of `text`
    text: str  # complete decoded lines joined with "\n", no trailing newline
    layout: Layout


class DumpError(ValueError):
    """The file (or the rest of it) cannot be read; the message says why, for a user."""


class NotTextError(DumpError):
    """The member is binary or of an unsupported kind; inside an archive it is skipped."""


@dataclass
class DumpLimits:
    max_line_bytes: int = 1 << 20  # longer lines are skipped and counted
    max_uncompressed_bytes: int = 20 << 30  # total decompressed over all members
    max_ratio: float = 200.0  # decompressed/compressed per member ("zip bomb")
    max_members: int = 10_000
    max_depth: int = 2  # containers inside containers
    block_bytes: int = 4 << 20  # target size of a Block's text


@dataclass
class DumpReport:
    bytes_read: int = 0  # bytes consumed from the outer file
    bytes_decoded: int = 0  # decoded payload bytes
    rows: int = 0  # data rows yielded (all members)
    skipped: collections.Counter[str] = field(default_factory=collections.Counter)
    members: list[str] = field(default_factory=list)
    encodings: collections.Counter[str] = field(default_factory=collections.Counter)


@dataclass
class Context:
    """Limits, report and the running totals every reader of one dump shares."""

    limits: DumpLimits
    report: DumpReport
    columnar: bool = False  # tables read into columns (watchers.tables) for a scan
    uncompressed: int = 0
    member_count: int = 0

    def skip(self, reason: str, count: int = 1) -> None:
        if count:
            self.report.skipped[reason] += count

    def add_member(self, member: str) -> None:
        self.member_count += 1
        if self.member_count > self.limits.max_members:
            raise DumpError(f"more than {self.limits.max_members} members; stopped at {member}")
        self.report.members.append(member)

    def inflated(self, member: str, produced: int, inflated: int, compressed: int) -> None:
        """Account for `produced` more decompressed bytes of a member (`inflated` so far)."""
        self.uncompressed += produced
        if self.uncompressed > self.limits.max_uncompressed_bytes:
            raise DumpError(
                f"{member or 'the file'} decompresses past the limit of "
                f"{size_text(self.limits.max_uncompressed_bytes)} in total"
            )
        if inflated > RATIO_GRACE_BYTES and inflated > self.limits.max_ratio * max(compressed, 1):
            raise DumpError(
                f"{member or 'the file'} decompresses more than {self.limits.max_ratio:g} times "
                "its compressed size; refusing a likely zip bomb"
            )


def size_text(count: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 1 << shift:
            return f"{count / (1 << shift):.3g} {unit}"
    return f"{count} bytes"


class Counted:
    """Counts the bytes read through it, for the report or a compressed-size ratio."""

    def __init__(self, stream: Readable, on_read: Callable[[int], None] | None = None) -> None:
        self.stream = stream
        self.count = 0
        self._on_read = on_read

    def read(self, size: int = -1, /) -> bytes:
        data = self.stream.read(size)
        self.count += len(data)
        if self._on_read is not None:
            self._on_read(len(data))
        return data


class Peeked:
    """A stream whose head has been read to sniff it, replayed before the rest."""

    def __init__(self, head: bytes, stream: Readable) -> None:
        self.head = head
        self._pending = head
        self.stream = stream

    def read(self, size: int = -1, /) -> bytes:
        if self._pending:
            if size < 0:
                data, self._pending = self._pending + self.stream.read(-1), b""
                return data
            data, self._pending = self._pending[:size], self._pending[size:]
            return data
        return self.stream.read(size)


def read_head(stream: Readable, size: int = SNIFF_BYTES) -> Peeked:
    parts: list[bytes] = []
    got = 0
    while got < size:
        data = stream.read(size - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return Peeked(b"".join(parts), stream)


def read_full(source: Readable, size: int) -> bytes:
    """Up to `size` bytes, fewer only at the end: some streams return short reads."""
    data = source.read(size)
    if len(data) >= size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = source.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def tab_cell(value: str) -> str:
    return value.replace("\t", " ").replace("\r", " ").replace("\n", " ")


class RowBlocks:
    """Turns rows of cells into tab-delimited Blocks of about `block_bytes` each.

    The layout may change between rows (a new table, a JSON key not seen before); a change
    closes the current block so each block has one layout.
    """

    def __init__(self, context: Context, member: str) -> None:
        self.context = context
        self.member = member
        self.layout: Layout | None = None
        self.next_row = 1
        self._lines: list[str] = []
        self._first = 1
        self._size = 0

    def set_layout(self, layout: Layout) -> Iterator[Block]:
        if layout != self.layout:
            yield from self.flush()
            self.layout = layout

    def add(self, cells: Iterable[str]) -> Iterator[Block]:
        line = "\t".join(tab_cell(cell) for cell in cells)
        if len(line) > self.context.limits.max_line_bytes:
            self.context.skip(f"line longer than {size_text(self.context.limits.max_line_bytes)}")
            return
        if not self._lines:
            self._first = self.next_row
        self._lines.append(line)
        self.next_row += 1
        self._size += len(line) + 1
        if self._size >= self.context.limits.block_bytes:
            yield from self.flush()

    def flush(self) -> Iterator[Block]:
        if self._lines and self.layout is not None:
            lines, self._lines, self._size = self._lines, [], 0
            self.context.report.rows += len(lines)
            yield Block(self.member, self._first, "\n".join(lines), self.layout)


class Table:
    """The rows of one table: the first may be its header, the first GUESS_ROWS decide the
    fields of the columns the header does not name.

    `header_hint` marks an HTML row of `<th>` cells: a header even when it names nothing
    known, or when a title row comes before it.
    """

    def __init__(self, blocks: RowBlocks) -> None:
        self.blocks = blocks
        self._header: tuple[str | None, ...] = ()
        self._sample: list[list[str]] | None = []
        self._first = True

    def add(self, cells: list[str], header_hint: bool = False) -> Iterator[Block]:
        if self._sample is None:
            yield from self.blocks.add(cells)
            return
        first, self._first = self._first, False
        if first or header_hint:
            header = header_fields(cells)
            if header is not None or header_hint:
                self._header = self._header or header or ()
                return
        self._sample.append(cells)
        if len(self._sample) >= GUESS_ROWS:
            yield from self._decide()

    def finish(self) -> Iterator[Block]:
        if self._sample is not None:
            yield from self._decide()

    def _decide(self) -> Iterator[Block]:
        sample, self._sample = self._sample or [], None
        if not sample:
            return
        yield from self.blocks.set_layout(Layout("\t", guess_fields(sample, self._header)))
        for cells in sample:
            yield from self.blocks.add(cells)


def without_padding(data: bytes, label: str, context: Context) -> bytes:
    """Data with trailing NUL padding (disk images, recovered files) dropped and counted;
    NULs in the middle of text mean it turned into binary data."""
    body = data.rstrip(b"\x00")
    context.skip("NUL padding bytes", len(data) - len(body))
    nuls = body.count(b"\x00")
    if nuls > 8 and nuls * 1000 > len(body):
        raise DumpError(f"{label} turns into binary data (NUL bytes) partway through")
    return body


def join_quoted(lines: list[bytes], quoting: bool, limit: int) -> tuple[list[bytes], list[bytes]]:
    """Records from lines, and the lines of a last record whose quote is still open.

    A quote left open for more than `limit` bytes was a stray quote, not a cell: its lines
    go out as they are.
    """
    if not quoting:
        return lines, []
    records: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        odd = line.count(b'"') & 1
        if current:
            current.append(line)
            size += len(line) + 1
            if odd:
                records.append(b" ".join(part.rstrip(b"\r") for part in current))
                current = []
            elif size > limit:
                records.extend(current)
                current = []
        elif odd:
            current, size = [line], len(line)
        else:
            records.append(line)
    return records, current
