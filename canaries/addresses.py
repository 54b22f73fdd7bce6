"""Recipient addresses consistent with GB/T 2260 and with a link's delivery area.

The division part (province, city, district) always comes from `division_table()`. The
street part is drawn in two steps: a form from the link's style profile (the sequence of
parts its own records use: `T R N C B栋 U M室` is street office, road, number, compound,
building, unit, room; see `canaries.style`), then each part filled from real public place
names of the county: its towns and street offices, village and residents' committees, and
the roads their names carry (data/places.tsv.gz, from the NBS 2023 division codes). Parts
no gazetteer lists (a company, a school, a market, an industrial park, a shop) are named
after the county's own places, as real ones are (城南农贸市场, 城关镇中心小学).
"""

import gzip
import math
import random
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from canaries.divisions import Division, Level, division_table
from canaries.sampling import Weighted
from canaries.style import StyleProfile, default_style, place_parts, split_divisions

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
# A residents' committee serves about eight times the people of a village committee (2020
# census: 901 million urban residents in about 113,000 communities, 509 million rural ones
# in about 490,000 villages), so a county's share of village addresses is its village
# committees over villages plus eight times its communities.
_COMMUNITY_PEOPLE = 8.0
# Fills of one form tried before the last one stands (see StreetMinter.street).
MAX_FILLS = 8


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
    code, or None for the whole country weighted by 2020 census population; the street part
    in the forms of `style`."""

    def __init__(self, area: str | None, style: StyleProfile | None = None) -> None:
        self.area = area
        if area is not None:
            _places_in(area)
        self._streets = street_minter(style)

    def place(self, rng: random.Random) -> Place:
        area = self.area if self.area is not None else _national_provinces().draw(rng)
        return _places_in(area).draw(rng)

    def address(self, rng: random.Random) -> Address:
        place = self.place(rng)
        return Address(place, self._streets.street(rng, place))


@dataclass(frozen=True, slots=True)
class Town:
    name: str
    kind: str  # 街道, 镇, 乡 or 其他
    villages: int  # village committees under it
    communities: int  # residents' committees under it
    village_names: tuple[str, ...]
    community_names: tuple[str, ...]

    @property
    def stem(self) -> str:
        return re.sub(r"(?:街道办事处|街道|镇|乡)$", "", self.name) or self.name

    @property
    def people(self) -> float:
        """How many people it serves, in village committees' worth (see _COMMUNITY_PEOPLE)."""
        return 1.0 + self.villages + _COMMUNITY_PEOPLE * self.communities

    @property
    def village_share(self) -> float:
        return _village_share(self.villages, self.communities)

    def weight(self, power: float, village: bool | None = None) -> float:
        """How often an address names this town among its county's: its people to the
        style's `town_power` (0: every town alike, 1: by people), times its share of
        village addresses for a village form (or of the others for any other form)."""
        weight = math.pow(self.people, power)
        if village is None:
            return weight
        share = self.village_share if village else 1.0 - self.village_share
        # A town with no village still has the odd one (a new committee): never zero.
        return weight * max(share, 1e-3)


@dataclass(frozen=True, slots=True)
class CountyPlaces:
    towns: tuple[Town, ...]
    roads: tuple[str, ...]

    def village_share(self, power: float = 1.0) -> float:
        """The share of its addresses in villages, when towns are named as often as
        `Town.weight` says."""
        weights = [t.weight(power) for t in self.towns]
        total = sum(weights)
        if not total:
            return 0.0
        return sum(w * t.village_share for w, t in zip(weights, self.towns, strict=True)) / total


@cache
def area_class(code: str, town_power: float = 1.0) -> str:
    """Urban, mixed or rural, by the county's share of village addresses: a style's forms
    are learned and drawn per class, as a county's mix of roads and villages differs.
    `town_power` is the style's (how its records spread over a county's towns)."""
    county = county_places().get(code)
    return _share_class(county.village_share(town_power) if county is not None else 0.0)


@cache
def county_village_share(code: str, town_power: float = 1.0) -> float:
    """The share of a county's addresses in villages (see CountyPlaces.village_share)."""
    county = county_places().get(code)
    return county.village_share(town_power) if county is not None else 0.0


@cache
def _town_table(code: str, town_power: float, village: bool) -> Weighted[Town]:
    """The county's towns weighted for an address in a village form or not."""
    return Weighted((t, t.weight(town_power, village)) for t in county_places()[code].towns)


