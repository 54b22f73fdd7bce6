"""Recipient mobiles in the three forms waybill feeds carry, never pointing at a stranger.

Anyone can look up the home city and carrier of a Chinese mobile from its first seven
digits (the `phonenumbers` geocoder does it offline), so a canary's number must be at home
where its address is. Forms:

(a) masked `138****5678`, the default: the first three digits follow the real mix of
    prefixes and carriers (the buyer sees them and nothing that places the number), and
    where the geocoder knows the prefix's blocks the hidden middle puts the number's home
    in the address's province (usually its city); the middle is a secret, never shown;
(b) full, only from the operator's own pool, each number used at most once per link per
    rotation window;
(c) privacy number with extension (`17012345678转1234`), a pool number plus an extension
    unique to the canary.
"""

from __future__ import annotations

import random
import re
from array import array
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from itertools import groupby
from typing import TYPE_CHECKING, cast

from canaries.divisions import DivisionTable, division_table
from canaries.sampling import Weighted

if TYPE_CHECKING:
    from canaries.addresses import Place

CHINA_MOBILE = "中国移动"
CHINA_UNICOM = "中国联通"
CHINA_TELECOM = "中国电信"

# Three-digit prefixes of masked numbers, with their estimated shares of consumer mobiles
# on parcel waybills inside each carrier (relative weights). These are ESTIMATES: MIIT
# publishes subscribers per carrier, not per prefix, so the weights follow how long each
# block has been issued and how full it is, tilted towards the younger numbers online
# shoppers hold (19x alone is about a tenth of all numbers and a larger share of new ones).
# A buyer sees the first three digits of a masked number, so this mix is what must look
# real. Data-card and IoT prefixes (145, 147, 149) and virtual-operator prefixes (162, 165,
# 167, 170, 171) are left out: they are rare on parcel waybills. 192 (China Broadnet, the
# fourth carrier, about 1% of subscribers) is left out too.
PREFIX_WEIGHTS: dict[str, dict[str, float]] = {
    CHINA_MOBILE: {
        **{"134": 50, "135": 70, "136": 70, "137": 70, "138": 75, "139": 80},
        **{"150": 60, "151": 60, "152": 55, "157": 35, "158": 65, "159": 65},
        **{"172": 15, "178": 35, "182": 55, "183": 50, "184": 25, "187": 60, "188": 50},
        **{"195": 20, "197": 20, "198": 50},
    },
    CHINA_UNICOM: {
        **{"130": 45, "131": 45, "132": 45, "155": 45, "156": 50, "166": 35},
        **{"175": 25, "176": 35, "185": 45, "186": 55, "196": 20},
    },
    CHINA_TELECOM: {
        **{"133": 70, "153": 60, "173": 50, "177": 50, "180": 60, "181": 55, "189": 70},
        **{"190": 20, "191": 35, "193": 25, "199": 70},
    },
}
CARRIER_BY_PREFIX: dict[str, str] = {
    prefix: name for name, weights in PREFIX_WEIGHTS.items() for prefix in weights
}
# Mobile subscriber shares of the three carriers (MIIT yearly figures, 2023, rounded).
CARRIER_SHARE = {CHINA_MOBILE: 0.57, CHINA_UNICOM: 0.19, CHINA_TELECOM: 0.24}
# Estimated share of each prefix among masked waybill mobiles (sums to 1).
PREFIX_SHARES: dict[str, float] = {
    prefix: CARRIER_SHARE[name] * weight / sum(weights.values())
    for name, weights in PREFIX_WEIGHTS.items()
    for prefix, weight in weights.items()
}
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
    from canaries.addresses import CENSUS_2020_POPULATION  # minting's, not matching's

    table = division_table()
    keys = []
    for code in CENSUS_2020_POPULATION:
        name = table.get(code).name
        keys.append((name[:3] if name.startswith(("内蒙古", "黑龙江")) else name[:2], code))
    return keys


def _geodata() -> Mapping[str, Mapping[str, str]]:
    # Loaded on first use: the geocoder's tables take 0.3 s to import, which matching and
    # every `--help` would otherwise pay.
    from phonenumbers.geodata import GEOCODE_DATA

    return cast("Mapping[str, Mapping[str, str]]", GEOCODE_DATA)


