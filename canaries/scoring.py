"""Fellegi-Sunter scoring of an observed record against one canary.

Each field's agreement level adds log2(m/u): m is the chance the field shows that level when
the record IS the canary (masks, typos, cut addresses), u the chance it does by coincidence
when it is not, taken from real frequencies: a surname's population share, a mobile
prefix's share times one in ten thousand for the last four digits, a division's size. The
sum is compared with one threshold, THRESHOLD_BITS.

What the threshold implies: a pair of records that are not the same scores at least T bits
with probability at most 2^-T (the standard Fellegi-Sunter bound: the likelihood ratio of
every pattern above T is at least 2^T, and the m-probabilities sum to at most 1). A leaked
row is in effect compared with every indexed canary, so the chance that a row which is no
canary matches one is at most N x 2^-T: with T = 32 and N = 100,000 canaries about 2 in
100,000 rows in the worst case of rows that show nothing disagreeing. In practice rows show
names and addresses that disagree and pull the score far down; `benchmarks/match_rate.py`
and the no-false-match test measure it on a million rows.
"""

import math
from dataclasses import dataclass
from enum import StrEnum

from canaries.divisions import Level
from canaries.mobiles import PREFIX_SHARES, MobileAgreement, compare_mobiles
from canaries.names import NameAgreement, compare_names, split_name, surname_shares
from canaries.places import ObservedPlace, place_agreement

THRESHOLD_BITS = 32.0


class Field(StrEnum):
    WAYBILL = "waybill_no"
    MOBILE = "mobile"
    NAME = "name"
    PLACE = "place"
    STREET = "street"


class StreetAgreement(StrEnum):
    EXACT = "exact"
    CUT = "cut"  # the visible start of a cut street agrees (6+ characters)
    CUT_SHORT = "cut_short"  # 3-5 characters visible
    DISAGREE = "disagree"


@dataclass(frozen=True, slots=True)
class Observed:
    """One leaked record's fields, normalised; None where the record shows nothing."""

    waybill_no: str | None = None
    mobile: str | None = None  # see canaries.mobiles.normalise_mobile
    name: str | None = None  # see canaries.names.name_pattern
    place: ObservedPlace | None = None
    street: str | None = None  # see canaries.places.normalise_street
    street_cut: bool = False


@dataclass(frozen=True, slots=True)
class IndexedCanary:
    """What matching needs of a canary; `mobile_number` holds a masked one's secret middle."""

    id: bytes  # 16 bytes
    waybill_no: str
    name: str
    mobile: str  # as the feed showed it, normalised
    mobile_number: str
    district_code: str
    street: str  # normalised
    control: bool


@dataclass(frozen=True, slots=True)
class FieldScore:
    field: Field
    level: str
    weight: float


@dataclass(frozen=True, slots=True)
class Match:
    canary: IndexedCanary
    score: float
    fields: tuple[FieldScore, ...]

    def explanation(self) -> dict[str, dict[str, str | float]]:
        return {
            f.field.value: {"level": f.level, "weight": round(f.weight, 2)} for f in self.fields
        }


def _bits(m: float, u: float) -> float:
    return math.log2(m / u)


# m-probabilities: how often a canary's own record shows each level when it surfaces.
_M_EXACT = 0.95
_M_DISAGREE = 0.03
# A waybill number is never shared by two parcels of one courier; a coincidence across
# couriers' number spaces is below one in 10^12.
_WAYBILL_U = 1e-12
# A full 11-digit number: one subscriber among about 1.7 billion numbers.
_FULL_MOBILE_U = 1e-9
_LAST_FOUR_U = 1e-4
_DEFAULT_PREFIX_SHARE = 0.01
# Chance a random person's given name is a given two-character one, and a one-character one;
# the second character of a two-character given name alone, shown as 张*丰.
_GIVEN_TWO_U = 1 / 3000
_GIVEN_ONE_U = 1 / 300
_LAST_CHAR_U = 1 / 300
_HOMOPHONE_FACTOR = 10
_SURNAME_DEFAULT_SHARE = 0.001
# A county-level division holds on average about 1/2,800 of people, a prefecture 1/330,
# a province 1/31; urban districts send far more parcels, so chance agreement is higher.
_PLACE_U = {Level.COUNTY: 1 / 1500, Level.PREFECTURE: 1 / 200, Level.PROVINCE: 1 / 20}
_STREET_U = {
    StreetAgreement.EXACT: 1e-5,
    StreetAgreement.CUT: 1e-3,
    StreetAgreement.CUT_SHORT: 2e-2,
}
_DISAGREE_BITS = _bits(_M_DISAGREE, 1.0)
# A canary is one parcel: wherever its record surfaces, its waybill number goes with it. A
# row showing another number is another parcel, unless a reseller rewrote the column.
_WAYBILL_DISAGREE_BITS = _bits(1e-3, 1.0)


