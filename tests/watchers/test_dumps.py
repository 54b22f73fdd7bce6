"""The streaming dump reader: every format and encoding seen in leaks, and every way to fail."""

import gzip
import io
import json
import random
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from watchers.dumps import (
    FREE_TEXT,
    Block,
    DumpError,
    DumpLimits,
    DumpReport,
    Layout,
    read_dump,
    sniff_layout,
)

HEADER = "收货人,手机号码,收货地址,快递单号"
PEOPLE = [
    ("张伟", "13800001234", "北京市朝阳区建国路88号", "SF1234567890123"),
    ("王芳", "13900005678", "上海市浦东新区世纪大道100号", "YT1234567890123"),
    ("李娜", "13700009012", "广东省广州市天河区体育西路1号", "SF1234567890456"),
]
CSV_FIELDS = ("name", "mobile", "address", "waybill_no")


class Pipe:
    """A stream that cannot seek, like an upload or a socket; short reads on purpose."""

    def __init__(self, data: bytes, most: int = 1 << 16) -> None:
        self._data = io.BytesIO(data)
        self._most = most

    def read(self, size: int = -1, /) -> bytes:
        return self._data.read(self._most if size < 0 else min(size, self._most))


def read_all(
    data: bytes, name: str = "dump.csv", limits: DumpLimits | None = None, pipe: bool = False
) -> tuple[list[Block], DumpReport]:
    report = DumpReport()
    stream = Pipe(data) if pipe else io.BytesIO(data)
    blocks = list(read_dump(stream, name, limits or DumpLimits(), report))
    return blocks, report


def rows_of(blocks: list[Block]) -> list[tuple[str, int, str]]:
    """(member, row number, line) for every line of every block."""
    return [
        (block.member, block.first_row + index, line)
        for block in blocks
        for index, line in enumerate(block.text.split("\n"))
    ]


