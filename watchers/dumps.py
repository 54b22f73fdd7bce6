"""Reading a leaked dump of any size, block by block, in whatever shape it was leaked in.

Leaks come as CSV re-saved from Excel (GBK, UTF-8 with or without a BOM, UTF-16), `----`
separated text, spreadsheets, JSON exports, saved listing pages, and archives of those. Every
reader streams, so memory stays bounded by `DumpLimits` whatever the size of the file, and a
file that cannot be read says why with a `DumpError` instead of yielding half of itself quietly.
"""

import codecs
import csv
import io
import json
import re
import struct
import tempfile
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import IO, cast

from watchers.columns import GUESS_ROWS, guess_fields, header_field, header_fields
from watchers.dumpbase import (
    FREE_TEXT,
    RATIO_GRACE_BYTES,
    SNIFF_BYTES,
    Block,
    Context,
    Counted,
    DumpError,
    DumpLimits,
    DumpReport,
    Layout,
    Peeked,
    Readable,
    RowBlocks,
    read_head,
    size_text,
)

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

_CHUNK = 1 << 20
_SPOOL_BYTES = 64 << 20  # a non-seekable ZIP is kept in memory up to this, then on disk
_WHOLE_JSON_BYTES = 64 << 20  # a JSON that is one object is read whole only up to this
_MAX_JSON_COLUMNS = 256
_MAX_SHEET_COLUMNS = 16_384  # Excel's own limit (XFD)
_DELIMITERS = ("\t", ",", "|", ";", "----")
_CONSISTENT_SHARE = 0.8  # of the sampled lines that must split into the same number of cells
_QUOTED_FIELD = {d: re.compile(rf'(?:^|{re.escape(d)})[ ]*"') for d in _DELIMITERS}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_JSON_GAP = re.compile(r"[\s,]*")
_JSON_START = re.compile(r'\[\s*[\[{\]"]|\{\s*["}]')  # an array of records, or an object
_XML_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_XML_ELEMENT = re.compile(rb"<[A-Za-z_]")
# Rows with no cell or only empty (styled) cells: exports pad sheets with a million of them.
_EMPTY_ROW = re.compile(rb"<row\b[^>]*/>|<row\b[^>]*>(?:\s*<c\b[^>]*/>)*\s*</row>")
_CJK_NAME = re.compile(r"[\x20-\x7e\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")
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
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig", "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be"),
)
# When a line does not decode in the file's encoding, the other common one is tried.
_OTHER_ENCODING = {"utf-8": "gb18030", "gb18030": "utf-8"}


# What zipfile raises on damaged archives, besides ValueError, which is caught only around
# zipfile's own calls (DumpError is a ValueError too).
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, struct.error)


class _NotTextError(DumpError):
    """The member is binary or of an unsupported kind; inside an archive it is skipped."""


@dataclass(frozen=True, slots=True)
class _Encoding:
    label: str  # as counted in the report
    codec: str  # what decodes the bytes after the BOM
    bom: int  # bytes of BOM to drop
    mixed: bool = False  # GB18030 with UTF-8 lines among them: each line is tried as UTF-8


def read_dump(
    stream: Readable, name: str, limits: DumpLimits, report: DumpReport
) -> Iterator[Block]:
    """The blocks of a dump file, whatever its format, with bounded memory."""
    context = Context(limits, report)

    def count(size: int) -> None:
        report.bytes_read += size

    yield from _read_member(Counted(stream, count), name, "", context, 0, origin=stream)


def sniff_layout(lines: list[str]) -> Layout:
    """The layout of a text member from its first lines: delimiter, then fields."""
    return _sniff(lines)[0]


# -- dispatch -----------------------------------------------------------------------------