def _name_u(level: NameAgreement, name: str) -> float:
    surname, given = split_name(name)
    share = surname_shares().get(surname, _SURNAME_DEFAULT_SHARE)
    exact = share * (_GIVEN_TWO_U if len(given) >= 2 else _GIVEN_ONE_U)
    if level is NameAgreement.EXACT:
        return exact
    if level is NameAgreement.HOMOPHONE:
        return min(1.0, exact * _HOMOPHONE_FACTOR)
    if level is NameAgreement.MASKED:
        return share * _LAST_CHAR_U
    return share


def _mobile_u(level: MobileAgreement, number: str) -> float:
    if level is MobileAgreement.FULL:
        return _FULL_MOBILE_U
    if level is MobileAgreement.MASKED:
        return PREFIX_SHARES.get(number[:3], _DEFAULT_PREFIX_SHARE) * _LAST_FOUR_U
    return _LAST_FOUR_U


def compare_streets(observed: str, cut: bool, canary: str) -> StreetAgreement:
    if observed == canary or (not cut and len(observed) > len(canary) and canary in observed):
        return StreetAgreement.EXACT
    if cut and len(observed) >= 3 and canary.startswith(observed):
        return StreetAgreement.CUT if len(observed) >= 6 else StreetAgreement.CUT_SHORT
    return StreetAgreement.DISAGREE


def score(observed: Observed, canary: IndexedCanary) -> Match:
    fields: list[FieldScore] = []
    if observed.waybill_no is not None:
        if observed.waybill_no == canary.waybill_no:
            fields.append(FieldScore(Field.WAYBILL, "exact", _bits(_M_EXACT, _WAYBILL_U)))
        else:
            fields.append(FieldScore(Field.WAYBILL, "disagree", _WAYBILL_DISAGREE_BITS))
    if observed.mobile is not None:
        mobile = compare_mobiles(observed.mobile, canary.mobile, canary.mobile_number)
        if mobile is MobileAgreement.DISAGREE:
            fields.append(FieldScore(Field.MOBILE, mobile.value, _DISAGREE_BITS))
        elif mobile is not None:
            u = _mobile_u(mobile, canary.mobile_number)
            fields.append(FieldScore(Field.MOBILE, mobile.value, _bits(_M_EXACT, u)))
    if observed.name is not None:
        name = compare_names(observed.name, canary.name)
        if name is NameAgreement.DISAGREE:
            fields.append(FieldScore(Field.NAME, name.value, _DISAGREE_BITS))
        else:
            u = _name_u(name, canary.name)
            fields.append(FieldScore(Field.NAME, name.value, _bits(_M_EXACT, u)))
    if observed.place is not None:
        place = place_agreement(observed.place, canary.district_code)
        if place is False:
            fields.append(FieldScore(Field.PLACE, "disagree", _DISAGREE_BITS))
        elif isinstance(place, Level):
            weight = _bits(_M_EXACT, _PLACE_U[place])
            fields.append(FieldScore(Field.PLACE, place.value, weight))
    if observed.street is not None:
        street = compare_streets(observed.street, observed.street_cut, canary.street)
        if street is StreetAgreement.DISAGREE:
            fields.append(FieldScore(Field.STREET, street.value, _bits(0.05, 1.0)))
        else:
            fields.append(
                FieldScore(Field.STREET, street.value, _bits(_M_EXACT, _STREET_U[street]))
            )
    return Match(canary, sum(f.weight for f in fields), tuple(fields))
