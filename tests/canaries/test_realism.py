"""The realism audit reports the figures and catches a broken canary."""

import dataclasses
import random
from datetime import date

from canaries.couriers import Courier
from canaries.mint import LinkProfile, Minter
from canaries.realism import realism_stats


def test_audit_figures_on_a_national_batch() -> None:
    profile = LinkProfile(Courier.YTO, window=(date(2025, 1, 1), date(2025, 1, 31)))
    canaries = Minter(profile, random.Random(12), control_share=0.05).mint(20_000)
    stats = realism_stats(canaries)
    assert stats["count"] == 20_000
    assert 0.88 <= stats["name_length_shares"][3] <= 0.94
    assert 0.04 <= stats["name_length_shares"][2] <= 0.08
    assert 0.27 <= stats["surname_top5_share"] <= 0.35
    assert {s for s, _ in stats["surname_top10"][:3]} == {"王", "李", "张"}
    assert stats["mobile_city_agreement_rate"] > 0.75
    assert stats["control_share"] == 0.05
    # Newer blocks (166, 17x, 19x) have no home data, so only part of the numbers is placed.
    assert stats["mobile_checked_count"] == 20_000
    assert 0.6 * 20_000 < stats["mobile_placed_count"] < 0.95 * 20_000
    shares = stats["mobile_prefix_shares"]
    assert abs(sum(shares.values()) - 1.0) < 1e-9
    assert sum(share for prefix, share in shares.items() if prefix.startswith("19")) > 0.07
    assert {"166", "175", "199"} <= set(shares)


def test_agreement_is_measured_over_the_numbers_the_geocoder_can_place() -> None:
    profile = LinkProfile(Courier.SF, area="330106", window=(date(2025, 1, 1), date(2025, 1, 2)))
    canaries = Minter(profile, random.Random(5)).mint(200)
    placed = [c for c in canaries if c.mobile[:3] in ("138", "139")]
    unplaced = [
        dataclasses.replace(c, mobile="199****" + c.mobile[-4:], mobile_secret="1234")
        for c in canaries[:50]
    ]
    stats = realism_stats(placed + unplaced)
    assert stats["mobile_checked_count"] == len(placed) + 50
    assert stats["mobile_placed_count"] == len(placed)
    assert stats["mobile_province_agreement_rate"] == 1.0
    assert stats["mobile_prefix_shares"]["199"] == 50 / (len(placed) + 50)


def test_audit_catches_inconsistent_divisions_bad_mobiles_bad_waybills_and_duplicates() -> None:
    profile = LinkProfile(Courier.SF, area="330106", window=(date(2025, 1, 1), date(2025, 1, 2)))
    good = Minter(profile, random.Random(1)).mint(10)
    broken = [
        dataclasses.replace(good[0], city="宁波市"),
        dataclasses.replace(good[1], mobile="134****0000", mobile_secret="9000"),
        dataclasses.replace(good[2], waybill_no="SF123"),
        good[3],
    ]
    stats = realism_stats(good[3:] + broken)
    assert stats["division_consistency_rate"] < 1.0
    assert stats["mobile_province_agreement_rate"] < 1.0
    assert stats["waybill_validity_rate"] < 1.0
    assert stats["duplicate_waybills"] == 1
    assert stats["duplicate_name_addresses"] == 1
