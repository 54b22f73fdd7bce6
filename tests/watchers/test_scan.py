"""End to end: minted canaries written into leaked files of every format are found.

The files are made as resellers make them: masked names and mobiles, cut addresses, other
encodings, other headers or none, spreadsheets, JSON, web pages and archives; strangers
around them. Every canary must come back at its member and row, and nobody else.
"""

import gzip
import hashlib
import io
import json
import random
import uuid
import zipfile
from collections.abc import Callable
from datetime import date
from xml.sax.saxutils import escape

import pytest

from canaries.couriers import Courier
from canaries.index import CanaryIndex, entry_of
from canaries.matching import Matcher
from canaries.mint import LinkProfile, MintedCanary, Minter
from watchers.dumps import DumpLimits
from watchers.scan import scan_stream

WINDOW = (date(2026, 10, 1), date(2026, 10, 31))
Record = dict[str, str]


def _records(
    canaries: list[MintedCanary], strangers: list[MintedCanary], rng: random.Random
) -> tuple[list[Record], dict[int, MintedCanary]]:
    """Rows in order (1-based data rows) and which row holds which canary."""
    people: list[tuple[MintedCanary, bool]] = [(s, False) for s in strangers]
    people += [(c, True) for c in canaries]
    rng.shuffle(people)
    rows: list[Record] = []
    planted: dict[int, MintedCanary] = {}
    for number, (person, is_canary) in enumerate(people, start=1):
        name = person.name
        masked = name[0] + "*" + name[-1] if len(name) > 2 else name[0] + "*"
        rows.append(
            {
                "name": masked,
                "mobile": person.mobile,
                "address": person.province + person.city + person.district
                + person.address[: rng.randint(6, 10)] + "***",
                "waybill": person.waybill_no,
            }
        )  # fmt: skip
        if is_canary:
            planted[number] = person
    return rows, planted


def _csv(rows: list[Record], header: list[str] | None, delimiter: str, encoding: str) -> bytes:
    lines = [delimiter.join(header)] if header else []
    lines += [delimiter.join(r.values()) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def _xlsx(rows: list[Record]) -> bytes:
    def row_xml(number: int, cells: list[str]) -> str:
        inline = "".join(
            f'<c r="{"ABCD"[i]}{number}" t="inlineStr"><is><t>{escape(v)}</t></is></c>'
            for i, v in enumerate(cells)
        )
        return f'<row r="{number}">{inline}</row>'

    body = row_xml(1, ["收货人", "手机", "地址", "运单号"])
    body += "".join(row_xml(n + 2, list(r.values())) for n, r in enumerate(rows))
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats'
        f'.org/spreadsheetml/2006/main"><sheetData>{body}</sheetData></worksheet>'
    )
    workbook = (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org'
        '/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships"><sheets><sheet name="订单" sheetId="1" r:id="rId1"/></sheets>'
        "</workbook>"
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
        '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
        'openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("xl/workbook.xml", workbook)
        book.writestr("xl/_rels/workbook.xml.rels", rels)
        book.writestr("xl/worksheets/sheet1.xml", sheet)
    return out.getvalue()


def _html(rows: list[Record]) -> bytes:
    cells = "".join(
        "<tr>" + "".join(f"<td>{escape(v)}</td>" for v in r.values()) + "</tr>" for r in rows
    )
    page = (
        "<!DOCTYPE html><html><head><title>数据</title></head><body><table>"
        f"<tr><th>姓名</th><th>电话</th><th>地址</th><th>单号</th></tr>{cells}</table></body></html>"
    )
    return page.encode("utf-8")


def _text(rows: list[Record]) -> bytes:
    lines = [
        f"【{n}】收件人{r['name']} 电话:{r['mobile']} {r['address']} 快递单号 {r['waybill']}"
        for n, r in enumerate(rows, start=1)
    ]
    return "\n".join(lines).encode("gb18030")


def _zip_of_gz(rows: list[Record]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        inner = _csv(rows, ["收件人", "联系电话", "收货地址", "快递单号"], ",", "utf-8")
        archive.writestr("导出/订单.csv.gz", gzip.compress(inner))
    return out.getvalue()


HEADER = ["收货人姓名", "联系手机", "收货地址", "物流单号"]
FORMATS: dict[str, tuple[str, Callable[[list[Record]], bytes]]] = {
    "gb18030 csv": ("leak.csv", lambda r: _csv(r, HEADER, ",", "gb18030")),
    "utf-8 bom tsv, no header": ("leak.tsv", lambda r: _csv(r, None, "\t", "utf-8-sig")),
    "utf-16 csv": ("leak.csv", lambda r: _csv(r, ["name", "phone", "address", "tracking_no"],
                                              ",", "utf-16")),
    "four dashes": ("leak.txt", lambda r: _csv(r, None, "----", "utf-8")),
    "ndjson": ("leak.json", lambda r: "\n".join(
        json.dumps({"收件人": x["name"], "手机": x["mobile"], "地址": x["address"],
                    "运单号": x["waybill"]}, ensure_ascii=False) for x in r).encode()),
    "xlsx": ("leak.xlsx", _xlsx),
    "html table": ("leak.html", _html),
    "listing text in gb18030": ("leak.txt", _text),
    "gzip in a zip": ("leak.zip", _zip_of_gz),
}  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("form", list(FORMATS))
def test_canaries_in_every_format_are_found_at_their_row(form: str, seed: int) -> None:
    courier = [Courier.ZTO, Courier.SF][seed % 2]
    profile = LinkProfile(courier, window=WINDOW)
    canaries = Minter(profile, random.Random(seed), control_share=0).mint(12)
    strangers = Minter(profile, random.Random(seed + 50), control_share=0).mint(300)
    index = CanaryIndex()
    ids = {uuid.uuid4(): c for c in canaries}
    index.add(entry_of(c, i) for i, c in ids.items())
    index.merge()
    rows, planted = _records(canaries, strangers, random.Random(seed))
    name, render = FORMATS[form]
    data = render(rows)
    result = scan_stream(io.BytesIO(data), name, Matcher(index), DumpLimits())
    assert result.error is None
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    # A web page's title is its first row of text, before the table's rows.
    offset = 1 if form == "html table" else 0
    assert result.report.rows == len(rows) + offset
    found = {m.row - offset: ids[uuid.UUID(bytes=m.match.canary.id)] for m in result.matches}
    assert found == planted
    assert all(m.match.score >= 32 for m in result.matches)
