"""A link's style: how its own records look, learned from a sample and kept as statistics.

A canary passes in a feed only if it is written the way that feed writes its records: the
parts its addresses are made of and in what order (town, road and number, compound and
building, village and group, company, school, market, industrial park, shop), whether the
address column repeats the province, city and district, spaces and full-width digits, how
names and mobiles are masked, the item, weight, hour and weekday mix and the mobile prefixes.

`StyleLearner` reads a sample of the link's records once (`canaries.reference.style_of`
feeds it an export's cells) and keeps counts only, never a row: an address is reduced to
the sequence of its part kinds as its places are named (`R N C B栋 U M室`, `place_parts`),
the digit counts of its numbers and its compound's ending (小区, 苑), a name to its mask
shape (`x*x`), a mobile to its first three digits, a time to its hour and weekday. Counts
by county and by the town an address names (public division names) serve, while the
sample is read, to fit how records spread over towns and to unmix rural from urban forms.
A word outside the grammar or a compound ending is kept only when at least `MIN_RECORDS`
records use it and it is short (对面, 门口), so nothing that names one person or one place
is stored. Lengths follow from the parts: forms, digit
counts, endings and the county's real place names.
"""

import hashlib
import json
import re
from bisect import bisect
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from canaries.divisions import Level, division_table
from canaries.items import CATEGORIES, CHINA_STANDARD_TIME
from canaries.names import name_pattern

# A word outside the grammar, or a form, is kept only when this many records carry it.
MIN_RECORDS = 5
MAX_FORMS = 300
# Forms of one class of county are kept apart only when this many records show them.
MIN_AREA_RECORDS = 200
MAX_WORDS = 40
WEIGHT_BOUNDS = (0.1, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0)

_CJK = "\u4e00-\u9fff"
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_NUMERALS = "一二三四五六七八九十"
# A part's name never runs across these: they end a part of their own kind.
_NAME_CHAR = rf"(?:(?!街道|路|镇|乡|号|社区|单元|[0-9]|[（(]|[)）])[{_CJK}])"


def _named(suffixes: str, lookahead: str = "") -> re.Pattern[str]:
    return re.compile(rf"{_NAME_CHAR}{{1,10}}?(?P<sub>{suffixes}){lookahead}")


_ONE_CHAR_AHEAD = rf"(?![{_NUMERALS}东西南北]?[区期路街])"
# Part kinds in order of precedence when two match equally far. Compounds come before
# villages (幸福新村 is a compound), schools and companies before compounds (金园小学).
PART_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("T", _named("街道办事处|街道|镇|乡", r"(?![镇乡])")),
    ("Q", _named("社区居委会|社区|居委会")),
    ("O", _named("有限责任公司|有限公司|分公司|公司|集团|厂|工作室|事务所")),
    ("S", _named("大学|学院|中学|小学|学校|幼儿园|职校")),
    ("K", _named("农贸市场|批发市场|市场|商城|商贸城|菜场")),
    ("I", _named("工业园区|工业园|产业园|科技园|开发区|园区|工业区|物流园")),
    ("Y", _named("医院|卫生院|诊所")),
    ("H", _named("超市|便利店|驿站|门市部|商店|专卖店|商行|药房|店")),
    ("E", _named("大厦|广场|中心|写字楼|大楼")),
    ("C", _named(rf"小区|花园|公寓|家园|新村|[{_NUMERALS}东西南北]区|[{_NUMERALS}]期")),
    ("C", _named(rf"(?:苑|园|庭|府|城|湾|郡|居|阁|轩|里|墅|邸|坊|院){_ONE_CHAR_AHEAD}")),
    ("V", _named("村委会|村民委员会|村|嘎查|屯", r"(?![委民村])")),
    ("R", _named("[东西南北中]路|路|大街|大道|街|巷|弄|胡同", r"(?![道办])")),
    ("G", re.compile(rf"(?:\d+|[{_NUMERALS}]+)(?P<sub>组|队|社)")),
    ("D", re.compile(r"\d+(?:-\d+){1,2}(?P<sub>)(?!号)")),
    ("N", re.compile(r"\d+(?:-\d+)?(?P<sub>号)(?![楼院])")),
    ("B", re.compile(r"\d+(?P<sub>栋|幢|号楼|座|号院)")),
    ("U", re.compile(r"\d+(?P<sub>单元)")),
    ("F", re.compile(r"\d+(?P<sub>层|楼)")),
    ("M", re.compile(r"\d+(?P<sub>室|房|)")),
    ("A", re.compile(r"[A-Za-z]+\d*(?P<sub>)")),
)
# Kinds whose suffix is part of the form (B栋 and B幢 are written by different feeds).
_SUFFIX_IN_FORM = frozenset("OSKIYHEBMGD")
_NUMBERED = frozenset("NBUFMGD")
_COMPOUND_ENDING = re.compile(
    r"(?:小区|花园|公寓|家园|新村|华府|名城|华庭|名苑|雅苑|苑|园|庭|府|城|湾|郡|居|阁|轩|里|墅|邸|坊|院)$"
)
_DIGIT_RUN = re.compile(r"\d+")
_PARENS = re.compile(r"[(（](?P<inner>[^()（）]{0,24})[)）]")
_SPACE = re.compile(r"[\s\u3000]+")
_MASK = re.compile(r"[*＊×●•]")