# Town weight powers a style is fitted over (see fit_town_power).
TOWN_POWERS = tuple(round(0.1 * k, 1) for k in range(16))


def fit_town_power(mentions: Mapping[tuple[str, str, bool], int]) -> float | None:
    """How a sample's records spread over the towns of their county, from the addresses
    that name their town: mentions by (county code, town name, in a village form). The
    power of `Town.weight` on the grid TOWN_POWERS that gives the mentions the highest
    likelihood; None when no mention names a known town."""
    by_county: dict[str, dict[str, Town]] = {}
    observed: list[tuple[tuple[Town, ...], Town, bool, int]] = []
    for (code, name, village), count in mentions.items():
        county = county_places().get(code)
        if county is None:
            continue
        towns = by_county.setdefault(code, {t.stem: t for t in county.towns})
        town = towns.get(re.sub(r"(?:街道办事处|街道|镇|乡)$", "", name) or name)
        if town is not None:
            observed.append((county.towns, town, village, count))
    if not observed:
        return None

    def likelihood(power: float) -> float:
        norms: dict[tuple[int, bool], float] = {}
        total = 0.0
        for towns, town, village, count in observed:
            key = (id(towns), village)
            if key not in norms:
                norms[key] = sum(t.weight(power, village) for t in towns)
            total += count * math.log(town.weight(power, village) / norms[key])
        return total

    return max(TOWN_POWERS, key=likelihood)


def _share_class(share: float) -> str:
    for bound, name in AREA_CLASSES:
        if share < bound:
            return name
    return AREA_CLASSES[-1][1]


def _village_share(villages: int, communities: int) -> float:
    people = villages + _COMMUNITY_PEOPLE * communities
    return villages / people if people else 0.0


# Bounds of the classes on a county's share of village addresses; the last takes them all.
_CLASS_BOUNDS = (0.02, 0.05, 0.1, 0.2, 0.35, 0.6, 1.01)
AREA_CLASSES = tuple((bound, f"villages<{bound:.0%}") for bound in _CLASS_BOUNDS)


@cache
def county_places() -> dict[str, CountyPlaces]:
    """Towns, committees and roads by county code (about 0.3 s to load, once)."""
    raw = resources.files("canaries").joinpath("data/places.tsv.gz").read_bytes()
    divisions = {d.name for d in division_table().all()}
    heads = {name[:2] for name in divisions}  # most names share no two characters with one

    def names(cell: str) -> tuple[str, ...]:
        # A committee named after a division (黄山区社区) would read as one in an address.
        return tuple(
            n
            for n in cell.split("|")
            if n and not (n[:2] in heads and any(n[:k] in divisions for k in range(2, 8)))
        )

    towns: dict[str, list[Town]] = defaultdict(list)
    roads: dict[str, tuple[str, ...]] = {}
    for line in gzip.decompress(raw).decode("utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        cells = line.split("\t")
        if cells[0] == "T":
            county, name, kind, villages, communities, vnames, cnames = cells[1:8]
            if not names(name):
                continue
            towns[county].append(
                Town(
                    name,
                    kind,
                    int(villages),
                    int(communities),
                    names(vnames),
                    names(cnames),
                )
            )
        else:
            roads[cells[1]] = tuple(cells[2].split("|"))
    return {code: CountyPlaces(tuple(found), roads.get(code, ())) for code, found in towns.items()}


@cache
def county_towns(code: str) -> frozenset[str]:
    """The names of a county's towns and street offices (西溪街道, 三墩镇)."""
    county = county_places().get(code)
    return frozenset(t.name for t in county.towns) if county is not None else frozenset()


_COMPOUND_END = re.compile(
    r"(?:小区|花园|公寓|家园|新村|[一二三四五六七八九十东西南北]区|[一二三四五六七八九十]期"
    r"|苑|园|庭|府|城|湾|郡|居|阁|轩|里|墅|邸|坊|院)$"
)


@cache
def compound_endings() -> Weighted[str]:
    """How residents' committees named after a compound end (苑, 花园, 新村, ...), over the
    whole country: the endings a compound name drawn from a bare place name takes."""
    counts: Counter[str] = Counter()
    for county in county_places().values():
        for town in county.towns:
            for name in town.community_names:
                found = _COMPOUND_END.search(name)
                if (
                    found is not None
                    and len(found[0]) <= 2
                    and found[0][0] not in "一二三四五六七八九十东西南北"
                ):
                    counts[found[0]] += 1
    return Weighted((ending, float(n)) for ending, n in counts.items())


def _chinese_number(n: int) -> str:
    if n <= 10:
        return _NUMERALS[n - 1]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _NUMERALS[tens - 1]) + "十" + (_NUMERALS[ones - 1] if ones else "")