def _read_member(
    stream: Readable,
    name: str,
    member: str,
    context: Context,
    depth: int,
    origin: object = None,
) -> Iterator[Block]:
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
            inner = _Inflating(peeked, label, context)
            yield from _read_member(inner, _inner_name(name), member, context, depth + 1)
        else:
            yield from _read_zip(peeked, name, member, context, depth, origin)
        return
    for magic, kind in _UNSUPPORTED:
        if magic.match(head):
            raise _NotTextError(f"{label} is {kind}, which cannot be read")
    encoding = _detect_encoding(head, label)
    head_text = _head_text(head, encoding)
    controls = len(_CONTROL.findall(head_text))
    if controls > 8 and controls * 20 > len(head_text):
        raise _NotTextError(f"{label} holds binary data, not text")
    context.report.encodings[encoding.label] += 1

    def decoded(size: int) -> None:
        context.report.bytes_decoded += size

    source = read_head(Counted(peeked, decoded))
    start = head_text.lstrip()
    suffix = name.lower().rpartition(".")[2]
    if start[:64].lower().startswith(("<!doctype html", "<html", "<table")) or (
        suffix in ("html", "htm") and start.startswith("<")
    ):
        yield from _read_html(source, encoding, member, context)
    elif _JSON_START.match(start) or (suffix == "json" and start.startswith(("[", "{"))):
        yield from _read_json(source, encoding, start, member, context)
    else:
        yield from _read_text(source, encoding, head_text, member, context)


