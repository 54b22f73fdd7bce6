"""Attribution: which link most likely leaked the canaries that surfaced in one incident.

A pure function over plain inputs (no database): the link tree, every plant, one incident's
sightings and the number of records it shows or claims.

The model.
- Exposure. A link's data is read by its parent and by any other reader it names (a
  printing-software vendor reads its clients' waybills); a reader of a reader reads it too. A
  canary planted at L is seen by L and all of L's readers: its exposure set.
- Evidence per canary. A matched record scoring s bits (canaries.scoring) is 2^s times likelier
  if the canary surfaced than if a stranger's row matched it by chance; the row was compared
  against every canary, so against one of n rows the likelihood ratio is LR = 2^s / n. A call
  without content is k contacts over d days on a number that gets b contacts a day with no
  leak (never less than one in eight days, the telephony-honeypot figure); a leaked number is
  assumed to get 0.5 more a day, so LR = ((b + 0.5) / b)^k · e^(-0.5·d).
- Strong and weak. A record scoring at least 36 bits (a waybill number alone scores 39.8) is
  strong, unless a control canary in the same incident scored as high: control canaries are
  never planted, so whatever score they reach is what chance reaches here. Everything else,
  and every call without content, is weak.
- Single source L. The leak took n records out of the N records L saw in the last D days
  (N = records per day × D plus L's canaries of that period). Each canary L could see then,
  V(L), is in the leak with p = n/N, independently. A canary that surfaced with ratio LR
  contributes p·LR + (1 - p) and one that did not contributes (1 - p): the negative evidence, as
  a region that leaked would have surfaced its other outlets' canaries too. Only links that saw
  every strong canary are candidates (a weak one they did not see counts as chance). n is the
  incident's row count when known, otherwise averaged over 20 to 5,000 records; D is averaged
  over 7, 30, 90 and 180 days, each at least the age of the oldest strong canary.
- Priors. A leak comes from a link with probability proportional to its kind's weight times
  its records per day: a link that holds more records has more people and systems that can
  leak them, and bulk buyers go where the records are. KIND_WEIGHT: couriers, outlets,
  merchants and call centres 1; regions and vendors 0.5; head offices, platforms and systems
  0.2, which audit their staff and exports. So one canary alone does not single out the most
  specific link that saw it (prior times likelihood is then about the same for each); two or
  more do. The hypothesis that every sighting is a chance match starts at one half, with
  likelihood ratio 1.
- More than one leaker. When two or more strong canaries surfaced, a greedy weighted set cover
  splits them between links: each step takes the link with the best prior × likelihood per
  canary it newly covers, its share of the n records in proportion. Such a cover of k links
  competes with the single sources with the product of its links' priors and likelihoods, times
  0.01 for each extra leaker merged into one listing, times k!.
- Output. The probability that a link leaked is its single-source posterior plus the
  posterior of the cover it belongs to. The leak window runs from the newest plant among the
  strong canaries (all canaries if none is strong) to their first sighting; the window volume
  is the top candidate's records per day over that window.
- Rule 4 guards. Without a strong canary no link gets more than 0.5. Canaries prove who saw
  them, not who leaked them: when any other link saw a canary credited to a link (its readers
  always did), the ranking between them rests on the model's assumptions (a leak is a uniform
  sample of one link's records; a listing rarely merges two leaks), which a reader taking
  exactly that link's part of its data, or two leakers in one listing, break. Such a link gets
  at most 0.95; only a link that alone saw every canary credited to it can go higher. The cut
  is left unassigned, and `unguarded` keeps the model's figure. Fewer than two strong canaries
  is flagged weak.
"""

import math
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from attribution.explain import Named, Text, candidate_text, summary_text
from attribution.kinds import LinkKind

DAY = 86_400.0
LN2 = math.log(2.0)

