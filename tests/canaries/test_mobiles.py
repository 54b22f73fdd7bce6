"""Mobiles: real prefix mix; home and carrier agree with the address (phonenumbers as oracle)."""

import random
import re
from collections import Counter, defaultdict

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import carrier, geocoder

from canaries import mobiles
from canaries.addresses import AddressMinter
from canaries.divisions import division_table
from canaries.mobiles import (
    MobileForm,
    MobilePoolError,
    masked_mobile,
    normalise_mobile,
    privacy_mobile,
    take_pool_number,
)

PROVINCES = [
    d.code
    for d in division_table().all()
    if d.parent_code is None and not d.code.startswith(("71", "81", "82"))
]
# Which carrier owns which first three digits, as MIIT allocated them (written out here
# independently of canaries.mobiles).
OWNER = {
    "中国移动": "134 135 136 137 138 139 147 150 151 152 157 158 159 172 178 182 183 184 187 188"
    " 195 197 198",
    "中国联通": "130 131 132 145 155 156 166 175 176 185 186 196",
    "中国电信": "133 149 153 173 177 180 181 189 190 191 193 199",
}
OWNER_OF = {prefix: name for name, prefixes in OWNER.items() for prefix in prefixes.split()}
MASKED = re.compile(r"1[3-9]\d\*{4}\d{4}")


# Prefixes a masked canary must never show: data cards and IoT, virtual operators, and the
# satellite block.
NEVER_MASKED = {"140", "141", "144", "145", "146", "147", "148", "149", "162", "165", "167"}
NEVER_MASKED |= {"170", "171", "174", "192"}


def _province_short(name: str) -> str:
    return name[:3] if name in ("内蒙古自治区", "黑龙江省") else name[:2]


def _home(number: str) -> str | None:
    """The home the geocoder gives, or None when it can only say the country.

    phonenumbers maps the whole national 173 block to 北京市 in one entry, which is no home.
    """
    parsed = phonenumbers.parse("+86" + number)
    home = geocoder.description_for_number(parsed, "zh")
    if number.startswith("173") and home == "北京市":
        return None
    return None if home in ("", geocoder.country_name_for_number(parsed, "zh")) else home


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), area=st.sampled_from([None, *PROVINCES]))
def test_a_masked_mobile_the_geocoder_can_place_is_at_home_in_the_address_province(
    seed: int, area: str | None
) -> None:
    rng = random.Random(seed)
    minter = AddressMinter(area)
    for _ in range(10):
        place = minter.place(rng)
        mobile = masked_mobile(rng, place)
        assert mobile.form is MobileForm.MASKED
        assert MASKED.fullmatch(mobile.display)
        assert mobile.secret is not None and re.fullmatch(r"\d{4}", mobile.secret)
        assert mobile.display[3:7] == "****"
        assert mobile.display[:3] not in NEVER_MASKED
        assert not mobile.number.startswith("1349")
        number = phonenumbers.parse("+86" + mobile.display[:3] + mobile.secret + mobile.display[7:])
        assert phonenumbers.is_valid_number(number)
        assert carrier.name_for_number(number, "zh") == OWNER_OF[mobile.display[:3]]
        home = _home(mobile.number)
        if home is not None:
            assert home.startswith(_province_short(place.province)), (place, home)


def test_most_placeable_masked_mobiles_are_at_home_in_the_address_city() -> None:
    rng = random.Random(4)
    minter = AddressMinter("330100")
    homes = [_home(masked_mobile(rng, minter.place(rng)).number) for _ in range(2000)]
    placed = [home for home in homes if home is not None]
    assert len(placed) > 1500
    assert sum("杭州" in home for home in placed) / len(placed) > 0.75


def test_masked_prefixes_follow_the_real_carrier_mix_including_the_newer_blocks() -> None:
    rng = random.Random(9)
    minter = AddressMinter(None)
    prefixes = Counter(masked_mobile(rng, minter.place(rng)).display[:3] for _ in range(40_000))
    total = sum(prefixes.values())
    carriers = Counter[str]()
    for prefix, count in prefixes.items():
        carriers[OWNER_OF[prefix]] += count
    # MIIT 2023 subscriber shares: China Mobile 57%, China Telecom 24%, China Unicom 19%.
    assert abs(carriers["中国移动"] / total - 0.57) < 0.02
    assert abs(carriers["中国电信"] / total - 0.24) < 0.02
    assert abs(carriers["中国联通"] / total - 0.19) < 0.02
    # The blocks the geocoder cannot place are on real waybills; a mix without them stands out.
    for prefix in ("166", "172", "173", "175", "190", "191", "193", "195", "196", "197", "198"):
        assert prefixes[prefix] / total > 0.004, prefix
    nineteen = sum(count for prefix, count in prefixes.items() if prefix.startswith("19"))
    assert 0.07 < nineteen / total < 0.18
    assert not set(prefixes) & NEVER_MASKED
    # No prefix dominates, as in real data where the older 13x blocks lead by a little.
    assert prefixes.most_common(1)[0][1] / total < 0.06


