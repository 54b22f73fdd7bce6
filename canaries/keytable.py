"""The persistent key table: the canary index on disk beside the database, so a process
loads it in one read instead of rebuilding it from every stored canary.

The file is a header and a sequence of batches, each written whole by one append:

    header  MAGIC, VERSION, a generation (16 random bytes, new at every rewrite), crc32
    batch   b"HTKB", kind (add | remove), first row, count, payload length, the newest
            (minted_at, canary id) of the batch, crc32 of the payload, crc32 of the header
    add     ids (16 bytes each), the batch's key run (sorted 64-bit `key_hash`es and their
            rows), the packed records, and the anchors by kind (canaries.index.RowsExport)
    remove  ids (16 bytes each)

Rows are numbered across the file as in the index, so a batch loads with a few
`array.frombytes` and one `bytes.split`: nothing is parsed, hashed or sorted again.

Appends, removals and rewrites hold an exclusive `flock` on `<path>.lock`; loads hold a
shared one, so a reader never sees a batch being written. A batch left half-written by a
crash (short, zeros where the file grew, or failing its checksum as the last batch) is not
part of the table: readers stop before it and the next writer cuts it off. Anything else
that does not check out (a wrong magic or version, a checksum failing before the end, rows
out of step) raises `KeyTableError`: the caller deletes the file and builds it again from
the database.

An append that leaves more than COMPACT_AFTER_BATCHES batches after the first, or batches
holding more bytes than the first, rewrites the file as one batch (a new file renamed
over the old, with a new generation); other processes see the new generation and load the
table afresh into a new index.

VERSION names the record format and the blocking keys: a change to how canaries.index
normalises or keys a canary bumps it, so old files are rebuilt rather than misread.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import uuid
import zlib
from array import array
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from canaries.index import ANCHOR_KINDS, CanaryIndex, IndexEntry, KeyRun, RowsExport

MAGIC = b"HTKEYTAB"
VERSION = 1
_HEADER = struct.Struct("<8sI16s32s")  # magic, version, generation, reserved; then crc32
_BATCH = struct.Struct("<4sB3xIIQq16sI")  # then crc32 of these bytes
_BATCH_MAGIC = b"HTKB"
_ADD, _REMOVE = 1, 2
_SECTIONS = struct.Struct("<" + "Q" * (2 + len(ANCHOR_KINDS)))  # keys, records, anchors
_RECORD_SEP = b"\x1e"
_NO_TIME = -(2**63)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A rewrite folds the batches into one once this many follow the first, or once they hold
# more bytes than the first: loads then bisect few key runs, and as the first at least
# doubles between rewrites, they cost O(1) amortised per canary appended.
COMPACT_AFTER_BATCHES = 64

Watermark = tuple[datetime, uuid.UUID]


class KeyTableError(Exception):
    """The file is not a key table this code can read (foreign, another version, corrupt):
    delete it and build it again."""


@dataclass
class _Batch:
    kind: int
    first_row: int
    count: int
    watermark: Watermark | None
    payload: memoryview
    end: int  # file offset just past the batch


class KeyTable:
    """One process's view of a key table file, kept in step with one CanaryIndex.

    `index` only ever takes canaries through this object (`append`, `remove`, `load`), so
    its rows are the file's rows. `load` replaces `index` by a new one when another process
    rewrote the file (compaction): callers read `table.index` after each call.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.index = CanaryIndex()
        self.watermark: Watermark | None = None
        self._generation: bytes | None = None
        self._offset = 0  # bytes of the file this index holds
        self._base_bytes = 0  # bytes of the first batch
        self._tail_bytes = 0  # bytes of the batches after it
        self._batches = 0

    # -- reading ----------------------------------------------------------------------------

    def load(self) -> int:
        """Read what other processes appended since the last call (everything the first
        time); returns how many canaries that added. A missing file is an empty table."""
        with self._locked(fcntl.LOCK_SH):
            return self._catch_up()

    def _catch_up(self) -> int:
        try:
            file = self.path.open("rb")
        except FileNotFoundError:
            if self._generation is not None:
                self._reset()
            return 0
        with file:
            head = file.read(_HEADER.size + 4)
            if not head and self._generation is None:
                return 0
            generation = _check_header(head)
            added = 0
            if generation != self._generation:
                added -= self.index.rows if self._generation is not None else 0
                self._reset()
                self._generation = generation
                self._offset = len(head)
            size = os.fstat(file.fileno()).st_size
            if size <= self._offset:
                return added
            # Mapped, not read: each batch is copied once, into the index. The map goes with
            # its last view; none is read after this call, whose lock keeps writers from
            # cutting the file's tail (see _cut_torn_tail) while it reads.
            mapped = mmap.mmap(file.fileno(), size, access=mmap.ACCESS_READ)
        before = self.index.rows
        for batch in _batches(memoryview(mapped)[self._offset :], self._offset):
            self._apply(batch)
            self._offset = batch.end
        return added + self.index.rows - before

    def _reset(self) -> None:
        self.index = CanaryIndex()
        self.watermark = None
        self._generation = None
        self._offset = self._base_bytes = self._tail_bytes = self._batches = 0

    def _apply(self, batch: _Batch) -> None:
        if batch.kind == _ADD:
            if batch.first_row != self.index.rows:
                raise KeyTableError(
                    f"{self.path}: a batch starts at row {batch.first_row}, "
                    f"after {self.index.rows} rows"
                )
            self.index.import_rows(_rows_of(batch, self.path))
        else:
            ids = bytes(batch.payload)
            self.index.remove(uuid.UUID(bytes=ids[at : at + 16]) for at in range(0, len(ids), 16))
        if batch.watermark is not None and (
            self.watermark is None or batch.watermark > self.watermark
        ):
            self.watermark = batch.watermark
        self._count_batch(len(batch.payload))

    # -- writing ----------------------------------------------------------------------------

    def append(self, entries: Iterable[IndexEntry]) -> int:
        """Add the entries this table does not hold yet, as one batch; returns how many.

        Under the lock, what other processes appended is read first, so the same canary
        appended by two processes at once is written once. The batch's watermark is the
        newest `minted_at` among the entries (entries without one leave it as it was).
        """
        with self._locked(fcntl.LOCK_EX):
            self._catch_up()
            self._cut_torn_tail()
            entries = list(entries)
            rows = self.index.rows_of(entries)
            added = len(rows.records)
            if not added:
                return 0
            fresh = set(rows.ids[at : at + 16] for at in range(0, len(rows.ids), 16))
            newest = max(
                (
                    (e.minted_at, e.id)
                    for e in entries
                    if e.minted_at is not None and e.id.bytes in fresh
                ),
                default=None,
            )
            self._write(_ADD, rows.first_row, added, _add_payload(rows), _watermark(newest))
            self.index.import_rows(rows)
            if newest is not None and (self.watermark is None or newest > self.watermark):
                self.watermark = newest
            if self._batches > COMPACT_AFTER_BATCHES or self._tail_bytes > self._base_bytes:
                self._rewrite()
            return added

    def remove(self, ids: Iterable[uuid.UUID]) -> int:
        """Stop matching these canaries, in this process and in every one that loads."""
        with self._locked(fcntl.LOCK_EX):
            self._catch_up()
            self._cut_torn_tail()
            held = [canary_id for canary_id in ids if canary_id in self.index]
            removed = self.index.remove(held)
            if removed:
                payload = b"".join(canary_id.bytes for canary_id in held)
                self._write(_REMOVE, 0, removed, payload, _watermark(None))
            return removed

    def compact(self) -> None:
        """Rewrite the file as one batch (and the removals): loads then read one key run."""
        with self._locked(fcntl.LOCK_EX):
            self._catch_up()
            self._rewrite()

    def _rewrite(self) -> None:
        rows = self.index.export_all()
        removed = self.index.removed_ids()
        generation = os.urandom(16)
        temporary = self.path.with_name(self.path.name + ".rewrite")
        with temporary.open("wb") as out:
            out.write(_header(generation))
            mark = _watermark(self.watermark)
            out.write(_batch(_ADD, 0, self.index.rows, _add_payload(rows), mark))
            if removed:
                ids = b"".join(canary_id.bytes for canary_id in removed)
                out.write(_batch(_REMOVE, 0, len(removed), ids, mark))
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
        os.replace(temporary, self.path)
        self._generation = generation
        self._offset = size
        self._base_bytes, self._tail_bytes = size, 0
        self._batches = 1 + bool(removed)

    def _write(self, kind: int, first_row: int, count: int, payload: bytes, mark: bytes) -> None:
        batch = _batch(kind, first_row, count, payload, mark)
        exists = self.path.exists()
        with self.path.open("r+b" if exists else "wb") as out:
            if not exists or self._generation is None:
                self._generation = os.urandom(16)
                out.write(_header(self._generation))
                self._offset = out.tell()
            out.seek(self._offset)
            out.write(batch)
            out.flush()
            os.fsync(out.fileno())
            self._offset = out.tell()
        self._count_batch(len(payload))

    def _count_batch(self, size: int) -> None:
        if self._batches == 0:
            self._base_bytes = size
        else:
            self._tail_bytes += size
        self._batches += 1

    def _cut_torn_tail(self) -> None:
        """Drop what a crashed writer left past the last whole batch (held: the lock)."""
        if self._generation is not None and self.path.stat().st_size > self._offset:
            os.truncate(self.path, self._offset)

    @contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(descriptor, mode)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock


# -- the format --------------------------------------------------------------------------


def _header(generation: bytes) -> bytes:
    head = _HEADER.pack(MAGIC, VERSION, generation, bytes(32))
    return head + struct.pack("<I", zlib.crc32(head))


def _check_header(head: bytes) -> bytes:
    if len(head) < _HEADER.size + 4:
        raise KeyTableError("the key table's header is cut short")
    magic, version, generation, _reserved = _HEADER.unpack_from(head)
    if magic != MAGIC:
        raise KeyTableError("not a key table (wrong magic)")
    if struct.unpack_from("<I", head, _HEADER.size)[0] != zlib.crc32(head[: _HEADER.size]):
        raise KeyTableError("the key table's header fails its checksum")
    if version != VERSION:
        raise KeyTableError(f"a key table of version {version}, this code reads {VERSION}")
    return bytes(generation)


def _watermark(newest: Watermark | None) -> bytes:
    if newest is None:
        return struct.pack("<q16s", _NO_TIME, bytes(16))
    moment = newest[0] if newest[0].tzinfo is not None else newest[0].replace(tzinfo=UTC)
    micros = (moment - _EPOCH) // timedelta(microseconds=1)
    return struct.pack("<q16s", micros, newest[1].bytes)


def _batch(kind: int, first_row: int, count: int, payload: bytes, mark: bytes) -> bytes:
    micros, canary_id = struct.unpack("<q16s", mark)
    head = _BATCH.pack(
        _BATCH_MAGIC, kind, first_row, count, len(payload), micros, canary_id,
        zlib.crc32(payload),
    )  # fmt: skip
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def _batches(view: memoryview, offset: int) -> Iterator[_Batch]:
    """The whole batches of `view` (the file from `offset` on); a torn last one ends it."""
    at = 0
    size = _BATCH.size + 4
    while at < len(view):
        if len(view) - at < size:
            return  # a header cut short: torn
        head = view[at : at + _BATCH.size]
        magic, kind, first_row, count, length, micros, canary_id, crc = _BATCH.unpack(head)
        header_ok = struct.unpack_from("<I", view, at + _BATCH.size)[0] == zlib.crc32(head)
        end = at + size + length
        last = end >= len(view)
        if not header_ok or magic != _BATCH_MAGIC or kind not in (_ADD, _REMOVE):
            if not bytes(view[at:]).strip(b"\x00"):
                return  # zeros where a crashed write had grown the file: torn
            raise KeyTableError(f"a damaged batch at byte {offset + at}")
        if end > len(view):
            return  # the payload is cut short: torn
        payload = view[at + size : end]
        if zlib.crc32(payload) != crc:
            if last:
                return
            raise KeyTableError(f"a batch at byte {offset + at} fails its checksum")
        watermark = None
        if micros != _NO_TIME:
            moment = _EPOCH + timedelta(microseconds=micros)
            watermark = (moment, uuid.UUID(bytes=bytes(canary_id)))
        yield _Batch(kind, first_row, count, watermark, payload, offset + end)
        at = end


