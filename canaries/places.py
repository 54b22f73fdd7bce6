"""Reading division names back out of leaked addresses: 浙江省杭州市西湖区, 浙江杭州西湖区, 内蒙古.

Leaked lists write divisions in full, in short forms (内蒙古, 广西, 杭州) or not at all, and
glue them to the street. A name is only read as a county when its province or prefecture
came first or it is unambiguous, because bare county names repeat across the country
(朝阳区 is in 北京 and 长春) and short county forms are ordinary words.
"""

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache

from canaries.divisions import Division, Level, division_table

# Suffixes dropped to make a short form; the longest first, so 自治州 goes before 州.
_SUFFIXES = (
    "特别行政区",
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "自治州",
    "地区",
    "省",
    "市",
    "盟",
)
# Ethnic names inside prefecture-level names (恩施土家族苗族自治州 -> 恩施).
_ETHNIC = re.compile(r"(?:[\u4e00-\u9fff]{1,4}族)+$")
_STREET_NOISE = re.compile(r"[\s\u3000,，.。;；:：()（）\[\]【】\"'#\-—_/\\|]")
_FULL_WIDTH = str.maketrans({chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)})
_MASKS = re.compile(r"[*＊×●•]+")
_DIVISION_ENDINGS = frozenset("省市区县旗州盟镇乡")


@dataclass(frozen=True, slots=True)
class ObservedPlace:
    """The divisions an observed address names, finest last; None where it says nothing."""

    province: str | None = None
    prefecture: str | None = None
    county: str | None = None

    @property
    def finest(self) -> str | None:
        return self.county or self.prefecture or self.province


@dataclass(frozen=True, slots=True)
class ParsedAddress:
    place: ObservedPlace
    street: str | None  # the visible street part, normalised
    cut: bool  # the street was cut (`***`) or ends in a mask


def short_forms(division: Division) -> list[str]:
    """Names a leaked list may use for the division, the official one first."""
    forms = [division.name]
    for suffix in _SUFFIXES:
        if division.name.endswith(suffix) and len(division.name) > len(suffix) + 1:
            short = _ETHNIC.sub("", division.name.removesuffix(suffix))
            if len(short) >= 2:
                forms.append(short)
            break
    return forms


class _Names:
    def __init__(self) -> None:
        self.by_name: dict[str, list[Division]] = defaultdict(list)
        for division in division_table().all():
            for form in short_forms(division):
                # A county's short form is a word (西湖, 鼓楼): only its full name is read.
                if form != division.name and division.level is Level.COUNTY:
                    continue
                self.by_name[form].append(division)
        self.longest = max(len(name) for name in self.by_name)


@cache
def _names() -> _Names:
    return _Names()


def _read_one(text: str, parents: set[str]) -> tuple[Division, int] | None:
    """The longest division name at the start of text, under one of `parents` if any."""
    names = _names()
    for length in range(min(len(text), names.longest), 1, -1):
        found = names.by_name.get(text[:length])
        if not found:
            continue
        if text[length : length + 1] in _DIVISION_ENDINGS and found[0].name != text[:length]:
            continue  # 朝阳区 is a county, not the short form of 朝阳市 plus a stray 区
        if parents:
            under = [d for d in found if _has_ancestor(d, parents)]
        else:
            under = found if len(found) == 1 or found[0].level is not Level.COUNTY else []
        if len(under) == 1:
            return under[0], length
    return None


def _has_ancestor(division: Division, codes: set[str]) -> bool:
    return any(a.code in codes for a in division_table().ancestors(division.code))


def read_divisions(text: str, within: ObservedPlace | None = None) -> tuple[ObservedPlace, str]:
    """The divisions an address starts with, and the rest of it.

    `within`: divisions already known (from separate columns), so a county name that
    repeats across the country is read as the one inside them.
    """
    table = division_table()
    found: dict[Level, str] = {}
    rest = text
    parents = (
        {c for c in (within.province, within.prefecture, within.county) if c} if within else set()
    )
    for _ in range(3):
        hit = _read_one(rest, parents)
        if hit is None:
            break
        division, length = hit
        if division.level in found:
            break
        for ancestor in table.ancestors(division.code):
            found.setdefault(ancestor.level, ancestor.code)
        parents = {division.code}
        rest = rest[length:].lstrip()
    place = ObservedPlace(
        found.get(Level.PROVINCE), found.get(Level.PREFECTURE), found.get(Level.COUNTY)
    )
    return place, rest


def _clean(text: str) -> str:
    return _STREET_NOISE.sub("", text.translate(_FULL_WIDTH))


def normalise_street(text: str) -> tuple[str, bool]:
    """The visible part of a street line (half-width, no spaces or punctuation) and if cut."""
    text = _STREET_NOISE.sub("", text.translate(_FULL_WIDTH))
    masked = _MASKS.search(text)
    if masked is None:
        return text, False
    return text[: masked.start()], True


def parse_address(
    address: str | None,
    province: str | None = None,
    city: str | None = None,
    district: str | None = None,
) -> ParsedAddress:
    """An observed address, from one text or from separate division columns plus a text."""
    columns = "".join(part.strip() for part in (province, city, district) if part)
    place, rest = read_divisions(_clean(columns + (address or "")))
    if not address:
        return ParsedAddress(place, None, False)
    if columns:
        # The address may repeat the divisions its columns gave before the street.
        _, rest = read_divisions(_clean(address), within=place)
    street, cut = normalise_street(rest)
    return ParsedAddress(place, street or None, cut)


def place_agreement(observed: ObservedPlace, district_code: str) -> Level | bool | None:
    """The finest level at which the observed place agrees with a canary's district.

    None: the observation names no division. False: it names one the canary is not in.
    """
    if observed.finest is None:
        return None
    chain = {d.level: d.code for d in division_table().ancestors(district_code)}
    finest: Level | None = None
    for level, code in (
        (Level.PROVINCE, observed.province),
        (Level.PREFECTURE, observed.prefecture),
        (Level.COUNTY, observed.county),
    ):
        if code is None:
            continue
        if chain.get(level) != code:
            return False
        finest = level
    return finest
