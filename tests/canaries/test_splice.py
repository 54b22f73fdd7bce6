"""Splicing canaries into a feed: the real records pass through byte for byte, each canary
looks like its neighbours, and bad feeds are refused without quoting them."""

import csv
import io
import json
import random
import re
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canaries.couriers import Courier
from canaries.mint import LinkProfile, Minter
from canaries.splice import (
    FeedFormatError,
    format_like,
    splice_feed,
    splice_fields,
    weight_like,
)
from canaries.waybills import is_valid_waybill


def _supply(
    seed: int = 3,
) -> tuple[list[Mapping[str, object]], Callable[[], Mapping[str, object]]]:
    minter = Minter(LinkProfile(courier=Courier.ZTO, area="330106"), random.Random(seed))
    handed: list[Mapping[str, object]] = []

    def next_canary() -> Mapping[str, object]:
        c = minter.mint_one()
        record = splice_fields(c)
        handed.append(record)
        return record

    return handed, next_canary


def _real_rows(count: int, seed: int = 9) -> list[list[str]]:
    """Generated stand-ins for a feed's real records (no real personal data)."""
    minter = Minter(LinkProfile(courier=Courier.ZTO, area="330106"), random.Random(seed))
    rows = []
    for i, c in enumerate(minter.mint(count)):
        rows.append([
            f"TB{20260000000 + i}", c.waybill_no, c.name, c.mobile,
            f"{c.province}{c.city}{c.district}{c.address}", c.item, f"{c.weight_kg:.2f}",
            c.created_at.strftime("%Y-%m-%d %H:%M:%S"), "已付款",
        ])  # fmt: skip
    return rows


HEADER = [
    "订单编号",
    "运单号",
    "收件人",
    "联系电话",
    "收货地址",
    "商品名称",
    "重量",
    "下单时间",
    "状态",
]


def _csv_feed(rows: list[list[str]], delimiter: str, ending: str, quote_all: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(
        out,
        delimiter=delimiter,
        lineterminator=ending,
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue()


def _chunked(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    start = 0
    for point in points:
        yield data[start:point]
        start = point
    yield data[start:]


@pytest.mark.parametrize(
    ("encoding", "delimiter", "ending", "quote_all"),
    [
        ("utf-8", ",", "\n", False),
        ("utf-8-sig", "\t", "\r\n", False),
        ("gb18030", ",", "\r\n", True),
    ],
)
def test_csv_round_trip_and_shape(
    encoding: str, delimiter: str, ending: str, quote_all: bool
) -> None:
    feed = _csv_feed(_real_rows(2000), delimiter, ending, quote_all).encode(encoding)
    handed, next_canary = _supply()
    planted: list[Mapping[str, object]] = []
    out = b"".join(
        splice_feed(
            _chunked(feed, [1000, 5000, 5001, 77777]),
            feed_format="csv",
            next_canary=next_canary,
            rate=0.02,
            rng=random.Random(1),
            on_planted=planted.append,
        )
    )
    assert 10 <= len(planted) <= 90  # 2000 x 0.02 = 40 expected
    assert planted == handed
    waybills = {str(c["waybill_no"]) for c in planted}
    text = out.decode(encoding)
    lines = text.splitlines(keepends=True)
    real = [line for line in lines if not any(w in line for w in waybills)]
    assert "".join(real).encode(encoding) == feed
    spliced = [line for line in lines if any(w in line for w in waybills)]
    assert len(spliced) == len(planted)
    for line in spliced:
        assert line.endswith(ending)
        values = next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter))
        assert len(values) == len(HEADER)
        assert values[0].startswith("TB") and len(values[0]) == len("TB20260000000")
        assert values[4].startswith("浙江省杭州市西湖区")
        assert len(values[6].split(".")[1]) == 2
        datetime.strptime(values[7], "%Y-%m-%d %H:%M:%S")
        assert values[8] == "已付款"
        assert line.startswith('"') is quote_all


def test_ndjson_round_trip_with_nested_keys_and_escaping() -> None:
    rows = _real_rows(1000)
    lines = [
        json.dumps({"order_id": r[0], "receiver": {"name": r[2], "phone": r[3], "address": r[4]},
                    "waybill": r[1], "weight": float(r[6]), "create_time": r[7]},
                   ensure_ascii=True) + "\n"
        for r in rows
    ]  # fmt: skip
    feed = "".join(lines).encode()
    handed, next_canary = _supply()
    out = b"".join(
        splice_feed([feed], feed_format="ndjson", next_canary=next_canary, rate=0.05,
                    rng=random.Random(2))
    )  # fmt: skip
    waybills = {str(c["waybill_no"]) for c in handed}
    out_lines = out.decode().splitlines(keepends=True)
    assert "".join(x for x in out_lines if not any(w in x for w in waybills)).encode() == feed
    for line in out_lines:
        record = json.loads(line)
        assert list(record) == ["order_id", "receiver", "waybill", "weight", "create_time"]
        assert list(record["receiver"]) == ["name", "phone", "address"]
        assert isinstance(record["weight"], float)
        assert line.isascii()
    assert len(handed) > 20


@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=400_000), max_size=12))
def test_chunk_boundaries_do_not_change_the_output(cuts: list[int]) -> None:
    feed = _csv_feed(_real_rows(300), ",", "\n", False).encode("gb18030")

    def run(chunks: Iterator[bytes]) -> bytes:
        _, next_canary = _supply()
        return b"".join(
            splice_feed(chunks, feed_format="csv", next_canary=next_canary, rate=0.05,
                        rng=random.Random(4))
        )  # fmt: skip

    assert run(_chunked(feed, cuts)) == run(iter([feed]))


