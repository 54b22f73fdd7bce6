"""The columnar scan engine's edge cases: tables read into columns in runs, and what a
leaked file does to them (quoted newlines across runs, BOMs, mixed encodings, no header,
over-long lines, ragged rows, control and bidi characters). Each canary must come back at
its row, nobody else, and the row counts must be those of the line reader.
"""

import io
import random
import uuid
from datetime import date

import pytest

from canaries.couriers import Courier
from canaries.index import CanaryIndex, entry_of
from canaries.matching import Matcher
from canaries.mint import LinkProfile, MintedCanary, Minter
from watchers import tables
from watchers.dumps import DumpLimits, DumpReport, read_dump
from watchers.scan import ScanResult, scan_stream

WINDOW = (date(2026, 10, 1), date(2026, 10, 31))
HEADER = ["收货人姓名", "联系手机", "收货地址", "物流单号"]
# Runs of 16 KiB, so a few hundred rows cross many run boundaries.
SMALL = DumpLimits(block_bytes=4096, max_line_bytes=2048)


def _mint(seed: int, count: int) -> list[MintedCanary]:
    return Minter(
        LinkProfile(Courier.ZTO, window=WINDOW), random.Random(seed), control_share=0
    ).mint(count)


CANARIES = _mint(1, 20)
STRANGERS = _mint(2, 600)


def _index() -> tuple[CanaryIndex, dict[bytes, MintedCanary]]:
    index = CanaryIndex()
    ids = [uuid.UUID(int=n + 1) for n in range(len(CANARIES))]
    index.add(entry_of(c, i) for c, i in zip(CANARIES, ids, strict=True))
    return index, {i.bytes: c for c, i in zip(CANARIES, ids, strict=True)}


def _cells(person: MintedCanary) -> list[str]:
    name = person.name[0] + "*" + person.name[-1] if len(person.name) > 2 else person.name
    address = person.province + person.city + person.district + person.address[:8] + "***"
    return [name, person.mobile, address, person.waybill_no]


def _table(rng: random.Random) -> tuple[list[list[str]], dict[int, MintedCanary]]:
    people = [(s, False) for s in STRANGERS] + [(c, True) for c in CANARIES]
    rng.shuffle(people)
    rows = [_cells(person) for person, _ in people]
    planted = {n: person for n, (person, is_canary) in enumerate(people, 1) if is_canary}
    return rows, planted


def _scan(data: bytes, name: str = "leak.csv", limits: DumpLimits = SMALL) -> ScanResult:
    index, _ = _index()
    return scan_stream(io.BytesIO(data), name, Matcher(index), limits)


def _found(result: ScanResult) -> dict[int, MintedCanary]:
    _, by_id = _index()
    return {m.row: by_id[m.match.canary.id] for m in result.matches}


def _line_reader_rows(data: bytes, name: str = "leak.csv") -> int:
    report = DumpReport()
    for _ in read_dump(io.BytesIO(data), name, SMALL, report):
        pass
    return report.rows


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("gb18030", b""), ("utf-16-le", b"\xff\xfe")],
)
@pytest.mark.parametrize("header", [True, False])
def test_a_table_in_every_encoding_with_or_without_header(
    encoding: str, bom: bytes, header: bool
) -> None:
    rows, planted = _table(random.Random(3))
    lines = ([",".join(HEADER)] if header else []) + [",".join(r) for r in rows]
    data = bom + "\r\n".join(lines).encode(encoding) + "\r\n".encode(encoding)
    result = _scan(data)
    assert result.error is None
    assert _found(result) == planted
    assert result.report.rows == len(rows) == _line_reader_rows(data)


def test_quoted_cells_with_delimiters_and_newlines_cross_runs_intact() -> None:
    rows, planted = _table(random.Random(4))
    lines = [",".join(HEADER)]
    for n, (name, mobile, address, waybill) in enumerate(rows):
        # Every third address quoted with a comma, a doubled quote and a newline inside.
        if n % 3 == 0:
            address = f'"{address[:6]},\n"" 门口 ""{address[6:]}"'
        lines.append(",".join((name, mobile, address, waybill)))
    data = ("\n".join(lines) + "\n").encode()
    result = _scan(data)
    assert _found(result) == planted
    assert result.report.rows == len(rows) == _line_reader_rows(data)
    assert all("\n" not in m.line for m in result.matches)


