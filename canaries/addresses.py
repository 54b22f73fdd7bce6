"""Recipient addresses consistent with GB/T 2260 and with a link's delivery area.

The division part (province, city, district) always comes from `division_table()`; the
street part follows the forms found on real waybills: road + number (文三路138号), residential
compound + building + unit + room (翠苑三区12幢2单元501室), and village + group in rural
counties (李家村3组). Street names are built from common morphemes, never from real
recipients' records.
"""

import random
from dataclasses import dataclass
from functools import cache

from canaries.divisions import Division, Level, division_table
from canaries.names import surname_shares
from canaries.sampling import Weighted

# Seventh national census (2020), resident population by province-level division
# (National Bureau of Statistics communique no. 3). Hong Kong, Macao and Taiwan are left out:
# the division table has no districts for them and their mobiles are not +86 1XX numbers.
CENSUS_2020_POPULATION: dict[str, int] = {
    "110000": 21_893_095,
    "120000": 13_866_009,
    "130000": 74_610_235,
    "140000": 34_915_616,
    "150000": 24_049_155,
    "210000": 42_591_407,
    "220000": 24_073_453,
    "230000": 31_850_088,
    "310000": 24_870_895,
    "320000": 84_748_016,
    "330000": 64_567_588,
    "340000": 61_027_171,
    "350000": 41_540_086,
    "360000": 45_188_635,
    "370000": 101_527_453,
    "410000": 99_365_519,
    "420000": 57_752_557,
    "430000": 66_444_864,
    "440000": 126_012_510,
    "450000": 50_126_804,
    "460000": 10_081_232,
    "500000": 32_054_159,
    "510000": 83_674_866,
    "520000": 38_562_148,
    "530000": 47_209_277,
    "540000": 3_648_100,
    "610000": 39_528_999,
    "620000": 25_019_831,
    "630000": 5_923_957,
    "640000": 7_202_654,
    "650000": 25_852_345,
}

# Within a province there is no offline per-county census table, so places are weighted by
# kind: urban districts send and receive more parcels than counties.
_KIND_WEIGHT = {"市辖区": 1.6, "县级市": 1.2, "地级市": 3.0}
_OTHER_KIND_WEIGHT = 0.8
# Chance that a recipient's address is a village + group rather than a road or compound.
_RURAL_SHARE = {"县": 0.45, "自治县": 0.5, "旗": 0.45, "自治旗": 0.5, "县级市": 0.2, "林区": 0.5}
_URBAN_RURAL_SHARE = 0.04


class DeliveryAreaError(ValueError):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"delivery area {code!r}: {reason}")
        self.code = code


@dataclass(frozen=True, slots=True)
class Place:
    """Where a recipient lives at division level, in the form a waybill shows it.

    `district` is empty where the table has no county level: the prefectures without
    districts (东莞, 中山, 儋州, 嘉峪关) and the county-level cities governed directly by a
    province (仙桃, 济源, ...), which waybills show as the city itself.
    """

    province: str
    city: str
    district: str
    code: str
    kind: str
    province_code: str


@dataclass(frozen=True, slots=True)
class Address:
    place: Place
    street: str


def place_for(code: str) -> Place:
    """The province/city/district triple of a leaf division (county or district-less city)."""
    table = division_table()
    division = table.get(code)
    chain = table.ancestors(code)
    province = chain[-1]
    if division.level is Level.PREFECTURE or len(chain) == 1:
        return Place(province.name, division.name, "", code, division.kind, province.code)
    parent = chain[1]
    if parent.level is Level.PROVINCE and parent.kind != "直辖市":
        return Place(province.name, division.name, "", code, division.kind, province.code)
    return Place(province.name, parent.name, division.name, code, division.kind, province.code)


def _leaves(code: str) -> list[Division]:
    table = division_table()
    children = table.children(code)
    if not children:
        return [table.get(code)]
    leaves: list[Division] = []
    for child in children:
        leaves.extend(_leaves(child.code))
    return leaves