def _best_part(text: str, at: int) -> tuple[str, re.Match[str]] | None:
    """The part starting at `at` that ends first; a compound or village named by one
    character (翠苑, 蒋村园) only when nothing firmer ends in reach, the longest then:
    金园科技有限公司 is a company, 蒋村街道 a street office, 蒋村园 a compound."""
    if text[at].isdigit():
        longest: tuple[str, re.Match[str]] | None = None
        for kind, pattern in PART_PATTERNS:
            found = pattern.match(text, at)
            if found is not None and (longest is None or found.end() > longest[1].end()):
                longest = (kind, found)
        return longest
    firm: tuple[str, re.Match[str]] | None = None
    loose: tuple[str, re.Match[str]] | None = None
    for kind, pattern in PART_PATTERNS:
        found = pattern.match(text, at)
        if found is None:
            continue
        if kind in "CV" and len(found["sub"]) == 1:
            if loose is None or found.end() > loose[1].end():
                loose = (kind, found)
        elif firm is None or found.end() < firm[1].end():
            firm = (kind, found)
    return firm or loose


@cache
def _by_first(towns: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """Town names by their first character, for `address_parts` to try only those."""
    found: dict[str, list[str]] = {}
    for town in towns:
        found.setdefault(town[:1], []).append(town)
    return {first: tuple(names) for first, names in found.items()}


def address_parts(street: str, towns: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """The street part split into (form token, text) pairs, e.g. ("R", "文三路").

    Runs of text no part matches become one ("X", text); a parenthesised part is ("P（", ..)
    followed by its inner parts' first kind (`P（C`). `towns`: names read as a town
    wherever they stand, whatever they end in (see `place_parts`).
    """
    text = _SPACE.sub("", street.translate(_FULL_WIDTH_DIGITS))
    parts: list[tuple[str, str]] = []
    other = ""
    i = 0
    while i < len(text):
        town = (
            max(
                (t for t in _by_first(towns).get(text[i], ()) if text.startswith(t, i)),
                key=len,
                default=None,
            )
            if towns
            else None
        )
        if town is not None:
            if other:
                parts.append(("X", other))
                other = ""
            parts.append(("T", town))
            i += len(town)
            continue
        paren = _PARENS.match(text, i)
        best = None if paren is not None else _best_part(text, i)
        if paren is None and best is None:
            other += text[i]
            i += 1
            continue
        if other:
            parts.append(("X", other))
            other = ""
        if best is None:
            assert paren is not None  # noqa: S101 -- one of the two matched, see above
            inner = address_parts(paren["inner"], towns)
            parts.append(("P" + paren[0][0] + (inner[0][0] if inner else "X"), paren[0]))
            i = paren.end()
            continue
        kind, found = best
        if kind == "D":
            token = f"D{found[0].count('-') + 1}"
        else:
            token = kind + found["sub"] if kind in _SUFFIX_IN_FORM else kind
        parts.append((token, found[0]))
        i = found.end()
    if other:
        parts.append(("X", other))
    return parts


_TOWN_END = re.compile(r"(?:街道|街道办事处|镇|乡)$")
# Kinds of place commonly named after the road they stand on (中山路小学, 中山路市场).
_NAMED_AFTER_PLACES = frozenset("OSKIHEY")


def place_parts(street: str, towns: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """The parts of a street part as its places are named: the form a style learns and a
    canary is drawn in. A place's name may hold another part's ending, and is then one
    part, not two: a town of the county (`towns`, by full name) whatever it reads as
    (亳州路街道, 经济开发区); a compound named by a bare ending after a road or a village
    (中山路花园, 解放村小区), or after a town not called a town (龙潭物流园虚拟家园); a
    lane named after its road (鞍山路三一零弄), a school, market, company, park or shop
    named after one (中山路小学). A canary's
    parts are named after the county's own places, so such names recur there as often as
    the county has them, not as often as the whole country does."""
    merged: list[tuple[str, str]] = []
    for kind, text in address_parts(street, towns):
        if merged:
            last, before = merged[-1]
            if (
                (kind == "R" and last == "R")
                or (last == "R" and kind[0] in _NAMED_AFTER_PLACES)
                or (kind == "C" and last == "T" and not _TOWN_END.search(before))
                or (
                    kind == "C"
                    and last in ("R", "V", "C", "X")
                    and _COMPOUND_ENDING.fullmatch(text)
                )
            ):
                merged[-1] = (kind, before + text)
                continue
            if last == "X" and kind[0] in "BUMD":
                # A name before a building is its compound's, written without an ending.
                merged[-1] = ("C", before)
        merged.append((kind, text))
    return merged


def name_mask(name: str) -> str | None:
    """How a name is shown: `none` (in full), `middle` (张*伟), `tail` (张**), `one` (张*),
    `head` (*伟); None for no name."""
    pattern = name_pattern(name)
    if pattern is None:
        return None
    if "*" not in pattern:
        return "none"
    if pattern[0] == "*":
        return "head"
    if pattern[-1] != "*":
        return "middle"
    return "one" if pattern.count("*") == 1 else "tail"


def mobile_mask(mobile: str) -> str | None:
    """A mobile's shape: `full`, or shown digits before and after the mask (`3*4`)."""
    digits = re.sub(r"[\s\-+]", "", mobile.translate(_FULL_WIDTH_DIGITS))
    digits = _MASK.sub("*", digits).removeprefix("86")
    if re.fullmatch(r"1[3-9]\d{9}", digits):
        return "full"
    shown = re.fullmatch(r"(1[3-9]\d*)(\*+)(\d*)", digits)
    if shown is None or len(digits) != 11:
        return None
    return f"{len(shown[1])}*{len(shown[3])}"


@dataclass(frozen=True, slots=True)
class DivisionStyle:
    """How the address column begins: the divisions repeated or not, and in what form."""

    repeat: float = 0.0  # share of addresses that start with the divisions
    full_names: float = 1.0  # of those: 浙江省杭州市 rather than 浙江杭州
    spaced: float = 0.0  # of those: a space between the divisions and the street
    with_district: float = 1.0  # of those: the district repeated too


@dataclass(frozen=True, slots=True)
class StyleProfile:
    """What a link's records look like, as shares; JSON-ready through `as_json`."""

    records: int = 0  # how many records the statistics were learned from
    forms: dict[str, float] = field(default_factory=dict)  # address part sequences
    # The forms of records in urban, mixed and rural counties (canaries.addresses.area_class).
    area_forms: dict[str, dict[str, float]] = field(default_factory=dict)
    # How records spread over a county's towns: the power of a town's people in its weight
    # (0: all towns alike, 1: by people; canaries.addresses.fit_town_power), which also
    # sets a county's class. Profiles learned before it was (1.0) keep their classes.
    town_power: float = 1.0
    # Addresses in a village (a village or a group part) over the share the counties'
    # towns predict (canaries.addresses.CountyPlaces.village_share): a county's own rate
    # then follows from its towns, not its class's. None: learned before it was measured.
    village_scale: float | None = None
    # Forms of addresses in rural towns and in urban ones, unmixed from the forms of many
    # counties by each county's village share (a least-squares fit, see `_unmix`): a
    # county's forms are then its own mix of the two. Empty: too few counties to unmix.
    rural_forms: dict[str, float] = field(default_factory=dict)
    urban_forms: dict[str, float] = field(default_factory=dict)
    divisions: DivisionStyle = field(default_factory=DivisionStyle)
    spaced: float = 0.0  # share of street parts written with spaces between parts
    space_between: float = 0.0  # when spaced: share of part boundaries with a space
    full_width_digits: float = 0.0
    # Share of house numbers written with a dash (12-3号); profiles learned before it was
    # counted keep the 5 % canaries had then.
    dashed_numbers: float = 0.05
    words: dict[str, float] = field(default_factory=dict)  # common free words (对面)
    # Share of free text outside `words`: rare words, most of them local names (a compound
    # written without its ending), which a canary writes as a name of its own county.
    local_words: float = 0.0
    # Digits of the number in each numbered part (N house, B building, U unit, F floor,
    # M room, G group, D dashed): how long numbers run is what a buyer's eye catches first.
    digits: dict[str, dict[int, float]] = field(default_factory=dict)
    compound_endings: dict[str, float] = field(default_factory=dict)  # 小区, 花园, 苑, ...
    name_masks: dict[str, float] = field(default_factory=dict)
    mobile_masks: dict[str, float] = field(default_factory=dict)
    mobile_prefixes: dict[str, float] = field(default_factory=dict)
    address_masked: float = 0.0  # share of addresses cut by a mask (翠苑***)
    address_visible: dict[int, float] = field(default_factory=dict)  # chars before the cut
    category_mix: dict[str, float] = field(default_factory=dict)
    weights: dict[int, float] = field(default_factory=dict)  # by WEIGHT_BOUNDS bin
    hours: dict[int, float] = field(default_factory=dict)
    weekdays: dict[int, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "StyleProfile":
        def ints(key: str) -> dict[int, float]:
            return {int(k): float(v) for k, v in dict(data.get(key) or {}).items()}

        def floats(key: str) -> dict[str, float]:
            return {str(k): float(v) for k, v in dict(data.get(key) or {}).items()}

        return cls(
            records=int(data.get("records", 0)),
            forms=floats("forms"),
            area_forms={
                str(area): {str(k): float(v) for k, v in dict(forms).items()}
                for area, forms in dict(data.get("area_forms") or {}).items()
            },
            town_power=float(data.get("town_power", 1.0)),
            village_scale=(
                None if data.get("village_scale") is None else float(data["village_scale"])
            ),
            rural_forms=floats("rural_forms"),
            urban_forms=floats("urban_forms"),
            divisions=DivisionStyle(**dict(data.get("divisions") or {})),
            spaced=float(data.get("spaced", 0.0)),
            space_between=float(data.get("space_between", 0.0)),
            full_width_digits=float(data.get("full_width_digits", 0.0)),
            dashed_numbers=float(data.get("dashed_numbers", 0.05)),
            words=floats("words"),
            local_words=float(data.get("local_words", 0.0)),
            digits={
                str(kind): {int(k): float(v) for k, v in dict(shares).items()}
                for kind, shares in dict(data.get("digits") or {}).items()
            },
            compound_endings=floats("compound_endings"),
            name_masks=floats("name_masks"),
            mobile_masks=floats("mobile_masks"),
            mobile_prefixes=floats("mobile_prefixes"),
            address_masked=float(data.get("address_masked", 0.0)),
            address_visible=ints("address_visible"),
            category_mix=floats("category_mix"),
            weights=ints("weights"),
            hours=ints("hours"),
            weekdays=ints("weekdays"),
        )

    def summary(self) -> dict[str, Any]:
        """What an operator checks after handing in a sample: the top of each mix."""
        return {
            "records": self.records,
            "top_forms": dict(list(self.forms.items())[:10]),
            "divisions_repeated": self.divisions.repeat,
            "spaced": self.spaced,
            "name_masks": self.name_masks,
            "mobile_masks": self.mobile_masks,
            "address_masked": self.address_masked,
        }


def _shares(counts: Counter[Any], keep: int | None = None, floor: int = 1) -> dict[Any, float]:
    kept = [(k, n) for k, n in counts.most_common(keep) if n >= floor]
    total = sum(n for _, n in kept)
    return {k: n / total for k, n in kept} if total else {}


def _glued(after: str) -> bool:
    """A short division name followed by a road's or a town's ending is part of that name."""
    return after[:1] in _ENDINGS or (after[:1] in "东西南北中大" and after[1:2] in _ENDINGS)


_ENDINGS = frozenset("路街道巷弄号村镇乡")


@cache
def _division_names() -> dict[str, tuple[Level, bool]]:
    """Every division's full and short name, with its level and whether it is the full one."""
    names: dict[str, tuple[Level, bool]] = {}
    for division in division_table().all():
        names.setdefault(division.name, (division.level, True))
        short = re.sub(r"(?:维吾尔|壮族|回族)?(?:自治区|特别行政区|省|市)$", "", division.name)
        if division.level is not Level.COUNTY and len(short) >= 2:
            names.setdefault(short, (division.level, False))
    return names


def split_divisions(address: str) -> tuple[str, list[tuple[Level, bool]], bool]:
    """The address without the division names it starts with, the names' levels and forms,
    and whether a space followed them."""
    names = _division_names()
    rest = address.strip()
    found: list[tuple[Level, bool]] = []
    spaced = False
    for _ in range(3):
        for length in range(min(len(rest), 12), 1, -1):
            hit = names.get(rest[:length])
            # 中山路 is a road, not 中山市 and a stray 路.
            if hit is not None and not (not hit[1] and _glued(rest[length : length + 2])):
                found.append(hit)
                after = rest[length:]
                spaced = after[:1].isspace()
                rest = after.lstrip()
                break
        else:
            break
    return rest, found, spaced


def _category(item: str) -> str | None:
    for name, category in CATEGORIES.items():
        if item == name or any(word in item for word in category.items):
            return name
    return None


class StyleLearner:
    """Counts over a stream of records; `profile()` gives the shares. Holds no row."""

    def __init__(self, towns: Callable[[str], frozenset[str]] | None = None) -> None:
        """`towns` names the towns of a county code and their stems (see `place_form`)."""
        self.towns = towns
        self.records = 0
        self.forms: Counter[str] = Counter()
        # Forms by county code and towns named by (county, town, village form): counts of
        # public division names, grouped into classes by `profile` and then dropped.
        self.county_forms: dict[str, Counter[str]] = {}
        self.town_mentions: Counter[tuple[str, str, bool]] = Counter()
        self.house_numbers = 0
        self.dashed_numbers = 0
        self.division_count = Counter[str]()
        self.addresses = 0
        self.spaced = 0
        self.boundaries = 0
        self.spaces = 0
        self.full_width = 0
        self.words: Counter[str] = Counter()
        self.free_parts = 0
        self.digits: dict[str, Counter[int]] = {}
        self.endings: Counter[str] = Counter()
        self.name_masks: Counter[str] = Counter()
        self.mobile_masks: Counter[str] = Counter()
        self.prefixes: Counter[str] = Counter()
        self.masked_addresses = 0
        self.visible: Counter[int] = Counter()
        self.categories: Counter[str] = Counter()
        self.weights: Counter[int] = Counter()
        self.hours: Counter[int] = Counter()
        self.weekdays: Counter[int] = Counter()

    def add(
        self,
        *,
        name: str | None = None,
        mobile: str | None = None,
        address: str | None = None,
        item: str | None = None,
        weight_kg: float | None = None,
        created_at: datetime | None = None,
        county: str | None = None,
    ) -> None:
        """One record's raw cells; the address as its column writes it (divisions and all);
        `county` its county's code where it is known."""
        self.records += 1
        if name and (mask := name_mask(name)) is not None:
            self.name_masks[mask] += 1
        if mobile and (shape := mobile_mask(mobile)) is not None:
            self.mobile_masks[shape] += 1
            self.prefixes[mobile.strip().removeprefix("+86")[:3]] += 1
        if address and address.strip():
            self._address(address, county)
        if item and (category := _category(item)) is not None:
            self.categories[category] += 1
        if weight_kg is not None and weight_kg > 0:
            self.weights[bisect(WEIGHT_BOUNDS, weight_kg)] += 1
        if created_at is not None:
            local = created_at.astimezone(CHINA_STANDARD_TIME)
            if (local.hour, local.minute, local.second) != (0, 0, 0):
                self.hours[local.hour] += 1
            self.weekdays[local.weekday()] += 1

    def _address(self, address: str, county: str | None) -> None:
        self.addresses += 1
        mask = _MASK.search(address)
        if mask is not None:
            self.masked_addresses += 1
            self.visible[len(_SPACE.sub("", address[: mask.start()]))] += 1
            address = address[: mask.start()]
        street, found, spaced_after = split_divisions(address)
        if found:
            self.division_count["repeat"] += 1
            self.division_count["full"] += all(full for _, full in found)
            self.division_count["spaced"] += spaced_after
            self.division_count["district"] += any(level is Level.COUNTY for level, _ in found)
        if any("０" <= c <= "９" for c in street):
            self.full_width += 1
        towns = self.towns(county) if county is not None and self.towns else frozenset()
        parts = place_parts(street, towns)
        inner_spaces = len(_SPACE.findall(street.strip()))
        if inner_spaces:
            self.spaced += 1
            self.spaces += inner_spaces
            self.boundaries += max(len(parts) - 1, inner_spaces)
        if mask is None:
            form = " ".join(token for token, _ in parts)
            self.forms[form] += 1
            if county is not None:
                self.county_forms.setdefault(county, Counter())[form] += 1
                town = next((text for kind, text in parts if kind == "T"), None)
                if town is not None:
                    village = any(kind[0] in "VG" for kind, _ in parts)
                    self.town_mentions[county, town, village] += 1
        for kind, text in parts:
            if kind == "X":
                self.free_parts += 1
                if 2 <= len(text) <= 4:
                    self.words[text] += 1
            if kind == "C":
                # "": a compound written by its name alone (松木场 3幢).
                ending = _COMPOUND_ENDING.search(text)
                self.endings[ending[0] if ending is not None else ""] += 1
            if kind == "N":
                self.house_numbers += 1
                self.dashed_numbers += "-" in text
            if kind[0] in _NUMBERED:
                # 0: written in Chinese numerals (三组), as village groups often are.
                run = _DIGIT_RUN.search(text)
                self.digits.setdefault(kind[0], Counter())[len(run[0]) if run else 0] += 1

    def profile(
        self,
        area_of: Callable[[str], str] | None = None,
        town_power: float = 1.0,
        village_share: Callable[[str], float] | None = None,
    ) -> StyleProfile:
        """The shares; `area_of` names the class of a county (with `town_power`, the
        spread over towns fitted to `town_mentions`), for forms learned per class;
        `village_share` the share of a county's addresses its towns put in villages."""
        repeat = self.division_count["repeat"]
        words = _shares(self.words, MAX_WORDS, floor=MIN_RECORDS)
        area_forms: dict[str, Counter[str]] = {}
        if area_of is not None:
            for county, forms in self.county_forms.items():
                area_forms.setdefault(area_of(county), Counter()).update(forms)
        village_scale = None
        rural: dict[str, float] = {}
        urban: dict[str, float] = {}
        if village_share is not None:
            rural, urban = _unmix(self.county_forms, village_share)
            expected = sum(f.total() * village_share(c) for c, f in self.county_forms.items())
            found = sum(
                n
                for forms in self.county_forms.values()
                for form, n in forms.items()
                if any(token[0] in "VG" for token in form.split())
            )
            village_scale = found / expected if expected > 0 and found else None
        return StyleProfile(
            records=self.records,
            forms=_shares(self.forms, MAX_FORMS, floor=2),
            area_forms={
                area: _shares(forms, MAX_FORMS, floor=2)
                for area, forms in sorted(area_forms.items())
                if forms.total() >= MIN_AREA_RECORDS
            },
            town_power=town_power,
            village_scale=village_scale,
            rural_forms=rural,
            urban_forms=urban,
            divisions=DivisionStyle(
                repeat=repeat / self.addresses if self.addresses else 0.0,
                full_names=self.division_count["full"] / repeat if repeat else 1.0,
                spaced=self.division_count["spaced"] / repeat if repeat else 0.0,
                with_district=self.division_count["district"] / repeat if repeat else 1.0,
            ),
            spaced=self.spaced / self.addresses if self.addresses else 0.0,
            space_between=min(1.0, self.spaces / self.boundaries) if self.boundaries else 0.0,
            full_width_digits=self.full_width / self.addresses if self.addresses else 0.0,
            dashed_numbers=(
                self.dashed_numbers / self.house_numbers if self.house_numbers else 0.05
            ),
            words=words,
            local_words=(
                1.0 - sum(self.words[w] for w in words) / self.free_parts
                if self.free_parts
                else 0.0
            ),
            digits={kind: _shares(counts) for kind, counts in sorted(self.digits.items())},
            compound_endings=_shares(self.endings, MAX_WORDS, floor=MIN_RECORDS),
            name_masks=_shares(self.name_masks),
            mobile_masks=_shares(self.mobile_masks),
            mobile_prefixes=_shares(self.prefixes),
            address_masked=self.masked_addresses / self.addresses if self.addresses else 0.0,
            address_visible=_shares(self.visible),
            category_mix=_shares(self.categories),
            weights=_shares(self.weights),
            hours=_shares(self.hours),
            weekdays=_shares(self.weekdays),
        )


# Counties a sample must cover, and the spread of their village shares, to unmix forms.
MIN_UNMIX_COUNTIES = 50
MIN_UNMIX_SPREAD = 0.05


def _unmix(
    county_forms: Mapping[str, Counter[str]], village_share: Callable[[str], float]
) -> tuple[dict[str, float], dict[str, float]]:
    """Forms of rural and of urban addresses: for each form f, the shares r_f and u_f that
    best give each county c's count n_cf as n_c (s_c r_f + (1 - s_c) u_f), s_c the county's
    village share, in least squares weighted by records. The 2x2 normal equations are the
    same for every form; negative shares (noise) are cut to zero."""
    sums = [0.0, 0.0, 0.0]  # n s^2, n s (1 - s), n (1 - s)^2
    rural_sums: defaultdict[str, float] = defaultdict(float)
    urban_sums: defaultdict[str, float] = defaultdict(float)
    shares: list[float] = []
    for county, forms in county_forms.items():
        share = village_share(county)
        total = forms.total()
        shares.append(share)
        sums[0] += total * share * share
        sums[1] += total * share * (1 - share)
        sums[2] += total * (1 - share) ** 2
        for form, n in forms.items():
            rural_sums[form] += n * share
            urban_sums[form] += n * (1 - share)
    if len(shares) < MIN_UNMIX_COUNTIES or max(shares) - min(shares) < MIN_UNMIX_SPREAD:
        return {}, {}
    det = sums[0] * sums[2] - sums[1] ** 2
    if det <= 0:
        return {}, {}
    rural: dict[str, float] = {}
    urban: dict[str, float] = {}
    for form in rural_sums.keys() | urban_sums.keys():
        a, b = rural_sums[form], urban_sums[form]
        rural[form] = max((sums[2] * a - sums[1] * b) / det, 0.0)
        urban[form] = max((sums[0] * b - sums[1] * a) / det, 0.0)

    def kept(weights: dict[str, float]) -> dict[str, float]:
        top = [(f, w) for f, w in sorted(weights.items(), key=lambda fw: -fw[1]) if w > 0]
        top = top[:MAX_FORMS]
        total = sum(w for _, w in top)
        return {f: w / total for f, w in top} if total else {}

    return kept(rural), kept(urban)


@cache
def default_style() -> StyleProfile:
    """The style of a link that handed in no sample: learned by the same learner from the
    public reference `benchmarks/public_reference.py` builds (data/default_style.json)."""
    text = resources.files("canaries").joinpath("data/default_style.json").read_text("utf-8")
    return StyleProfile.from_json(json.loads(text))


def _draw(key: str, salt: str) -> float:
    """A stable draw in [0, 1) for one canary: its rendering is the same in every channel."""
    digest = hashlib.sha256(f"{salt}|{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


_SHORT_DIVISION = re.compile(r"(?:维吾尔|壮族|回族)?(?:自治区|特别行政区|省|市)$")


def address_line(
    divisions: tuple[str, str, str], street: str, style: StyleProfile | None, key: str
) -> str:
    """The address column beside separate division columns: the street part, or with the
    style's share the divisions first (浙江省杭州市西湖区翠苑街道...), in the style's form.
    `key` (the waybill number) fixes the choice, so every channel shows one line."""
    style = style if style is not None else default_style()
    shape = style.divisions
    if _draw(key, "repeat") >= shape.repeat:
        return street
    province, city, district = divisions
    names = [province] if province == city else [province, city]
    if district and _draw(key, "district") < shape.with_district:
        names.append(district)
    if _draw(key, "full") >= shape.full_names:
        names = [_SHORT_DIVISION.sub("", n) if n != district else n for n in names]
    return "".join(names) + (" " if _draw(key, "spaced") < shape.spaced else "") + street


def mask_like(example: str, name: str) -> str:
    """`name` masked the way `example` is (张*伟, 张**, 张*, *伟), or whole if it is not."""
    kind = name_mask(example)
    star = next((c for c in example if c in "*＊×●•"), "*")
    return mask_name(name, kind or "none", star)


def mask_name(name: str, kind: str, star: str = "*") -> str:
    """`name` shown the `name_mask` way `kind`."""
    if kind == "none" or len(name) < 2:
        return name
    if kind == "middle" and len(name) == 2:
        return name[0] + star  # 张伟 has no middle: lists show 张*
    if kind == "middle":
        return name[0] + star * max(len(name) - 2, 1) + name[-1]
    if kind == "tail":
        return name[0] + star * (len(name) - 1)
    if kind == "head":
        return star + name[1:]
    return name[0] + star
