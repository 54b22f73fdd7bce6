"""Recipient mobiles in the three forms waybill feeds carry, never pointing at a stranger.

Anyone can look up the home city and carrier of a Chinese mobile from its first seven
digits (the `phonenumbers` geocoder does it offline), so a canary's number must be at home
where its address is. Forms:

(a) masked `138****5678`, the default: a real seven-digit segment at home in the address's
    province (usually its city), with the hidden middle kept as a secret and never shown;
(b) full, only from the operator's own pool, each number used at most once per link per
    rotation window;
(c) privacy number with extension (`17012345678转1234`), a pool number plus an extension
    unique to the canary.
"""

import random
import re
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import phonenumbers
from phonenumbers import geocoder
from phonenumbers.geodata import GEOCODE_DATA

from canaries.addresses import CENSUS_2020_POPULATION, Place
from canaries.divisions import division_table
from canaries.sampling import Weighted

CHINA_MOBILE = "中国移动"
CHINA_UNICOM = "中国联通"
CHINA_TELECOM = "中国电信"

# Three-digit prefixes used for masked numbers, by carrier. Only prefixes the phonenumbers
# geocoder places in a province are usable (it has no home data for 166, 17[25], 19x),
# and data-card (145, 147) and virtual-operator (170, 171) prefixes are left out: they are
# rare on parcel waybills.
CARRIER_BY_PREFIX: dict[str, str] = {
    **dict.fromkeys(
        ("134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159"),
        CHINA_MOBILE,
    ),
    **dict.fromkeys(("178", "182", "183", "184", "187", "188"), CHINA_MOBILE),
    **dict.fromkeys(("130", "131", "132", "155", "156", "176", "185", "186"), CHINA_UNICOM),
    **dict.fromkeys(("133", "153", "177", "180", "181", "189"), CHINA_TELECOM),
}
# Mobile subscriber shares of the three carriers (MIIT yearly figures, 2023, rounded).
CARRIER_SHARE = {CHINA_MOBILE: 0.57, CHINA_UNICOM: 0.19, CHINA_TELECOM: 0.24}
# Share of masked mobiles whose home city is the address's city (the rest are at home
# elsewhere in the same province: people move for work and keep their number).
SAME_CITY_SHARE = 0.85
# 1349 is the satellite operator's block inside China Mobile's 134.
_EXCLUDED_SEGMENT_HEADS = ("1349",)
PRIVACY_SEPARATORS = ("转", "-", ",", "_")


class MobileForm(StrEnum):
    MASKED = "masked"
    FULL = "full"
    PRIVACY = "privacy"


class MobilePoolError(ValueError):
    """The operator's pool cannot supply a number under the rules."""


@dataclass(frozen=True, slots=True)
class Mobile:
    """A mobile as shown on a canary, with what must stay hidden.

    `number` is the 11-digit number the canary stands for (for a masked mobile it contains
    the secret middle); it feeds the avoid-list check and must never be displayed.
    """

    display: str
    form: MobileForm
    secret: str | None
    number: str


def _province_keys() -> list[tuple[str, str]]:
    """(prefix the geocoder writes, province code): 浙江 -> 330000, 内蒙古 -> 150000."""
    table = division_table()
    keys = []
    for code in CENSUS_2020_POPULATION:
        name = table.get(code).name
        keys.append((name[:3] if name.startswith(("内蒙古", "黑龙江")) else name[:2], code))
    return keys


def _geocode(segment: str) -> str:
    """The zh home description of a seven-digit segment, by longest prefix, as the geocoder."""
    for length in range(7, 2, -1):
        entry = GEOCODE_DATA.get("86" + segment[:length])
        if entry is not None:
            return entry.get("zh", "")
    return ""


def _city_key(description: str, province_short: str, province_name: str) -> str:
    rest = description.removeprefix(province_name).removeprefix(province_short)
    return (rest or province_name)[:2]


@cache
def _segments() -> dict[tuple[str, str], Weighted[str]]:
    """Usable seven-digit segments by (province code, city key), and by (province code, "")
    for the whole province; built once, in about a second."""
    table = division_table()
    provinces = _province_keys()
    found: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for prefix, carrier in CARRIER_BY_PREFIX.items():
        for middle in range(10_000):
            segment = f"{prefix}{middle:04d}"
            if segment.startswith(_EXCLUDED_SEGMENT_HEADS):
                continue
            description = _geocode(segment)
            for short, code in provinces:
                if description.startswith(short):
                    city = _city_key(description, short, table.get(code).name)
                    found[code, "", carrier].append(segment)
                    found[code, city, carrier].append(segment)
                    break
    # Weight segments so each carrier gets its subscriber share, whatever its block count.
    grouped: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    for (province, city, carrier), segments in found.items():
        share = CARRIER_SHARE[carrier] / len(segments)
        grouped[province, city].extend((segment, share) for segment in segments)
    return {place: Weighted(pairs) for place, pairs in grouped.items()}


