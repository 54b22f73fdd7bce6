"""Reading a reference sample of real waybill records: encodings, headers, masks, gaps.

Every row here is generated (canaries or made-up values); no real personal data.
"""

import csv
import io
import random
from datetime import date, datetime
from itertools import islice
from pathlib import Path

import pytest

from canaries.couriers import Courier
from canaries.items import CHINA_STANDARD_TIME
from canaries.mint import LinkProfile, MintedCanary, Minter
from canaries.realism import AUC_GOAL, classifier_auc, record_features
from canaries.reference import ReferenceRecord, ReferenceSampleError, read_reference

WINDOW = (date(2025, 3, 1), date(2025, 3, 31))
CHINESE_HEADERS = [
    "快递单号",
    "快递公司",
    "收货人",
    "联系电话",
    "省份",
    "城市",
    "区县",
    "收货地址",
    "商品",
    "重量(kg)",
    "下单时间",
]


def _batch(seed: int, count: int) -> list[MintedCanary]:
    profile = LinkProfile(Courier.YTO, window=WINDOW)
    return Minter(profile, random.Random(seed)).mint(count)


def _chinese_csv(canaries: list[MintedCanary], encoding: str) -> bytes:
    """An export as a courier's system writes it: the full address repeats the divisions."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(CHINESE_HEADERS)
    for c in canaries:
        writer.writerow(
            [
                c.waybill_no,
                "圆通速递",
                c.name,
                c.mobile,
                c.province,
                c.city,
                c.district,
                f"{c.province}{c.city}{c.district}{c.address}",
                c.item,
                f"{c.weight_kg}",
                c.created_at.strftime("%Y/%m/%d %H:%M:%S"),
            ]
        )
    return text.getvalue().encode(encoding)


def _same_as_canary(record: ReferenceRecord, canary: MintedCanary) -> None:
    assert record.name == canary.name
    assert record.mobile == canary.mobile
    assert (record.province, record.city, record.district) == (
        canary.province,
        canary.city,
        canary.district,
    )
    assert record.address == canary.address
    assert record.item == canary.item
    assert record.weight_kg == canary.weight_kg
    assert record.created_at == canary.created_at
    assert record.waybill_no == canary.waybill_no
    assert record.courier is Courier.YTO


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8", "utf-8-sig"])
def test_an_export_with_chinese_headers_reads_back_field_for_field(encoding: str) -> None:
    canaries = _batch(1, 300)
    records = list(read_reference(io.BytesIO(_chinese_csv(canaries, encoding))))
    assert len(records) == len(canaries)
    for record, canary in zip(records, canaries, strict=True):
        _same_as_canary(record, canary)


def test_a_gb18030_export_of_canaries_cannot_be_told_from_canaries(tmp_path: Path) -> None:
    path = tmp_path / "real_sample.csv"
    path.write_bytes(_chinese_csv(_batch(2, 2_000), "gb18030"))
    report = classifier_auc(_batch(3, 2_000), list(read_reference(path)))
    assert report.auc <= AUC_GOAL
    assert report.giveaways() == []


def test_masked_values_and_missing_columns() -> None:
    data = (
        "\ufeffName,Phone,Address,Notes\n"
        "张*伟,138****5678,文三路90号3幢2单元501室,fragile\n"
        "欧阳*,139＊＊＊＊1234,,\n"
        "李四,+86 186 1234 5678,幸福村3组\n"
    ).encode()
    records = list(read_reference(io.BytesIO(data)))
    assert [r.name for r in records] == ["张*伟", "欧阳*", "李四"]
    assert [r.mobile for r in records] == ["138****5678", "139****1234", "18612345678"]
    assert [r.address for r in records] == ["文三路90号3幢2单元501室", None, "幸福村3组"]
    assert all(r.province is None and r.district is None and r.item is None for r in records)
    assert all(r.created_at is None and r.waybill_no is None for r in records)
    masked = record_features(records[0])
    assert masked["name_length"] == "3" and masked["surname"] == "张"
    assert masked["given_last"] == "伟" and "given_first" not in masked
    assert masked["mobile_prefix"] == "138"
    assert masked["address_markers"] == "号单元室幢"
    compound = record_features(records[1])
    assert compound["surname"] == "欧阳" and "name_length" not in compound
    assert "district_present" not in compound


def test_divisions_named_only_inside_the_address_are_split_off() -> None:
    data = "收件人,地址\n王芳,浙江省杭州市西湖区文三路90号\n赵磊,东区3栋201室\n".encode()
    first, second = read_reference(io.BytesIO(data))
    assert (first.province, first.city, first.district) == ("浙江省", "杭州市", "西湖区")
    assert first.address == "文三路90号"
    assert second.address == "东区3栋201室" and second.district is None


def test_tab_separated_units_and_chinese_dates() -> None:
    data = (
        "姓名\t手机\t重量\t创建时间\t运单号\n"
        "王芳\t13812345678\t500g\t2025年3月2日 14:05\tSF1412345678901\n"
    )
    (record,) = read_reference(io.BytesIO(data.encode("gb18030")))
    assert record.weight_kg == 0.5
    assert record.created_at == datetime(2025, 3, 2, 14, 5, tzinfo=CHINA_STANDARD_TIME)
    assert record.courier is Courier.SF  # inferred from the waybill format


def test_gb18030_is_recognised_after_ascii_only_lines() -> None:
    lines = ["name,mobile\n"] + [f"Wang{i},13812345678\n" for i in range(2_000)] + ["王芳,138\n"]
    records = list(read_reference(io.BytesIO("".join(lines).encode("gb18030"))))
    assert records[-1].name == "王芳" and records[-1].mobile is None


def test_the_sample_is_streamed_not_read_whole() -> None:
    rows = "".join(f"用户{i},13812345678\n" for i in range(100_000))
    stream = io.BytesIO(("收件人,手机\n" + rows).encode("gb18030"))
    first = list(islice(read_reference(stream), 5))
    assert len(first) == 5
    assert stream.tell() < len(stream.getvalue()) // 10


def test_a_file_without_a_known_header_is_refused() -> None:
    with pytest.raises(ReferenceSampleError, match="no column header"):
        list(read_reference(io.BytesIO(b"a,b,c\n1,2,3\n")))


def test_excels_unicode_text_is_read() -> None:
    text = "收件人\t手机\t收货地址\n王芳\t138****5678\t文三路90号\n李四\t13912345678\t幸福村3组\n"
    records = list(read_reference(io.BytesIO(text.encode("utf-16"))))
    assert [r.name for r in records] == ["王芳", "李四"]
    assert [r.address for r in records] == ["文三路90号", "幸福村3组"]


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "utf-16"])
def test_camel_case_ndjson_is_read(encoding: str) -> None:
    line = (
        '{"mailNo": "YT7123456789012", "receiverName": "王*芳", "receiverMobile": "138****5678", '
    )
    line += '"receiverProvince": "浙江省", "receiverAddress": "浙江省杭州市西湖区文三路90号"}\n'
    (record,) = read_reference(io.BytesIO(line.encode(encoding)))
    assert record.name == "王*芳" and record.mobile == "138****5678"
    assert record.address == "文三路90号" and record.waybill_no == "YT7123456789012"
