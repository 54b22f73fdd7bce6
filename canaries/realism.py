"""The realism audit: figures a data buyer could use to filter canaries out, measured.

Each check uses the public source a buyer would use (the division table, the `phonenumbers`
geocoder and carrier data, the courier formats), so a regression shows up here first. Given
a reference sample of real records, `classifier_auc` measures what matters in the end: how
well a classifier trained on the fields a buyer sees tells canaries from real records.
"""

import math
import random
import re
from bisect import bisect
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TypedDict

import phonenumbers
from phonenumbers import carrier

from canaries.divisions import Level, division_table
from canaries.mint import MintedCanary
from canaries.mobiles import CARRIER_BY_PREFIX, MobileForm, placeable_home
from canaries.names import split_name
from canaries.reference import MASK, ReferenceRecord, reference_from_canary
from canaries.sampling import Weighted
from canaries.style import address_parts, mask_name
from canaries.waybills import is_valid_waybill


class RealismStats(TypedDict):
    count: int
    name_length_shares: dict[int, float]
    surname_top10: list[tuple[str, float]]
    surname_top5_share: float
    division_consistency_rate: float
    # Agreement of home and address is measured over the numbers the geocoder can place;
    # the carrier is checked on every number the canary stands for.
    mobile_checked_count: int
    mobile_placed_count: int
    mobile_province_agreement_rate: float
    mobile_carrier_agreement_rate: float
    mobile_city_agreement_rate: float
    # What a buyer sees of every mobile, masked or not: the first three digits.
    mobile_prefix_shares: dict[str, float]
    waybill_validity_rate: float
    duplicate_waybills: int
    duplicate_name_addresses: int
    duplicate_name_mobiles: int
    control_share: float


def division_consistent(canary: MintedCanary) -> bool:
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


def realism_stats(canaries: Iterable[MintedCanary]) -> RealismStats:
    rows = list(canaries)
    total = len(rows)
    lengths = Counter(len(c.name) for c in rows)
    surnames = Counter(split_name(c.name)[0] for c in rows)
    top10 = [(s, n / total) for s, n in surnames.most_common(10)] if total else []

    province_ok = carrier_ok = city_ok = checked = placed = 0
    for c in rows:
        number = c.mobile_number
        if c.mobile_form is MobileForm.MASKED and c.mobile_secret is None:
            continue
        checked += 1
        expected = CARRIER_BY_PREFIX.get(number[:3])
        found = carrier.name_for_number(phonenumbers.parse("+86" + number), "zh")
        carrier_ok += expected is None or found == expected
        home = placeable_home(number)
        if home is None:
            continue
        placed += 1
        province_ok += home.startswith(_province_short(c.province))
        city_ok += c.city[:2] in home
    prefixes = Counter(c.mobile[:3] for c in rows)

    waybills = Counter(c.waybill_no for c in rows)
    name_addresses = Counter(c.name_address_key for c in rows)
    name_mobiles = Counter((c.name, c.mobile) for c in rows)
    return RealismStats(
        count=total,
        name_length_shares={n: lengths[n] / total for n in sorted(lengths)},
        surname_top10=top10,
        surname_top5_share=sum(share for _, share in top10[:5]),
        division_consistency_rate=_share(sum(division_consistent(c) for c in rows), total),
        mobile_checked_count=checked,
        mobile_placed_count=placed,
        mobile_province_agreement_rate=_share(province_ok, placed),
        mobile_carrier_agreement_rate=_share(carrier_ok, checked),
        mobile_city_agreement_rate=_share(city_ok, placed),
        mobile_prefix_shares={p: n / total for p, n in prefixes.most_common()},
        waybill_validity_rate=_share(
            sum(is_valid_waybill(c.courier, c.waybill_no) for c in rows), total
        ),
        duplicate_waybills=sum(n - 1 for n in waybills.values()),
        duplicate_name_addresses=sum(n - 1 for n in name_addresses.values()),
        duplicate_name_mobiles=sum(n - 1 for n in name_mobiles.values()),
        control_share=_share(sum(c.control for c in rows), total),
    )


