"""The classifier AUC of the realism audit: near 0.5 for canaries against canaries, near 1
against a generator a buyer could filter out, with the telling feature named."""

import dataclasses
import random
from collections.abc import Callable
from datetime import date
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canaries.couriers import Courier
from canaries.mint import LinkProfile, MintedCanary, Minter
from canaries.realism import AUC_GOAL, AuditSampleError, classifier_auc, rank_auc
from canaries.reference import ReferenceRecord, reference_from_canary

WINDOW = (date(2025, 3, 1), date(2025, 3, 31))
SIZE = 2_000
# The 131-entry style of Faker's zh_CN given names: one character, so two-character names.
FAKER_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华玉萍红桂兰"


def _batch(seed: int, courier: Courier = Courier.ZTO, count: int = SIZE) -> list[MintedCanary]:
    return Minter(LinkProfile(courier, window=WINDOW), random.Random(seed)).mint(count)


def _reference(canaries: list[MintedCanary]) -> list[ReferenceRecord]:
    return [reference_from_canary(c) for c in canaries]


@pytest.fixture(scope="module")
def canaries() -> list[MintedCanary]:
    return _batch(1)


@pytest.fixture(scope="module")
def other_batch() -> list[ReferenceRecord]:
    return _reference(_batch(2))


def test_canaries_cannot_be_told_from_another_batch_of_canaries(
    canaries: list[MintedCanary], other_batch: list[ReferenceRecord]
) -> None:
    report = classifier_auc(canaries, other_batch)
    assert 0.4 <= report.auc <= AUC_GOAL
    assert report.sample_size == SIZE
    # One name in sixteen has a one-character given name: near the 5% presence floor.
    assert set(report.features_skipped) <= {"given_single"}
    assert report.giveaways() == []
    expected = {"name_length", "surname", "given_first", "given_last", "mobile_prefix"}
    expected |= {"address_markers", "address_digits", "district_present", "item", "weight"}
    expected |= {"hour", "weekday", "waybill_prefix[zto]"}
    assert expected <= set(report.feature_aucs)


def _faker_like(rng: random.Random) -> Callable[[MintedCanary], MintedCanary]:
    def spoil(canary: MintedCanary) -> MintedCanary:
        building = rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ")
        postcode = rng.randrange(100_000, 999_999)
        return dataclasses.replace(
            canary,
            name=canary.name[0] + rng.choice(FAKER_GIVEN),
            address=f"{canary.address[:4]}{building}座 {postcode}",
        )

    return spoil


def test_a_faker_like_generator_is_caught_and_its_features_named(
    canaries: list[MintedCanary], other_batch: list[ReferenceRecord]
) -> None:
    spoilt = list(map(_faker_like(random.Random(3)), canaries))
    report = classifier_auc(spoilt, other_batch)
    assert report.auc >= 0.9
    assert {"name_length", "address_latin", "address_digits"} <= set(report.giveaways())
    assert report.feature_aucs["hour"] <= AUC_GOAL


def test_a_fixed_mobile_prefix_is_caught_and_named(
    canaries: list[MintedCanary], other_batch: list[ReferenceRecord]
) -> None:
    fixed = [dataclasses.replace(c, mobile="138" + c.mobile[3:]) for c in canaries]
    report = classifier_auc(fixed, other_batch)
    assert report.auc >= 0.9
    assert next(iter(report.feature_aucs)) == "mobile_prefix"
    assert report.giveaways() == ["mobile_prefix"]


def test_business_hours_that_differ_are_named(
    canaries: list[MintedCanary], other_batch: list[ReferenceRecord]
) -> None:
    night = [
        dataclasses.replace(c, created_at=c.created_at.replace(hour=(c.created_at.hour + 12) % 24))
        for c in canaries
    ]
    report = classifier_auc(night, other_batch)
    assert report.feature_aucs["hour"] >= 0.9
    assert report.giveaways() == ["hour"]


def test_masked_reference_names_are_not_mistaken_for_a_difference(
    canaries: list[MintedCanary], other_batch: list[ReferenceRecord]
) -> None:
    masked = [
        dataclasses.replace(r, name=r.name[0] + "*" + r.name[2:] if len(r.name) > 2 else r.name)
        for r in other_batch
        if r.name is not None
    ]
    report = classifier_auc(canaries, masked)
    assert report.auc <= AUC_GOAL
    assert report.giveaways() == []


def test_features_only_one_side_carries_are_skipped(
    canaries: list[MintedCanary], other_batch: list[ReferenceRecord]
) -> None:
    bare = [dataclasses.replace(r, item=None, weight_kg=None, district=None) for r in other_batch]
    report = classifier_auc(canaries, bare)
    assert {"item", "weight", "district_present"} <= set(report.features_skipped)
    assert not {"item", "weight", "district_present"} & set(report.feature_aucs)
    assert report.auc <= AUC_GOAL


def test_waybill_prefixes_are_compared_per_courier(canaries: list[MintedCanary]) -> None:
    report = classifier_auc(canaries, _reference(_batch(4, Courier.SF)))
    assert "waybill_prefix[zto]" in report.features_skipped
    assert "waybill_prefix[sf]" in report.features_skipped


def test_the_samples_are_balanced_and_the_result_reproducible(
    canaries: list[MintedCanary], other_batch: list[ReferenceRecord]
) -> None:
    first = classifier_auc(canaries, other_batch[:500], folds=4, seed=7)
    again = classifier_auc(canaries, other_batch[:500], folds=4, seed=7)
    assert first == again
    assert first.sample_size == 500


def test_too_small_a_sample_is_refused(canaries: list[MintedCanary]) -> None:
    with pytest.raises(AuditSampleError):
        classifier_auc(canaries, _reference(canaries[:3]), folds=5)


@given(
    st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=2, max_size=40).filter(
        lambda pairs: len({label for _, label in pairs}) == 2
    )
)
def test_rank_auc_is_the_mann_whitney_statistic(pairs: list[tuple[int, bool]]) -> None:
    scores = [float(score) for score, _ in pairs]
    labels = [label for _, label in pairs]
    positives = [s for s, label in zip(scores, labels, strict=True) if label]
    negatives = [s for s, label in zip(scores, labels, strict=True) if not label]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in product(positives, negatives))
    assert rank_auc(scores, labels) == pytest.approx(wins / (len(positives) * len(negatives)))