def _home_segment(rng: random.Random, place: Place) -> str:
    segments = _segments()
    if rng.random() < SAME_CITY_SHARE:
        by_city = segments.get((place.province_code, place.city[:2]))
        if by_city is not None:
            return by_city.draw(rng)
    return segments[place.province_code, ""].draw(rng)


def masked_mobile(rng: random.Random, place: Place) -> Mobile:
    """A masked mobile whose home (province, usually city) and carrier fit the address."""
    segment = _home_segment(rng, place)
    suffix = f"{rng.randrange(10_000):04d}"
    return Mobile(
        display=f"{segment[:3]}****{suffix}",
        form=MobileForm.MASKED,
        secret=segment[3:],
        number=segment + suffix,
    )


_MOBILE = re.compile(r"1[3-9]\d{9}")
_NUMBER_NOISE = re.compile(r"[\s\-()（）]")
_MASK_CHARS = re.compile(r"[*＊xX×•●]")


def normalise_mobile(text: str) -> str:
    """Canonical form for matching: digits, `*` for each masked digit, `转` before an extension.

    Handles +86/0086 prefixes, spaces and dashes inside the number, full-width asterisks and
    the separators privacy waybills use between number and extension.
    """
    text = text.strip().translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    extension = ""
    match = re.search(r"(?:转|,|，|_|-|#|ext\.?)\s*(\d{3,5})\s*$", text)
    if match is not None and len(_NUMBER_NOISE.sub("", text[: match.start()])) >= 11:
        extension = "转" + match.group(1)
        text = text[: match.start()]
    text = _MASK_CHARS.sub("*", _NUMBER_NOISE.sub("", text))
    text = re.sub(r"^(?:\+86|0086|86(?=1\d{10}$))", "", text)
    return text + extension


def _pool_number(text: str) -> str:
    number = normalise_mobile(text)
    if not _MOBILE.fullmatch(number):
        raise MobilePoolError(f"pool entry {text!r} is not an 11-digit mainland mobile")
    return number


@cache
def _home_description(number: str) -> str:
    return geocoder.description_for_number(phonenumbers.parse("+86" + number), "zh")


def take_pool_number(
    rng: random.Random,
    pool: Sequence[str],
    used: set[str],
    place: Place | None = None,
) -> str:
    """An unused number from the operator's own pool, marked used; never an invented one.

    `used` belongs to one link and rotation window, so a buyer never sees one number under
    many names. Numbers at home in the address's province are preferred.
    """
    free = [n for n in (_pool_number(entry) for entry in pool) if n not in used]
    if not free:
        raise MobilePoolError("every pool number is already used for this link and window")
    if place is not None:
        province = division_table().get(place.province_code).name
        short = province[:3] if province.startswith(("内蒙古", "黑龙江")) else province[:2]
        at_home = [n for n in free if _home_description(n).startswith(short)]
        free = at_home or free
    number = rng.choice(free)
    used.add(number)
    return number


def full_mobile(number: str) -> Mobile:
    return Mobile(display=number, form=MobileForm.FULL, secret=None, number=number)


def privacy_mobile(
    rng: random.Random,
    pool_number: str,
    used_extensions: Collection[str],
    separator: str = "转",
) -> Mobile:
    """A pool number plus a four-digit extension no other canary on that number has.

    `used_extensions` holds `number转extension` strings already handed out.
    """
    number = _pool_number(pool_number)
    if separator not in PRIVACY_SEPARATORS:
        raise ValueError(f"unknown privacy-number separator {separator!r}")
    taken = {e for e in used_extensions if e.startswith(number + "转")}
    if len(taken) >= 9_000:
        raise MobilePoolError(f"every extension of {number} is already used")
    while True:
        extension = f"{rng.randint(1000, 9999)}"
        if f"{number}转{extension}" not in taken:
            break
    return Mobile(
        display=f"{number}{separator}{extension}",
        form=MobileForm.PRIVACY,
        secret=None,
        number=number,
    )