def _geocode(segment: str, data: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """The zh home description of a seven-digit segment, by longest prefix, as the geocoder
    (`data`: its tables, when the caller holds them already).

    A home the geocoder gives a whole three-digit prefix is not home data: it maps the
    national 173 block to 北京市 in a single entry.
    """
    geodata = _geodata() if data is None else data
    for length in range(7, 3, -1):
        entry = geodata.get("86" + segment[:length])
        if entry is not None:
            return entry.get("zh", "")
    return ""


def placeable_home(number: str) -> str | None:
    """The home the geocoder gives an 11-digit mobile, or None when it cannot place it."""
    return _geocode(number[:7]) or None


def _city_key(description: str, province_short: str, province_name: str) -> str:
    rest = description.removeprefix(province_name).removeprefix(province_short)
    return (rest or province_name)[:2]


@dataclass(frozen=True, slots=True)
class _SegmentIndex:
    """Seven-digit segments by where the geocoder places them, and what it cannot place; a
    segment is held as its four-digit middle under its three-digit prefix, in order."""

    # (province code, city key or "" for the whole province, prefix) -> placed middles
    placed: dict[tuple[str, str, str], array[int]]
    # prefix -> middles the geocoder has no home for; None when it places none of them
    unplaced: dict[str, array[int] | None]
    # province code -> the prefixes usable there, weighted by PREFIX_SHARES
    prefixes: dict[str, Weighted[str]]


def _home_of(
    description: str, provinces: list[tuple[str, str]], table: DivisionTable
) -> tuple[str, str] | None:
    """(province code, city key) of a geocoder description; None where it names none."""
    if not description:
        return None
    for short, code in provinces:
        if description.startswith(short):
            return code, _city_key(description, short, table.get(code).name)
    return None


def _entries_by_prefix(
    geodata: Mapping[str, Mapping[str, str]],
) -> dict[str, list[tuple[str, str]]]:
    """(digits after the prefix, zh description) of the geocoder's entries of one to four
    digits past each three-digit prefix: those _geocode consults."""
    by_prefix: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, entry in geodata.items():
        if key.startswith("861") and 6 <= len(key) <= 9:
            by_prefix[key[2:5]].append((key[5:], entry.get("zh", "")))
    return by_prefix


def _descriptions(entries: list[tuple[str, str]]) -> list[str]:
    """The description of each of a prefix's 10,000 middles, as _geocode gives it: the
    longest entry that covers the middle wins, even when it has no zh text."""
    found = [""] * 10_000
    for digits, description in sorted(entries, key=lambda e: len(e[0])):
        width = 10 ** (4 - len(digits))
        start = int(digits) * width
        found[start : start + width] = [description] * width
    return found


@cache
def _segment_index() -> _SegmentIndex:
    """Built once, in a few tenths of a second: the geocoder's entries are spread over each
    prefix's middles, and the runs of middles that share a description are placed whole
    (a few thousand descriptions cover the 440,000 segments)."""
    table = division_table()
    provinces = _province_keys()
    placed: dict[tuple[str, str, str], array[int]] = defaultdict(lambda: array("H"))
    unplaced: dict[str, array[int] | None] = {}
    homes: dict[str, tuple[str, str] | None] = {}
    by_prefix = _entries_by_prefix(_geodata())
    for prefix in PREFIX_SHARES:
        descriptions = _descriptions(by_prefix.get(prefix, []))
        # Thousands of middles left out (the heads are four digits: 1349 -> 9000-9999).
        excluded = {int(h[3]) for h in _EXCLUDED_SEGMENT_HEADS if h.startswith(prefix)}
        homeless = array("H")
        at = 0
        for description, run in groupby(descriptions):
            count = sum(1 for _ in run)
            middles = range(at, at + count)
            at += count
            if excluded:
                middles_kept: Iterable[int] = (m for m in middles if m // 1000 not in excluded)
            else:
                middles_kept = middles
            if description not in homes:
                homes[description] = _home_of(description, provinces, table)
            home = homes[description]
            if home is None:
                homeless.extend(middles_kept)
                continue
            code, city = home
            kept = array("H", middles_kept)
            placed[code, "", prefix].extend(kept)
            placed[code, city, prefix].extend(kept)
        if homeless:
            unplaced[prefix] = homeless if len(homeless) < 10_000 else None
    # A prefix fits a province if the geocoder places some of its segments there, or if a
    # buyer cannot place some of them anywhere (the hidden middle then reveals nothing).
    prefixes = {
        code: Weighted(
            (prefix, share)
            for prefix, share in PREFIX_SHARES.items()
            if (code, "", prefix) in placed or prefix in unplaced
        )
        for _, code in provinces
    }
    return _SegmentIndex(dict(placed), unplaced, prefixes)


def _home_segment(rng: random.Random, place: Place) -> str:
    """Prefix at its realistic share; where the geocoder knows that prefix's blocks, a
    middle at home in the address's province (usually its city)."""
    index = _segment_index()
    province = place.province_code
    prefix = index.prefixes[province].draw(rng)
    if rng.random() < SAME_CITY_SHARE:
        by_city = index.placed.get((province, place.city[:2], prefix))
        if by_city is not None:
            return f"{prefix}{rng.choice(by_city):04d}"
    in_province = index.placed.get((province, "", prefix))
    if in_province is not None:
        return f"{prefix}{rng.choice(in_province):04d}"
    homeless = index.unplaced[prefix]
    if homeless is None:
        return f"{prefix}{rng.randrange(10_000):04d}"
    return f"{prefix}{rng.choice(homeless):04d}"


def masked_mobile(rng: random.Random, place: Place) -> Mobile:
    """A masked mobile whose prefix follows the real mix and whose home, where the geocoder
    knows it, is the address's province (usually its city)."""
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
    import phonenumbers
    from phonenumbers import geocoder

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


MASK_DIGIT = "*"
_SHOWN_MOBILE = re.compile(r"(1[3-9]\d)([\d*]{4})(\d{4})(?:转(\d{1,5}))?")
_LAST_FOUR_ONLY = re.compile(r"\*{3,8}(\d{4})")


class MobileAgreement(StrEnum):
    """How an observed mobile agrees with a canary's, strongest first."""

    FULL = "full"  # every digit (and the extension of a privacy number)
    MASKED = "masked"  # first three and last four, the middle hidden
    LAST_FOUR = "last_four"  # only the last four shown
    DISAGREE = "disagree"


def mobile_key(normalised: str) -> str | None:
    """First three and last four digits: what a masked mobile shows, and a blocking key."""
    match = _SHOWN_MOBILE.fullmatch(normalised)
    if match is None:
        return None
    return match.group(1) + match.group(3)


def compare_mobiles(observed: str, canary_shown: str, canary_number: str) -> MobileAgreement | None:
    """Agreement of an observed mobile (see `normalise_mobile`) with a canary's.

    `canary_shown` is what the canary's feed carried and `canary_number` the number behind
    it (a masked canary's secret middle included). None: the observed text shows too little
    of a number to compare. A full number whose first three and last four agree with a
    masked canary but whose middle differs is a stranger's number: it disagrees.
    """
    shown = _SHOWN_MOBILE.fullmatch(observed)
    if shown is None:
        last = _LAST_FOUR_ONLY.fullmatch(observed)
        if last is None:
            return None
        return (
            MobileAgreement.LAST_FOUR
            if canary_number[-4:] == last.group(1)
            else MobileAgreement.DISAGREE
        )
    prefix, middle, last_four, extension = shown.groups()
    if prefix != canary_number[:3] or last_four != canary_number[7:11]:
        return MobileAgreement.DISAGREE
    canary_extension = canary_shown.partition("转")[2] or None
    if MASK_DIGIT in middle:
        return MobileAgreement.MASKED
    if middle != canary_number[3:7]:
        return MobileAgreement.DISAGREE
    if canary_extension is not None and extension not in (None, canary_extension):
        return MobileAgreement.DISAGREE
    if canary_extension is not None and extension is None:
        # The bare privacy number is shared by many canaries; only the extension is theirs.
        return MobileAgreement.MASKED
    return MobileAgreement.FULL
