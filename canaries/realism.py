"""The realism audit: figures a data buyer could use to filter canaries out, measured.

Each check uses the public source a buyer would use (the division table, the `phonenumbers`
geocoder and carrier data, the courier formats), so a regression shows up here first.
"""

from collections import Counter
from collections.abc import Iterable
from typing import TypedDict

import phonenumbers
from phonenumbers import carrier, geocoder

from canaries.divisions import Level, division_table
from canaries.mint import Canary
from canaries.mobiles import CARRIER_BY_PREFIX, MobileForm
from canaries.names import split_name
from canaries.waybills import is_valid_waybill


class RealismStats(TypedDict):
    count: int
    name_length_shares: dict[int, float]
    surname_top10: list[tuple[str, float]]
    surname_top5_share: float
    division_consistency_rate: float
    mobile_province_agreement_rate: float
    mobile_carrier_agreement_rate: float
    mobile_city_agreement_rate: float
    waybill_validity_rate: float
    duplicate_waybills: int
    duplicate_name_addresses: int
    duplicate_name_mobiles: int
    control_share: float


def division_consistent(canary: Canary) -> bool:
    """Province, city and district name the canary's division code and its ancestors."""
    table = division_table()
    if canary.district_code not in table:
        return False
    chain = table.ancestors(canary.district_code)
    leaf, province = chain[0], chain[-1]
    if canary.province != province.name:
        return False
    if leaf.level is Level.COUNTY and len(chain) == 3:
        return canary.city == chain[1].name and canary.district == leaf.name
    if leaf.level is Level.COUNTY and province.kind == "直辖市":
        return canary.city == province.name and canary.district == leaf.name
    # A district-less prefecture or a county-level city governed by the province directly.
    return canary.city == leaf.name and canary.district == "" and not table.children(leaf.code)


def _province_short(name: str) -> str:
    return name[:3] if name.startswith(("内蒙古", "黑龙江")) else name[:2]


def _share(hits: int, total: int) -> float:
    return hits / total if total else 0.0


def realism_stats(canaries: Iterable[Canary]) -> RealismStats:
    rows = list(canaries)
    total = len(rows)
    lengths = Counter(len(c.name) for c in rows)
    surnames = Counter(split_name(c.name)[0] for c in rows)
    top10 = [(s, n / total) for s, n in surnames.most_common(10)] if total else []

    province_ok = carrier_ok = city_ok = checked = 0
    for c in rows:
        number = c.mobile_number
        if c.mobile_form is MobileForm.MASKED and c.mobile_secret is None:
            continue
        checked += 1
        parsed = phonenumbers.parse("+86" + number)
        home = geocoder.description_for_number(parsed, "zh")
        province_ok += home.startswith(_province_short(c.province))
        city_ok += c.city[:2] in home
        expected = CARRIER_BY_PREFIX.get(number[:3])
        found = carrier.name_for_number(parsed, "zh")
        carrier_ok += expected is None or found == expected

    waybills = Counter(c.waybill_no for c in rows)
    name_addresses = Counter(c.name_address_key for c in rows)
    name_mobiles = Counter((c.name, c.mobile) for c in rows)
    return RealismStats(
        count=total,
        name_length_shares={n: lengths[n] / total for n in sorted(lengths)},
        surname_top10=top10,
        surname_top5_share=sum(share for _, share in top10[:5]),
        division_consistency_rate=_share(sum(division_consistent(c) for c in rows), total),
        mobile_province_agreement_rate=_share(province_ok, checked),
        mobile_carrier_agreement_rate=_share(carrier_ok, checked),
        mobile_city_agreement_rate=_share(city_ok, checked),
        waybill_validity_rate=_share(
            sum(is_valid_waybill(c.courier, c.waybill_no) for c in rows), total
        ),
        duplicate_waybills=sum(n - 1 for n in waybills.values()),
        duplicate_name_addresses=sum(n - 1 for n in name_addresses.values()),
        duplicate_name_mobiles=sum(n - 1 for n in name_mobiles.values()),
        control_share=_share(sum(c.control for c in rows), total),
    )