def test_bad_feeds_are_refused_without_quoting_them() -> None:
    _, next_canary = _supply()

    def spliced(data: bytes, fmt: str = "csv") -> bytes:
        return b"".join(
            splice_feed([data], feed_format=fmt, next_canary=next_canary,  # type: ignore[arg-type]
                        rate=0.9, rng=random.Random(1))
        )  # fmt: skip

    with pytest.raises(FeedFormatError, match="no column"):
        spliced("颜色,尺码\n红,L\n".encode())
    with pytest.raises(FeedFormatError, match="neither UTF-8 nor GB18030"):
        spliced(b"\xff\xfe\x00\x01\x81\x30\n" * 3)
    with pytest.raises(FeedFormatError, match="line 3: not a JSON object") as refused:
        spliced(
            '{"name": "甲"}\n{"name": "乙"}\n[1, 2, "秘密"]\n{"name": "丙"}\n'.encode(), "ndjson"
        )
    assert "秘密" not in str(refused.value)
    with pytest.raises(FeedFormatError, match="full mobile numbers"):
        spliced("收件人,联系电话\n张三丰,13812345678\n李四,13912345678\n".encode())
    with pytest.raises(FeedFormatError, match="longer than"):
        b"".join(
            splice_feed([b"name,mobile\n", b"x" * 5000], feed_format="csv",
                        next_canary=next_canary, rate=0.5, rng=random.Random(1),
                        max_line_bytes=1000)
        )  # fmt: skip


def test_formats_are_copied() -> None:
    moment = datetime(2026, 3, 1, 6, 5, 9, tzinfo=UTC)  # 14:05:09 in China
    assert format_like("2025-12-31 23:59:59", moment) == "2026-03-01 14:05:09"
    assert format_like("2025/1/5 8:03", moment) == "2026/3/1 14:05"
    assert format_like("2025-12-31T23:59:59+08:00", moment) == "2026-03-01T14:05:09+08:00"
    assert format_like("2025-12-31T23:59:59Z", moment) == "2026-03-01T06:05:09Z"
    assert format_like("1767225599", moment) == str(int(moment.timestamp()))
    assert format_like("1767225599000", moment) == str(int(moment.timestamp() * 1000))
    assert weight_like("1.20kg", 0.5) == "0.50kg"
    assert weight_like("1200g", 0.5) == "500g"
    assert weight_like("3", 2.4) == "2"