_NUMERALS = "一二三四五六七八九十"
_ROAD_END = re.compile(r"(?:路|街|巷|弄|胡同|大道)$")
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
# Words of the kinds no gazetteer lists, as companies, schools and shops are commonly named.
_TRADE_WORDS = (
    "科技 贸易 电子 机械 服饰 食品 建材 物流 实业 网络 医药 化工 纺织 包装 印刷 汽车配件"
    " 家具 塑胶 五金 电器 新能源 环保 建筑工程 信息技术 文化传媒 农业 商贸 精密 智能 光电"
)
_TRADES = tuple(_TRADE_WORDS.split())
_SCHOOL_HEADS = ("", "", "", "实验", "中心", "第一", "第二", "第三")
_SHOP_WORDS = ("", "", "便民", "惠民", "鑫", "好又多", "佳佳", "联华")


Forms = tuple[Weighted[str], Weighted[str] | None, Weighted[str] | None]


def _split_forms(forms: Mapping[str, float]) -> Forms | None:
    """All the forms, and those in a village (a village or a group part) and the others."""
    if not forms:
        return None

    def some(village: bool) -> Weighted[str] | None:
        chosen = {f: w for f, w in forms.items() if _village_form(f.split()) is village}
        return Weighted.from_mapping(chosen) if chosen else None

    return Weighted.from_mapping(forms), some(True), some(False)


def _village_form(form: list[str]) -> bool:
    return any(token[0] in "VG" for token in form)


_STREET_MINTERS: dict[int, tuple[StyleProfile, "StreetMinter"]] = {}
_STREET_MINTERS_HELD = 64
_STREET_MINTERS_LOCK = threading.Lock()


def street_minter(style: StyleProfile | None) -> "StreetMinter":
    """The street minter of a style object, made once: it only reads its style, and making
    one splits every form (milliseconds), which a burned canary's replacement, minted in the
    request that reported it, would otherwise pay each time."""
    style = style if style is not None else default_style()
    with _STREET_MINTERS_LOCK:
        held = _STREET_MINTERS.get(id(style))
        if held is not None and held[0] is style:  # the object kept alive: its id is its own
            return held[1]
    minter = StreetMinter(style)
    with _STREET_MINTERS_LOCK:
        if len(_STREET_MINTERS) >= _STREET_MINTERS_HELD:
            del _STREET_MINTERS[next(iter(_STREET_MINTERS))]
        _STREET_MINTERS[id(style)] = (style, minter)
    return minter