KIND_WEIGHT: dict[LinkKind, float] = {
    LinkKind.COURIER_STAFF: 1.0,
    LinkKind.OUTLET: 1.0,
    LinkKind.MERCHANT: 1.0,
    LinkKind.CALL_CENTRE: 1.0,
    LinkKind.REGION: 0.5,
    LinkKind.VENDOR: 0.5,
    LinkKind.HEAD_OFFICE: 0.2,
    LinkKind.PLATFORM: 0.2,
    LinkKind.SYSTEM: 0.2,
}
NOISE_PRIOR = 0.5
MULTI_PRIOR = 0.01
STRONG_BITS = 36.0
WEAK_CAP = 0.5
SHARED_CAP = 0.95
ROWS_UNKNOWN = 1000
LEAK_SIZES = (20, 50, 100, 200, 500, 1000, 2000, 5000)
LOOKBACK_DAYS = (7.0, 30.0, 90.0, 180.0)
CALL_FLOOR_PER_DAY = 1 / 8
LEAKED_CALLS_PER_DAY = 0.5
MAX_CANDIDATES = 10


@dataclass(frozen=True, slots=True)
class LinkNode:
    """A link as attribution needs it; `readers` are links besides the parent that read its
    data (a printing-software vendor reads its clients')."""

    id: uuid.UUID
    parent_id: uuid.UUID | None
    kind: LinkKind
    name: str
    records_per_day: float
    readers: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True, slots=True)
class Exposure:
    canary_id: uuid.UUID
    link_id: uuid.UUID
    planted_at: datetime


@dataclass(frozen=True, slots=True)
class PlantCount:
    """`count` canaries planted at a link at one time (a batch): the canaries that did not
    surface matter only as numbers, so a store can hand them over counted."""

    link_id: uuid.UUID
    planted_at: datetime
    count: int


@dataclass(frozen=True, slots=True)
class CanarySighting:
    """One sighting of one canary; `score` is None for a call without content, which carries the
    number's background rate (contacts without content per day) instead."""

    canary_id: uuid.UUID
    observed_at: datetime
    score: float | None
    control: bool = False
    background_rate: float | None = None


class Flag(StrEnum):
    CONTROL_SEEN = "control_seen"
    MULTIPLE_LEAKERS = "multiple_leakers"
    WEAK = "weak"
    # Every planted canary behind it was reached by calls or messages without content only.
    CALLS_ONLY = "calls_only"


@dataclass(frozen=True, slots=True)
class Candidate:
    link_id: uuid.UUID
    probability: float
    explanation: Text
    unguarded: float  # the model's posterior before the rule-4 caps


@dataclass(frozen=True, slots=True)
class Attribution:
    candidates: tuple[Candidate, ...]
    window_start: datetime | None
    window_end: datetime | None
    window_volume: float | None
    leakers: tuple[uuid.UUID, ...]  # the smallest cover, when more than one link leaked
    noise_probability: float
    flags: frozenset[Flag]
    explanation: Text


class UnknownLinkError(ValueError):
    def __init__(self, link_id: uuid.UUID) -> None:
        super().__init__(f"a canary was planted at link {link_id}, which is not in the tree")