def _inner_name(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith(".tgz"):
        return name[:-4] + ".tar"
    return name[:-3] if lowered.endswith(".gz") else name


def _read_full(source: Readable, size: int) -> bytes:
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


# -- encodings ----------------------------------------------------------------------------


def _decodes(data: bytes, codec: str) -> bool:
    try:
        codecs.getincrementaldecoder(codec)().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _detect_encoding(head: bytes, label: str) -> _Encoding:
    for bom, name, codec in _BOMS:
        if head.startswith(bom):
            return _Encoding(name, codec, len(bom))
    if not head.strip(b"\x00"):
        raise _NotTextError(f"{label} holds nothing but NUL bytes")
    if b"\x00" in head:
        # UTF-16 without a BOM: ASCII text leaves a NUL in every other byte.
        pairs = max(len(head) // 2, 1)
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if odd * 8 >= pairs and even * 8 <= odd:
            return _Encoding("utf-16-le", "utf-16-le", 0)
        if even * 8 >= pairs and odd * 8 <= even:
            return _Encoding("utf-16-be", "utf-16-be", 0)
        if b"\x00" in head.rstrip(b"\x00"):
            raise _NotTextError(f"{label} holds binary data (NUL bytes), not text")
        head = head.rstrip(b"\x00")  # padding after the text
    complete = head
    if len(head) >= SNIFF_BYTES and b"\n" in head:
        complete = head[: head.rfind(b"\n") + 1]
    if _decodes(complete, "utf-8"):
        return _Encoding("utf-8", "utf-8", 0)
    # Dumps glued together from several sources mix encodings: the majority of lines wins.
    utf8 = gb18030 = 0
    for line in complete.split(b"\n"):
        if line.isascii():
            continue
        if _decodes(line, "utf-8"):
            utf8 += 1
        elif _decodes(line, "gb18030"):
            gb18030 += 1
    if not utf8 and not gb18030:
        raise _NotTextError(f"{label} has no text in UTF-8, UTF-16 or GB18030")
    if utf8 > gb18030:
        return _Encoding("utf-8", "utf-8", 0)
    return _Encoding("gb18030", "gb18030", 0, mixed=utf8 > 0)


def _head_text(head: bytes, encoding: _Encoding) -> str:
    final = len(head) < SNIFF_BYTES
    if not encoding.codec.startswith("utf-16"):
        head = head.rstrip(b"\x00")
    decoder = codecs.getincrementaldecoder(encoding.codec)(errors="replace")
    return decoder.decode(head[encoding.bom :], final=final)


class _Transcoded:
    """UTF-16 re-encoded as UTF-8, so lines can be found in bytes like any other text."""

    def __init__(self, stream: Readable, codec: str) -> None:
        self.stream = stream
        self._decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        self._done = False

    def read(self, size: int = -1, /) -> bytes:
        while not self._done:
            data = self.stream.read(size)
            text = self._decoder.decode(data, final=not data)
            self._done = not data
            if text:
                return text.encode("utf-8", "surrogatepass")
        return b""


class _CarriageReturns:
    """Old Mac line ends (Excel's "CSV (Macintosh)"): a lone CR ends each line."""

    def __init__(self, stream: Readable) -> None:
        self.stream = stream

    def read(self, size: int = -1, /) -> bytes:
        return self.stream.read(size).replace(b"\r", b"\n")


def _line_source(
    source: Peeked, encoding: _Encoding, carriage_returns: bool = False
) -> tuple[Readable, str]:
    """A byte stream in which b"\\n" ends a line, and the codec of its lines."""
    if encoding.bom:
        source.read(encoding.bom)
    stream: Readable = source
    codec = encoding.codec
    if codec.startswith("utf-16"):
        stream, codec = _Transcoded(source, codec), "utf-8"
    return (_CarriageReturns(stream) if carriage_returns else stream), codec


def _text_chunks(source: Peeked, encoding: _Encoding, context: Context) -> Iterator[str]:
    if encoding.bom:
        source.read(encoding.bom)
    decoder = codecs.getincrementaldecoder(encoding.codec)(errors="replace")
    while data := _read_full(source, max(context.limits.block_bytes, 1)):
        text = decoder.decode(data)
        if text:
            yield text
    text = decoder.decode(b"", final=True)
    if text:
        yield text


def _decode_records(records: list[bytes], codec: str, context: Context, mixed: bool = False) -> str:
    joined = b"\n".join(records)
    text: str | None = None
    if codec == "gb18030" and not joined.isascii():
        # UTF-8 often decodes as (wrong) GB18030, so UTF-8 is tried first: it rarely fits GBK.
        if mixed:
            text = "\n".join(_decode_mixed(line, context) for line in joined.split(b"\n"))
        else:
            try:
                text = joined.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                lines = sum(not line.isascii() for line in joined.split(b"\n"))
                context.skip("line re-decoded as utf-8", lines)
    if text is None:
        try:
            text = joined.decode(codec)
        except UnicodeDecodeError:
            text = "\n".join(_decode_line(line, codec, context) for line in joined.split(b"\n"))
    if "\r" in text:
        text = text.replace("\r\n", "\n").removesuffix("\r")
    return text


def _decode_mixed(line: bytes, context: Context) -> str:
    if line.isascii():
        return line.decode("ascii")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return _decode_line(line, "gb18030", context)
    context.skip("line re-decoded as utf-8")
    return text


def _decode_line(line: bytes, codec: str, context: Context) -> str:
    try:
        return line.decode(codec)
    except UnicodeDecodeError:
        pass
    other = _OTHER_ENCODING.get(codec)
    if other is not None:
        try:
            text = line.decode(other)
        except UnicodeDecodeError:
            pass
        else:
            context.skip(f"line re-decoded as {other}")
            return text
    context.skip("line with undecodable bytes")
    return line.decode(codec, errors="replace")


# -- delimited and free text --------------------------------------------------------------


def _sniff(lines: list[str]) -> tuple[Layout, bool]:
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
    _width, delimiter, rows = best
    header = header_fields(rows[0]) if lines[0].strip() else None
    data = rows[1:] if header is not None else rows
    return Layout(delimiter, guess_fields(data[:GUESS_ROWS], header or ())), header is not None


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


def _read_text(
    source: Peeked, encoding: _Encoding, head_text: str, member: str, context: Context
) -> Iterator[Block]:
    carriage_returns = "\r" in head_text and "\n" not in head_text
    lines = head_text.split("\r" if carriage_returns else "\n")
    if len(source.head) >= SNIFF_BYTES:
        lines = lines[:-1]  # the last may be cut off
    layout, has_header = _sniff(lines)
    # Quoted cells may hold newlines; only a file that quotes cells pays for tracking them.
    quoting = bool(
        layout.delimiter
        and len(layout.delimiter) == 1
        and any(_QUOTED_FIELD[layout.delimiter].search(line) for line in lines)
    )
    stream, codec = _line_source(source, encoding, carriage_returns)
    row = 1
    label = member or "the file"
    for records in _record_batches(stream, context, label, quoting, has_header):
        text = _decode_records(records, codec, context, encoding.mixed)
        context.report.rows += len(records)
        yield Block(member, row, text, layout)
        row += len(records)


def _record_batches(
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
        if b"\x00" in data:
            kept = [record for record in records if b"\x00" not in record]
            context.skip("line with NUL bytes", len(records) - len(kept))
            records = kept
        if first and records:
            first = False
            records = records[1:]
        return records

    held: list[bytes] = []  # one batch held back, so a last unfinished line joins it
    while chunk := _read_full(source, max(context.limits.block_bytes, 1)):
        if discarding:
            newline = chunk.find(b"\n")
            if newline < 0:
                continue
            chunk = chunk[newline + 1 :]
            discarding = False
        data = tail + chunk if tail else chunk
        if b"\x00" in data:
            data = _without_padding(data, label, context)
        records: list[bytes] = []
        cut = data.rfind(b"\n")
        if cut < 0:
            tail = data
        else:
            tail = data[cut + 1 :]
            lines = data[:cut].split(b"\n")
            records, pending = _join_quoted([*pending, *lines], quoting, limit)
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
    records, pending = _join_quoted(lines, quoting, limit)
    held.extend(emit([*records, *pending], tail))
    if held:
        yield held


def _without_padding(data: bytes, label: str, context: Context) -> bytes:
    """Data with trailing NUL padding (disk images, recovered files) dropped and counted;
    NULs in the middle of text mean it turned into binary data."""
    body = data.rstrip(b"\x00")
    context.skip("NUL padding bytes", len(data) - len(body))
    nuls = body.count(b"\x00")
    if nuls > 8 and nuls * 1000 > len(body):
        raise DumpError(f"{label} turns into binary data (NUL bytes) partway through")
    return body


def _join_quoted(lines: list[bytes], quoting: bool, limit: int) -> tuple[list[bytes], list[bytes]]:
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


# -- gzip -------------------------------------------------------------------------------


class _Inflating:
    """A gzip stream inflated as it is read, with the size and ratio limits enforced."""

    def __init__(self, stream: Readable, label: str, context: Context) -> None:
        self.source = Counted(stream)
        self.label = label
        self.context = context
        self._inflater = zlib.decompressobj(wbits=31)
        self._input = b""
        self._produced = 0
        self._done = False

    def read(self, size: int = -1, /) -> bytes:
        size = _CHUNK if size < 0 else size
        while size and not self._done:
            if not self._input:
                self._input = self.source.read(_CHUNK)
                if not self._input:
                    raise DumpError(
                        f"{self.label}: the gzip data is truncated (it ends after "
                        f"{size_text(self._produced)} of content)"
                    )
            try:
                data = self._inflater.decompress(self._input, size)
            except zlib.error as error:
                raise DumpError(f"{self.label}: damaged gzip data ({error})") from error
            self._input = self._inflater.unconsumed_tail
            if self._inflater.eof:
                self._next_member()
            if data:
                self._produced += len(data)
                self.context.inflated(self.label, len(data), self._produced, self.source.count)
                return data
        return b""

    def _next_member(self) -> None:
        """gzip files may be several members end to end (`cat a.gz b.gz`)."""
        rest = self._inflater.unused_data or self.source.read(_CHUNK)
        if rest.startswith(b"\x1f\x8b"):
            self._inflater = zlib.decompressobj(wbits=31)
            self._input = rest
            return
        if rest.strip(b"\x00"):
            self.context.skip("bytes after the gzip data")
        self._done = True


# -- zip ----------------------------------------------------------------------------------


class _Metered:
    """A member's decompressed bytes, counted against the limits as they are read."""

    def __init__(self, raw: IO[bytes], label: str, compressed: int, context: Context) -> None:
        self.raw = raw
        self.label = label
        self.compressed = compressed
        self.context = context
        self.count = 0

    def read(self, size: int = -1, /) -> bytes:
        try:
            data = self.raw.read(_CHUNK if size < 0 else size)
        except (*_ZIP_ERRORS, ValueError) as error:
            raise DumpError(f"{self.label}: damaged ZIP data ({error})") from error
        self.count += len(data)
        self.context.inflated(self.label, len(data), self.count, self.compressed)
        return data


@contextmanager
def _seekable(peeked: Peeked, origin: object, context: Context) -> Iterator[IO[bytes]]:
    """The archive as a seekable file, which zipfile needs: the original file when it can
    seek, else a spooled copy."""
    if isinstance(origin, io.IOBase) and origin.seekable():
        start = origin.tell() - len(peeked.head)
        if start == 0:
            end = origin.seek(0, io.SEEK_END)
            context.report.bytes_read += end - len(peeked.head)
            origin.seek(0)
            yield cast(IO[bytes], origin)
            return
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        while data := peeked.read(_CHUNK):
            spool.write(data)
        spool.seek(0)
        yield spool


def _read_zip(
    peeked: Peeked, name: str, member: str, context: Context, depth: int, origin: object
) -> Iterator[Block]:
    label = member or name
    with _seekable(peeked, origin, context) as file:
        try:
            archive = zipfile.ZipFile(file)
        except (*_ZIP_ERRORS, ValueError) as error:
            raise DumpError(f"{label} is a truncated or damaged ZIP archive ({error})") from error
        with archive:
            if "xl/workbook.xml" in archive.namelist():
                yield from _read_xlsx(archive, label, context)
            else:
                yield from _read_zip_members(archive, member, context, depth)


def _read_zip_members(
    archive: zipfile.ZipFile, member: str, context: Context, depth: int
) -> Iterator[Block]:
    for info in archive.infolist():
        if info.is_dir():
            continue
        path = _member_path(info)
        if path.startswith("__MACOSX/") or path.rpartition("/")[2].startswith("._"):
            context.skip("macOS metadata member")
            continue
        full = f"{member}:{path}" if member else path
        context.add_member(full)
        if info.flag_bits & 0x1:
            context.skip("encrypted member")
            continue
        try:
            with _zip_member(archive, info, full, context) as source:
                yield from _read_member(source, path, full, context, depth + 1)
        except _NotTextError:
            context.skip("member that is not text")


@contextmanager
def _zip_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str, context: Context
) -> Iterator["_Metered"]:
    _check_declared(info, label, context)
    try:
        raw = archive.open(info)
    except (*_ZIP_ERRORS, ValueError, RuntimeError) as error:
        raise DumpError(f"{label}: damaged ZIP entry ({error})") from error
    with raw:
        yield _Metered(raw, label, info.compress_size, context)


def _member_path(info: zipfile.ZipInfo) -> str:
    """The member's name; Chinese zips store GBK names without saying so, read as CP437."""
    name = info.filename
    if info.flag_bits & 0x800 or name.isascii():
        return name
    raw = name.encode("cp437", errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        decoded = raw.decode("gb18030")
    except UnicodeDecodeError:
        return name
    return decoded if _CJK_NAME.fullmatch(decoded) else name


def _check_declared(info: zipfile.ZipInfo, label: str, context: Context) -> None:
    """Refuse early what the member's own header says is too big; the stream checks again."""
    limits = context.limits
    if context.uncompressed + info.file_size > limits.max_uncompressed_bytes:
        raise DumpError(
            f"{label} declares {size_text(info.file_size)}, past the limit of "
            f"{size_text(limits.max_uncompressed_bytes)} in total"
        )
    ratio_limit = limits.max_ratio * max(info.compress_size, 1)
    if info.file_size > RATIO_GRACE_BYTES and info.file_size > ratio_limit:
        raise DumpError(
            f"{label} declares more than {limits.max_ratio:g} times its compressed size; "
            "refusing a likely zip bomb"
        )


# -- xlsx ---------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


@contextmanager
def _xml_part(
    archive: zipfile.ZipFile, path: str, label: str, context: Context
) -> Iterator[Peeked]:
    with _zip_member(archive, archive.getinfo(path), label, context) as member:
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


def _read_xlsx(archive: zipfile.ZipFile, label: str, context: Context) -> Iterator[Block]:
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
        while data := source.read(_CHUNK):
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
    table = _Table(blocks)
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


class _Table:
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


# -- json ---------------------------------------------------------------------------------


class _JsonRows:
    """Flattened JSON records as rows; a key not seen before widens the layout."""

    def __init__(self, blocks: RowBlocks, context: Context) -> None:
        self.blocks = blocks
        self.context = context
        self._columns: dict[str, int] = {}

    def add(self, value: object) -> Iterator[Block]:
        if isinstance(value, list):
            value = {str(index): item for index, item in enumerate(value)}
        elif not isinstance(value, dict):
            value = {"value": value}
        flat: dict[str, list[str]] = {}
        try:
            _flatten(value, "", flat)
        except RecursionError:
            self.context.skip("JSON record nested too deep")
            return
        new = [key for key in flat if key not in self._columns]
        if new:
            if len(self._columns) + len(new) > _MAX_JSON_COLUMNS:
                self._columns, new = {}, list(flat)
            for key in new:
                self._columns[key] = len(self._columns)
            yield from self.blocks.set_layout(Layout("\t", _json_fields(self._columns)))
        cells = [""] * len(self._columns)
        for key, values in flat.items():
            cells[self._columns[key]] = ",".join(values)
        yield from self.blocks.add(cells)


def _flatten(value: object, prefix: str, out: dict[str, list[str]]) -> None:
    """Nested objects become dotted keys; a list's items share their key, values joined."""
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list):
        for item in value:
            _flatten(item, prefix, out)
    else:
        cells = out.setdefault(prefix, [])
        if value is not None and value != "":
            cells.append(_json_scalar(value))


def _json_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))  # a mobile exported as 13800001234.0
    return str(value)


