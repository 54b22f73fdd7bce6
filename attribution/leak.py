"""How likely a leak of some of one link's records is to show the canaries it showed.

The link saw N records in a window, V of them canaries. A leak of n of those N records
holds each of them with p = min(1, n/N). A surfaced canary with match likelihood ratio LR
contributes p·LR + (1 - p) (it is in the leak, or it is a chance match), each canary that
did not surface (1 - p). n is not known: it is integrated out under a log-uniform prior
from VOLUME_RANGE[0] to VOLUME_RANGE[1] records (to the rows of the files, when fewer), the
same for every link, so a leak of 50 records and one of 50,000 are equally likely before
the canaries are counted, and a leak of more records than a link saw takes all of them. The
result is a likelihood relative to "every one of these canaries is a chance match", and the
n that fits best (at most N).

The integral runs over x = log p on a grid, refined around a sharp peak (a dump that
surfaced thousands of canaries pins p to a fraction of a percent) and summed as
exponential segments, exact where the log-integrand is linear; measured against the
closed form B(k, u + 1) / ln N of certain canaries it is within 1 %.
"""

import itertools
import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# Once p·LR exceeds e^12 for the smallest p a link can have (one record of its N), a
# canary's term is x + log LR to within e^-12: it is certainly in the leak if the link
# leaked at all, and costs nothing to weigh.
CERTAIN_MARGIN = 12.0
# The other log likelihood ratios are summed in bins this wide (nats): a dump with thousands
# of uncertain canaries costs a few hundred terms, and every link is weighed on the same
# binned figures.
BIN_NATS = 0.2
GRID_STEP = 0.5
# Leaks seen in the trade run from a few dozen records (a listing's sample) to millions (a
# compiled dump); below ten records there is nothing to sell.
VOLUME_RANGE = (10.0, 1e7)
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True, slots=True)
class Shown:
    """The surfaced canaries one link is credited with in one window, binned by their log
    likelihood ratio and sorted."""

    bins: tuple[tuple[float, int], ...]  # (log LR, how many canaries)

    @classmethod
    def of(cls, log_lrs: Iterable[float]) -> "Shown":
        bins = Counter(round(log_lr / BIN_NATS) * BIN_NATS for log_lr in log_lrs)
        return cls(tuple(sorted(bins.items())))

    @property
    def count(self) -> int:
        return sum(n for _, n in self.bins)


@dataclass(frozen=True, slots=True)
class VolumeFit:
    log_likelihood: float  # relative to every shown canary being a chance match
    volume: float  # the leaked records that fit best


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


def logsumexp(values: Iterable[float]) -> float:
    values = list(values)
    top = max(values, default=-math.inf)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))


def _segment(a: float, b: float, fa: float, fb: float) -> float:
    """log ∫_a^b e^f when f runs linearly from fa to fb."""
    top = max(fa, fb)
    if top == -math.inf or b <= a:
        return -math.inf
    gap = abs(fa - fb)
    if gap == math.inf:
        return -math.inf
    if gap < 1e-9:
        return math.log(b - a) + top
    return math.log(b - a) + top + math.log(-math.expm1(-gap)) - math.log(gap)


def _peak(f: Callable[[float], float], a: float, b: float) -> float:
    """Golden-section search for the largest f in [a, b] (f unimodal there)."""
    c, d = b - GOLDEN * (b - a), a + GOLDEN * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(30):
        if fc >= fd:
            b, d, fd = d, c, fc
            c = b - GOLDEN * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + GOLDEN * (b - a)
            fd = f(d)
    return (a + b) / 2