def test_utf8_lines_in_a_gb18030_table_are_read_as_utf8() -> None:
    rows, planted = _table(random.Random(5))
    lines = [",".join(HEADER).encode("gb18030")]
    for n, row in enumerate(rows):
        lines.append(",".join(row).encode("utf-8" if n % 7 == 3 else "gb18030"))
    data = b"\n".join(lines) + b"\n"
    result = _scan(data)
    assert _found(result) == planted
    assert result.report.rows == len(rows)


def test_over_long_lines_are_skipped_and_counted_and_the_rest_read() -> None:
    rows, planted = _table(random.Random(6))
    lines = [",".join(HEADER)]
    long_lines = 0
    shifted: dict[int, MintedCanary] = {}
    for n, row in enumerate(rows, 1):
        if n % 97 == 0:
            lines.append("x" * (SMALL.max_line_bytes + 1 + 500 * (n % 3)))
            long_lines += 1
        lines.append(",".join(row))
        if n in planted:
            shifted[n] = planted[n]
    lines.append("y" * 50_000)  # longer than a whole run, at the very end
    data = ("\n".join(lines) + "\n").encode()
    result = _scan(data)
    assert _found(result) == shifted
    assert result.report.skipped["line longer than 2 KiB"] == long_lines + 1
    assert result.report.rows == len(rows)


def test_ragged_rows_are_read_line_by_line() -> None:
    rows, planted = _table(random.Random(7))
    lines = [",".join(HEADER)]
    for n, (name, mobile, address, waybill) in enumerate(rows, 1):
        # An unquoted comma in some addresses (half the canaries'): a cell too many.
        if n % 10 == 0 or (n in planted and n % 2):
            address = address.replace("省", "省,", 1).replace("市", "市,", 1)
        lines.append(",".join((name, mobile, address, waybill)))
    data = ("\n".join(lines) + "\n").encode()
    result = _scan(data)
    assert _found(result) == planted


HOSTILE = ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\x9b", "\u200b", "\u202e", "\u2067", "\ufeff"]


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_control_and_bidi_characters_in_cells_neither_crash_nor_hide_a_canary(
    encoding: str,
) -> None:
    rng = random.Random(8)
    rows, planted = _table(rng)
    lines = [",".join(HEADER)]
    for n, row in enumerate(rows, 1):
        cells = list(row)
        if n in planted or n % 5 == 0:
            column = rng.randrange(4)
            at = rng.randrange(1, len(cells[column]))
            cells[column] = cells[column][:at] + rng.choice(HOSTILE) + cells[column][at:]
        lines.append(",".join(cells))
    data = ("\n".join(lines) + "\n").encode(encoding, errors="replace")
    result = _scan(data)
    assert result.error is None
    assert _found(result) == planted
    assert all(not set(m.line) & set("".join(HOSTILE)) for m in result.matches)


def test_a_table_that_turns_into_binary_stops_with_a_reason() -> None:
    rows, _ = _table(random.Random(9))
    text = ("\n".join(",".join(r) for r in rows) + "\n").encode() * 3  # past the sniffed head
    result = _scan(text + bytes(range(256)) * 200 + text)
    assert result.error is not None and "binary" in result.error
    assert result.report.rows > 0


def test_a_gb18030_run_is_transcoded_in_pieces_exactly_as_whole() -> None:
    """Pieces of a MiB end on a newline: two- and four-byte characters on every side of
    every cut come out as one decode of the whole run gives them, and a run with a byte
    that is not GB18030 anywhere is still refused whole (then read line by line)."""
    rng = random.Random(5)
    alphabet = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗浙江省杭州市西湖区路号𠀀𠀁€·—“”abc123,"
    lines = ["".join(rng.choices(alphabet, k=rng.randint(1, 300))) for _ in range(40_000)]
    run = "\n".join(lines).encode("gb18030") + b"\n"
    assert len(run) > 3 * tables._PIECE_BYTES
    assert tables._utf8(run, "gb18030", False, False) == run.decode("gb18030").encode()
    broken = run[: 2 * tables._PIECE_BYTES + 7] + b"\xff\xff" + run[2 * tables._PIECE_BYTES + 7 :]
    assert tables._utf8(broken, "gb18030", False, False) is None