def _json_fields(columns: Iterable[str]) -> tuple[str | None, ...]:
    seen: set[str] = set()
    fields: list[str | None] = []
    for key in columns:
        field = header_field(key.replace(".", "_")) or header_field(key.rpartition(".")[2])
        fields.append(field if field not in seen else None)
        if field is not None:
            seen.add(field)
    return tuple(fields)


def _read_json(
    source: Peeked, encoding: _Encoding, start: str, member: str, context: Context
) -> Iterator[Block]:
    rows = _JsonRows(RowBlocks(context, member), context)
    first_line = start.partition("\n")[0].strip()
    if start.startswith("["):
        yield from _json_array(_text_chunks(source, encoding, context), rows, member, context)
    elif first_line and _is_json_object(first_line):
        stream, codec = _line_source(source, encoding)
        label = member or "the file"
        for records in _record_batches(stream, context, label, False, False):
            for line in _decode_records(records, codec, context, encoding.mixed).split("\n"):
                yield from _json_line(line, rows, context)
    else:
        yield from _json_whole(_text_chunks(source, encoding, context), rows, member, context)
    yield from rows.blocks.flush()


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _json_line(line: str, rows: _JsonRows, context: Context) -> Iterator[Block]:
    if not line.strip():
        return
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        context.skip("bad JSON line")
        return
    yield from rows.add(value)