def csv_bytes(encoding: str, rows: int = 3) -> bytes:
    lines = [HEADER, *(",".join(PEOPLE[i % 3]) for i in range(rows))]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def deflated_zeros(mebibytes: int) -> bytes:
    """A gzip of zeros made a MiB at a time, never holding the zeros whole."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    parts = [compressor.compress(zeros) for _ in range(mebibytes)]
    return b"".join([*parts, compressor.flush()])


# -- delimited text -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "label"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("gb18030", "gb18030"),
        ("gbk", "gb18030"),
        ("utf-16", "utf-16-le"),
        ("utf-16-le", "utf-16-le"),
        ("utf-16-be", "utf-16-be"),
    ],
)
def test_a_csv_with_a_chinese_header_reads_in_every_encoding(encoding: str, label: str) -> None:
    blocks, report = read_all(csv_bytes(encoding))
    assert [b.layout for b in blocks] == [Layout(",", CSV_FIELDS)]
    assert rows_of(blocks) == [("", i + 1, ",".join(p)) for i, p in enumerate(PEOPLE)]
    assert report.rows == 3
    assert report.encodings == {label: 1}
    assert not report.skipped


def test_a_csv_without_a_header_is_guessed_by_content() -> None:
    data = "\n".join(f"{w},{a},{n},{m}" for n, m, a, w in PEOPLE * 5).encode()
    blocks, report = read_all(data)
    assert blocks[0].layout == Layout(",", ("waybill_no", "address", "name", "mobile"))
    assert rows_of(blocks)[0] == ("", 1, "SF1234567890123,北京市朝阳区建国路88号,张伟,13800001234")
    assert report.rows == 15


def test_plain_text_with_four_dashes_keeps_its_delimiter() -> None:
    data = "\n".join(f"{n}----{m}----{a}" for n, m, a, _ in PEOPLE).encode("gb18030")
    blocks, report = read_all(data, "泄露.txt")
    assert blocks[0].layout == Layout("----", ("name", "mobile", "address"))
    assert rows_of(blocks)[1] == ("", 2, "王芳----13900005678----上海市浦东新区世纪大道100号")
    assert report.encodings == {"gb18030": 1}


def test_a_tsv_with_a_header_and_masked_mobiles() -> None:
    lines = ["姓名\t手机\t省份\t城市\t区县", "张*伟\t138****5678\t浙江省\t杭州市\t西湖区"]
    blocks, report = read_all("\n".join(lines).encode(), "orders.tsv")
    assert blocks[0].layout == Layout("\t", ("name", "mobile", "province", "city", "district"))
    assert rows_of(blocks) == [("", 1, lines[1])]
    assert report.rows == 1


def test_free_text_is_free_text() -> None:
    lines = [
        "【顺丰速运】您的快件已到达北京朝阳网点，派件员张伟 13800001234",
        "客服：您好，请问有什么可以帮您？",
        "买家 王芳 上海市浦东新区世纪大道100号 13900005678",
    ]
    assert sniff_layout(lines) == FREE_TEXT
    blocks, _report = read_all("\n".join(lines).encode(), "sms.txt")
    assert [b.layout for b in blocks] == [FREE_TEXT]
    assert rows_of(blocks)[2] == ("", 3, lines[2])


def test_one_value_a_line_is_a_column_when_the_values_say_so() -> None:
    mobiles = ["13800001234", "139****5678", "13700009012"]
    blocks, report = read_all("\n".join(["手机号码", *mobiles]).encode(), "phones.txt")
    assert [b.layout for b in blocks] == [Layout("\t", ("mobile",))]
    assert rows_of(blocks) == [("", i + 1, m) for i, m in enumerate(mobiles)]
    assert report.rows == 3
    assert sniff_layout(mobiles) == Layout("\t", ("mobile",))
    # A header word over lines of prose does not make a column.
    assert sniff_layout(["收件人", "您的快件已到达北京朝阳网点", "请凭取件码取件"]) == FREE_TEXT


def test_sniff_layout_prefers_the_delimiter_that_splits_consistently() -> None:
    # The addresses hold commas; only the pipe splits every line the same way.
    lines = ["收件人|手机|地址", *(f"{n}|{m}|{a},近地铁" for n, m, a, _ in PEOPLE)]
    assert sniff_layout(lines) == Layout("|", ("name", "mobile", "address"))
    assert sniff_layout([]) == FREE_TEXT


def test_quoted_newlines_stay_in_one_row() -> None:
    data = (
        '收货人,手机号码,收货地址\n张伟,13800001234,"北京市朝阳区\n建国路88号"\n'
        '王芳,13900005678,"上海市""浦东""新区"\n'
    ).encode()
    blocks, report = read_all(data)
    assert rows_of(blocks) == [
        ("", 1, '张伟,13800001234,"北京市朝阳区 建国路88号"'),
        ("", 2, '王芳,13900005678,"上海市""浦东""新区"'),
    ]
    assert report.rows == 2


@pytest.mark.parametrize("quoted", [False, True])
def test_small_blocks_lose_and_repeat_no_row(quoted: bool) -> None:
    people = [(f"张伟{i}", f"138{i:08d}", f"北京市朝阳区建国路{i}号") for i in range(500)]
    cell = '"{}"' if quoted else "{}"
    lines = [",".join(cell.format(c) for c in p) for p in people]
    if quoted:  # every tenth address breaks across two lines
        lines = [
            ln.replace("建国路", "\n建国路") if i % 10 == 0 else ln for i, ln in enumerate(lines)
        ]
    data = ("收货人,手机号码,收货地址\n" + "\n".join(lines)).encode()
    blocks, report = read_all(data, limits=DumpLimits(block_bytes=300), pipe=True)
    assert len(blocks) > 50
    assert all(len(b.text.encode()) < 600 for b in blocks)
    rows = rows_of(blocks)
    assert [row for _, row, _ in rows] == list(range(1, 501))
    assert [line for _, _, line in rows] == [ln.replace("\n", " ") for ln in lines]
    assert report.rows == 500


def test_a_line_longer_than_the_limit_is_skipped_without_holding_it() -> None:
    long_line = b"x" * (10 << 20)
    data = csv_bytes("utf-8", 2) + long_line + b"\n" + ",".join(PEOPLE[2]).encode() + b"\n"
    limits = DumpLimits(max_line_bytes=1 << 20, block_bytes=256 << 10)
    tracemalloc.start()
    try:
        blocks, report = read_all(data, limits=limits, pipe=True)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    assert report.skipped == {"line longer than 1 MiB": 1}
    assert [line for _, _, line in rows_of(blocks)] == [",".join(p) for p in PEOPLE]
    assert report.rows == 3


def test_mixed_encodings_are_decoded_line_by_line() -> None:
    data = (
        csv_bytes("utf-8", 2)
        + ",".join(PEOPLE[2]).encode("gb18030")
        + b"\n"
        + "赵敏,13600003456,天津市和平区南京路5号,SF1234567890789\n".encode()
        + b"\xff\xfe\xfd,13500001111,,\n"
    )
    blocks, report = read_all(data)
    lines = [line for _, _, line in rows_of(blocks)]
    assert lines[2] == ",".join(PEOPLE[2])
    assert lines[3].startswith("赵敏,13600003456")
    assert lines[4].endswith(",13500001111,,")
    assert report.skipped == {"line re-decoded as gb18030": 1, "line with undecodable bytes": 1}
    assert report.encodings == {"utf-8": 1}


@pytest.mark.parametrize("utf8_in_head", [True, False])
def test_utf8_lines_in_a_gbk_file_are_not_read_as_gbk(utf8_in_head: bool) -> None:
    utf8 = "赵敏,13600003456,天津市和平区南京路5号,SF1234567890789\n".encode()
    gbk = csv_bytes("gbk", 3)
    data = gbk + utf8 if utf8_in_head else gbk + b" " * 70_000 + b"\n" + utf8
    blocks, report = read_all(data, limits=DumpLimits(block_bytes=1000))
    lines = [line for _, _, line in rows_of(blocks) if line.strip()]
    assert lines == [*(",".join(p) for p in PEOPLE), utf8.decode().strip()]
    assert report.encodings == {"gb18030": 1}
    assert report.skipped == {"line re-decoded as utf-8": 1}


def test_old_mac_line_ends_split_lines() -> None:
    data = csv_bytes("gbk").replace(b"\r\n", b"\r")
    blocks, report = read_all(data, pipe=True)
    assert [b.layout for b in blocks] == [Layout(",", CSV_FIELDS)]
    assert [line for _, _, line in rows_of(blocks)] == [",".join(p) for p in PEOPLE]
    assert report.rows == 3


def test_binary_junk_is_refused_with_a_reason() -> None:
    junk = random.Random(7).randbytes(100_000)
    with pytest.raises(DumpError, match="binary"):
        read_all(junk, "dump.csv")
    with pytest.raises(DumpError, match="PNG"):
        read_all(b"\x89PNG\r\n\x1a\n" + junk, "dump.csv")


def test_text_that_turns_binary_partway_stops_with_an_error() -> None:
    junk = random.Random(7).randbytes(200_000)
    data = csv_bytes("utf-8", 3000) + junk + csv_bytes("utf-8")
    report = DumpReport()
    blocks = read_dump(io.BytesIO(data), "x.csv", DumpLimits(block_bytes=64 << 10), report)
    first = next(blocks)
    with pytest.raises(DumpError, match=r"binary data \(NUL bytes\) partway"):
        list(blocks)
    assert first.text.startswith("张伟,13800001234")


def test_nul_padding_at_the_end_is_dropped_and_counted() -> None:
    blocks, report = read_all(csv_bytes("utf-8") + bytes(100_000), "recovered.csv")
    assert [line for _, _, line in rows_of(blocks)] == [",".join(p) for p in PEOPLE]
    assert report.skipped == {"NUL padding bytes": 100_000}


# -- gzip -----------------------------------------------------------------------------


def test_a_gzip_is_read_through_and_its_inner_name_decides() -> None:
    blocks, report = read_all(gzip.compress(csv_bytes("gb18030")), "export.csv.gz", pipe=True)
    assert [b.layout for b in blocks] == [Layout(",", CSV_FIELDS)]
    assert [line for _, _, line in rows_of(blocks)] == [",".join(p) for p in PEOPLE]
    assert report.encodings == {"gb18030": 1}
    assert report.bytes_read == len(gzip.compress(csv_bytes("gb18030")))


def test_concatenated_gzip_members_are_one_file() -> None:
    first = "\n".join(f"{n}----{m}" for n, m, _, _ in PEOPLE[:2]) + "\n"
    second = f"{PEOPLE[2][0]}----{PEOPLE[2][1]}\n"
    data = gzip.compress(first.encode()) + gzip.compress(second.encode())
    blocks, _report = read_all(data, "a.txt.gz")
    assert [line for _, _, line in rows_of(blocks)] == [f"{n}----{m}" for n, m, _, _ in PEOPLE]


def test_a_truncated_gzip_says_so() -> None:
    data = gzip.compress(csv_bytes("utf-8", 2000))
    with pytest.raises(DumpError, match="truncated"):
        read_all(data[: len(data) // 2], "dump.csv.gz")
    with pytest.raises(DumpError, match="truncated"):
        read_all(data[:-4], "dump.csv.gz")


def test_a_gzip_bomb_is_stopped_as_it_inflates() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    line = ",".join(PEOPLE[0]).encode() + b"\n"
    chunk = line * ((1 << 20) // len(line))
    bomb = b"".join([*(compressor.compress(chunk) for _ in range(200)), compressor.flush()])
    started = time.perf_counter()
    with pytest.raises(DumpError, match="zip bomb"):
        read_all(bomb, "orders.csv.gz", DumpLimits(max_ratio=100))
    assert time.perf_counter() - started < 5


def test_the_total_size_limit_counts_decompressed_bytes() -> None:
    data = gzip.compress(csv_bytes("utf-8", 5000))
    with pytest.raises(DumpError, match="past the limit of 100 KiB"):
        read_all(data, "dump.csv.gz", DumpLimits(max_uncompressed_bytes=100 << 10))


# -- zip ------------------------------------------------------------------------------


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_with_members_and_a_nested_gzip() -> None:
    tsv = "姓名\t手机\n张伟\t13800001234\n王芳\t13900005678\n".encode("utf-16")
    data = zip_bytes(
        {
            "export/": b"",
            "export/a.csv": csv_bytes("gb18030"),
            "export/b.tsv.gz": gzip.compress(tsv),
            "__MACOSX/export/._a.csv": b"\x00\x05\x16\x07",
        }
    )
    for pipe in (False, True):
        blocks, report = read_all(data, "leak.zip", pipe=pipe)
        assert report.members == ["export/a.csv", "export/b.tsv.gz"]
        assert rows_of(blocks) == [
            *(("export/a.csv", i + 1, ",".join(p)) for i, p in enumerate(PEOPLE)),
            ("export/b.tsv.gz", 1, "张伟\t13800001234"),
            ("export/b.tsv.gz", 2, "王芳\t13900005678"),
        ]
        assert blocks[-1].layout == Layout("\t", ("name", "mobile"))
        assert report.encodings == {"gb18030": 1, "utf-16-le": 1}
        assert report.skipped == {"macOS metadata member": 1}
        assert report.rows == 5


def test_a_zip_file_on_disk_is_read_in_place(tmp_path: Path) -> None:
    path = tmp_path / "leak.zip"
    path.write_bytes(zip_bytes({"a.csv": csv_bytes("utf-8"), "b.txt": b"13800001234"}))
    report = DumpReport()
    with path.open("rb") as file:
        blocks = list(read_dump(file, "leak.zip", DumpLimits(), report))
    assert rows_of(blocks)[-1] == ("b.txt", 1, "13800001234")
    assert report.members == ["a.csv", "b.txt"]
    assert report.bytes_read == path.stat().st_size


def test_zip_member_names_in_gbk_are_read_as_chinese() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("orders.csv", csv_bytes("utf-8", 1))
    raw = buffer.getvalue().replace(b"orders.csv", "订单ab.csv".encode("gbk"))
    assert len("订单ab.csv".encode("gbk")) == len(b"orders.csv")
    _blocks, report = read_all(raw, "leak.zip")
    assert report.members == ["订单ab.csv"]


def test_zips_nested_deeper_than_the_limit_are_skipped_and_counted() -> None:
    inner = zip_bytes({"deep.zip": zip_bytes({"a.csv": csv_bytes("utf-8")})})
    blocks, report = read_all(zip_bytes({"mid.zip": inner}), "top.zip")
    assert blocks == []
    assert report.skipped == {"container nested deeper than 2": 1}
    blocks, report = read_all(inner, "top.zip")
    assert [m for m, _, _ in rows_of(blocks)] == ["deep.zip:a.csv"] * 3


def test_binary_and_encrypted_members_are_skipped_others_read() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(100))
        archive.writestr("secret.csv", b"ciphertext")
        archive.writestr("a.csv", csv_bytes("utf-8"))
    raw = bytearray(buffer.getvalue())
    # Mark secret.csv encrypted (general purpose flag bit 0) in both of its headers.
    raw[raw.index(b"secret.csv") - 30 + 6] |= 1
    raw[raw.rindex(b"secret.csv") - 46 + 8] |= 1
    blocks, report = read_all(bytes(raw), "leak.zip")
    assert report.skipped == {"member that is not text": 1, "encrypted member": 1}
    assert report.members == ["photo.png", "secret.csv", "a.csv"]
    assert [m for m, _, _ in rows_of(blocks)] == ["a.csv"] * 3


def test_a_zip_bomb_is_refused_before_inflating() -> None:
    buffer = io.BytesIO()
    zeros = bytes(1 << 20)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.csv", "w") as member,
    ):
        for _ in range(200):
            member.write(zeros)
    limits = DumpLimits(max_uncompressed_bytes=1 << 30)
    with pytest.raises(DumpError, match="zip bomb"):
        read_all(buffer.getvalue(), "bomb.zip", limits)
    with pytest.raises(DumpError, match="past the limit"):
        read_all(buffer.getvalue(), "bomb.zip", DumpLimits(max_uncompressed_bytes=100 << 20))


def test_a_truncated_zip_says_so() -> None:
    data = zip_bytes({"a.csv": csv_bytes("utf-8", 500)})
    with pytest.raises(DumpError, match="truncated or damaged ZIP"):
        read_all(data[: len(data) // 2], "leak.zip", pipe=True)


# -- xlsx -----------------------------------------------------------------------------

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def xlsx_bytes(sheets: dict[str, str], shared: list[str], prolog: str = "") -> bytes:
    """A minimal workbook: the parts the reader needs, written by hand."""
    head = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>{prolog}'
    entries = "".join(
        f'<sheet name="{name}" sheetId="{i}" r:id="rId{i}"/>' for i, name in enumerate(sheets, 1)
    )
    rels = "".join(
        f'<Relationship Id="rId{i}" Target="worksheets/sheet{i}.xml" Type="x"/>'
        for i in range(1, len(sheets) + 1)
    )
    strings = "".join(f"<si><t>{s}</t></si>" for s in shared)
    members = {
        "xl/workbook.xml": f'{head}<workbook xmlns="{MAIN}" xmlns:r="{RELS}">'
        f"<sheets>{entries}</sheets></workbook>",
        "xl/_rels/workbook.xml.rels": f"{head}<Relationships>{rels}</Relationships>",
        "xl/sharedStrings.xml": f'{head}<sst xmlns="{MAIN}">{strings}</sst>',
    }
    for i, rows in enumerate(sheets.values(), 1):
        members[f"xl/worksheets/sheet{i}.xml"] = (
            f'{head}<worksheet xmlns="{MAIN}"><sheetData>{rows}</sheetData></worksheet>'
        )
    return zip_bytes({name: text.encode() for name, text in members.items()})


def test_an_xlsx_with_shared_and_inline_strings_and_a_million_empty_rows() -> None:
    shared = ["收件人", "联系电话", "详细地址", "张伟", "北京市朝阳区建国路88号"]
    rows = (
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>'
        '<c r="C1" t="s"><v>2</v></c></row>'
        '<row r="2"><c r="A2" t="s"><v>3</v></c><c r="B2"><v>13800001234</v></c>'
        '<c r="C2" t="s"><v>4</v></c></row>'
        + "".join(f'<row r="{i}"/>' for i in range(3, 1_000_003))
        + '<row r="1000003"><c r="A1000003" t="inlineStr"><is><t>王芳</t></is></c>'
        '<c r="C1000003" t="inlineStr"><is><r><t>上海市</t></r><r><t>浦东新区</t></r></is></c>'
        "</row>"
    )
    data = xlsx_bytes({"订单": rows, "Sheet2": ""}, shared)
    started = time.perf_counter()
    blocks, report = read_all(data, "book.xlsx")
    assert time.perf_counter() - started < 8
    assert [b.layout for b in blocks] == [Layout("\t", ("name", "mobile", "address"))]
    assert rows_of(blocks) == [
        ("book.xlsx:订单", 1, "张伟\t13800001234\t北京市朝阳区建国路88号"),
        ("book.xlsx:订单", 2, "王芳\t\t上海市浦东新区"),
    ]
    assert report.skipped == {"empty rows": 1_000_000}
    assert report.members == ["book.xlsx:订单", "book.xlsx:Sheet2"]
    assert report.rows == 2


def test_an_xlsx_without_a_header_row_is_guessed() -> None:
    rows = "".join(
        f'<row><c t="inlineStr"><is><t>{n}</t></is></c><c><v>{m}</v></c>'
        '<c r="D1" s="3"/><c r="E1" t="inlineStr"><is><t>已发货</t></is></c></row>'
        for n, m, _, _ in PEOPLE * 100
    )
    blocks, report = read_all(xlsx_bytes({"S": rows}, []), "export.xlsx")
    assert {b.layout for b in blocks} == {Layout("\t", ("name", "mobile", None, None, None))}
    rows_read = rows_of(blocks)
    assert [row for _, row, _ in rows_read] == list(range(1, 301))
    assert [line for _, _, line in rows_read[:3]] == [
        f"{n}\t{m}\t\t\t已发货" for n, m, _, _ in PEOPLE
    ]
    assert report.rows == 300


def test_an_xlsx_with_a_doctype_or_an_entity_is_refused() -> None:
    laughs = '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
    with pytest.raises(DumpError, match="DOCTYPE"):
        read_all(xlsx_bytes({"S": ""}, [], prolog=laughs), "evil.xlsx")
    with pytest.raises(DumpError, match="DOCTYPE"):
        read_all(xlsx_bytes({"S": ""}, [], prolog="<!-- a note -->" + laughs), "evil.xlsx")
    undeclared = '<row r="1"><c t="inlineStr"><is><t>&lol2;</t></is></c></row>'
    with pytest.raises(DumpError, match=r"evil\.xlsx:S: malformed XML"):
        read_all(xlsx_bytes({"S": undeclared}, []), "evil.xlsx")


# -- json -----------------------------------------------------------------------------


def test_a_json_array_of_nested_objects_streams_in_small_pieces() -> None:
    records = [
        {
            "收件人": n,
            "receiver": {"mobile": m, "address": {"detail": a}},
            "items": [{"sku": "茶叶"}, {"sku": "书"}],
            "paid": True,
            "weight": 1.0,
        }
        for n, m, a, _ in PEOPLE * 20
    ]
    data = json.dumps(records, ensure_ascii=False, indent=2).encode()
    blocks, report = read_all(data, "orders.json", DumpLimits(block_bytes=100), pipe=True)
    assert {b.layout for b in blocks} == {
        Layout("\t", ("name", "mobile", None, None, None, "weight")),
    }
    assert rows_of(blocks)[0] == (
        "",
        1,
        "张伟\t13800001234\t北京市朝阳区建国路88号\t茶叶,书\ttrue\t1",
    )
    assert [row for _, row, _ in rows_of(blocks)] == list(range(1, 61))
    assert report.rows == 60


def test_a_json_array_that_is_cut_short_or_malformed_says_so() -> None:
    data = json.dumps([{"手机": m} for _, m, _, _ in PEOPLE]).encode()
    with pytest.raises(DumpError, match="truncated"):
        read_all(data[:-10], "a.json")
    with pytest.raises(DumpError, match="malformed JSON"):
        read_all(data.replace(b'{"', b"{'", 1) + b" " * 100, "a.json")


def test_ndjson_skips_a_bad_line_and_widens_for_new_keys() -> None:
    lines = [
        json.dumps({"name": "张伟", "phone": "13800001234"}, ensure_ascii=False),
        '{"name": "王芳", "phone": ',
        "",
        json.dumps({"name": "李娜", "phone": "13700009012", "tracking_no": "SF1234567890456"}),
    ]
    blocks, report = read_all("\n".join(lines).encode(), "dump.jsonl")
    assert [b.layout for b in blocks] == [
        Layout("\t", ("name", "mobile")),
        Layout("\t", ("name", "mobile", "waybill_no")),
    ]
    assert rows_of(blocks) == [
        ("", 1, "张伟\t13800001234"),
        ("", 2, "李娜\t13700009012\tSF1234567890456"),
    ]
    assert report.skipped == {"bad JSON line": 1}


def test_a_json_object_holding_the_records_is_read_whole() -> None:
    data = {
        "code": 0,
        "data": {"total": 3, "list": [{"mobile": m, "name": n} for n, m, _, _ in PEOPLE]},
    }
    blocks, report = read_all(json.dumps(data, indent=1).encode("utf-16"), "api.json")
    assert blocks[0].layout == Layout("\t", ("mobile", "name"))
    assert [line for _, _, line in rows_of(blocks)] == [f"{m}\t{n}" for n, m, _, _ in PEOPLE]
    assert report.encodings == {"utf-16-le": 1}


# -- html -----------------------------------------------------------------------------


def test_an_html_table_becomes_rows_and_the_rest_free_text() -> None:
    page = (
        "<!DOCTYPE html><html><head><title>数据 出售</title><style>td{color:red}</style>"
        "<script>var phone='13999999999';</script></head><body>"
        "<h1>最新快递数据</h1><p>联系QQ&nbsp;123456<br>价格面议</p>"
        "<table><tr><th>收件人</th><th>手机</th><th>地址</th></tr>"
        + "".join(f"<tr><td>{n}</td><td>{m}</td><td>{a}</td></tr>" for n, m, a, _ in PEOPLE)
        + "</table><div>共 3 条</div></body></html>"
    ).encode("gb18030")
    blocks, report = read_all(page, "page.bin", DumpLimits(block_bytes=64), pipe=True)
    layouts = [b.layout for b in blocks]
    assert layouts == [FREE_TEXT, Layout("\t", ("name", "mobile", "address")), FREE_TEXT]
    assert rows_of(blocks) == [
        ("", 1, "数据 出售"),
        ("", 2, "最新快递数据"),
        ("", 3, "联系QQ 123456"),
        ("", 4, "价格面议"),
        *(("", 5 + i, "\t".join(p[:3])) for i, p in enumerate(PEOPLE)),
        ("", 8, "共 3 条"),
    ]
    assert "13999999999" not in "".join(b.text for b in blocks)
    assert report.rows == 8


def test_an_html_table_with_a_title_row_before_its_header() -> None:
    page = (
        "<html><body><table><tr><td colspan=2>2023年订单</td></tr>"
        "<tr><th>客户</th><th>电话号码</th></tr>"
        "<tr><td>张伟</td><td>13800001234</td></tr></table></body></html>"
    )
    blocks, _report = read_all(page.encode(), "orders.html")
    assert rows_of(blocks) == [("", 1, "2023年订单"), ("", 2, "张伟\t13800001234")]
    assert blocks[0].layout == Layout("\t", ("name", "mobile"))


def test_an_html_page_of_text_is_free_text_by_its_name() -> None:
    page = "<div class='post'><p>张伟 13800001234</p><p>王芳 139****5678 上海</p></div>"
    blocks, _report = read_all(page.encode(), "thread.htm")
    assert [b.layout for b in blocks] == [FREE_TEXT]
    assert [line for _, _, line in rows_of(blocks)] == ["张伟 13800001234", "王芳 139****5678 上海"]


# -- damage ---------------------------------------------------------------------------


def test_damaged_files_fail_only_with_a_dump_error() -> None:
    """Flipped bytes, cuts and splices in every container: a DumpError or a result, never
    an exception from zipfile, zlib, expat or json."""
    samples = {
        "a.zip": zip_bytes({"a.csv": csv_bytes("utf-8", 30), "b.gz": gzip.compress(b"x,y\n")}),
        "a.csv.gz": gzip.compress(csv_bytes("utf-8", 100)),
        "b.xlsx": xlsx_bytes(
            {"S": '<row><c t="s"><v>0</v></c><c><v>13800001234</v></c></row>'}, ["张伟"]
        ),
        "c.json": json.dumps(
            [{"手机": m, "n": {"x": [1, 2]}} for _, m, _, _ in PEOPLE * 9]
        ).encode(),
        "d.html": b"<html><table><tr><td>a</td><td>13800001234</td></tr></table></html>",
        "e.csv": csv_bytes("utf-16", 30),
    }
    rng = random.Random(20240601)
    failures = 0
    for _ in range(400):
        name = rng.choice(sorted(samples))
        data = bytearray(samples[name])
        start = rng.randrange(len(data))
        if rng.random() < 0.5:
            data[start : start + rng.randint(1, 40)] = rng.randbytes(rng.randint(0, 40))
        else:
            del data[start:]
        try:
            read_all(bytes(data), name, DumpLimits(block_bytes=rng.choice([100, 1 << 20])))
        except DumpError:
            failures += 1
    assert 50 < failures < 400
