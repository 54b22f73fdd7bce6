"""Names: real length and surname statistics, gender-consistent given names."""

import random
import re
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from canaries.names import Gender, mint_name, normalise_name, split_name, surname_shares

HAN = re.compile(r"[\u4e00-\u9fff]+")
SAMPLE = 20_000


def _sample(seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [mint_name(rng).full for _ in range(SAMPLE)]


def test_name_length_shares_follow_real_names() -> None:
    lengths = Counter(len(name) for name in _sample())
    assert 0.88 <= lengths[3] / SAMPLE <= 0.94
    assert 0.04 <= lengths[2] / SAMPLE <= 0.08
    assert set(lengths) <= {2, 3, 4}


def test_top_five_surnames_hold_about_a_third() -> None:
    surnames = Counter(split_name(name)[0] for name in _sample(11))
    top5 = surnames.most_common(5)
    assert {s for s, _ in top5} == set("王李张刘陈")
    assert 0.27 <= sum(n for _, n in top5) / SAMPLE <= 0.35


def test_surname_table_is_a_distribution_with_compound_surnames_rare() -> None:
    shares = surname_shares()
    assert abs(sum(shares.values()) - 1) < 1e-9
    assert len(shares) >= 300
    compound = sum(share for surname, share in shares.items() if len(surname) == 2)
    assert 0 < compound < 0.005
    assert {"欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "令狐", "慕容"} <= set(shares)


# Characters that mark a given name as clearly one gender; an independent list, not the pools.
CLEARLY_FEMALE = set("娟娜婷芳艳霞燕萍玲莉琴妍媛婧姝娥")
CLEARLY_MALE = set("强刚勇军磊杰涛鹏斌彪雄虎豪")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_given_names_are_gender_consistent(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        male = mint_name(rng, Gender.MALE)
        female = mint_name(rng, Gender.FEMALE)
        assert not set(male.given) & CLEARLY_FEMALE, male
        assert not set(female.given) & CLEARLY_MALE, female


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_every_name_is_han_and_splits_back(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(100):
        name = mint_name(rng)
        assert HAN.fullmatch(name.full)
        assert 1 <= len(name.given) <= 2
        surname, given_name = split_name(name.full)
        assert surname + given_name == name.full
        assert surname in surname_shares() or surname[:1] in surname_shares()


@given(
    name=st.text(alphabet="王李欧阳伟芳", min_size=1, max_size=5), noise=st.sampled_from(" \u3000·")
)
def test_normalise_name_drops_inserted_spaces_and_dots(name: str, noise: str) -> None:
    assert normalise_name(noise.join(name)) == name