class ExposureTree:
    """Links, who reads whose data, and the plant times each link could see, indexed once."""

    def __init__(
        self,
        links: Iterable[LinkNode],
        exposures: Iterable[Exposure],
        counts: Iterable[PlantCount] = (),
    ) -> None:
        self.links = {link.id: link for link in links}
        self._readers = {
            link.id: tuple(
                r
                for r in ((link.parent_id,) if link.parent_id else ()) + link.readers
                if r in self.links
            )
            for link in self.links.values()
        }
        self._exposure: dict[uuid.UUID, frozenset[uuid.UUID]] = {}
        self.plants: dict[uuid.UUID, tuple[uuid.UUID, float]] = {}
        visible: dict[uuid.UUID, list[float]] = {}
        for exposure in exposures:
            if exposure.link_id not in self.links:
                raise UnknownLinkError(exposure.link_id)
            planted = exposure.planted_at.timestamp()
            self.plants[exposure.canary_id] = (exposure.link_id, planted)
            for reader in self.exposure_set(exposure.link_id):
                visible.setdefault(reader, []).append(planted)
        for batch in counts:
            if batch.link_id not in self.links:
                raise UnknownLinkError(batch.link_id)
            planted = batch.planted_at.timestamp()
            for reader in self.exposure_set(batch.link_id):
                visible.setdefault(reader, []).extend([planted] * batch.count)
        self._visible = {link: sorted(times) for link, times in visible.items()}
        self.total_weight = sum(self._weight(link) for link in self.links.values())

    def exposure_set(self, link_id: uuid.UUID) -> frozenset[uuid.UUID]:
        """The link and every link that reads its data, directly or through another reader."""
        known = self._exposure.get(link_id)
        if known is not None:
            return known
        seen = {link_id}
        todo = [link_id]
        while todo:
            for reader in self._readers[todo.pop()]:
                if reader not in seen:
                    seen.add(reader)
                    todo.append(reader)
        self._exposure[link_id] = frozenset(seen)
        return self._exposure[link_id]

    def visible_count(self, link_id: uuid.UUID, start: float, end: float) -> int:
        times = self._visible.get(link_id, [])
        return bisect_right(times, end) - bisect_left(times, start)

    @staticmethod
    def _weight(link: LinkNode) -> float:
        return KIND_WEIGHT[link.kind] * max(link.records_per_day, 1.0)

    def log_weight(self, link_id: uuid.UUID) -> float:
        """The log prior that a leak comes from this link (see the module's priors)."""
        return math.log(self._weight(self.links[link_id]) / self.total_weight)


@dataclass(frozen=True, slots=True)
class _Surfaced:
    canary_id: uuid.UUID
    link_id: uuid.UUID
    planted: float
    first_seen: float
    log_lr: float
    strong: bool


@dataclass(frozen=True, slots=True)
class Fit:
    """A single-source likelihood, averaged over leak sizes and periods, and its best point."""

    log_likelihood: float
    visible: int
    records: float
    leak_size: float
    lookback_days: float


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


def _logmeanexp(values: Sequence[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values) / len(values))


def _calls_log_lr(calls: Sequence[CanarySighting]) -> float:
    rates = [c.background_rate for c in calls if c.background_rate is not None]
    background = max([CALL_FLOOR_PER_DAY, *rates])
    times = [c.observed_at.timestamp() for c in calls]
    days = max(1.0, (max(times) - min(times)) / DAY)
    ratio = (background + LEAKED_CALLS_PER_DAY) / background
    return len(calls) * math.log(ratio) - LEAKED_CALLS_PER_DAY * days


def _surfaced(
    tree: ExposureTree, sightings: Sequence[CanarySighting], rows: int, control_bits: float
) -> list[_Surfaced]:
    grouped: dict[uuid.UUID, list[CanarySighting]] = {}
    for sighting in sightings:
        grouped.setdefault(sighting.canary_id, []).append(sighting)
    out = []
    for canary_id, group in grouped.items():
        link_id, planted = tree.plants[canary_id]
        scores = [s.score for s in group if s.score is not None]
        calls = [s for s in group if s.score is None]
        log_lr = -math.inf
        strong = False
        if scores:
            bits = max(scores)
            log_lr = bits * LN2 - math.log(rows)
            strong = bits >= STRONG_BITS and bits > control_bits
        if calls:
            log_lr = max(log_lr, _calls_log_lr(calls))
        first_seen = min(s.observed_at.timestamp() for s in group)
        out.append(_Surfaced(canary_id, link_id, planted, first_seen, log_lr, strong))
    return out