def _add_payload(rows: RowsExport) -> bytes:
    records = _RECORD_SEP.join(rows.records)
    if records.count(_RECORD_SEP) != max(len(rows.records) - 1, 0):
        raise ValueError("a canary record holds the key table's record separator")
    anchors = [rows.anchors.get(kind, "").encode() for kind in ANCHOR_KINDS]
    sections = _SECTIONS.pack(len(rows.run.hashes), len(records), *map(len, anchors))
    return b"".join(
        [sections, rows.ids, rows.run.hashes.tobytes(), rows.run.rows.tobytes(), records, *anchors]
    )


def _rows_of(batch: _Batch, path: Path) -> RowsExport:
    payload = batch.payload
    keys, records_size, *anchor_sizes = _SECTIONS.unpack_from(payload)
    at = _SECTIONS.size
    ids = bytes(payload[at : at + 16 * batch.count])
    at += 16 * batch.count
    hashes, rows = array("q"), array("I")
    hashes.frombytes(payload[at : at + 8 * keys])
    at += 8 * keys
    rows.frombytes(payload[at : at + 4 * keys])
    at += 4 * keys
    records = bytes(payload[at : at + records_size]).split(_RECORD_SEP) if batch.count else []
    at += records_size
    anchors: dict[str, str] = {}
    for kind, size in zip(ANCHOR_KINDS, anchor_sizes, strict=True):
        anchors[kind] = str(payload[at : at + size], "utf-8")
        at += size
    if len(records) != batch.count or len(ids) != 16 * batch.count or at != len(payload):
        raise KeyTableError(f"{path}: a batch's sections do not add up")
    return RowsExport(batch.first_row, ids, records, KeyRun(hashes, rows), anchors)