def _integrate(f: Callable[[float], float], lo: float, hi: float) -> tuple[float, float]:
    """log ∫_lo^hi e^f(x) dx and the x where f is largest. A grid, refined where it is
    coarse near the top; a peak narrower than the grid is found by golden section and
    sampled around at its own width."""
    steps = max(8, math.ceil((hi - lo) / GRID_STEP))
    points = {lo + (hi - lo) * i / steps: 0.0 for i in range(steps + 1)}
    for x in points:
        points[x] = f(x)
    xs = sorted(points)
    best = max(range(len(xs)), key=lambda i: points[xs[i]])
    left, right = xs[max(best - 1, 0)], xs[min(best + 1, len(xs) - 1)]
    if any(points[x] < points[xs[best]] - 1.0 for x in (left, right) if x != xs[best]):
        peak = _peak(f, left, right)
        fp = f(peak)
        h = max(1e-7, (right - left) * 1e-4)
        curvature = (f(min(peak + h, hi)) - 2 * fp + f(max(peak - h, lo))) / (h * h)
        width = 1.0 / math.sqrt(-curvature) if curvature < 0 else (right - left) * 1e-3
        offsets = [t / 2 for t in range(-12, 13)] + [2.0**j for j in range(-10, 0)]
        for t in offsets:
            for x in (peak + t * width, hi - abs(t) * width, lo + abs(t) * width):
                if left <= x <= right and x not in points:
                    points[x] = f(x)
        points[peak] = fp
        xs = sorted(points)
    values = [points[x] for x in xs]
    top = max(values)
    refined = [xs[0]]
    for i, (a, b) in enumerate(itertools.pairwise(xs)):
        # Straight log-segments are exact where the log-integrand is straight (a steep
        # tail) and undershoot where it bends, by about bend / 8 / pieces^2: cut a segment
        # near the top by how much the slope changes at its ends.
        bends = [
            abs(values[j - 1] - 2 * values[j] + values[j + 1])
            for j in (i, i + 1)
            if 0 < j < len(xs) - 1
        ]
        bend = max((d for d in bends if math.isfinite(d)), default=0.0)
        pieces = 1
        if max(values[i], values[i + 1]) > top - 30 and bend > 0.01:
            pieces = min(16, math.ceil(5 * math.sqrt(bend)))
        for k in range(1, pieces):
            x = a + (b - a) * k / pieces
            points[x] = f(x)
            refined.append(x)
        refined.append(b)
    total = logsumexp(_segment(a, b, points[a], points[b]) for a, b in itertools.pairwise(refined))
    return total, max(refined, key=lambda x: points[x])


def log_miss_all(visible: int, records: float, rows: float | None) -> float:
    """log of the chance that a leak of this link surfaces none of its `visible` canaries,
    under the same prior over the leaked volume. A smooth step in log n: a plain trapezoid
    on the grid is close enough (it only weighs how surprising an incident is at all)."""
    if visible == 0:
        return 0.0
    most = min(VOLUME_RANGE[1], rows) if rows is not None else VOLUME_RANGE[1]
    least = min(VOLUME_RANGE[0], most)
    lo, hi = math.log(least), math.log(max(most, least))
    if hi - lo < 1e-9:
        return visible * math.log1p(-min(1.0, math.exp(hi) / max(records, 1.0)) + 1e-300)
    steps = max(8, math.ceil((hi - lo) / GRID_STEP))
    total = 0.0
    for i in range(steps + 1):
        p = min(1.0, math.exp(lo + (hi - lo) * i / steps) / max(records, 1.0))
        weight = 0.5 if i in (0, steps) else 1.0
        total += weight * (1.0 - p) ** visible
    return math.log(max(total / steps, 1e-300))


def volume_fit(shown: Shown, unsurfaced: int, records: float, rows: float | None) -> VolumeFit:
    """The likelihood that a leak of this link's `records` shows these canaries and not the
    `unsurfaced` others, integrated over the leaked volume (at most `rows` when known)."""
    records = max(records, 1.0)
    most = min(VOLUME_RANGE[1], rows) if rows is not None else VOLUME_RANGE[1]
    least = min(VOLUME_RANGE[0], most)
    lo, hi = math.log(least), math.log(max(most, least))
    whole = math.log(records)  # beyond this volume the leak holds every record it saw
    cut = bisect_left(shown.bins, (whole + CERTAIN_MARGIN, 0))
    uncertain = shown.bins[:cut]
    certain = sum(n for _, n in shown.bins[cut:])
    certain_log_lr = sum(n * log_lr for log_lr, n in shown.bins[cut:])

    def log_likelihood(v: float) -> float:
        x = min(v - whole, 0.0)
        p = math.exp(x)
        log_q = math.log1p(-p) if p < 1.0 else -math.inf
        total = certain * x
        for log_lr, count in uncertain:
            total += count * _logaddexp(x + log_lr, log_q)
        if unsurfaced:
            total += unsurfaced * log_q
        return total

    if hi - lo < 1e-9:
        return VolumeFit(log_likelihood(hi) + certain_log_lr, min(math.exp(hi), records))
    parts, peaks = [], []
    if lo < whole:
        integral, peak = _integrate(log_likelihood, lo, min(hi, whole))
        parts.append(integral)
        peaks.append((log_likelihood(peak), peak))
    if hi > whole:
        at_all = log_likelihood(whole)
        parts.append(at_all + math.log(hi - max(lo, whole)))
        peaks.append((at_all, whole))
    best = max(peaks)[1]
    return VolumeFit(
        logsumexp(parts) - math.log(hi - lo) + certain_log_lr, min(math.exp(best), records)
    )
