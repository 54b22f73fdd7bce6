"""Which waybill field each column of a leaked table holds, from its header or its content.

Leaked exports rarely keep a platform's own header: they are re-saved from Excel, merged by
resellers, masked (`手机(脱敏)`) or stripped of the header altogether. The header table
extends the realism audit's (`canaries.headers.HEADER_SYNONYMS`) with the variants seen in
leaked Chinese and English exports; where a header says nothing, the cells decide.
"""

import re
import unicodedata
from collections.abc import Sequence
from functools import cache

from canaries.headers import COURIER_NAMES, HEADER_SYNONYMS
from canaries.mobiles import normalise_mobile
from canaries.names import surname_shares
from canaries.waybills import couriers_for, normalise_waybill

FIELDS = (
    *("name", "mobile", "province", "city", "district", "address", "item", "weight"),
    *("created_at", "waybill_no", "courier", "order_id"),
)
LEAK_SYNONYMS: dict[str, tuple[str, ...]] = {
    "order_id": (
        *("订单编号", "订单号", "订单id", "订单号码", "平台订单号", "外部订单号", "原始单号"),
        *("交易单号", "交易号", "order_id", "orderid", "order_no", "order_number", "order"),
    ),
    "name": (
        *("收货人姓名", "收货人", "收件人", "客户姓名", "收件人名称", "收货人名称", "联系人"),
        *("买家姓名", "客户名称", "客户", "receiver_name", "receiver", "consignee"),
        *("consignee_name", "recipient_name", "customer_name", "contact_name", "full_name"),
        "customer",
    ),
    "mobile": (
        *("联系手机", "手机号码", "收货人手机", "收货人电话", "联系方式", "收件人手机号"),
        *("收货人手机号", "收货人联系方式", "电话号码", "手机号码1", "客户电话", "客户手机"),
        *("phone_number", "mobile_phone", "mobile_number", "cellphone", "cell_phone"),
        *("telephone", "receiver_phone", "receiver_mobile", "consignee_phone", "contact_phone"),
        *("tel_no", "phone_no"),
    ),
    "province": ("省份", "收货省份", "收件省份", "所在省", "省/直辖市", "省/市", "province_name"),
    "city": ("城市", "收货城市", "收件城市", "所在市", "地市", "city_name"),
    "district": ("区县", "区/县", "县/区", "收货区县", "收件区县", "所在区", "district_name"),
    "address": (
        *("收货地址", "收件地址", "详细地址", "收货人地址", "收件人地址", "地址详情", "街道地址"),
        *("完整地址", "收货详细地址", "shipping_address", "receiver_address", "delivery_address"),
        *("consignee_address", "street_address", "full_address", "detail_address", "addr"),
    ),
    "item": (
        *("商品名称", "宝贝标题", "商品标题", "货品名称", "商品信息", "宝贝名称", "产品名称"),
        *("product", "product_name", "goods_name", "item_name", "sku_name"),
    ),
    "weight": ("包裹重量", "重量kg", "weight_kg", "package_weight"),
    "created_at": (
        *("订单创建时间", "付款时间", "发货时间", "下单日期", "订单时间", "创建日期"),
        *("order_time", "created_time", "create_time", "order_date", "pay_time", "date"),
    ),
    "waybill_no": (
        *("物流单号", "快递单号", "运单编号", "运单号码", "快递单号码", "物流编号", "发货单号"),
        *("tracking_number", "tracking_no", "tracking", "waybill_number", "express_no"),
        *("logistics_no", "shipment_no", "awb"),
    ),
    "courier": (
        *("物流公司", "快递公司", "快递公司名称", "承运公司", "配送公司", "物流", "快递名称"),
        *("logistics_company", "express_company", "shipping_company", "carrier_name"),
        *("courier_company", "express"),
    ),
}
# Only the first pass is a header verdict: a sample of rows is enough to guess a column.
GUESS_ROWS = 200
_GUESS_SHARE = 0.6
_HEADER_BRACKETS = re.compile(r"[(（\[【<《].*?[)）\]】>》]")
_HEADER_NOISE = re.compile(r"[\s\ufeff\"'`_\-.:：*#]")
_MOBILE_FULL = re.compile(r"1[3-9]\d{9}")
_MOBILE_MASKED = re.compile(r"1[3-9]\d\*{4}\d{4}")
_CJK = "\u3400-\u9fff"
_NAME = re.compile(rf"[{_CJK}][{_CJK}*·]{{1,3}}")
_DIVISION_END = re.compile(r"(?:省|市|区|县|旗|州|盟|自治区)$")
_ADDRESS_MARK = re.compile(r"路|街|道|号|村|镇|乡|弄|巷|栋|室|幢|单元|小区|大厦|社区|组")
_DIVISION_MARK = re.compile(r"省|市|区|县")
_DATE = re.compile(r"(?:19|20)\d\d[-/年.]\d{1,2}[-/月.]\d{1,2}")