class StreetMinter:
    """Street parts in the forms of a style profile, filled from the county's places."""

    def __init__(self, style: StyleProfile | None = None) -> None:
        self.style = style if style is not None else default_style()
        self._forms = _split_forms(self.style.forms)
        self._area_forms = {
            area: _split_forms(forms) for area, forms in self.style.area_forms.items() if forms
        }
        style = self.style
        self._rural_urban = (
            (Weighted.from_mapping(style.rural_forms), Weighted.from_mapping(style.urban_forms))
            if style.rural_forms and style.urban_forms
            else None
        )
        self._words = Weighted.from_mapping(self.style.words) if self.style.words else None
        endings = self.style.compound_endings
        self._endings = Weighted.from_mapping(endings) if endings else None
        self._digits = {
            kind: Weighted.from_mapping(shares)
            for kind, shares in self.style.digits.items()
            if shares
        }

    def form(self, rng: random.Random, code: str) -> tuple[list[str], bool]:
        """A form for an address in a county, and whether it lies in a rural town: where
        the style has unmixed rural and urban forms, one of them as often as the county's
        towns are rural; else the forms of its class of place (urban, mixed, rural), or all
        its forms where its sample had none, in a village as often as the county's towns
        say where the style has measured the rate."""
        power = self.style.town_power
        share = county_village_share(code, power)
        if self._rural_urban is not None:
            rural = rng.random() < share
            return self._rural_urban[0 if rural else 1].draw(rng).split(), rural
        form = self._class_form(rng, code, power, share)
        return form, _village_form(form)

    def _class_form(self, rng: random.Random, code: str, power: float, share: float) -> list[str]:
        chosen = self._area_forms.get(area_class(code, power), self._forms)
        if chosen is None:
            return ["R", "N"]
        everything, villages, others = chosen
        scale = self.style.village_scale
        if scale is None or villages is None or others is None:
            return everything.draw(rng).split()
        in_village = rng.random() < scale * share
        return (villages if in_village else others).draw(rng).split()

    def street(self, rng: random.Random, place: Place) -> str:
        """A street part in a form drawn from the style. Real names hold endings of other
        parts (南皮店镇 reads as a shop and a town): a fill that does not read back as its
        form, or begins with a division's name, is redrawn, so the forms a buyer parses
        keep the style's proportions."""
        county = county_places().get(place.code) or CountyPlaces((), ())
        style = self.style
        # Learned per county (a record names its county, rarely its town): drawn so too.
        # The town is drawn for the form: a rural form lies in a town with villages.
        form, village = self.form(rng, place.code)
        for _ in range(MAX_FILLS):
            filler = _Filler(
                rng, place, county, style, self._words, self._digits, self._endings, village
            )
            parts = [filler.part(token) for token in form]
            parts = [p for p in parts if p] or [filler.part("R"), filler.part("N")]
            text = "".join(parts)
            read = place_parts(text, county_towns(place.code))
            # A street that begins with a division's full name (文昌 + 市场 reads as 文昌市)
            # is read by a buyer as another county's address.
            divisions = split_divisions(text)[1]
            if [token for token, _ in read] == form and not (divisions and divisions[0][1]):
                break
        if rng.random() < style.spaced:
            text = parts[0]
            for part in parts[1:]:
                text += (" " if rng.random() < style.space_between else "") + part
        else:
            text = "".join(parts)
        if rng.random() < style.full_width_digits:
            text = text.translate(_FULL_WIDTH)
        return text