def _json_array(
    chunks: Iterator[str], rows: _JsonRows, member: str, context: Context
) -> Iterator[Block]:
    """The elements of a top-level array, decoded one by one from a sliding buffer."""
    label = member or "the file"
    decoder = json.JSONDecoder()
    buffer = ""
    while "[" not in buffer:  # the head showed one, after white space
        chunk = next(chunks, None)
        if chunk is None:
            raise DumpError(f"{label}: the JSON array is empty")
        buffer += chunk
    position = buffer.index("[") + 1
    eof = False

    def more(at_least: int = 1) -> bool:
        """Reads on; at least doubling a long element, so retrying it costs linear time."""
        nonlocal buffer, position, eof
        parts = [buffer[position:]]
        got = 0
        while got < at_least:
            chunk = next(chunks, None)
            if chunk is None:
                eof = True
                break
            parts.append(chunk)
            got += len(chunk)
        buffer, position = "".join(parts), 0
        return got > 0

    while True:
        gap = _JSON_GAP.match(buffer, position)
        position = gap.end() if gap else position
        if position >= len(buffer):
            if more():
                continue
            raise DumpError(f"{label}: the JSON array is truncated (no closing bracket)")
        if buffer[position] == "]":
            return
        try:
            value, end = decoder.raw_decode(buffer, position)
            if end >= len(buffer) and not eof and not isinstance(value, dict | list):
                raise json.JSONDecodeError("a number may go on", buffer, end)
        except json.JSONDecodeError as error:
            if not _json_cut_short(error, buffer):
                raise DumpError(f"{label}: malformed JSON ({error})") from error
            if len(buffer) - position > _WHOLE_JSON_BYTES:
                raise DumpError(
                    f"{label}: a JSON element is larger than {size_text(_WHOLE_JSON_BYTES)}"
                ) from error
            if not more(len(buffer) - position):
                raise DumpError(f"{label}: the JSON array is truncated ({error})") from error
            continue
        except RecursionError:
            raise DumpError(f"{label}: JSON nested too deep") from None
        yield from rows.add(value)
        position = end


