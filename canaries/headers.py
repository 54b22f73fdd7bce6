"""How exports name their columns and their couriers: what the realism audit's reference
reader and a scan's header reader both go by. Plain data, so a scan imports nothing else
for it."""

from canaries.couriers import Courier

# Column headers seen in courier, platform and leaked-list exports, by field.
HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": ("收件人", "收货人", "收货人姓名", "收件人姓名", "姓名", "name", "recipient"),
    "mobile": (
        *("手机", "手机号", "手机号码", "联系电话", "联系手机", "收件人电话", "收件人手机"),
        *("电话", "mobile", "phone", "tel"),
    ),
    "province": ("省", "省份", "收件省", "province"),
    "city": ("市", "城市", "收件市", "city"),
    "district": ("区", "区县", "县区", "收件区", "district", "county"),
    "address": ("详细地址", "收货地址", "收件地址", "地址", "address", "street"),
    "item": ("物品", "商品", "商品名称", "物品名称", "item", "goods"),
    "weight": ("重量", "weight", "weight_kg"),
    "created_at": ("下单时间", "创建时间", "寄件时间", "created_at", "created", "time"),
    "waybill_no": ("运单号", "快递单号", "单号", "waybill_no", "waybill", "tracking_no"),
    "courier": ("快递公司", "快递", "承运商", "courier", "carrier"),
}

COURIER_NAMES: dict[Courier, tuple[str, ...]] = {
    Courier.SF: ("顺丰", "sf", "shunfeng"),
    Courier.ZTO: ("中通", "zto", "zhongtong"),
    Courier.YTO: ("圆通", "yto", "yuantong"),
    Courier.STO: ("申通", "sto", "shentong"),
    Courier.YUNDA: ("韵达", "yunda"),
    Courier.JD: ("京东", "jd"),
    Courier.JT: ("极兔", "j&t", "jt", "jtexpress"),
    Courier.EMS: ("ems", "邮政", "china post"),
    Courier.DEPPON: ("德邦", "deppon", "dbl"),
}
