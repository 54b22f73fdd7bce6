"""Scanning one leaked file: read it block by block, match every block, keep only evidence.

What a scan keeps is the file's sha256 and size, its row counts and skips, and the matched
rows; the other rows pass through memory one block at a time and are never stored.
"""

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from canaries.matching import Matcher, RowMatch
from watchers.dumpbase import Block, Readable
from watchers.dumps import DumpError, DumpLimits, DumpReport, read_dump_columnar
from watchers.tables import TextRun


@dataclass
class ScanProgress:
    bytes_read: int
    rows: int
    matches: int
    seconds: float

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes_read / 1e6 / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ScanResult:
    name: str
    sha256: str
    size: int
    report: DumpReport
    matches: list[RowMatch] = field(default_factory=list)
    error: str | None = None  # why reading stopped early; the counts say how far it got
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return self.error is None


class _Hashing:
    def __init__(self, stream: Readable) -> None:
        self.stream = stream
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self.stream.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data

    def drain(self, chunk: int = 1 << 20) -> None:
        """Read what the reader left (trailing bytes, an error's rest) so the hash is the
        whole file's."""
        while self.read(chunk):
            pass


def scan_stream(
    stream: Readable,
    name: str,
    matcher: Matcher,
    limits: DumpLimits | None = None,
    on_progress: Callable[[ScanProgress], None] | None = None,
) -> ScanResult:
    """Scan a whole file. A file that cannot be read to the end gives a result whose `error`
    says why, with the rows and matches found before it: never a silent partial result."""
    limits = limits or DumpLimits()
    report = DumpReport()
    hashing = _Hashing(stream)
    result = ScanResult(name=name, sha256="", size=0, report=report)
    started = time.perf_counter()
    try:
        for block in read_dump_columnar(hashing, name, limits, report):
            if isinstance(block, Block):
                result.matches.extend(matcher.scan(block))
            elif isinstance(block, TextRun):
                result.matches.extend(matcher.scan_text(block))
            else:
                result.matches.extend(matcher.scan_table(block))
            if on_progress is not None:
                on_progress(
                    ScanProgress(
                        hashing.size,
                        report.rows,
                        len(result.matches),
                        time.perf_counter() - started,
                    )
                )
    except DumpError as error:
        result.error = str(error)
    hashing.drain()
    result.sha256 = hashing.sha256.hexdigest()
    result.size = hashing.size
    result.seconds = time.perf_counter() - started
    return result
