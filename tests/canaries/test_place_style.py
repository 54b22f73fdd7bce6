"""A style learned as places are named: towns, house numbers and villages as a sample has them.

The realism audit found outlet canaries told apart by forms that a national style carries
only because some counties' names read oddly (a street office named after a road reads as a
road and a stray 街道), by dashed house numbers no sample had, and by twice a district's
share of village addresses. These are the statistical properties that mend them, on fixed
seeds with generous bounds.
"""

import io
import random
import re
from collections import Counter

from canaries.addresses import (
    AddressMinter,
    county_places,
    county_towns,
    county_village_share,
    fit_town_power,
)
from canaries.reference import style_of
from canaries.style import StyleProfile, address_parts, default_style, place_parts

DASHED = re.compile(r"\d+-\d+号")
VILLAGE_PART = frozenset("VG")


def test_a_town_named_like_a_road_is_one_town_part() -> None:
    towns = county_towns("340103")  # 合肥市庐阳区, whose 亳州路街道 reads as a road
    assert "亳州路街道" in towns
    street = "亳州路街道水西门新村19幢2单元2601室"
    assert [k for k, _ in address_parts(street)][:3] != ["T", "C", "B幢"]
    assert [k for k, _ in place_parts(street, towns)] == ["T", "C", "B幢", "U", "M室"]


def test_places_named_after_a_road_are_one_part() -> None:
    assert [k for k, _ in place_parts("中山路花园6栋2单元1502室")] == ["C", "B栋", "U", "M室"]
    assert [k for k, _ in place_parts("鞍山路三一零弄8号")] == ["R", "N"]
    assert [k for k, _ in place_parts("中山路中心小学")] == ["S小学"]
    # A road and a compound of its own name stay two parts.
    assert [k for k, _ in place_parts("文三路翠苑小区3栋")] == ["R", "C", "B栋"]


def _sample(rows: list[str]) -> io.BytesIO:
    lines = ["省,市,区,详细地址"] + [f"浙江省,杭州市,西湖区,{row}" for row in rows]
    return io.BytesIO("\n".join(lines).encode("utf-8"))


def test_dashed_house_numbers_are_as_common_as_in_the_sample() -> None:
    rng = random.Random(6)
    rows = [f"文三路{rng.randint(1, 300)}号" for _ in range(300)]
    rows += [f"文三路{rng.randint(1, 300)}-{rng.randint(1, 9)}号" for _ in range(100)]
    style = style_of(_sample(rows))
    assert 0.2 < style.dashed_numbers < 0.3
    streets = [AddressMinter("330106", style).address(rng).street for _ in range(2000)]
    numbered = [s for s in streets if s.endswith("号")]
    assert len(numbered) > 1500
    assert 0.17 < sum(bool(DASHED.search(s)) for s in numbered) / len(numbered) < 0.33

    plain = style_of(_sample([f"文三路{rng.randint(1, 300)}号" for _ in range(400)]))
    assert plain.dashed_numbers == 0.0
    assert not [
        s
        for s in (AddressMinter("330106", plain).address(rng).street for _ in range(500))
        if DASHED.search(s)
    ]


def test_an_old_profile_keeps_its_dashed_numbers_and_its_classes() -> None:
    old = StyleProfile.from_json({"forms": {"R N": 1.0}})
    assert old.dashed_numbers == 0.05
    assert old.town_power == 1.0
    assert old.village_scale is None


def _mentions(power: float, rng: random.Random) -> Counter[tuple[str, str, bool]]:
    """Towns named by 3,000 records of ten counties, spread over each county's towns by
    their people to `power`."""
    mentions: Counter[tuple[str, str, bool]] = Counter()
    counties = [c for c, places in sorted(county_places().items()) if len(places.towns) >= 8]
    for code in rng.sample(counties, 10):
        towns = county_places()[code].towns
        for _ in range(300):
            village = rng.random() < 0.3
            weights = [t.weight(power, village) for t in towns]
            town = rng.choices(towns, weights)[0]
            mentions[code, town.name, village] += 1
    return mentions


def test_the_spread_over_towns_is_fitted_to_the_towns_a_sample_names() -> None:
    rng = random.Random(2)
    even, by_people = fit_town_power(_mentions(0.0, rng)), fit_town_power(_mentions(1.0, rng))
    assert even is not None and even <= 0.3
    assert by_people is not None and by_people >= 0.7
    assert fit_town_power(Counter({("330106", "没有这个镇", False): 5})) is None


def _village_share(code: str, rng: random.Random) -> float:
    minter = AddressMinter(code)
    streets = [minter.address(rng).street for _ in range(3000)]
    towns = county_towns(code)
    return sum(any(k[0] in VILLAGE_PART for k, _ in place_parts(s, towns)) for s in streets) / len(
        streets
    )


def test_a_countys_village_addresses_follow_its_own_towns() -> None:
    """Counties of one class get the village share their own towns give, not the class's:
    rural and urban forms mixed by the county's share of rural towns."""
    style = default_style()
    assert style.rural_forms and style.urban_forms

    def in_villages(forms: dict[str, float]) -> float:
        return sum(w for f, w in forms.items() if any(t[0] in VILLAGE_PART for t in f.split()))

    rural, urban = in_villages(style.rural_forms), in_villages(style.urban_forms)
    assert rural > 0.5 > 0.05 > urban
    rng = random.Random(11)
    for code in ("330106", "330127", "420111"):  # 西湖区, 淳安县, 武汉洪山区
        share = county_village_share(code, style.town_power)
        expected = share * rural + (1 - share) * urban
        found = _village_share(code, rng)
        assert abs(found - expected) < 0.03 + 0.1 * expected, (code, found, expected)
