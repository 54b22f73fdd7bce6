"""Splicing canaries into a link's outbound feed, each shaped exactly like its neighbours.

The feed streams through as raw bytes: real records are never parsed, kept or logged, except
the one line just before each canary, which is read to copy its shape (columns, quoting,
date and weight formats, line ending, JSON key order and escaping) and then dropped. Memory
stays flat whatever the feed's size. Canary positions are drawn as geometric gaps, so the
work per real line is a byte scan for newlines, done in C.

Line splitting on b"\\n" is safe in UTF-8 and in GB18030: no multi-byte character of either
contains the byte 0x0A.
"""

import csv
import io
import json
import math
import random
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal

from canaries.items import CHINA_STANDARD_TIME
from canaries.mint import MintedCanary
from canaries.names import COMPOUND_SURNAMES, surname_shares
from canaries.style import StyleProfile, address_line, mask_like
from canaries.waybills import couriers_for, normalise_waybill

FeedFormat = Literal["csv", "ndjson"]
NextCanary = Callable[[], Mapping[str, object]]
MAX_LINE_BYTES = 1 << 20
UTF8_BOM = b"\xef\xbb\xbf"

# Header or key names, lower-cased without `_`, `-` or spaces, to the canary field they
# carry: Chinese export headers, and the camelCase and snake_case keys of the big couriers'
# and platforms' order and waybill APIs (mailNo, receiverName, receiver_mobile, ...).
FIELD_SYNONYMS: dict[str, str] = {
    **dict.fromkeys(
        ["waybillno", "waybill", "trackingno", "trackingnumber", "mailno", "waybillcode",
         "logisticsno", "logisticno", "expressno", "billcode", "shipmentno", "awb", "运单号",
         "快递单号", "物流单号", "运单编号", "快递单号码", "运单号码"], "waybill_no"),
    **dict.fromkeys(
        ["name", "recipient", "receivername", "receiver", "consignee", "consigneename",
         "recipientname", "buyername", "contactname", "receivermanname", "toname", "收件人",
         "收货人", "收货人姓名", "收件人姓名", "姓名", "收货客户名称", "收件人名称"], "name"),
    **dict.fromkeys(
        ["mobile", "phone", "tel", "receiverphone", "receivermobile", "receivertel",
         "consigneephone", "consigneemobile", "recipientmobile", "recipientphone", "buyermobile",
         "receivermanmobile", "tomobile", "tophone", "手机", "手机号", "电话", "联系电话",
         "联系手机", "收件人电话", "收件人手机", "收货人手机", "收货客户手机"], "mobile"),
    **dict.fromkeys(
        ["province", "receiverprovince", "consigneeprovince", "provincename", "receiverprov",
         "toprovince", "省", "省份", "收件省", "目的站省"], "province"),
    **dict.fromkeys(
        ["city", "receivercity", "consigneecity", "cityname", "tocity", "市", "城市", "收件市",
         "目的站市"], "city"),
    **dict.fromkeys(
        ["district", "county", "receiverarea", "receiverdistrict", "receivercounty",
         "consigneearea", "consigneedistrict", "districtname", "areaname", "toarea",
         "todistrict", "区", "区县", "县区", "收件区", "目的站区"], "district"),
    **dict.fromkeys(
        ["address", "detailaddress", "receiveraddress", "receiverdetailaddress",
         "consigneeaddress", "receiveraddr", "addr", "toaddress", "详细地址", "收货地址",
         "收件地址", "地址", "收货客户地址"], "address"),
    **dict.fromkeys(["fulladdress", "完整地址"], "full_address"),
    **dict.fromkeys(
        ["item", "goods", "product", "goodsname", "itemname", "productname", "skuname",
         "cargo", "cargoname", "物品", "商品", "商品名称", "品名", "托寄物"], "item"),
    **dict.fromkeys(
        ["weight", "weightkg", "totalweight", "packageweight", "重量", "重量kg", "计费重量"],
        "weight_kg"),
    **dict.fromkeys(
        ["createdat", "createtime", "ordertime", "createdtime", "gmtcreate", "created",
         "下单时间", "创建时间", "时间", "寄件时间"], "created_at"),
    **dict.fromkeys(
        ["courier", "cpcode", "expresscompany", "logisticscompany", "carrier", "express",
         "快递公司", "物流公司"], "courier"),
}  # fmt: skip
_HEADER_NOISE = re.compile(r"[\s_\-\ufeff\"'：:]|[(（\[【].*?[)）\]】]")
IDENTIFYING = frozenset({"waybill_no", "name", "mobile", "address", "full_address"})