def test_the_hidden_middle_of_an_unplaceable_prefix_still_varies() -> None:
    rng = random.Random(3)
    place = AddressMinter("330106").place(rng)
    secrets: set[str] = set()
    while len(secrets) < 50:
        mobile = masked_mobile(rng, place)
        if mobile.display.startswith("199"):
            assert mobile.secret is not None
            secrets.add(mobile.secret)
    assert len(secrets) == 50


def test_the_segment_index_places_every_segment_as_the_geocoder_does_one_by_one() -> None:
    """The index spreads the geocoder's entries over each prefix's middles at once; asked
    segment by segment (longest entry first, as mobiles._geocode does), the geocoder puts
    each of the 440,000 segments in the same province and city lists, in the same order."""
    table = division_table()
    provinces = mobiles._province_keys()
    expected: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    homeless: dict[str, list[str]] = defaultdict(list)
    for prefix in mobiles.PREFIX_SHARES:
        for middle in range(10_000):
            segment = f"{prefix}{middle:04d}"
            if segment.startswith("1349"):  # the satellite block
                continue
            home = mobiles._home_of(mobiles._geocode(segment), provinces, table)
            if home is None:
                homeless[prefix].append(segment)
            else:
                expected[home[0], "", prefix].append(segment)
                expected[home[0], home[1], prefix].append(segment)
    index = mobiles._segment_index()
    got = {key: [f"{key[2]}{m:04d}" for m in middles] for key, middles in index.placed.items()}
    assert got == expected
    assert len(expected) > 10_000
    for prefix, segments in homeless.items():
        middles = index.unplaced[prefix]
        if len(segments) == 10_000:
            assert middles is None
        else:
            assert middles is not None and [f"{prefix}{m:04d}" for m in middles] == segments
    assert set(index.unplaced) == set(homeless)


POOL = ["17012345678", "+86 138 0571 0001", "13800000000", "18912345678"]


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_pool_numbers_come_only_from_the_pool_and_once_per_window(seed: int) -> None:
    rng = random.Random(seed)
    used: set[str] = set()
    owned = {re.sub(r"\D", "", n)[-11:] for n in POOL}
    taken = [take_pool_number(rng, POOL, used) for _ in POOL]
    assert sorted(taken) == sorted(owned)
    with pytest.raises(MobilePoolError):
        take_pool_number(rng, POOL, used)


def test_pool_prefers_numbers_at_home_in_the_province() -> None:
    place = AddressMinter("330106").place(random.Random(1))
    number = take_pool_number(random.Random(2), POOL, set(), place)
    assert number == "13805710001"  # 138 0571 is a Hangzhou block


def test_a_pool_entry_that_is_not_a_mobile_is_refused() -> None:
    with pytest.raises(MobilePoolError):
        take_pool_number(random.Random(1), ["0571-88888888"], set())


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), separator=st.sampled_from(["转", "-", ",", "_"]))
def test_privacy_numbers_carry_a_fresh_extension(seed: int, separator: str) -> None:
    rng = random.Random(seed)
    used: set[str] = set()
    for _ in range(50):
        mobile = privacy_mobile(rng, "17012345678", used, separator)
        match = re.fullmatch(r"17012345678(.)(\d{4})", mobile.display)
        assert match is not None and match.group(1) == separator
        key = f"17012345678转{match.group(2)}"
        assert key not in used
        used.add(key)
        assert normalise_mobile(mobile.display) == key


@given(
    digits=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    style=st.sampled_from(["{}", "+86 {}", "0086{}", "{0:.3} {1} {2}"]),
)
def test_normalise_mobile_undoes_common_reformatting(digits: str, style: str) -> None:
    text = (
        style.format(digits[:3], digits[3:7], digits[7:]) if "{0" in style else style.format(digits)
    )
    assert normalise_mobile(text) == digits


@given(
    prefix=st.from_regex(r"1[3-9][0-9]", fullmatch=True),
    suffix=st.from_regex(r"[0-9]{4}", fullmatch=True),
)
def test_normalise_mobile_keeps_masks_in_one_form(prefix: str, suffix: str) -> None:
    assert normalise_mobile(f"{prefix}＊＊＊＊{suffix}") == f"{prefix}****{suffix}"
    assert normalise_mobile(f"{prefix}xxxx{suffix}") == f"{prefix}****{suffix}"