def _json_cut_short(error: json.JSONDecodeError, buffer: str) -> bool:
    """Whether the error is the buffer's end cutting an element, not bad JSON."""
    return error.pos >= len(buffer) - 8 or error.msg.startswith("Unterminated string")


def _json_whole(
    chunks: Iterator[str], rows: _JsonRows, member: str, context: Context
) -> Iterator[Block]:
    """A JSON that is one object, usually a list of records inside (`{"data": [...]}`)."""
    label = member or "the file"
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > _WHOLE_JSON_BYTES:
            raise DumpError(
                f"{label} is one JSON object larger than {size_text(_WHOLE_JSON_BYTES)}"
            )
        parts.append(chunk)
    text = "".join(parts)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg != "Extra data":
            raise DumpError(f"{label}: malformed JSON ({error})") from error
        for line in text.split("\n"):  # objects one a line, the first longer than the sniff
            yield from _json_line(line, rows, context)
        return
    except RecursionError:
        raise DumpError(f"{label}: JSON nested too deep") from None
    for record in _json_records(value):
        yield from rows.add(record)


def _json_records(value: object) -> list[object]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        found = _record_list(value, 3)
        return found if found is not None else [value]
    return [value]


def _record_list(value: dict[str, object], depth: int) -> list[object] | None:
    """The longest list of objects within a few levels of an object."""
    best: list[object] | None = None
    for item in value.values():
        found: list[object] | None = None
        if isinstance(item, list) and any(isinstance(entry, dict) for entry in item):
            found = item
        elif isinstance(item, dict) and depth > 1:
            found = _record_list(item, depth - 1)
        if found is not None and (best is None or len(found) > len(best)):
            best = found
    return best


