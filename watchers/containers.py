"""Opening gzip and ZIP containers: inflating as they are read, within the bomb limits.

Every decompressed byte is metered against `DumpLimits` (total size, ratio), ZIP members are
refused early when their headers declare too much, and member names are recovered from the
GBK that Chinese archivers write without saying so. Reading what is inside is left to the
reader passed in, so containers can hold any format, containers included.
"""

import io
import re
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, cast

from watchers.dumpbase import (
    CHUNK_BYTES,
    RATIO_GRACE_BYTES,
    Block,
    Context,
    Counted,
    DumpError,
    NotTextError,
    Peeked,
    Readable,
    size_text,
)

if TYPE_CHECKING:
    from watchers.tables import TableBlock, TextRun

# Reads one member: (stream, name, member path, context, depth) -> its blocks.
MemberReader = Callable[
    [Readable, str, str, Context, int], "Iterator[Block | TableBlock | TextRun]"
]

_SPOOL_BYTES = 64 << 20  # a non-seekable ZIP is kept in memory up to this, then on disk
_CJK_NAME = re.compile(r"[\x20-\x7e\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")
# What zipfile raises on damaged archives, besides ValueError, which is caught only around
# zipfile's own calls (DumpError is a ValueError too).
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, struct.error)


# -- gzip -------------------------------------------------------------------------------


class Inflating:
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
        size = CHUNK_BYTES if size < 0 else size
        while size and not self._done:
            if not self._input:
                self._input = self.source.read(CHUNK_BYTES)
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
        rest = self._inflater.unused_data or self.source.read(CHUNK_BYTES)
        if rest.startswith(b"\x1f\x8b"):
            self._inflater = zlib.decompressobj(wbits=31)
            self._input = rest
            return
        if rest.strip(b"\x00"):
            self.context.skip("bytes after the gzip data")
        self._done = True


def gunzipped_name(name: str) -> str:
    """The name of what a gzip file holds: `a.csv.gz` holds `a.csv`."""
    lowered = name.lower()
    if lowered.endswith(".tgz"):
        return name[:-4] + ".tar"
    return name[:-3] if lowered.endswith(".gz") else name


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
            data = self.raw.read(CHUNK_BYTES if size < 0 else size)
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
        while data := peeked.read(CHUNK_BYTES):
            spool.write(data)
        spool.seek(0)
        yield spool


@contextmanager
def open_zip(
    peeked: Peeked, label: str, context: Context, origin: object
) -> Iterator[zipfile.ZipFile]:
    """The ZIP archive whose head was peeked; `origin` is the outer file, used if it seeks."""
    with _seekable(peeked, origin, context) as file:
        try:
            archive = zipfile.ZipFile(file)
        except (*_ZIP_ERRORS, ValueError) as error:
            raise DumpError(f"{label} is a truncated or damaged ZIP archive ({error})") from error
        with archive:
            yield archive


def read_zip_members(
    archive: zipfile.ZipFile, member: str, context: Context, depth: int, read: MemberReader
) -> "Iterator[Block | TableBlock | TextRun]":
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
            with zip_member(archive, info, full, context) as source:
                yield from read(source, path, full, context, depth + 1)
        except NotTextError:
            context.skip("member that is not text")


@contextmanager
def zip_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str, context: Context
) -> Iterator[Readable]:
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