# The realism goal: a classifier that tells canaries from real records no better than this,
# on every feature a buyer sees, and on the address's tokens alone (issue 16).
AUC_GOAL = 0.6
ADDRESS_AUC_GOAL = 0.55
# The features a buyer of a masked export sees, by group: the goals are stated on these.
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "name": ("name_pattern", "name_length", "surname", "given_single", "given_first", "given_last"),
    "mobile_prefix": ("mobile_prefix",),
    "address_length": ("address_length",),
    "address_tokens": (
        *("address_markers", "address_digits", "address_latin", "address_kinds"),
        *("address_first", "address_last", "address_form"),
    ),
}
BUYER_VISIBLE = "buyer_visible"
# A feature is compared only when both sides carry it on at least this share of records;
# one side lacking a column says something about the export, not about the canaries.
MIN_PRESENCE = 0.05
_ADDRESS_MARKERS = ("号", "单元", "室", "栋", "幢", "组", "村")
_WEIGHT_BOUNDS = (0.1, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0)
_DIGIT_RUNS = re.compile(r"\d+")
_LATIN = re.compile(r"[A-Za-z]")
_PREFIX = re.compile(r"1[3-9]\d")


class AuditSampleError(ValueError):
    """The samples are too small for the cross-validation asked for."""


@dataclass(frozen=True, slots=True)
class AucReport:
    """How well a classifier tells canaries from the reference, overall and per feature.

    `feature_aucs` is sorted from the most telling feature down, so the operator sees first
    which field gives canaries away.
    """

    auc: float  # every feature both sides carry
    feature_aucs: dict[str, float]
    sample_size: int  # records per side, after balancing
    folds: int
    features_skipped: tuple[str, ...]  # carried by one side only
    # FEATURE_GROUPS and BUYER_VISIBLE (all of them together): the goals' figures.
    group_aucs: dict[str, float] = field(default_factory=dict)

    def over_goal(self, goal: float = AUC_GOAL, address_goal: float = ADDRESS_AUC_GOAL) -> bool:
        """Whether a buyer tells canaries apart better than the goals allow."""
        visible = self.group_aucs.get(BUYER_VISIBLE, self.auc)
        return visible > goal or self.group_aucs.get("address_tokens", 0.0) > address_goal

    def giveaways(self, above: float = AUC_GOAL) -> list[str]:
        return [name for name, auc in self.feature_aucs.items() if auc > above]


