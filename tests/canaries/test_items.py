"""Items: category mix, plausible weights, creation times in business hours (CST)."""

import random
from collections import Counter
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canaries.items import CATEGORIES, ItemMinter, UnknownCategoryError, creation_time

CST = timedelta(hours=8)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_weights_are_plausible_for_the_category(seed: int) -> None:
    rng = random.Random(seed)
    minter = ItemMinter()
    for _ in range(100):
        item = minter.draw(rng)
        category = CATEGORIES[item.category]
        assert item.name in category.items
        assert category.min_kg <= item.weight_kg <= category.max_kg
        assert round(item.weight_kg, 2) == item.weight_kg


def test_a_link_mix_overrides_the_default() -> None:
    rng = random.Random(2)
    minter = ItemMinter({"美妆": 0.9, "文件": 0.1})
    counts = Counter(minter.draw(rng).category for _ in range(5000))
    assert set(counts) == {"美妆", "文件"}
    assert 0.87 <= counts["美妆"] / 5000 <= 0.93


def test_an_unknown_category_is_refused() -> None:
    with pytest.raises(UnknownCategoryError):
        ItemMinter({"军火": 1.0})


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2027, 1, 1)),
    days=st.integers(0, 60),
    province=st.sampled_from(["330000", "110000", "650000", "540000"]),
)
def test_creation_times_fall_in_the_window_and_business_hours(
    seed: int, start: date, days: int, province: str
) -> None:
    rng = random.Random(seed)
    end = start + timedelta(days=days)
    # Xinjiang and Tibet keep hours about two hours behind Beijing time.
    opens, closes = (10, 22) if province in ("650000", "540000") else (8, 20)
    for _ in range(50):
        moment = creation_time(rng, province, start, end)
        assert moment.utcoffset() == CST
        assert start <= moment.date() <= end
        assert opens <= moment.hour <= closes