def test_memory_stays_flat_on_a_large_feed() -> None:
    row = (
        "TB2026000001,75123456789012,王*明,138****5678,浙江省杭州市西湖区文三路1号,外套,1.20,"
        "2026-01-01 10:00:00,已付款\n"
    )

    def feed() -> Iterator[bytes]:
        yield (",".join(HEADER) + "\n").encode()
        block = (row * 2000).encode()
        for _ in range(200_000_000 // len(block)):
            yield block

    _, next_canary = _supply()
    tracemalloc.start()
    total = 0
    for chunk in splice_feed(feed(), feed_format="csv", next_canary=next_canary, rate=0.001,
                             rng=random.Random(5)):  # fmt: skip
        total += len(chunk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total > 190_000_000
    assert peak < 20_000_000


STATUSES = ("已揽收", "运输中", "派送中")


def _camel_feed(count: int) -> bytes:
    """A courier API's NDJSON: camelCase keys, divisions in their own keys."""
    minter = Minter(LinkProfile(courier=Courier.ZTO, area="330106"), random.Random(31))
    lines = []
    for i, c in enumerate(minter.mint(count)):
        record = {
            "mailNo": c.waybill_no, "receiverName": c.name, "receiverMobile": c.mobile,
            "receiverProvince": c.province, "receiverCity": c.city, "receiverArea": c.district,
            "receiverAddress": c.address, "createTime": c.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "status": STATUSES[i % 3], "orderId": f"{880000000 + i}",
        }  # fmt: skip
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    return "".join(lines).encode()


def test_a_camel_case_ndjson_feed_gets_canaries_in_every_field() -> None:
    feed = _camel_feed(1500)
    handed, next_canary = _supply()
    out = b"".join(
        splice_feed([feed], feed_format="ndjson", next_canary=next_canary, rate=0.03,
                    rng=random.Random(5))
    )  # fmt: skip
    by_waybill = {str(c["waybill_no"]): c for c in handed}
    spliced = [
        json.loads(x) for x in out.decode().splitlines() if json.loads(x)["mailNo"] in by_waybill
    ]
    assert len(spliced) == len(handed) > 20
    for record in spliced:
        canary = by_waybill[record["mailNo"]]
        assert record["receiverName"] == canary["name"]
        assert record["receiverMobile"] == canary["mobile"]
        assert re.fullmatch(r"1[3-9]\d\*{4}\d{4}", record["receiverMobile"])
        assert (record["receiverProvince"], record["receiverCity"], record["receiverArea"]) == (
            canary["province"], canary["city"], canary["district"]
        )  # fmt: skip
        assert record["receiverAddress"] == canary["address_line"]
        assert str(canary["address"]) in record["receiverAddress"]
        assert is_valid_waybill(Courier.ZTO, record["mailNo"])
        assert record["status"] in STATUSES, "a status word is copied, not blanked"
        assert record["orderId"].isdigit() and len(record["orderId"]) == 9
        datetime.strptime(record["createTime"], "%Y-%m-%d %H:%M:%S")


def test_the_profiles_column_map_reaches_the_splicer() -> None:
    rows = _real_rows(300)
    feed = "单号X,客户,客户电话,送货地点\n" + "".join(
        f"{r[1]},{r[2]},{r[3]},{r[4]}\n" for r in rows
    )
    handed, next_canary = _supply()

    def run(column_map: dict[str, str] | None) -> list[list[str]]:
        out = b"".join(
            splice_feed([feed.encode()], feed_format="csv", next_canary=next_canary, rate=0.1,
                        rng=random.Random(3), column_map=column_map)
        )  # fmt: skip
        return list(csv.reader(io.StringIO(out.decode())))

    with pytest.raises(FeedFormatError, match="no column carries"):
        run(None)
    mapping = {
        "单号X": "waybill_no",
        "客户": "name",
        "客户电话": "mobile",
        "送货地点": "full_address",
    }
    out = run(mapping)
    waybills = {str(c["waybill_no"]): c for c in handed}
    spliced = [row for row in out if row[0] in waybills]
    assert spliced
    for row in spliced:
        canary = waybills[row[0]]
        assert row[1:3] == [canary["name"], canary["mobile"]]
        assert row[3].startswith("浙江省杭州市西湖区")


@pytest.mark.parametrize(
    ("header", "value"),
    [("联系人X", "张三丰"), ("备用号", "13812345678"), ("单据", "SF1412345678901"),
     ("送达", "浙江省杭州市西湖区文三路90号")],
)  # fmt: skip
def test_a_feed_with_an_identifying_column_it_cannot_place_is_refused_before_any_output(
    header: str, value: str
) -> None:
    feed = f"运单号,收件人,{header}\nYT7123456789012,王芳,{value}\n".encode() * 3
    handed, next_canary = _supply()
    output = splice_feed([feed], feed_format="csv", next_canary=next_canary, rate=0.5,
                         rng=random.Random(1))  # fmt: skip
    with pytest.raises(FeedFormatError, match="does not know") as refused:
        next(output)
    assert value not in str(refused.value)
    assert handed == []


def test_status_words_are_copied_and_free_text_never_is() -> None:
    rows = _real_rows(600)
    notes = ("请放门卫室", "放在文三路138号门口", "")
    feed = "运单号,收件人,联系电话,收货地址,状态,备注,渠道\n" + "".join(
        f"{r[1]},{r[2]},{r[3]},{r[4]},{STATUSES[i % 3]},{notes[i % 3]},APP\n"
        for i, r in enumerate(rows)
    )
    handed, next_canary = _supply()
    out = b"".join(
        splice_feed([feed.encode()], feed_format="csv", next_canary=next_canary, rate=0.1,
                    rng=random.Random(8))
    )  # fmt: skip
    waybills = {str(c["waybill_no"]) for c in handed}
    spliced = [row for row in csv.reader(io.StringIO(out.decode())) if row[0] in waybills]
    assert len(spliced) > 20
    assert {row[4] for row in spliced} <= set(STATUSES)
    assert {row[5] for row in spliced} == {""}, "a remark may be a real person's: left out"
    assert {row[6] for row in spliced} == {"APP"}


def test_a_masked_neighbour_name_masks_the_canary_the_same_way() -> None:
    rows = _real_rows(400)
    feed = "运单号,收件人,联系电话,收货地址\n" + "".join(
        f"{r[1]},{r[2][0]}*{r[2][-1]},{r[3]},{r[4]}\n" for r in rows
    )
    handed, next_canary = _supply()
    out = b"".join(
        splice_feed([feed.encode()], feed_format="csv", next_canary=next_canary, rate=0.1,
                    rng=random.Random(8))
    )  # fmt: skip
    by_waybill = {str(c["waybill_no"]): c for c in handed}
    spliced = [row for row in csv.reader(io.StringIO(out.decode())) if row[0] in by_waybill]
    for row in spliced:
        name = str(by_waybill[row[0]]["name"])
        assert row[1] == name[0] + "*" * (len(name) - 2) + name[-1] or len(name) == 2


def test_the_feeds_encoding_is_told_before_the_first_byte() -> None:
    feed = _csv_feed(_real_rows(50), ",", "\n", False).encode("gb18030")
    heard: list[str] = []
    _, next_canary = _supply()
    output = splice_feed([feed], feed_format="csv", next_canary=next_canary, rate=0.1,
                         rng=random.Random(2), on_start=heard.append)  # fmt: skip
    next(output)
    assert heard == ["gb18030"]


def test_free_text_inside_json_lists_is_not_copied() -> None:
    rows = _real_rows(300)
    feed = "".join(
        json.dumps({"waybill": r[1], "name": r[2], "phone": r[3], "address": r[4],
                    "goods": [{"title": "朋友送的生日礼物", "qty": 1}], "tags": ["VIP", "加急"]},
                   ensure_ascii=False) + "\n"
        for r in rows
    ).encode()  # fmt: skip
    handed, next_canary = _supply()
    out = b"".join(
        splice_feed([feed], feed_format="ndjson", next_canary=next_canary, rate=0.1,
                    rng=random.Random(6))
    )  # fmt: skip
    waybills = {str(c["waybill_no"]) for c in handed}
    spliced = [
        json.loads(x) for x in out.decode().splitlines() if json.loads(x)["waybill"] in waybills
    ]
    assert spliced
    for record in spliced:
        assert record["goods"] == [{"title": "", "qty": 1}]
        assert record["tags"] == ["VIP", "加急"]
