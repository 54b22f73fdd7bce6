"""Addresses: consistent with GB/T 2260, inside the delivery area, in real local forms."""

import random
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canaries.addresses import AddressMinter, DeliveryAreaError
from canaries.divisions import division_table
from canaries.style import StyleProfile, address_parts

TABLE = division_table()
MAINLAND_AREAS = sorted(d.code for d in TABLE.all() if not d.code.startswith(("71", "81", "82")))
COUNTY_AREAS = [c for c in MAINLAND_AREAS if not c.endswith("00")]

VILLAGE = re.compile(r"村[0-9一二三四五六七八九十]{1,3}组")


def _oracle_triple(code: str) -> tuple[str, str, str]:
    """Province, city, district of a leaf code, worked out from the table by hand."""
    chain = [TABLE.get(code)]
    while chain[-1].parent_code is not None:
        chain.append(TABLE.get(chain[-1].parent_code))
    names = [d.name for d in chain]
    if len(chain) == 3:
        return names[2], names[1], names[0]
    if chain[1].kind == "直辖市":
        return names[1], names[1], names[0]
    return names[-1], names[0], ""


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), area=st.sampled_from([None, *MAINLAND_AREAS]))
def test_division_part_is_consistent_and_inside_the_area(seed: int, area: str | None) -> None:
    rng = random.Random(seed)
    minter = AddressMinter(area)
    for _ in range(20):
        address = minter.address(rng)
        place = address.place
        assert place.code in TABLE
        assert not TABLE.children(place.code), "addresses sit at the lowest level"
        assert (place.province, place.city, place.district) == _oracle_triple(place.code)
        ancestors = {place.code}
        parent = TABLE.get(place.code).parent_code
        while parent is not None:
            ancestors.add(parent)
            parent = TABLE.get(parent).parent_code
        if area is not None:
            assert area in ancestors


def test_street_lines_are_made_of_the_grammars_parts() -> None:
    rng = random.Random(12)
    streets = [
        AddressMinter(area).address(rng).street
        for area in rng.sample(COUNTY_AREAS, 400)
        for _ in range(10)
    ]
    unparsed = [s for s in streets if sum(t == "X" for t, _ in address_parts(s)) > 1]
    # Real place names hold part endings of their own (南皮店镇北街村): a few read oddly.
    assert len(unparsed) / len(streets) < 0.03, unparsed[:10]
    assert not [s for s in streets if re.search(r"\d{6}", s)], "no postcode glued on"
    assert min(len(s) for s in streets) >= 3


def test_a_learned_style_shapes_the_street_lines() -> None:
    style = StyleProfile(forms={"T R N": 0.5, "C B栋 U M室": 0.5}, spaced=1.0, space_between=1.0)
    rng = random.Random(4)
    minter = AddressMinter("330106", style)
    streets = [minter.address(rng).street for _ in range(400)]
    forms = Counter(" ".join(t for t, _ in address_parts(s)) for s in streets)
    assert forms["T R N"] + forms["C B栋 U M室"] >= 0.95 * 400
    assert 0.4 < forms["T R N"] / 400 < 0.6
    assert all(" " in s for s in streets)
    towns = {s.split()[0] for s in streets if s.endswith("号")}
    assert towns and all(t.endswith(("街道", "镇")) for t in towns)


def test_the_default_style_writes_towns_roads_companies_and_parentheses() -> None:
    rng = random.Random(8)
    minter = AddressMinter(None)
    kinds = Counter(
        token[0] for _ in range(4000) for token, _ in address_parts(minter.address(rng).street)
    )
    assert kinds["T"] / 4000 > 0.15  # a town or street office in many addresses
    assert min(kinds[k] for k in "OSKIP") > 20  # companies, schools, markets, parks, (...)
    assert kinds["R"] > kinds["U"]  # roads are commoner than units


def test_an_outlet_district_keeps_every_recipient_in_it() -> None:
    rng = random.Random(3)
    minter = AddressMinter("330106")
    places = {minter.place(rng) for _ in range(500)}
    assert {(p.province, p.city, p.district) for p in places} == {("浙江省", "杭州市", "西湖区")}


def test_counties_get_more_village_addresses_than_city_districts() -> None:
    rng = random.Random(5)

    def village_share(code: str) -> float:
        minter = AddressMinter(code)
        lines = [minter.address(rng).street for _ in range(3000)]
        return sum(bool(VILLAGE.search(s)) for s in lines) / len(lines)

    county = village_share("330127")  # 淳安县
    district = village_share("330106")  # 西湖区
    assert county > 0.3
    assert district < 0.1


def test_national_spread_follows_province_population() -> None:
    rng = random.Random(9)
    minter = AddressMinter(None)
    counts = Counter(minter.place(rng).province for _ in range(40_000))
    # 2020 census: Guangdong 8.9%, Shandong 7.2%, Tibet 0.26% of the 31 provinces.
    assert 0.08 <= counts["广东省"] / 40_000 <= 0.10
    assert 0.064 <= counts["山东省"] / 40_000 <= 0.080
    assert counts["西藏自治区"] / 40_000 < 0.006
    assert "香港特别行政区" not in counts


@pytest.mark.parametrize("code", ["999999", "810000", "710000"])
def test_delivery_area_outside_the_mainland_table_is_refused(code: str) -> None:
    with pytest.raises(DeliveryAreaError):
        AddressMinter(code)