def splice_fields(canary: MintedCanary, style: StyleProfile | None = None) -> dict[str, object]:
    """What the splicer needs of a minted canary; `address_line` is its address column as
    the link's style writes it beside separate division columns (repeating them or not)."""
    return {
        "address_line": address_line(
            (canary.province, canary.city, canary.district),
            canary.address,
            style,
            canary.waybill_no,
        ),
        "waybill_no": canary.waybill_no,
        "courier": canary.courier.value,
        "name": canary.name,
        "mobile": canary.mobile,
        "province": canary.province,
        "city": canary.city,
        "district": canary.district,
        "address": canary.address,
        "item": canary.item,
        "weight_kg": canary.weight_kg,
        "created_at": canary.created_at,
    }


class FeedFormatError(ValueError):
    """The feed cannot be spliced; the message names the line, never its content."""


def splice_feed(
    chunks: Iterable[bytes],
    *,
    feed_format: FeedFormat,
    next_canary: NextCanary,
    rate: float,
    rng: random.Random,
    column_map: Mapping[str, str] | None = None,
    on_planted: Callable[[Mapping[str, object]], None] | None = None,
    on_start: Callable[[str], None] | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[bytes]:
    """The feed, chunk by chunk, with a canary after each real record with probability `rate`
    (never before the header). `on_start` hears the feed's encoding before anything is
    yielded; `on_planted` is called for every canary actually emitted.

    `column_map` pairs the feed's headers (or JSON keys) with canary fields, ahead of the
    known synonyms. A feed whose first record has an identifying value (name, mobile,
    address, waybill) in a column that maps to nothing is refused before anything is
    yielded, as is a feed that carries none of them.
    """
    if not 0 < rate < 1:
        raise ValueError(f"rate {rate} is not between 0 and 1")
    source = iter(chunks)
    head, encoding = _read_head(source, max_line_bytes)
    if on_start is not None:
        on_start(encoding)
    line_no = 0
    shaper: _CsvShaper | _JsonShaper
    if feed_format == "csv":
        header_end = head.index(b"\n") + 1
        shaper = _CsvShaper(head[:header_end], encoding, column_map)
        shaper.check(head[header_end:])
        yield head[:header_end]
        head = head[header_end:]
        line_no = 1
    else:
        shaper = _JsonShaper(encoding, column_map)
        shaper.check(head)
    splicer = _Splicer(shaper, next_canary, on_planted, rate, rng, line_no, max_line_bytes)
    yield from splicer.feed(head)
    for chunk in source:
        yield from splicer.feed(chunk)
    if splicer.carry:
        # A last record without a newline passes through untouched, with no canary after it.
        yield splicer.carry


class _Splicer:
    def __init__(
        self,
        shaper: "_CsvShaper | _JsonShaper",
        next_canary: NextCanary,
        on_planted: Callable[[Mapping[str, object]], None] | None,
        rate: float,
        rng: random.Random,
        line_no: int,
        max_line_bytes: int,
    ) -> None:
        self.shaper = shaper
        self.next_canary = next_canary
        self.on_planted = on_planted
        self.rng = rng
        self.log_keep = math.log1p(-rate)
        self.line_no = line_no
        self.max_line_bytes = max_line_bytes
        self.carry = b""
        self.until = self._gap()

    def _gap(self) -> int:
        """Real lines before the next canary: geometric, so each line is a coin flip."""
        return int(math.log(1.0 - self.rng.random()) / self.log_keep) + 1

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        data = self.carry + chunk if self.carry else chunk
        start = 0
        while True:
            newlines = data.count(b"\n", start)
            if newlines < self.until:
                if newlines:
                    end = data.rindex(b"\n") + 1
                    yield data[start:end]
                    self.line_no += newlines
                    self.until -= newlines
                    start = end
                break
            cut = start
            for _ in range(self.until):
                cut = data.index(b"\n", cut) + 1
            yield data[start:cut]
            self.line_no += self.until
            line_start = data.rfind(b"\n", start, cut - 1) + 1
            previous = data[max(line_start, start) : cut]
            start = cut
            self.until = self._gap()
            if previous.strip():
                canary = self.next_canary()
                yield self.shaper.render(previous, canary, self.rng, self.line_no)
                if self.on_planted is not None:
                    self.on_planted(canary)
        self.carry = data[start:]
        if len(self.carry) > self.max_line_bytes:
            raise FeedFormatError(
                f"line {self.line_no + 1}: longer than {self.max_line_bytes} bytes"
            )


def _read_head(source: Iterator[bytes], max_line_bytes: int) -> tuple[bytes, str]:
    """The first bytes of the feed (at least one whole line) and the feed's encoding."""
    head = b""
    for chunk in source:
        head += chunk
        if b"\n" in head and len(head) >= 4096:
            break
        if len(head) > max_line_bytes and b"\n" not in head:
            raise FeedFormatError(f"line 1: longer than {max_line_bytes} bytes")
    if b"\n" not in head:
        raise FeedFormatError("line 1: the feed has no complete line")
    complete = head[: head.rindex(b"\n") + 1]
    body = complete[len(UTF8_BOM) :] if complete.startswith(UTF8_BOM) else complete
    try:
        body.decode("utf-8")
        return head, "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        body.decode("gb18030")
    except UnicodeDecodeError:
        raise FeedFormatError("line 1: the feed is neither UTF-8 nor GB18030 text") from None
    return head, "gb18030"


def _decode(line: bytes, encoding: str, line_no: int) -> str:
    try:
        text = line.decode(encoding)
    except UnicodeDecodeError:
        raise FeedFormatError(f"line {line_no}: not {encoding} text") from None
    return text.lstrip("\ufeff")


def field_of(name: str, column_map: Mapping[str, str] | None = None) -> str | None:
    """The canary field a header or key carries: the link's own mapping first (its
    profile's `feed_columns`), then the known synonyms."""
    if column_map is not None and name in column_map:
        return column_map[name]
    return FIELD_SYNONYMS.get(_HEADER_NOISE.sub("", name).lower())


def _identifying(value: str) -> bool:
    """Whether a cell of a column nobody mapped looks like a person's name, a mobile, a
    waybill number or an address: such a column cannot be filled without a real value."""
    text = value.strip()
    if not text:
        return False
    digits = re.sub(r"[\s\-+]", "", text)
    if re.fullmatch(r"(?:86)?1[3-9]\d[\d*]{4}\d{4}", digits):
        return True
    if 8 <= len(text) <= 24 and text.isascii() and couriers_for(normalise_waybill(text)):
        return True
    if len(text) >= 6 and _CJK.search(text) and re.search(r"\d", text):
        return bool(re.search(r"路|街|号|村|镇|乡|栋|幢|单元|室|小区|省|市|区|县", text))
    if re.fullmatch(rf"[{_CJK_RANGE}][{_CJK_RANGE}*＊]{{1,3}}", text) and text not in STATUS_WORDS:
        return text[0] in _single_surnames() or text[:2] in COMPOUND_SURNAMES
    return False


@cache
def _single_surnames() -> frozenset[str]:
    return frozenset(s for s, share in surname_shares().items() if len(s) == 1 and share > 1e-4)


def refuse_unplaceable(columns: Iterable[tuple[str, str | None, str]], line_no: int) -> None:
    """Refuse a feed whose identifying fields cannot all be placed, from its first record's
    (column, field, value) triples: canaries there would carry an empty cell where every
    real record has a value, or a real person's value copied from a neighbour."""
    columns = list(columns)
    if not {field for _, field, _ in columns if field} & IDENTIFYING:
        raise FeedFormatError(
            f"line {line_no}: no column carries a waybill, name, mobile or address"
        )
    for column, field, value in columns:
        if field is None and _identifying(value):
            raise FeedFormatError(
                f"line {line_no}: column {column!r} holds names, mobiles, addresses or "
                "waybill numbers under a header honeytrace does not know; map it in the "
                "feed profile's feed_columns"
            )
        if field == "mobile" and _FULL_MOBILE.match(re.sub(r"[\s-]", "", value)):
            raise FeedFormatError(
                f"line {line_no}: the feed carries full mobile numbers; masked canaries would "
                "stand out (full numbers need the operator's number pool)"
            )


class _CsvShaper:
    def __init__(self, header: bytes, encoding: str, column_map: Mapping[str, str] | None):
        self.encoding = encoding
        text = _decode(header, encoding, 1).rstrip("\r\n")
        self.delimiter = max(",\t;|", key=text.count)
        self.columns = [c.strip() for c in next(csv.reader([text], delimiter=self.delimiter))]
        self.fields = [field_of(column, column_map) for column in self.columns]
        self.full_address = not {"province", "city", "district"} & set(filter(None, self.fields))

    def check(self, body: bytes) -> None:
        """Refuse the feed at its first record if a canary cannot be placed in it."""
        first = body.split(b"\n", 1)[0] if b"\n" in body else b""
        raw = _decode(first, self.encoding, 2).rstrip("\r\n") if first.strip() else ""
        values = next(csv.reader([raw], delimiter=self.delimiter), []) if raw else []
        values += [""] * (len(self.columns) - len(values))
        refuse_unplaceable(zip(self.columns, self.fields, values, strict=False), 2)

    def render(
        self, previous: bytes, canary: Mapping[str, object], rng: random.Random, line_no: int
    ) -> bytes:
        text = _decode(previous, self.encoding, line_no)
        ending = "\r\n" if text.endswith("\r\n") else "\n"
        raw = text.rstrip("\r\n")
        values = next(csv.reader([raw], delimiter=self.delimiter), [])
        if len(values) != len(self.fields):
            raise FeedFormatError(f"line {line_no}: the number of columns differs from the header")
        quote_all = raw.startswith('"') and raw.count('"') >= 2 * len(values)
        out = io.StringIO()
        writer = csv.writer(
            out,
            delimiter=self.delimiter,
            lineterminator=ending,
            quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
        )
        writer.writerow(
            [
                _shaped(field, value, canary, rng, self.full_address, line_no)
                if field
                else copy_shape(value, rng)
                for field, value in zip(self.fields, values, strict=True)
            ]
        )
        return out.getvalue().encode(self.encoding)


class _JsonShaper:
    def __init__(self, encoding: str, column_map: Mapping[str, str] | None) -> None:
        self.encoding = encoding
        self.column_map = column_map

    def check(self, head: bytes) -> None:
        """Refuse the feed at its first record if a canary cannot be placed in it."""
        record = self._parse(head.split(b"\n", 1)[0], 1)
        refuse_unplaceable(
            ((key, field_of(key, self.column_map), str(value)) for key, value in _leaves(record)),
            1,
        )

    def _parse(self, line: bytes, line_no: int) -> dict[str, Any]:
        try:
            record = json.loads(_decode(line, self.encoding, line_no))
        except ValueError:
            raise FeedFormatError(f"line {line_no}: not a JSON object") from None
        if not isinstance(record, dict):
            raise FeedFormatError(f"line {line_no}: not a JSON object")
        return record

    def render(
        self, previous: bytes, canary: Mapping[str, object], rng: random.Random, line_no: int
    ) -> bytes:
        text = _decode(previous, self.encoding, line_no)
        record = self._parse(previous, line_no)
        full_address = not any(
            field_of(k, self.column_map) in {"province", "city", "district"}
            for k, _ in _leaves(record)
        )
        shaped = self._object(record, canary, rng, full_address, line_no)
        ending = "\r\n" if text.endswith("\r\n") else "\n"
        line = json.dumps(
            shaped,
            ensure_ascii=not any(b >= 0x80 for b in previous),
            separators=(
                ", " if '", "' in text or ', "' in text else ",",
                ": " if '": ' in text else ":",
            ),
        )
        return (line + ending).encode(self.encoding)

    def _object(
        self,
        record: dict[str, Any],
        canary: Mapping[str, object],
        rng: random.Random,
        full_address: bool,
        line_no: int,
    ) -> dict[str, Any]:
        shaped: dict[str, Any] = {}
        for key, value in record.items():
            field = field_of(key, self.column_map)
            if isinstance(value, dict):
                shaped[key] = self._object(value, canary, rng, full_address, line_no)
            elif field is None or isinstance(value, list):
                shaped[key] = _copy_json(value, rng)
            else:
                text = _shaped(field, str(value), canary, rng, full_address, line_no)
                shaped[key] = _typed_like(value, text)
        return shaped


def _leaves(record: Mapping[str, Any]) -> Iterator[tuple[str, object]]:
    """Every key whose value is not an object, with its value, nested objects included."""
    for key, value in record.items():
        if isinstance(value, dict):
            yield from _leaves(value)
        else:
            yield key, value


def _typed_like(model: object, text: str) -> object:
    if isinstance(model, bool) or not isinstance(model, int | float):
        return text
    try:
        return int(text) if isinstance(model, int) else float(text)
    except ValueError:
        return text


COURIER_NAMES = {
    "sf": "顺丰速运", "zto": "中通快递", "yto": "圆通速递", "sto": "申通快递",
    "yunda": "韵达快递", "jd": "京东物流", "jt": "极兔速递", "ems": "EMS", "deppon": "德邦快递",
}  # fmt: skip
_CJK_RANGE = "\u4e00-\u9fff"
_CJK = re.compile(f"[{_CJK_RANGE}]")
_FULL_MOBILE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")


def _shaped(
    field: str,
    previous: str,
    canary: Mapping[str, object],
    rng: random.Random,
    full_address: bool,
    line_no: int,
) -> str:
    """The canary's value for `field`, written the way the previous record wrote its own."""
    if field == "created_at":
        created = canary["created_at"]
        if not isinstance(created, datetime):
            raise TypeError("created_at must be a datetime")
        return format_like(previous.strip(), created)
    if field == "weight_kg":
        return weight_like(previous.strip(), float(str(canary["weight_kg"])))
    if field == "courier":
        code = str(canary["courier"])
        if _CJK.search(previous):
            return COURIER_NAMES.get(code, code)
        return code.upper() if previous.isupper() else code
    if field == "mobile" and _FULL_MOBILE.match(re.sub(r"[\s-]", "", previous)):
        # Masked canaries in a feed of full numbers would stand out (DESIGN rule 1).
        raise FeedFormatError(
            f"line {line_no}: the feed carries full mobile numbers; masked canaries would "
            "stand out (full numbers need the operator's number pool)"
        )
    if field == "name":
        return mask_like(previous.strip(), str(canary["name"]))
    if field == "address" and not full_address:
        return str(canary.get("address_line") or canary["address"])
    if field == "full_address" or (field == "address" and full_address):
        parts = [str(canary[k]) for k in ("province", "city", "district", "address")]
        spaced = _DIVISION_THEN_SPACE.match(previous.strip())
        return (spaced[2] if spaced else "").join(p for p in parts if p)
    return str(canary[field])


# "浙江省 杭州市 ..." writes divisions apart; a space inside the street part does not count.
_DIVISION_THEN_SPACE = re.compile(r"^\S{1,8}?(省|市|自治区|特别行政区)(\s+)")
_DATE = re.compile(
    r"^(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
    r"(?:(?P<t>[ T])(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<frac>\.\d+)?)?)?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?$"
)


def format_like(example: str, moment: datetime) -> str:
    """`moment` in the format of `example` (epoch seconds or millis, or a date/time pattern)."""
    if re.fullmatch(r"\d{13}", example):
        return str(int(moment.timestamp() * 1000))
    if re.fullmatch(r"\d{10}", example):
        return str(int(moment.timestamp()))
    match = _DATE.match(example)
    if match is None:
        return moment.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M:%S")
    zone = match["zone"]
    local = moment.astimezone(UTC if zone == "Z" else CHINA_STANDARD_TIME)
    month = f"{local.month:02d}" if len(match["m"]) == 2 else str(local.month)
    day = f"{local.day:02d}" if len(match["d"]) == 2 else str(local.day)
    text = f"{local.year}{match['sep']}{month}{match['sep']}{day}"
    if match["t"]:
        hour = f"{local.hour:02d}" if len(match["H"]) == 2 else str(local.hour)
        text += f"{match['t']}{hour}:{local.minute:02d}"
        if match["S"]:
            text += f":{local.second:02d}"
        if match["frac"]:
            text += "." + "0" * (len(match["frac"]) - 1)
    if zone:
        text += "Z" if zone == "Z" else ("+08:00" if ":" in zone else "+0800")
    return text


_WEIGHT = re.compile(r"^(?P<num>\d+(?:\.(?P<dec>\d+))?)\s*(?P<unit>[A-Za-z千克公斤]*)$")


def weight_like(example: str, kilograms: float) -> str:
    match = _WEIGHT.match(example)
    if match is None:
        return f"{kilograms:.2f}"
    unit = match["unit"]
    if unit.lower() == "g" or unit == "克":
        return f"{round(kilograms * 1000)}{unit}"
    decimals = len(match["dec"] or "")
    return f"{kilograms:.{decimals}f}{unit}"


# Status words and enums of courier and platform feeds: one of a few values per column,
# shared by thousands of records, so a neighbour's is safe to copy and a blank would show.
STATUS_WORDS = frozenset(
    [
        "是",
        "否",
        "正常",
        "普通",
        "加急",
        "已发货",
        "待发货",
        "已签收",
        "已付款",
        "待付款",
        "未付款",
        "在途",
        "标快",
        "特快",
        "到付",
        "寄付",
        "月结",
        "现付",
        "已揽收",
        "待揽收",
        "揽收",
        "已揽件",
        "运输中",
        "在途中",
        "派送中",
        "派件中",
        "待派送",
        "已派送",
        "已到达",
        "到件",
        "发件",
        "已发出",
        "待取件",
        "已取件",
        "驿站代收",
        "代收",
        "签收",
        "已妥投",
        "妥投",
        "退回",
        "退件",
        "已退回",
        "问题件",
        "异常",
        "拒收",
        "转寄",
        "已取消",
        "取消",
        "待签收",
        "已出库",
        "已入库",
        "配送中",
        "已完成",
        "完成",
        "交易成功",
        "交易关闭",
        "待收货",
        "已收货",
        "顺丰",
        "中通",
        "圆通",
        "申通",
        "韵达",
        "京东",
        "极兔",
        "邮政",
        "德邦",
        "EMS",
        "电商",
        "散件",
        "大客户",
        "个人",
    ]
)
# A column nobody mapped whose value is a short ASCII token or code (IN_TRANSIT, 3, A1) is
# an enum: copied. Longer codes with digits (order ids) are redrawn digit by digit.
MAX_ENUM_CHARS = 16
MAX_CODE_DIGITS = 4


def copy_shape(value: str, rng: random.Random) -> str:
    """A value for a column nobody mapped, never a real record's own: status words, enums
    and short codes are copied (many records share them); ids are redrawn digit by digit;
    free text (a remark, a street, anything in Chinese that is not a status word) is left
    out, because it may be a real person's."""
    text = value.strip()
    if not text or text in STATUS_WORDS:
        return value
    digits = sum(c.isdigit() for c in text)
    if text.isascii() and (digits <= MAX_CODE_DIGITS and len(text) <= MAX_ENUM_CHARS):
        return value
    if text.isascii() and not re.search(r"[A-Za-z]{3,}\s+[A-Za-z]{3,}", text):
        chars = []
        for i, c in enumerate(value):
            if c.isdigit():
                run_start = i == 0 or not value[i - 1].isdigit()
                chars.append(str(rng.randint(1 if run_start and c != "0" else 0, 9)))
            else:
                chars.append(c)
        return "".join(chars)
    return ""


def _copy_json(value: object, rng: random.Random) -> object:
    """`copy_shape` for a JSON value; inside a list (an order's goods, its remarks) too."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(copy_shape(str(value), rng) or 0)
    if isinstance(value, float):
        return float(copy_shape(repr(value), rng) or 0)
    if isinstance(value, str):
        return copy_shape(value, rng)
    if isinstance(value, list):
        return [_copy_json(item, rng) for item in value]
    if isinstance(value, dict):
        return {key: _copy_json(item, rng) for key, item in value.items()}
    return value