def _leaf_weight(division: Division) -> float:
    return _KIND_WEIGHT.get(division.kind, _OTHER_KIND_WEIGHT)


@cache
def _places_in(code: str) -> Weighted[Place]:
    table = division_table()
    if code not in table:
        raise DeliveryAreaError(code, "not a GB/T 2260 division code")
    province = table.ancestors(code)[-1]
    if province.code not in CENSUS_2020_POPULATION:
        raise DeliveryAreaError(code, "no county-level divisions or mainland mobiles there")
    return Weighted((place_for(d.code), _leaf_weight(d)) for d in _leaves(code))


@cache
def _national_provinces() -> Weighted[str]:
    return Weighted((code, float(people)) for code, people in CENSUS_2020_POPULATION.items())


class AddressMinter:
    """Draws addresses inside one delivery area: a district code, a prefecture or province
    code, or None for the whole country weighted by 2020 census population."""

    def __init__(self, area: str | None) -> None:
        self.area = area
        if area is not None:
            _places_in(area)

    def place(self, rng: random.Random) -> Place:
        area = self.area if self.area is not None else _national_provinces().draw(rng)
        return _places_in(area).draw(rng)

    def address(self, rng: random.Random) -> Address:
        place = self.place(rng)
        return Address(place, street_line(rng, place))


def _words(text: str) -> tuple[str, ...]:
    """Morpheme lists are written as space-separated strings to stay readable."""
    return tuple(text.split())


_ROAD_WORDS = _words(
    "人民 解放 建设 中山 和平 胜利 新华 长江 黄河 文化 学府 科技 工业"
    " 朝阳 光明 幸福 团结 友谊 东风 迎宾 滨江 滨河 沿江 青年 健康 公园"
    " 体育 五一 红旗 振兴 复兴 育才 兴业 创业 环城 府前 花园 金桥 银河"
    " 春晖 凤凰 龙华 翠柏 松林 桃源 清泉 古城 新城 开发 庆丰 丰收 裕民"
    " 安居 广场 车站 机场"
)
_ROAD_ENDINGS = Weighted(
    [("路", 10.0), ("街", 3.0), ("大道", 2.0), ("大街", 1.5), ("巷", 0.8), ("中路", 1.0)]
    + [(d + "路", 0.7) for d in "东西南北"]
)
_NUMERALS = "一二三四五六七八九十"
_COMPOUND_HEADS = _words(
    "翠 锦 金 华 碧 桂 丽 嘉 御 名 星 紫 绿 景 悦 和 康 泰 瑞 富"
    " 盛 阳光 东方 世纪 时代 香榭 蓝湾 枫林 锦绣 书香 滨江 湖畔 水岸 海棠"
    " 玫瑰 紫荆 银杏 香樟 梧桐 丹桂 怡景 盛世 万象 中央 天悦"
)
_SECOND_MORPHEMES = "华锦景馨湖山水林庭泉苑都"
_COMPOUND_TAILS = _words("苑 园 庭 城 府 湾 里 居 轩 阁 邸 都 港 汇 岸 坊 庄 郡 墅 峰")
_COMPOUND_SUFFIXES = Weighted(
    [
        ("小区", 6.0),
        ("花园", 5.0),
        ("家园", 3.0),
        ("新村", 2.5),
        ("公寓", 1.5),
        ("华庭", 1.0),
        ("名苑", 1.0),
        ("雅苑", 1.0),
        ("嘉园", 1.0),
        ("", 8.0),
    ]
)
_VILLAGE_ENDINGS = Weighted(
    [
        ("家村", 5.0),
        ("庄村", 2.0),
        ("村", 4.0),
        ("湾村", 1.0),
        ("岭村", 0.7),
        ("坪村", 0.7),
        ("沟村", 0.8),
        ("店村", 0.8),
        ("营村", 0.7),
        ("寨村", 0.6),
        ("屯", 0.5),
    ]
)
_TOWN_WORDS = _words(
    "城关 新华 东城 西城 南城 北城 城南 城北 城东 城西 长安 龙泉 石桥 大桥 新桥 双河"
)
_BUILDING_MARKS = Weighted([("幢", 3.0), ("栋", 4.0), ("号楼", 3.0)])


