"""What one incident's canaries say about each link: the surfaced canaries indexed by the
links that saw them, and each link's likelihood as the leaker, weighed over when the leak
happened and how far back its records reached (see attribution.model for the model)."""

import itertools
import math
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from attribution.explain import CandidateFacts, Named
from attribution.leak import Shown, log_miss_all, logsumexp, volume_fit
from attribution.tree import KIND_WEIGHT, LOOKBACK_DAYS, LOOKBACK_RANGE, ExposureTree

DAY = 86_400.0
# When the leak happened, as shares of the time from the newest surfaced canary's plant to
# the first sighting: the starts of the intervals weighed (see Likelihoods.ends). Canaries
# planted in between that did not surface count against a link only if it leaked after.
LEAK_TIMES = (0.0, 1 / 64, 1 / 16, 1 / 4, 1 / 2)
BATCH_HOURS = 2.0
# A pulled batch is planted when the dispatch system acknowledges splicing it, which may be
# up to a day after the feed went out (app.planting.rotation.PENDING_TTL): a canary can
# surface that long before its plant, and no longer.
PLANT_SLACK = DAY
# The look-back starting at a link's oldest credited canary never weighs less (Likelihoods.windows).
TIGHT_FLOOR = 0.02
# A window whose best conceivable likelihood is this far below another's is not weighed.
PRUNE_NATS = 25.0


@dataclass(frozen=True, slots=True)
class Surfaced:
    canary_id: uuid.UUID
    link_id: uuid.UUID
    planted: float
    first_seen: float
    log_lr: float
    strong: bool

    @property
    def leakable(self) -> bool:
        """Whether a leak of its feed can explain it: it was not seen before it was planted.
        One seen earlier is a chance match; it neither dates the leak nor counts for a link."""
        return self.first_seen >= self.planted - PLANT_SLACK


@dataclass(frozen=True, slots=True)
class Window:
    start: float
    end: float
    days: float


@dataclass
class LinkFit:
    """One link's likelihood over its windows, and the likeliest of them."""

    log_likelihood: float
    log_miss: float  # log of the chance that its leak surfaced none of its canaries
    best: Window


class _Seen:
    """The surfaced canaries one link saw, by plant time, with prefix sums for `estimate`."""

    def __init__(self, canaries: list[Surfaced]) -> None:
        self.canaries = sorted(canaries, key=lambda c: c.planted)
        self.times = [c.planted for c in self.canaries]
        self.gains = [0.0]
        for c in self.canaries:
            self.gains.append(self.gains[-1] + max(c.log_lr, 0.0))

    def span(self, window: Window) -> tuple[int, int]:
        return bisect_left(self.times, window.start), bisect_right(self.times, window.end)