class _Filler:
    """Fills one address's parts; parts of one address share a town, as real ones do."""

    def __init__(
        self,
        rng: random.Random,
        place: Place,
        county: CountyPlaces,
        style: StyleProfile,
        words: Weighted[str] | None,
        digits: Mapping[str, Weighted[int]],
        endings: Weighted[str] | None,
        village: bool,
    ) -> None:
        self.rng = rng
        self.place = place
        self.county = county
        self.style = style
        self.words = words
        self.digits = digits
        self.endings = endings
        self.town = (
            _town_table(place.code, style.town_power, village).draw(rng) if county.towns else None
        )

    def _stem(self) -> str:
        """A local place name to name a company, a school or a shop after."""
        rng = self.rng
        town = self.town
        if town is not None and town.community_names and rng.random() < 0.5:
            name = rng.choice(town.community_names)
            return re.sub(r"(?:村|社区|嘎查)$", "", name)[:3] or town.stem
        if town is not None and rng.random() < 0.7:
            return town.stem
        county = self.place.district or self.place.city
        return re.sub(r"(?:自治县|自治旗|区|县|市|旗)$", "", county)[:3] or county

    def _local_name(self) -> str:
        """A local name standing alone, as a compound written without its ending is."""
        town = self.town
        if town is not None and town.community_names:
            name = self.rng.choice(town.community_names)
            return re.sub(r"(?:社区|村|嘎查)$", "", name) or name
        return self._stem()

    def part(self, token: str) -> str:
        rng = self.rng
        kind, sub = token[0], token[1:]
        town = self.town
        if kind == "T":
            return town.name if town is not None else ""
        if kind == "V":
            names = town.village_names if town is not None else ()
            if not names:
                names = tuple(n for t in self.county.towns for n in t.village_names)
            return rng.choice(names) if names else self._stem() + "村"
        if kind == "Q":
            names = town.community_names if town is not None else ()
            return (rng.choice(names) if names else self._stem()) + "社区"
        if kind == "C":
            return self._compound()
        if kind == "R":
            return self._road()
        if kind == "N":
            number = self._number("N", min(int(rng.paretovariate(1.1) * 8), 999))
            if rng.random() < self.style.dashed_numbers:
                return f"{number}-{rng.randint(1, 9)}号"
            return f"{number}号"
        if kind == "G":
            lengths = self.digits.get("G")
            length = lengths.draw(rng) if lengths is not None else int(rng.random() < 0.7)
            if length == 0:
                return _chinese_number(rng.randint(1, 12)) + (sub or "组")
            return str(self._number("G", rng.randint(1, 12), length)) + (sub or "组")
        if kind == "B":
            return f"{self._number('B', rng.randint(1, 36))}{sub or '栋'}"
        if kind == "U":
            return f"{self._number('U', rng.randint(1, 6))}单元"
        if kind == "F":
            return f"{self._number('F', min(1 + int(rng.expovariate(1 / 6)), 33))}{sub or '楼'}"
        if kind == "M":
            return self._room("M") + sub
        if kind == "D":
            first = self._number("D", rng.randint(1, 36))
            room = self._room("M")
            return f"{first}-{rng.randint(1, 6)}-{room}" if sub == "3" else f"{first}-{room}"
        if kind == "A":
            return rng.choice("ABCDEFGH") + (
                rng.choice(("座", "栋", "区")) if rng.random() < 0.5 else ""
            )
        if kind == "O":
            return self._stem()[:2] + rng.choice(_TRADES) + (sub or "有限公司")
        if kind == "S":
            head = rng.choice(_SCHOOL_HEADS) if sub in ("小学", "中学") else ""
            return self._stem() + head + (sub or "小学")
        if kind == "H":
            return self._stem()[:2] + rng.choice(_SHOP_WORDS) + (sub or "超市")
        if kind in "KIYE":
            return self._stem() + (
                sub or {"K": "市场", "I": "工业园", "Y": "卫生院", "E": "大厦"}[kind]
            )
        if kind == "P":
            inner = self.part(sub[1:] or "C") if sub[1:] != "P" else ""
            if not inner:
                return ""
            return f"（{inner}）" if sub[:1] == "（" else f"({inner})"
        if kind == "X":
            if self.words is None or rng.random() < self.style.local_words:
                return self._local_name()
            return self.words.draw(rng)
        return ""

    def _number(self, kind: str, default: int, length: int | None = None) -> int:
        """A number with as many digits as the style's numbers of that kind have, small
        ones likelier (log-uniform inside the digit count), or `default`'s draw."""
        lengths = self.digits.get(kind)
        if length is None and lengths is None:
            return default
        if length is None and lengths is not None:
            length = lengths.draw(self.rng)
        length = max(length or 1, 1)
        low, high = int(10 ** (length - 1)), int(10**length)
        return min(int(low * math.pow(high / low, self.rng.random())), high - 1)

    def _room(self, kind: str) -> str:
        """A room: floor then a two-digit door (1502), or as short as the style's rooms."""
        lengths = self.digits.get(kind)
        length = lengths.draw(self.rng) if lengths is not None else 0
        if 0 < length <= 2:
            return str(self._number(kind, 1))
        floor = (
            self.rng.randint(1, 9) if length == 3 else min(1 + int(self.rng.expovariate(1 / 6)), 33)
        )
        if length == 4:
            floor = self.rng.randint(10, 33)
        return f"{floor}{self.rng.randint(1, 4):02d}"

    def _road(self) -> str:
        rng = self.rng
        roads = self.county.roads
        if roads and rng.random() < 0.8:
            return rng.choice(roads)
        stem = self._stem()[:2]
        if rng.random() < 0.15:
            return stem[:1] + rng.choice(_NUMERALS[:9]) + "路"
        return stem + rng.choice(("路", "路", "路", "街", "大道", "东路", "西路", "南路", "北路"))

    def _compound(self) -> str:
        rng = self.rng
        town = self.town
        names = town.community_names if town is not None else ()
        endings = self.endings or compound_endings()
        if names and rng.random() < 0.8:
            name = rng.choice(names)
            if self.endings is None and _COMPOUND_END.search(name):
                return name
            # A compound ends the way the link's compounds end (小区, 花园, 苑, ...), or
            # is written by its name alone.
            ending = endings.draw(rng)
            return (_COMPOUND_END.sub("", name) or name) + ending if ending else name
        return self._stem()[:2] + endings.draw(rng)
