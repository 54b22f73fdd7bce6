"""Decoding a leaked text member: which encoding it is in, and its bytes as lines or text.

Leaks are GBK, UTF-8 with or without a BOM, or UTF-16, and dumps glued together from several
sources mix them line by line; the text, JSON and HTML readers all decode through here.
"""

import codecs
from collections.abc import Iterator
from dataclasses import dataclass

from watchers.dumpbase import SNIFF_BYTES, Context, NotTextError, Peeked, Readable, read_full

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig", "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be"),
)
# When a line does not decode in the file's encoding, the other common one is tried.
_OTHER_ENCODING = {"utf-8": "gb18030", "gb18030": "utf-8"}


@dataclass(frozen=True, slots=True)
class Encoding:
    label: str  # as counted in the report
    codec: str  # what decodes the bytes after the BOM
    bom: int  # bytes of BOM to drop
    mixed: bool = False  # GB18030 with UTF-8 lines among them: each line is tried as UTF-8


def _decodes(data: bytes, codec: str) -> bool:
    try:
        codecs.getincrementaldecoder(codec)().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(head: bytes, label: str) -> Encoding:
    for bom, name, codec in _BOMS:
        if head.startswith(bom):
            return Encoding(name, codec, len(bom))
    if not head.strip(b"\x00"):
        raise NotTextError(f"{label} holds nothing but NUL bytes")
    if b"\x00" in head:
        # UTF-16 without a BOM: ASCII text leaves a NUL in every other byte.
        pairs = max(len(head) // 2, 1)
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if odd * 8 >= pairs and even * 8 <= odd:
            return Encoding("utf-16-le", "utf-16-le", 0)
        if even * 8 >= pairs and odd * 8 <= even:
            return Encoding("utf-16-be", "utf-16-be", 0)
        # A few NULs inside text are damage or mischief (removed before matching); many are
        # binary data, as watchers.dumpbase.without_padding judges further on.
        nuls = head.rstrip(b"\x00").count(0)
        if nuls > 8 and nuls * 1000 > len(head):
            raise NotTextError(f"{label} holds binary data (NUL bytes), not text")
        head = head.rstrip(b"\x00")  # padding after the text
    complete = head
    if len(head) >= SNIFF_BYTES and b"\n" in head:
        complete = head[: head.rfind(b"\n") + 1]
    if _decodes(complete, "utf-8"):
        return Encoding("utf-8", "utf-8", 0)
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
        raise NotTextError(f"{label} has no text in UTF-8, UTF-16 or GB18030")
    if utf8 > gb18030:
        return Encoding("utf-8", "utf-8", 0)
    return Encoding("gb18030", "gb18030", 0, mixed=utf8 > 0)


def head_text(head: bytes, encoding: Encoding) -> str:
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


def line_source(
    source: Peeked, encoding: Encoding, carriage_returns: bool = False
) -> tuple[Readable, str]:
    """A byte stream in which b"\\n" ends a line, and the codec of its lines."""
    if encoding.bom:
        source.read(encoding.bom)
    stream: Readable = source
    codec = encoding.codec
    if codec.startswith("utf-16"):
        stream, codec = _Transcoded(source, codec), "utf-8"
    return (_CarriageReturns(stream) if carriage_returns else stream), codec


def text_chunks(source: Peeked, encoding: Encoding, context: Context) -> Iterator[str]:
    if encoding.bom:
        source.read(encoding.bom)
    decoder = codecs.getincrementaldecoder(encoding.codec)(errors="replace")
    while data := read_full(source, max(context.limits.block_bytes, 1)):
        text = decoder.decode(data)
        if text:
            yield text
    text = decoder.decode(b"", final=True)
    if text:
        yield text


def decode_records(records: list[bytes], codec: str, context: Context, mixed: bool = False) -> str:
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