class Likelihoods:
    """The surfaced canaries indexed by the links that saw them, and the likelihoods."""

    def __init__(
        self,
        tree: ExposureTree,
        surfaced: list[Surfaced],
        rows: int | None,
        chance: float,
        by_phone: bool,
    ) -> None:
        self.tree = tree
        self.by_phone = by_phone  # seen by calls and SMS only: only numbered canaries count
        self.surfaced = surfaced
        self.rows = rows
        self.chance = chance  # that chance matches alone make an incident of these files
        self.strong = [c for c in surfaced if c.strong]
        self.basis = self.strong or [c for c in surfaced if c.leakable] or surfaced
        by_link: dict[uuid.UUID, list[Surfaced]] = {}
        for c in surfaced:
            for link_id in tree.exposure_set(c.link_id):
                by_link.setdefault(link_id, []).append(c)
        self.seen = {link_id: _Seen(canaries) for link_id, canaries in by_link.items()}
        self._fits: dict[uuid.UUID, LinkFit] = {}
        self.dates = (0.0, 0.0)
        self.date(self.basis)

    def date(self, basis: Sequence[Surfaced]) -> bool:
        """The times a leak may have happened: after the newest of these canaries' plants
        and before the first of their sightings; whether they moved."""
        newest = max(c.planted for c in basis)
        first = max(newest, min(c.first_seen for c in basis))
        if (newest, first) == self.dates:
            return False
        self.dates = (newest, first)
        self._fits.clear()
        return True

    def ends(self) -> list[tuple[float, float]]:
        """When the leak may have happened, with weights: uniformly between the newest
        plant and the first sighting, in intervals finer near the plant. A later leak time
        can only add canaries that did not surface, so each interval is weighed at its
        start: a broad link, whose other canaries keep being planted, is never held to
        plants the leak may have preceded. Plants take a while to reach the feeds (a batch
        over a couple of hours, minting one link after another), so the leak is taken to
        follow the newest plant by BATCH_HOURS at least, or to be the first sighting."""
        newest, first = self.dates
        newest = min(newest + BATCH_HOURS * 3600.0, first)
        if first <= newest:
            return [(first, 1.0)]
        bounds = [*LEAK_TIMES, 1.0]
        return [
            (newest + at * (first - newest), following - at)
            for at, following in itertools.pairwise(bounds)
        ]

    def seen_by(self, link_id: uuid.UUID) -> list[Surfaced]:
        seen = self.seen.get(link_id)
        return seen.canaries if seen else []

    def universe(self) -> set[uuid.UUID]:
        """Links that saw a canary the attribution rests on."""
        return set().union(*(self.tree.exposure_set(c.link_id) for c in self.basis))

    def windows(self, link_id: uuid.UUID, mine: Sequence[Surfaced]) -> list[tuple[Window, float]]:
        """The windows weighed for a link credited with `mine`, with their prior weights.
        For each leak time, the look-backs of LOOKBACK_DAYS; and the look-back that starts
        just before the oldest canary credited to it, weighed by the prior share of
        look-backs that start between that plant and the link's previous one (all of
        which show it the same canaries): a grid would miss a leak that began with the
        batch it shows. That window never weighs less than TIGHT_FLOOR: the grids of leak
        times and look-backs are approximations, and must not rule a link out for want of
        the one window its leak used. All look-backs in that share show the same canaries
        but not the same number of records, so the share is weighed in log-steps as wide
        as the grid's."""
        basis = [c for c in mine if c.strong or not self.strong]
        oldest = min((c.planted for c in basis), default=None)
        previous = None
        if oldest is not None:
            previous = self.tree.previous_plant(link_id, oldest, self.by_phone)
        low, high = (math.log(d) for d in LOOKBACK_RANGE)
        out = []
        for end, chance in self.ends():
            share = 0.0
            if oldest is not None and oldest <= end:
                span = max(end - oldest, DAY) / DAY
                shortest = max(math.log(span), low)
                longest = high if previous is None else math.log((end - previous) / DAY)
                longest = max(min(longest, high), shortest)
                share = (longest - shortest) / (high - low)
                steps = max(1, math.ceil(share * len(LOOKBACK_DAYS)))
                for step in range(steps):
                    days = math.exp(shortest + (step + 0.5) * (longest - shortest) / steps)
                    weight = max(share, TIGHT_FLOOR) / steps
                    out.append((Window(oldest, end, days), weight * chance))
                share = max(share, TIGHT_FLOOR)
            grid = (1.0 - share) / len(LOOKBACK_DAYS) * chance
            out.extend((Window(end - days * DAY, end, days), grid) for days in LOOKBACK_DAYS)
        return [(window, weight) for window, weight in out if weight > 0.0]

    def fit(self, link_id: uuid.UUID, credited: Sequence[Surfaced] | None = None) -> LinkFit:
        """The link's likelihood as the (or a) leaker; `credited` limits the canaries that
        count in its favour (a pair's second link), every surfaced canary it saw still
        counting as not missing."""
        if credited is None and link_id in self._fits:
            return self._fits[link_id]
        seen = self.seen.get(link_id) or _Seen([])
        mine = seen.canaries if credited is None else credited
        ids = None if credited is None else {c.canary_id for c in credited}
        weighed = self.windows(link_id, mine)
        logs = [-math.inf] * len(weighed)
        misses = []
        ceilings = []
        for i, (window, weight) in enumerate(weighed):
            lo, hi = seen.span(window)
            inside = seen.canaries[lo:hi]
            if ids is not None:
                inside = [c for c in inside if c.canary_id in ids]
            visible = max(self._visible(link_id, window), hi - lo)
            records = self.records(link_id, window, visible)
            misses.append(math.log(weight) + log_miss_all(visible, records, self.rows))
            # No window can do better than every canary it shows certainly in the leak.
            ceiling = sum(max(c.log_lr, 0.0) for c in inside)
            ceilings.append((ceiling, i, inside, visible - (hi - lo), records))
        best = -math.inf
        for ceiling, i, inside, unsurfaced, records in sorted(
            ceilings, key=lambda c: c[0], reverse=True
        ):
            if ceiling < best - PRUNE_NATS:
                break  # this window and the rest add less than e^-PRUNE_NATS of the best
            shown = Shown.of(c.log_lr for c in inside)
            logs[i] = volume_fit(shown, unsurfaced, records, self.rows).log_likelihood
            best = max(best, logs[i])
        weighted = [
            math.log(weight) + value for (_, weight), value in zip(weighed, logs, strict=True)
        ]
        # The window the evidence and the prior together make likeliest: the incident's.
        likeliest = max(range(len(weighted)), key=weighted.__getitem__)
        fit = LinkFit(logsumexp(weighted), logsumexp(misses), weighed[likeliest][0])
        if credited is None:
            self._fits[link_id] = fit
        return fit

    def records(self, link_id: uuid.UUID, window: Window, visible: int) -> float:
        return self.tree.links[link_id].records_per_day * window.days + visible

    def shown(self, link_id: uuid.UUID, window: Window) -> list[Surfaced]:
        """The surfaced canaries the link saw planted in the window."""
        seen = self.seen.get(link_id)
        if seen is None:
            return []
        lo, hi = seen.span(window)
        return seen.canaries[lo:hi]

    def describe(self, link_id: uuid.UUID, window: Window) -> CandidateFacts:
        """What the link could see in the incident's window, what surfaced, and the leaked
        volume that fits it best there."""
        link = self.tree.links[link_id]
        shown = self.shown(link_id, window)
        visible = max(self._visible(link_id, window), len(shown))
        records = self.records(link_id, window, visible)
        volume = None
        if shown:
            fit = volume_fit(
                Shown.of(c.log_lr for c in shown), visible - len(shown), records, self.rows
            )
            volume = fit.volume
        return CandidateFacts(
            link=Named(link.name, link.kind),
            per_day=link.records_per_day,
            weight=KIND_WEIGHT[link.kind],
            prior=self.tree.prior(link_id),
            surfaced=len(shown),
            visible=visible,
            records=records,
            volume=volume,
        )

    def _visible(self, link_id: uuid.UUID, window: Window) -> int:
        return self.tree.visible_count(link_id, window.start, window.end, self.by_phone)

    def log_some(self, log_miss: float) -> float:
        """log of the chance that a leak with this chance of surfacing nothing, together
        with chance matches, makes an incident at all."""
        if self.chance >= 1.0:
            return 0.0
        return math.log(max(-math.expm1(log_miss + math.log1p(-self.chance)), 1e-300))

    def estimate(self, link_id: uuid.UUID) -> float:
        """A cheap stand-in for prior × likelihood, to pick the links weighed in full:
        every canary it saw counts with its full ratio, in the window with the fewest
        misses (the beta function is the likelihood when every canary is certain). It
        undervalues a link whose many canaries each weigh little (calls without content),
        so the links that saw every canary are weighed whatever their rank here."""
        seen = self.seen.get(link_id)
        if seen is None:
            return -math.inf
        best = -math.inf
        for window, weight in self.windows(link_id, seen.canaries):
            lo, hi = seen.span(window)
            k = hi - lo
            if not k:
                continue
            visible = self._visible(link_id, window)
            unsurfaced = max(visible - k, 0)
            beta = math.lgamma(k) + math.lgamma(unsurfaced + 1) - math.lgamma(k + unsurfaced + 1)
            best = max(best, math.log(weight) + seen.gains[hi] - seen.gains[lo] + beta)
        return self.tree.log_prior(link_id) + best