def header_key(text: str) -> str:
    """Headers compare without case, spacing, quotes, BOMs or notes like `手机(脱敏)`."""
    text = unicodedata.normalize("NFKC", text.replace("\ufeff", ""))
    return _HEADER_NOISE.sub("", _HEADER_BRACKETS.sub("", text)).lower()


@cache
def _field_by_key() -> dict[str, str]:
    table: dict[str, str] = {}
    for synonyms in (HEADER_SYNONYMS, LEAK_SYNONYMS):
        for field, names in synonyms.items():
            for name in names:
                table.setdefault(header_key(name), field)
    return table


def header_field(text: str) -> str | None:
    """The canonical field a header cell names, or None."""
    key = header_key(text)
    return _field_by_key().get(key) if key else None


def header_fields(cells: Sequence[str]) -> tuple[str | None, ...] | None:
    """The fields a header row names, or None when the row does not read as a header.

    Two recognised cells make a header (one when it is the only cell): a data row almost
    never has two cells that happen to be column names.
    """
    fields = [header_field(cell) for cell in cells]
    known = sum(field is not None for field in fields)
    if known >= 2 or (known == 1 and len([c for c in cells if c.strip()]) == 1):
        seen: set[str] = set()
        unique: list[str | None] = []
        for field in fields:
            unique.append(field if field not in seen else None)
            if field is not None:
                seen.add(field)
        return tuple(unique)
    return None


def is_mobile(cell: str) -> bool:
    """A mainland mobile, full or masked the usual way (`138****5678`), in any width."""
    number = normalise_mobile(unicodedata.normalize("NFKC", cell)).split("转")[0]
    return bool(_MOBILE_FULL.fullmatch(number) or _MOBILE_MASKED.fullmatch(number))


def is_waybill(cell: str) -> bool:
    text = cell.strip()
    return 8 <= len(text) <= 24 and bool(couriers_for(normalise_waybill(text)))


@cache
def _surnames() -> tuple[frozenset[str], frozenset[str]]:
    names = surname_shares()
    return (
        frozenset(s for s in names if len(s) == 1),
        frozenset(s for s in names if len(s) == 2),
    )


def is_person_name(cell: str) -> bool:
    """2-4 CJK characters, possibly masked (`张*伟`), starting with a known surname."""
    text = cell.strip().replace("＊", "*")
    if not _NAME.fullmatch(text) or _DIVISION_END.search(text) or courier_named(text):
        return False
    singles, compounds = _surnames()
    return text[0] in singles or text[:2] in compounds


def is_address(cell: str) -> bool:
    text = cell.strip()
    if len(text) < 6:
        return False
    return bool(_ADDRESS_MARK.search(text)) or len(_DIVISION_MARK.findall(text)) >= 2


def courier_named(cell: str) -> bool:
    text = cell.strip().lower()
    if not text or len(text) > 12:
        return False
    return any(
        alias == text or (not alias.isascii() and alias in text)
        for aliases in COURIER_NAMES.values()
        for alias in aliases
    )


def is_date(cell: str) -> bool:
    return bool(_DATE.match(cell.strip()))


# In order of precedence: a cell that is a mobile is never taken for a waybill number.
_GUESSERS = (
    ("mobile", is_mobile),
    ("waybill_no", is_waybill),
    ("courier", courier_named),
    ("name", is_person_name),
    ("address", is_address),
    ("created_at", is_date),
)


def guess_fields(
    rows: Sequence[Sequence[str]], known: Sequence[str | None] = ()
) -> tuple[str | None, ...]:
    """Fields by content for the columns `known` leaves None (all when `known` is empty).

    A column is given a field when most of its non-empty sample cells look like it; each
    field goes to at most one column, the one that looks most like it.
    """
    width = max((len(row) for row in rows), default=len(known))
    width = max(width, len(known))
    fields: list[str | None] = [*known, *([None] * (width - len(known)))]
    taken = {field for field in fields if field is not None}
    best: dict[str, tuple[float, int]] = {}
    for column in range(width):
        if fields[column] is not None:
            continue
        cells = [row[column] for row in rows[:GUESS_ROWS] if column < len(row) and row[column]]
        cells = [cell for cell in cells if cell.strip()]
        if not cells:
            continue
        for field, looks_like in _GUESSERS:
            if field in taken:
                continue
            share = sum(looks_like(cell) for cell in cells) / len(cells)
            if share >= _GUESS_SHARE:
                if share > best.get(field, (0.0, -1))[0]:
                    best[field] = (share, column)
                break
    for field, (_share, column) in best.items():
        if fields[column] is None:
            fields[column] = field
    return tuple(fields)