# -- html ---------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    (
        *("p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5"),
        *("h6", "section", "article", "header", "footer", "blockquote", "pre", "hr", "form"),
        *("title", "body", "nav", "aside", "main", "tr", "table"),
    )
)
_IGNORED_TAGS = frozenset(("script", "style", "noscript", "template"))


class _HtmlEvents(HTMLParser):
    """Tables as rows of cells, the rest as lines of text, collected as they are parsed."""

    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.limit = limit
        self.events: list[tuple[str, list[str], bool]] = []  # ("text"|"row"|"end", ...)
        self.too_long = 0
        self._text: list[str] = []
        self._size = 0
        self._ignored = 0
        self._tables = 0
        self._row: list[str] | None = None
        self._row_header = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _IGNORED_TAGS:
            self._ignored += 1
        elif tag == "table":
            self._end_text()
            self._tables += 1
        elif self._tables:
            if tag == "tr":
                self._end_row()
                self._row, self._row_header = [], True
            elif tag in ("td", "th"):
                self._end_cell()
                if self._row is None:
                    self._row, self._row_header = [], True
                self._cell = []
                self._row_header = self._row_header and tag == "th"
            elif tag == "br" and self._cell is not None:
                self._cell.append(" ")
        elif tag in _BLOCK_TAGS:
            self._end_text()

    def handle_endtag(self, tag: str) -> None:
        if tag in _IGNORED_TAGS:
            self._ignored = max(self._ignored - 1, 0)
        elif tag == "table" and self._tables:
            self._end_row()
            self._tables -= 1
            if not self._tables:
                self.events.append(("end", [], False))
        elif self._tables:
            if tag == "tr":
                self._end_row()
            elif tag in ("td", "th"):
                self._end_cell()
        elif tag in _BLOCK_TAGS:
            self._end_text()

    def handle_data(self, data: str) -> None:
        if self._ignored:
            return
        if self._tables:
            if self._cell is not None:
                self._cell.append(data)
            return
        self._size += len(data)
        if self._size > self.limit:
            if self._text:
                self.too_long += 1
            self._text, self._size = [], 0
            return
        self._text.append(data)

    def close(self) -> None:
        super().close()
        self._end_row()
        self._end_text()

    def _end_text(self) -> None:
        line = " ".join("".join(self._text).split())
        self._text, self._size = [], 0
        if line:
            self.events.append(("text", [line], False))

    def _end_cell(self) -> None:
        if self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
        self._cell = None

    def _end_row(self) -> None:
        self._end_cell()
        if self._row is not None and any(self._row):
            self.events.append(("row", self._row, self._row_header))
        self._row = None


def _read_html(
    source: Peeked, encoding: _Encoding, member: str, context: Context
) -> Iterator[Block]:
    limit = context.limits.max_line_bytes
    parser = _HtmlEvents(limit)
    blocks = RowBlocks(context, member)
    table: _Table | None = None

    def drain() -> Iterator[Block]:
        nonlocal table
        events, parser.events = parser.events, []
        for kind, cells, header_hint in events:
            if kind == "row":
                table = table or _Table(blocks)
                yield from table.add(cells, header_hint)
                continue
            if table is not None:
                yield from table.finish()
                table = None
            if kind == "text":
                yield from blocks.set_layout(FREE_TEXT)
                yield from blocks.add(cells)

    for text in _text_chunks(source, encoding, context):
        parser.feed(text)
        yield from drain()
        if len(parser.rawdata) > 4 * limit:
            raise DumpError(f"{member or 'the file'}: an HTML element runs past {size_text(limit)}")
    parser.close()
    yield from drain()
    if table is not None:
        yield from table.finish()
    context.skip(f"line longer than {size_text(limit)}", parser.too_long)
    yield from blocks.flush()
