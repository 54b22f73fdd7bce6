"""GB18030 to UTF-8 at native speed, with exactly the answer of Python's codec.

Python's GB18030 codec converts about 175 MB/s on a 2-core test machine and holds the
interpreter for the whole call, so a scan's matching thread waits while a run is transcoded.
The C library's iconv (glibc's; macOS's libiconv) converts the same text at 270-375 MB/s, and
ctypes lets go of the interpreter for the call, so the matching goes on beside it.

The two follow different editions of the standard for 44 codes (Python keeps the 2000
edition's private-use characters for ten vertical punctuation marks and fifteen radicals
that the 2005 edition maps to assigned characters; glibc refuses eighteen four-byte codes
Python accepts, and maps one the other way). So that a file reads the same on every path and
every machine, iconv's answer is used only when it holds none of the characters on which the
editions differ; otherwise, and wherever iconv is missing, fails its check against Python on
first use, or refuses a byte, Python's codec decodes the data (and raises as it does).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from functools import cache

from ahocorasick_rs import BytesAhoCorasick, MatchKind

# The characters iconv's GB18030 gives for codes Python's decodes to others (or refuses):
# ten vertical punctuation marks, U+1E3F and U+E7C7 (swapped), eight radicals beside 龙 and 龚
# at U+9FB4-9FBB, and six supplementary characters.
_DIFFERING = (
    "\u1e3f\ue7c7"
    + "".join(map(chr, range(0x9FB4, 0x9FBC)))
    + "".join(map(chr, range(0xFE10, 0xFE1A)))
    + "".join(map(chr, (0x20087, 0x20089, 0x200CC, 0x215D7, 0x2298F, 0x241FE)))
)
# What iconv must convert as Python does before it is used: ASCII, two- and four-byte codes,
# supplementary characters, and the radicals' neighbours 龙 龚 龄.
_PROBE = "name,张三丰,浙江省宁波市海曙区,龙龚龄,ÀÿĀ€\u0080\u3000\U00020000\U0002a6d6,13800138000\n"


def native_utf8(data: bytes) -> bytes | None:
    """iconv's UTF-8 for GB18030 `data`, or None where it cannot be trusted to equal
    Python's codec's (decode with that then, in pieces if the interpreter is shared)."""
    iconv = _iconv()
    if iconv is None:
        return None
    out = iconv.convert(data)
    if out is None or _differs(out):
        return None
    return out


def _differs(out: bytes) -> bool:
    """Whether iconv's output holds a character on which the editions differ: one pass of an
    automaton, without the interpreter's lock."""
    return bool(_differing().find_matches_as_indexes(out))


@cache
def _differing() -> BytesAhoCorasick:
    # Leftmost matching lets the automaton use its SIMD prefilter: about 14 GB/s, not 1.
    return BytesAhoCorasick([c.encode() for c in _DIFFERING], matchkind=MatchKind.LeftmostFirst)


class _Iconv:
    """GB18030 to UTF-8 through the C library's iconv; one conversion descriptor a call (a
    descriptor holds state and must not be shared between threads)."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._open = lib.iconv_open
        self._open.restype = ctypes.c_void_p
        self._open.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        self._iconv = lib.iconv
        self._iconv.restype = ctypes.c_size_t
        pointer, size = ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t)
        self._iconv.argtypes = [ctypes.c_void_p, pointer, size, pointer, size]
        self._close = lib.iconv_close
        self._close.restype = ctypes.c_int
        self._close.argtypes = [ctypes.c_void_p]
        self._local = threading.local()

    def convert(self, data: bytes) -> bytes | None:
        """The UTF-8 of `data`, or None when iconv refuses it (or cannot start)."""
        descriptor = self._open(b"UTF-8", b"GB18030")
        if descriptor is None or descriptor == ctypes.c_void_p(-1).value:
            return None
        try:
            # A character of 1, 2 or 4 bytes becomes at most 1, 3 or 4 in UTF-8.
            out = self._buffer(len(data) * 3 // 2 + 4)
            capacity = len(out)
            source, left = ctypes.c_char_p(data), ctypes.c_size_t(len(data))
            target, room = ctypes.cast(out, ctypes.c_char_p), ctypes.c_size_t(capacity)
            failed = (
                self._iconv(
                    descriptor,
                    ctypes.byref(source),
                    ctypes.byref(left),
                    ctypes.byref(target),
                    ctypes.byref(room),
                )
                == ctypes.c_size_t(-1).value
            )
            if failed or left.value:
                return None
            return ctypes.string_at(out, capacity - room.value)
        finally:
            self._close(descriptor)

    def _buffer(self, size: int) -> ctypes.Array[ctypes.c_char]:
        """This thread's output buffer, grown to `size` (zeroing a fresh one costs about a
        sixth of converting into it)."""
        buffer: ctypes.Array[ctypes.c_char] | None = getattr(self._local, "buffer", None)
        if buffer is None or len(buffer) < size:
            buffer = self._local.buffer = ctypes.create_string_buffer(size)
        return buffer


@cache
def _iconv() -> _Iconv | None:
    """The C library's iconv if it converts the probe as Python does; else None."""
    probe = _PROBE.encode("gb18030")
    # The interpreter's own symbols hold the C library's iconv on glibc and macOS; a
    # separate libiconv is looked for only where they do not.
    for find in (_own_symbols, _libiconv):
        try:
            iconv = _Iconv(ctypes.CDLL(find()))
        except (OSError, AttributeError):
            continue
        if iconv.convert(probe) == _PROBE.encode():
            return iconv
    return None


def _own_symbols() -> str | None:
    return None  # dlopen(NULL): the interpreter and the libraries it links


def _libiconv() -> str | None:
    return ctypes.util.find_library("iconv")