def _chinese_number(n: int) -> str:
    if n <= 10:
        return _NUMERALS[n - 1]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _NUMERALS[tens - 1]) + "十" + (_NUMERALS[ones - 1] if ones else "")


def _road(rng: random.Random) -> str:
    word = rng.choice(_ROAD_WORDS)
    if rng.random() < 0.12:
        # Numbered roads: 文三路, 纬二路.
        return word[:1] + _NUMERALS[rng.randrange(9)] + "路"
    return word + _ROAD_ENDINGS.draw(rng)


def _house_number(rng: random.Random) -> str:
    number = int(rng.paretovariate(1.1) * 8)
    number = min(number, 999)
    if rng.random() < 0.05:
        return f"{number}-{rng.randint(1, 9)}号"
    return f"{number}号"


def _room(rng: random.Random) -> str:
    floor = min(1 + int(rng.expovariate(1 / 6)), 33)
    return f"{floor}{rng.randint(1, 4):02d}"


def _compound(rng: random.Random) -> str:
    head = rng.choice(_COMPOUND_HEADS)
    if len(head) == 1:
        head += rng.choice(_SECOND_MORPHEMES)
    name = head + rng.choice(_COMPOUND_TAILS) + _COMPOUND_SUFFIXES.draw(rng)
    if rng.random() < 0.15:
        name += _chinese_number(rng.randint(1, 6)) + rng.choice(("区", "期"))
    building = rng.randint(1, 36)
    unit = rng.randint(1, 6)
    room = _room(rng)
    style = rng.random()
    if style < 0.6:
        return (
            f"{name}{building}{_BUILDING_MARKS.draw(rng)}{unit}单元{room}{rng.choice(('室', ''))}"
        )
    if style < 0.85:
        return f"{name} {building}{_BUILDING_MARKS.draw(rng)} {unit}单元 {room}室"
    return f"{name}{building}-{unit}-{room}"


def _village(rng: random.Random) -> str:
    ending = _VILLAGE_ENDINGS.draw(rng)
    if ending in ("家村", "庄村"):
        head = _village_surnames().draw(rng)
    else:
        head = rng.choice(_ROAD_WORDS)[:1] + rng.choice(_COMPOUND_HEADS)[:1]
    group = rng.randint(1, 12)
    group_text = f"{group}组" if rng.random() < 0.7 else f"{_chinese_number(group)}组"
    line = f"{head}{ending}{group_text}"
    if rng.random() < 0.4:
        line += f"{rng.randint(1, 120)}号"
    return line


@cache
def _village_surnames() -> Weighted[str]:
    return Weighted((s, w) for s, w in surname_shares().items() if len(s) == 1 and w > 0.002)


def _town(rng: random.Random, rural: bool) -> str:
    word = rng.choice(_TOWN_WORDS)
    return word + ("镇" if rural else "街道")


def street_line(rng: random.Random, place: Place) -> str:
    """The street-level part of an address, in a form real waybills use for that kind."""
    rural_share = _RURAL_SHARE.get(place.kind, _URBAN_RURAL_SHARE)
    if rng.random() < rural_share:
        town = _town(rng, rural=True) if rng.random() < 0.7 else ""
        return town + _village(rng)
    prefix = _town(rng, rural=False) if rng.random() < 0.2 else ""
    form = rng.random()
    if form < 0.3:
        return prefix + _road(rng) + _house_number(rng)
    if form < 0.55:
        return prefix + _road(rng) + _house_number(rng) + _compound(rng)
    return prefix + _compound(rng)