def record_features(record: ReferenceRecord) -> dict[str, str]:
    """The fields a buyer would look at, as categories; masked characters are unknown."""
    features: dict[str, str] = {}
    if record.name:
        _name_features(record.name, features)
        features["name_pattern"] = _shape(record.name)
    if record.mobile and _PREFIX.match(record.mobile):
        features["mobile_prefix"] = record.mobile[:3]
    if record.address:
        address = record.address.split(MASK, 1)[0]  # what the mask leaves visible
        features["address_markers"] = "".join(m for m in _ADDRESS_MARKERS if m in address) or "-"
        features["address_length"] = str(min(len(address) // 4, 10))
        kinds = [token[0] for token, _ in address_parts(address)] or ["-"]
        features["address_kinds"] = "".join(sorted(set(kinds)))
        features["address_first"] = kinds[0]
        features["address_last"] = kinds[-1] + ("*" if MASK in record.address else "")
        features["address_form"] = "".join(kinds[:6])
        features["address_digits"] = "-".join(
            str(len(run)) for run in _DIGIT_RUNS.findall(address)[:5]
        )
        features["address_latin"] = "1" if _LATIN.search(address) else "0"
    if record.district is not None:
        features["district_present"] = "1" if record.district else "0"
    if record.item:
        features["item"] = record.item
    if record.weight_kg is not None:
        features["weight"] = str(bisect(_WEIGHT_BOUNDS, record.weight_kg))
    if record.created_at is not None:
        features["hour"] = str(record.created_at.hour)
        features["weekday"] = str(record.created_at.weekday())
    if record.waybill_no:
        number = record.waybill_no
        features[f"waybill_prefix[{record.courier or '?'}]"] = f"{number[:4]}/{len(number)}"
    return features


def _name_features(name: str, features: dict[str, str]) -> None:
    # `张*` may hide one character or two; `张*伟` hides exactly one.
    if not name.endswith(MASK):
        features["name_length"] = str(len(name))
    surname, given = split_name(name)
    if MASK not in surname:
        features["surname"] = surname
    # Position matters in given names (建 leads, 华 closes), and masks hide positions.
    slots = ("given_single",) if len(given) == 1 else ("given_first", "given_last")
    chars = given if len(given) <= 2 else given[0] + given[-1]
    for slot, char in zip(slots, chars, strict=False):
        if char != MASK:
            features[slot] = char


def rank_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Mann-Whitney U / (n1 n0): the chance a random canary scores above a random real
    record, ties counting one half."""
    order = sorted(range(len(scores)), key=scores.__getitem__)
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1
        start = end + 1
    positives = sum(labels)
    negatives = len(labels) - positives
    if not positives or not negatives:
        raise ValueError("an AUC needs scores of both classes")
    rank_sum = sum(rank for rank, label in zip(ranks, labels, strict=True) if label)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def classifier_auc(
    canaries: Sequence[MintedCanary],
    reference: Sequence[ReferenceRecord],
    *,
    folds: int = 5,
    seed: int = 0,
) -> AucReport:
    """Cross-validated AUC of a naive Bayes classifier telling canaries from real records.

    Both sides are cut to the same size at random, split into `folds` stratified folds, and
    each fold is scored by a model trained on the others (categorical naive Bayes with
    Laplace smoothing). Per-feature AUCs score each fold by that feature alone.
    """
    size = min(len(canaries), len(reference))
    if folds < 2 or size < folds:
        raise AuditSampleError(
            f"{folds}-fold cross-validation needs at least {max(folds, 2)} records per side; "
            f"got {len(canaries)} canaries and {len(reference)} reference records"
        )
    positive, negative = audit_features(canaries, reference, size, seed)
    used, skipped = _shared_features(positive, negative)
    rows = [(f, True) for f in positive] + [(f, False) for f in negative]
    fold_of = [i % folds for i in range(size)] * 2
    model = _NaiveBayes(used, rows, fold_of, folds)
    scores = [0.0] * len(rows)
    per_feature = {name: [0.0] * len(rows) for name in used}
    for index, (features, _) in enumerate(rows):
        for name, weight in model.evidence(features, fold_of[index]):
            scores[index] += weight
            per_feature[name][index] = weight
    labels = [label for _, label in rows]
    feature_aucs = {name: rank_auc(values, labels) for name, values in per_feature.items()}
    groups = {**FEATURE_GROUPS, BUYER_VISIBLE: tuple(n for g in FEATURE_GROUPS.values() for n in g)}
    group_aucs: dict[str, float] = {}
    for group, names in groups.items():
        present = [n for n in names if n in per_feature]
        if present:
            summed = [sum(per_feature[n][i] for n in present) for i in range(len(rows))]
            group_aucs[group] = rank_auc(summed, labels)
    return AucReport(
        auc=rank_auc(scores, labels),
        feature_aucs=dict(sorted(feature_aucs.items(), key=lambda kv: -kv[1])),
        sample_size=size,
        folds=folds,
        features_skipped=skipped,
        group_aucs=group_aucs,
    )


_MASK_KINDS = ("none", "middle", "tail", "one", "head")


def _shape(name: str) -> str:
    return re.sub(r"[^*]", "x", name)


def audit_features(
    canaries: Sequence[MintedCanary], reference: Sequence[ReferenceRecord], size: int, seed: int = 0
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """`size` canaries masked as the reference is and `size` reference records, as the
    features a buyer sees: what any classifier of the audit is trained on."""
    rng = random.Random(seed)  # noqa: S311 -- a reproducible statistic, not a secret
    masks = MaskProfile.of(reference)
    positive = [
        record_features(masks.apply(reference_from_canary(c), rng))
        for c in rng.sample(canaries, size)
    ]
    negative = [record_features(r) for r in rng.sample(reference, size)]
    return positive, negative


@dataclass(frozen=True, slots=True)
class MaskProfile:
    """How a reference masks what a buyer sees, so canaries are masked the same way before
    they are compared: a full name beside masked ones would be the giveaway, not the canary."""

    name_shapes: dict[str, float]  # x*x, x*, xxx, ... as the reference shows names
    address_cut: float  # share of addresses cut by a mask
    visible: Weighted[int] | None  # street characters left before the cut

    @classmethod
    def of(cls, reference: Sequence[ReferenceRecord]) -> "MaskProfile":
        shapes = Counter(_shape(r.name) for r in reference if r.name)
        addresses = [r.address for r in reference if r.address]
        cut = Counter(len(a.split(MASK, 1)[0]) for a in addresses if MASK in a)
        return cls(
            {shape: n / shapes.total() for shape, n in shapes.items()},
            cut.total() / len(addresses) if addresses else 0.0,
            Weighted((k, float(n)) for k, n in cut.items()) if cut else None,
        )

    def apply(self, record: ReferenceRecord, rng: random.Random) -> ReferenceRecord:
        name = record.name
        if name and self.name_shapes:
            # The ways the name can be shown, as often as the reference shows that shape;
            # shapes as long as the name first (张*伟 is three characters, 张* any number).
            shown = {_shape(m): m for m in (mask_name(name, k) for k in _MASK_KINDS)}
            for exact in (True, False):
                weights = [
                    (m, self.name_shapes.get(s, 0.0))
                    for s, m in shown.items()
                    if (len(s) == len(name)) is exact
                ]
                if any(w > 0 for _, w in weights):
                    name = Weighted(weights).draw(rng)
                    break
        address = record.address
        if address and self.visible is not None and rng.random() < self.address_cut:
            address = address[: self.visible.draw(rng)] + MASK * 3
        return replace(record, name=name, address=address)


def _shared_features(
    positive: Sequence[dict[str, str]], negative: Sequence[dict[str, str]]
) -> tuple[list[str], tuple[str, ...]]:
    presence = [Counter(name for f in side for name in f) for side in (positive, negative)]
    names = sorted(set(presence[0]) | set(presence[1]))
    floor = MIN_PRESENCE * len(positive)
    used = [n for n in names if presence[0][n] >= floor and presence[1][n] >= floor]
    return used, tuple(n for n in names if n not in used)


class _NaiveBayes:
    """Value counts per class and feature, over all records and per fold, so that a fold's
    model (all records minus that fold) costs a subtraction."""

    def __init__(
        self,
        used: Sequence[str],
        rows: Sequence[tuple[dict[str, str], bool]],
        fold_of: Sequence[int],
        folds: int,
    ) -> None:
        self._used = used
        self._counts: dict[tuple[str, bool], Counter[str]] = {}
        self._fold_counts: dict[tuple[int, str, bool], Counter[str]] = {}
        for name in used:
            for label in (True, False):
                self._counts[name, label] = Counter()
                for fold in range(folds):
                    self._fold_counts[fold, name, label] = Counter()
        for (features, label), fold in zip(rows, fold_of, strict=True):
            for name in used:
                value = features.get(name)
                if value is not None:
                    self._counts[name, label][value] += 1
                    self._fold_counts[fold, name, label][value] += 1
        # Laplace smoothing over the values seen plus one for an unseen value.
        self._vocabulary = {
            name: len(set(self._counts[name, True]) | set(self._counts[name, False])) + 1
            for name in used
        }
        self._totals = {key: counter.total() for key, counter in self._counts.items()}
        self._fold_totals = {key: counter.total() for key, counter in self._fold_counts.items()}

    def evidence(self, features: dict[str, str], fold: int) -> Iterator[tuple[str, float]]:
        """Each present feature's log-likelihood ratio, canary over real, without `fold`."""
        for name in self._used:
            value = features.get(name)
            if value is None:
                continue
            vocabulary = self._vocabulary[name]
            ratio = 0.0
            for label, sign in ((True, 1.0), (False, -1.0)):
                count = self._counts[name, label][value]
                count -= self._fold_counts[fold, name, label][value]
                total = self._totals[name, label] - self._fold_totals[fold, name, label]
                ratio += sign * math.log((count + 1) / (total + vocabulary))
            yield name, ratio
