"""Minting: unique, safe, controls, and every field passes the independent oracles."""

import random
import re
from dataclasses import FrozenInstanceError
from datetime import date, datetime
from functools import partial

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import geocoder

from canaries.couriers import Courier
from canaries.divisions import division_table
from canaries.mint import (
    AvoidList,
    LinkProfile,
    MintedCanary,
    Minter,
    MintError,
    MobilePool,
    customer_hash,
)
from canaries.mobiles import MobileForm
from canaries.realism import realism_stats

WINDOW = (date(2025, 3, 1), date(2025, 3, 31))
AREAS = [None, "330106", "330100", "440000", "110000", "429004", "441900", "653024"]


def _profile(courier: Courier = Courier.ZTO, area: str | None = None) -> LinkProfile:
    return LinkProfile(courier, area=area, window=WINDOW)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    courier=st.sampled_from(list(Courier)),
    area=st.sampled_from(AREAS),
)
def test_every_minted_canary_passes_the_realism_audit(
    seed: int, courier: Courier, area: str | None
) -> None:
    canaries = Minter(_profile(courier, area), random.Random(seed)).mint(200)
    stats = realism_stats(canaries)
    assert stats["division_consistency_rate"] == 1.0
    assert stats["mobile_province_agreement_rate"] == 1.0
    assert stats["mobile_carrier_agreement_rate"] == 1.0
    assert stats["waybill_validity_rate"] == 1.0
    assert stats["duplicate_waybills"] == 0
    assert stats["duplicate_name_addresses"] == 0
    table = division_table()
    for canary in canaries:
        assert WINDOW[0] <= canary.created_at.date() <= WINDOW[1]
        if area is not None:
            codes = {d.code for d in table.ancestors(canary.district_code)}
            assert area in codes
        assert canary.mobile_secret is not None
        assert canary.mobile[3:7] == "****"


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), share=st.sampled_from([0.0, 0.05, 0.1, 0.5]))
def test_the_control_share_is_exact(seed: int, share: float) -> None:
    canaries = Minter(_profile(), random.Random(seed), control_share=share).mint(400)
    assert sum(c.control for c in canaries) == round(400 * share)


def test_uniqueness_holds_within_a_tiny_area_and_across_calls() -> None:
    minter = Minter(_profile(area="110101"), random.Random(3))
    canaries = minter.mint(3000) + minter.mint(3000)
    assert len({c.waybill_no for c in canaries}) == 6000
    assert len({c.name_address_key for c in canaries}) == 6000


def test_the_taken_predicate_excludes_stored_canaries() -> None:
    stored = Minter(_profile(), random.Random(8)).mint(100)
    stored_waybills = {c.waybill_no for c in stored}
    stored_keys = {c.name_address_key for c in stored}

    def taken(canary: MintedCanary) -> bool:
        return canary.waybill_no in stored_waybills or canary.name_address_key in stored_keys

    again = Minter(_profile(), random.Random(8), taken=taken).mint(100)
    assert not {c.waybill_no for c in again} & stored_waybills
    assert not {c.name_address_key for c in again} & stored_keys


def test_a_canary_never_equals_a_real_customer_on_the_avoid_list() -> None:
    # Pretend the first canaries a seed yields are real customers: the same seed replays
    # them first, so the minter must step over every one of them.
    salt = "courier-salt"
    real = Minter(_profile(), random.Random(21), control_share=0).mint(50)
    hashes = {customer_hash(salt, c.name, c.mobile_number) for c in real}
    avoid = AvoidList(salt, hashes)
    minted = Minter(_profile(), random.Random(21), avoid=avoid, control_share=0).mint(200)
    assert minted[0].name != real[0].name
    for canary in minted:
        assert customer_hash(salt, canary.name, canary.mobile_number) not in hashes


def test_customer_hash_is_salted_sha256_of_name_and_mobile() -> None:
    import hashlib

    expected = hashlib.sha256("s张伟13800000000".encode()).hexdigest()
    assert customer_hash("s", "张伟", "13800000000") == expected


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_full_mobiles_come_only_from_the_pool_once_per_window(seed: int) -> None:
    numbers = ["13805710001", "13805710002", "18912345678", "17012345678", "13800000000"]
    pool = MobilePool(numbers)
    profile = LinkProfile(Courier.SF, window=WINDOW, mobile_form=MobileForm.FULL, pool=pool)
    minter = Minter(profile, random.Random(seed))
    canaries = minter.mint(5)
    assert sorted(c.mobile for c in canaries) == sorted(numbers)
    assert all(c.mobile_secret is None and c.mobile_form is MobileForm.FULL for c in canaries)
    with pytest.raises(MintError):
        minter.mint_one()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_privacy_mobiles_use_a_pool_number_and_a_unique_extension(seed: int) -> None:
    pool = MobilePool(["17012345678", "17098765432"])
    profile = LinkProfile(Courier.JD, window=WINDOW, mobile_form=MobileForm.PRIVACY, pool=pool)
    canaries = Minter(profile, random.Random(seed)).mint(300)
    assert all(re.fullmatch(r"170(12345678|98765432)转\d{4}", c.mobile) for c in canaries)
    assert len({c.mobile for c in canaries}) == 300


def test_full_and_privacy_forms_need_a_pool() -> None:
    with pytest.raises(MintError):
        Minter(LinkProfile(Courier.SF, mobile_form=MobileForm.FULL), random.Random(1))


def test_canaries_are_frozen_and_the_secret_stays_out_of_the_display() -> None:
    canary = Minter(_profile(), random.Random(2)).mint_one()
    with pytest.raises(FrozenInstanceError):
        canary.name = "x"  # type: ignore[misc]
    assert re.fullmatch(r"1\d\d\*{4}\d{4}", canary.mobile)
    number = phonenumbers.parse("+86" + canary.mobile_number)
    assert geocoder.description_for_number(number, "zh")


def test_the_default_randomness_is_the_system_source() -> None:
    minter = Minter(_profile())
    assert isinstance(minter.rng, random.SystemRandom)


def _fixed(moment: "datetime") -> "datetime":
    return moment


def test_no_canary_is_created_after_the_moment_it_is_minted() -> None:
    """A record dated in the future is filtered out by one comparison with the clock."""
    from datetime import timedelta

    from canaries.items import CHINA_STANDARD_TIME
    from canaries.waybills import _FORMATS

    rng = random.Random(16)
    late = 0
    for hour in (0, 3, 9, 13, 17, 23):  # the window's last day, before and in business hours
        now = datetime(2026, 3, 4, hour, 30, tzinfo=CHINA_STANDARD_TIME)
        for courier in (Courier.SF, Courier.ZTO, Courier.JT):
            minter = Minter(LinkProfile(courier), rng, clock=partial(_fixed, now))
            for canary in minter.mint(400):
                late += canary.created_at > now
                assert canary.created_at >= now - timedelta(days=7)
                heads = _FORMATS[courier].heads_on(canary.created_at.date())
                assert canary.waybill_no.startswith(heads), "the number fits the record's date"
    assert late == 0


def test_a_window_ending_later_than_today_is_cut_at_now() -> None:

    from canaries.items import CHINA_STANDARD_TIME

    now = datetime(2026, 3, 4, 10, 0, tzinfo=CHINA_STANDARD_TIME)
    profile = LinkProfile(Courier.YTO, window=(date(2026, 3, 1), date(2026, 3, 31)))
    canaries = Minter(profile, random.Random(2), clock=lambda: now).mint(2000)
    assert max(c.created_at for c in canaries) <= now
