"""Reading JSON exports: an array of records, one object a line (NDJSON), or one object
holding a list of records; each record flattened into a row of dotted keys.

Arrays and NDJSON stream element by element; a file that is one object is read whole only
up to a bound, since it cannot be split before it is parsed.
"""

import json
import re
from collections.abc import Iterable, Iterator

from watchers.columns import header_field
from watchers.decoding import Encoding, decode_records, line_source, text_chunks
from watchers.dumpbase import Block, Context, DumpError, Layout, Peeked, RowBlocks, size_text
from watchers.textdump import record_batches

_WHOLE_JSON_BYTES = 64 << 20  # a JSON that is one object is read whole only up to this
_MAX_JSON_COLUMNS = 256
_JSON_GAP = re.compile(r"[\s,]*")


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


def read_json(
    source: Peeked, encoding: Encoding, start: str, member: str, context: Context
) -> Iterator[Block]:
    rows = _JsonRows(RowBlocks(context, member), context)
    first_line = start.partition("\n")[0].strip()
    if start.startswith("["):
        yield from _json_array(text_chunks(source, encoding, context), rows, member, context)
    elif first_line and _is_json_object(first_line):
        stream, codec = line_source(source, encoding)
        label = member or "the file"
        for records in record_batches(stream, context, label, False, False):
            for line in decode_records(records, codec, context, encoding.mixed).split("\n"):
                yield from _json_line(line, rows, context)
    else:
        yield from _json_whole(text_chunks(source, encoding, context), rows, member, context)
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