class _Model:
    def __init__(self, tree: ExposureTree, end: float, leaked_records: int | None) -> None:
        self.tree = tree
        self.end = end
        self.sizes = (leaked_records,) if leaked_records else LEAK_SIZES

    def seen_by(self, link_id: uuid.UUID, canary: _Surfaced) -> bool:
        return link_id in self.tree.exposure_set(canary.link_id)

    def fit(
        self,
        link_id: uuid.UUID,
        strong: Sequence[_Surfaced],
        weak: Sequence[_Surfaced],
        share: float,
    ) -> Fit:
        """How likely a leak from this link alone is to surface these canaries and no others
        it could see; strong ones must all have been seen by it."""
        per_day = self.tree.links[link_id].records_per_day
        span = (self.end - min(c.planted for c in strong)) / DAY if strong else 0.0
        logs: list[float] = []
        best = Fit(-math.inf, 0, 0.0, 0.0, 0.0)
        for lookback in LOOKBACK_DAYS:
            days = max(lookback, span)
            start = self.end - days * DAY
            visible = self.tree.visible_count(link_id, start, self.end)
            seen = list(strong) + [
                c for c in weak if self.seen_by(link_id, c) and start <= c.planted <= self.end
            ]
            unsurfaced = max(visible - len(seen), 0)
            records = per_day * days + visible
            for size in self.sizes:
                p = min(1.0, size * share / records) if records > 0 else 1.0
                log_p = math.log(p)
                log_q = math.log1p(-p) if p < 1.0 else -math.inf
                ll = sum(_logaddexp(log_p + c.log_lr, log_q) for c in seen)
                if unsurfaced:
                    ll += unsurfaced * log_q
                logs.append(ll)
                if ll > best.log_likelihood:
                    best = Fit(ll, visible, records, size * share, days)
        return Fit(
            _logmeanexp(logs), best.visible, best.records, best.leak_size, best.lookback_days
        )

    def cover(self, strong: Sequence[_Surfaced]) -> list[tuple[uuid.UUID, list[_Surfaced]]]:
        """Greedy weighted set cover of the strong canaries: cost per canary newly covered is
        -log(prior × likelihood) of its link, the evidence ratios of the canaries left out."""
        uncovered = list(strong)
        cover: list[tuple[uuid.UUID, list[_Surfaced]]] = []
        while uncovered:
            links = set().union(*(self.tree.exposure_set(c.link_id) for c in uncovered))
            options = []
            for link_id in links:
                group = [c for c in uncovered if self.seen_by(link_id, c)]
                fit = self.fit(link_id, group, (), len(group) / len(strong))
                evidence = fit.log_likelihood - sum(c.log_lr for c in group)
                cost = -(self.tree.log_weight(link_id) + evidence) / len(group)
                key = (cost, self.tree.links[link_id].records_per_day, str(link_id))
                options.append((key, link_id, group))
            _, link_id, group = min(options, key=lambda option: option[0])
            cover.append((link_id, group))
            uncovered = [c for c in uncovered if c not in group]
        return cover


def _named(tree: ExposureTree, link_id: uuid.UUID) -> Named:
    link = tree.links[link_id]
    return Named(link.name, link.kind)


def _nothing(control_seen: bool) -> Attribution:
    flags = frozenset({Flag.CONTROL_SEEN}) if control_seen else frozenset()
    text = summary_text(
        None,
        probability=0.0,
        window=None,
        window_volume=None,
        noise=1.0,
        leakers=[],
        control_seen=control_seen,
        weak=True,
    )
    return Attribution((), None, None, None, (), 1.0, flags | {Flag.WEAK}, text)


def attribute(
    tree: ExposureTree,
    sightings: Sequence[CanarySighting],
    *,
    leaked_records: int | None = None,
) -> Attribution:
    """Rank the links that could have leaked the canaries of one incident (see the module)."""
    controls = [s for s in sightings if s.control or s.canary_id not in tree.plants]
    planted = [s for s in sightings if not s.control and s.canary_id in tree.plants]
    control_bits = max((s.score for s in controls if s.score is not None), default=-math.inf)
    surfaced = _surfaced(tree, planted, leaked_records or ROWS_UNKNOWN, control_bits)
    if not surfaced:
        return _nothing(bool(controls))
    strong = [c for c in surfaced if c.strong]
    weak = [c for c in surfaced if not c.strong]
    basis = strong or surfaced
    start = max(c.planted for c in basis)
    end = max(start, min(c.first_seen for c in basis))
    model = _Model(tree, end, leaked_records)

    if strong:
        candidates = frozenset.intersection(*(tree.exposure_set(c.link_id) for c in strong))
    else:
        candidates = frozenset().union(*(tree.exposure_set(c.link_id) for c in weak))
    fits = {link_id: model.fit(link_id, strong, weak, 1.0) for link_id in candidates}
    leak_prior = math.log(1.0 - NOISE_PRIOR)
    log_post = {
        link_id: leak_prior + tree.log_weight(link_id) + fit.log_likelihood
        for link_id, fit in fits.items()
    }
    noise_log = math.log(NOISE_PRIOR)

    cover = model.cover(strong) if len(strong) >= 2 else []
    cover_fits: dict[uuid.UUID, tuple[Fit, list[_Surfaced]]] = {}
    multi_log = -math.inf
    if len(cover) >= 2:
        unassigned = list(weak)
        multi_log = (
            leak_prior + (len(cover) - 1) * math.log(MULTI_PRIOR) + math.lgamma(len(cover) + 1)
        )
        for link_id, group in cover:
            mine = [c for c in unassigned if model.seen_by(link_id, c)]
            unassigned = [c for c in unassigned if c not in mine]
            fit = model.fit(link_id, group, mine, len(group) / len(strong))
            cover_fits[link_id] = (fit, group)
            multi_log += tree.log_weight(link_id) + fit.log_likelihood

    total = _logaddexp(noise_log, multi_log)
    for value in log_post.values():
        total = _logaddexp(total, value)
    single = {link_id: math.exp(v - total) for link_id, v in log_post.items()}
    multi = math.exp(multi_log - total)
    noise = math.exp(noise_log - total)
    unguarded = dict(single)
    for link_id in cover_fits:
        unguarded[link_id] = unguarded.get(link_id, 0.0) + multi

    def credited(link_id: uuid.UUID) -> list[_Surfaced]:
        return strong if link_id in single else cover_fits[link_id][1]

    def shared(link_id: uuid.UUID) -> bool:
        return any(tree.exposure_set(c.link_id) != {link_id} for c in credited(link_id))

    def guarded(link_id: uuid.UUID, p: float) -> float:
        if not strong:
            return min(p, WEAK_CAP)
        return min(p, SHARED_CAP) if shared(link_id) else p

    ranked = sorted(
        (link_id for link_id, p in unguarded.items() if p > 0.0),
        key=lambda i: (-guarded(i, unguarded[i]), -unguarded[i], tree.links[i].records_per_day),
    )[:MAX_CANDIDATES]
    out = []
    for link_id in ranked:
        fit = fits[link_id] if link_id in fits else cover_fits[link_id][0]
        text = candidate_text(
            _named(tree, link_id),
            credited=len([c for c in (credited(link_id) or weak) if model.seen_by(link_id, c)]),
            surfaced=len(surfaced),
            visible=fit.visible,
            records=fit.records,
            leak_size=fit.leak_size,
            lookback_days=fit.lookback_days,
            shared=strong != [] and shared(link_id),
        )
        p = unguarded[link_id]
        out.append(Candidate(link_id, guarded(link_id, p), text, p))

    flags: set[Flag] = set()
    if controls:
        flags.add(Flag.CONTROL_SEEN)
    if len(strong) < 2:
        flags.add(Flag.WEAK)
    if all(s.score is None for s in planted):
        flags.add(Flag.CALLS_ONLY)
    leakers: tuple[uuid.UUID, ...] = ()
    if cover_fits and multi > max(single.values(), default=0.0):
        flags.add(Flag.MULTIPLE_LEAKERS)
        leakers = tuple(link_id for link_id, _ in cover)
    top = out[0] if out else None
    window = (datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
    volume = tree.links[top.link_id].records_per_day * (end - start) / DAY if top else None
    text = summary_text(
        _named(tree, top.link_id) if top else None,
        probability=top.probability if top else 0.0,
        window=window,
        window_volume=volume,
        noise=noise,
        leakers=[_named(tree, link_id) for link_id in leakers],
        control_seen=Flag.CONTROL_SEEN in flags,
        weak=Flag.WEAK in flags,
    )
    return Attribution(
        tuple(out), window[0], window[1], volume, leakers, noise, frozenset(flags), text
    )
