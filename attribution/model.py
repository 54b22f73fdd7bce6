"""Attribution: which link most likely leaked the canaries that surfaced in one incident.

A pure function over plain inputs (no database): the link tree with every plant
(attribution.tree), one incident's sightings, and the rows of the files behind them.

What surfaces is a mixture. A dump, a listing, an SMS campaign or a run of brushing orders
holds the records of whichever link(s) leaked plus records from anywhere else (other
couriers, other leaks, padding); only canaries tell whose records are in it. So the size of
a file says nothing about how much one link leaked, and a big file never rules out a small
link: each candidate's leaked volume is estimated from the share of the canaries it could
see that surfaced.

The model.
- Evidence per canary. A record matched at s bits (canaries.scoring) is 2^s times likelier
  if it is the canary than if a stranger's row agrees with it by chance, so against the R
  rows of the file it was found in (one for a message or an order, never the incident's
  total) the canary is in the file with likelihood ratio LR = 2^s / R: the matcher's bound
  says any of R rows matches one canary at s bits with chance at most R·2^-s. An exact
  waybill with name and mobile (about 100 bits) in a 300,000-row dump has LR ≈ 4·10^24.
  A call without content is k contacts over d days on a number that gets b a day with no
  leak (never less than one in eight days, the telephony-honeypot figure); a leaked number is
  assumed to get 0.5 more a day, so LR = ((b + 0.5) / b)^k · e^(-0.5·d). A record of 36 bits or
  more is strong, unless a control canary in the incident scored as high: control canaries
  are never planted, so whatever they reach is what chance reaches here.
- One leaker L. The leak drew n of the N records L saw over a look-back window. Each of the
  V canaries L could see then is in the leak with p = min(1, n/N): a surfaced one
  contributes p·LR + (1 - p), one that did not (1 - p): the negative evidence (a region that
  leaked would have surfaced its other outlets' canaries too). Canaries L did not see, or
  saw outside the window, count as chance matches (factor 1). n is integrated out under a
  log-uniform prior from 10 to 10^7 records (at most the incident's rows), the same for
  every link (attribution.leak). Calls and SMS reach only canaries with a pool number: an
  incident seen only that way counts only those among the V.
- The window (attribution.evidence). The leak happened after the newest surfaced canary was
  planted (and the couple of hours a batch takes to reach the feeds) and before the first
  sighting, uniformly: weighed in intervals finer near the plant, each at its start (a
  later leak time only adds canaries that did not surface, so a link is never held to
  plants the leak may have preceded). Its records reach back 5 to 240 days, log-uniformly:
  weighed at the centres of seven log-bins, and at the look-back that starts just before
  the oldest canary credited to the link, with the prior share of look-backs that show it
  the same canaries (at least 2 %: the grids must not rule a link out for want of the one
  window its leak used). A link's likelihood is the prior-weighted mean over them.
  A canary seen more than a day before it was planted (a pulled batch is planted when its
  splicing is acknowledged, within a day) cannot have leaked from its feed: it is a chance
  match, with a likelihood ratio of one, and dates nothing.
- Two leakers. A pair of links neither of which reads the other's data, each a leak as
  above, the canaries both saw credited to the first; every likely link is paired with the
  links likeliest to have leaked what it leaves unexplained, and the pairs share the mass.
- An incident exists because something matched: each hypothesis is weighed given that.
  Under noise (every match chance), some row of the largest file, R rows, matches some
  canary with chance min(1, R·c), c = chance_per_row (about 10^-6: the matcher's test of a
  million rows of strangers finds none; the app can measure it with control canaries);
  under a leak, that it surfaced at least one canary or a chance match did.
- Priors. Noise 0.5; a leak 0.5, of which MULTI_PRIOR has two leakers. A leak comes from a
  link with probability proportional to its kind's weight times its records a day: a link
  that holds more records has more people and systems that can leak them, and bulk buyers
  go where the records are. KIND_WEIGHT: couriers, outlets, merchants and call centres 1;
  regions and vendors 0.5; head offices, platforms and systems 0.2, which audit their staff
  and exports. The prior never outranks evidence it could be checked against: a region that
  leaked the volume that showed its outlet's canaries would have shown its other outlets'
  canaries too, and the likelihood says so. Where the canaries cannot tell two nested links
  apart (the reader saw no canary the other did not, its likelihood within TIED_NATS), the
  reader's extra records are untested: it is held level with the more specific link and
  listed after it, and the explanation says so.
- Output. A link's probability is its single-leaker posterior plus that of the pairs it is
  in. The incident's window is the one the top hypothesis makes likeliest (evidence times
  prior); every candidate is described over it. Times are UTC; `clock` writes them.

Assumptions (what the figures rest on): a leak is a uniform sample of one link's records
over a recent window; at most two links leak into one incident; the declared records a day
are right to within a factor of two or so (they move probability between a link and its
readers, never make a link that saw no canary a candidate); a leaked number gets about one
contact in two days; the matcher's weights are honest (a pattern's weight is log2(m/u)).

False accusation (rule 4). An innocent link can be named only if canaries it saw surface
without it leaking. Chance cannot do it: given a strong match, the chance that it is a
chance match is at most R·2^-36 (3·10^-5 for a 2,000,000-row dump) against one canary, and
two strong canaries of one link need two such coincidences. What remains is a leak by
another link that saw the same canaries, which canaries cannot exclude: a link's readers
always saw them (a region exporting exactly one outlet's records looks like that outlet's
leak). So a link whose credited canaries another link saw too gets at most SHARED_CAP, and
with fewer than two strong canaries no link gets more than WEAK_CAP (the incident is flagged
weak: a lead, not an attribution). The caps hold the difference unassigned; `unguarded`
keeps the model's figure, which is what the benchmark's reliability table calibrates.
"""

import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from attribution.evidence import Likelihoods, LinkFit, Surfaced
from attribution.explain import (
    IncidentFacts,
    Named,
    Text,
    candidate_text,
    summary_text,
    utc_text,
)
from attribution.kinds import Channel
from attribution.leak import logsumexp
from attribution.tree import (
    KIND_WEIGHT,
    LOOKBACK_DAYS,
    Exposure,
    ExposureTree,
    LinkNode,
    PlantCount,
    UnknownLinkError,
    plant_range,
)

__all__ = [
    "KIND_WEIGHT",
    "LOOKBACK_DAYS",
    "Attribution",
    "CanarySighting",
    "Candidate",
    "Exposure",
    "ExposureTree",
    "Flag",
    "LinkNode",
    "PlantCount",
    "UnknownLinkError",
    "attribute",
    "plant_range",
]

DAY = 86_400.0
LN2 = math.log(2.0)

NOISE_PRIOR = 0.5
MULTI_PRIOR = 0.1
STRONG_BITS = 36.0
WEAK_CAP = 0.5
SHARED_CAP = 0.95
# Rows assumed for a match whose file size is unknown: more than any listing, as many as a
# large dump, so an unknown size never makes a match look stronger than it is.
ROWS_UNKNOWN = 1_000_000
# How often a row of strangers matches some canary: the matcher's test of a million such
# rows finds none.
CHANCE_PER_ROW = 1e-6
CALL_FLOOR_PER_DAY = 1 / 8
LEAKED_CALLS_PER_DAY = 0.5
MAX_CANDIDATES = 10
PHONE_CHANNELS = frozenset({Channel.SMS, Channel.CALL})
# Links weighed in full (the rest, ranked by a cheap estimate, hold no visible probability),
# with up to COVERING more among those that saw every canary the incident rests on;
# the likeliest of them, each with the partners likeliest to have leaked what it leaves
# unexplained, weighed as pairs.
WEIGHED = 12
FIRSTS = 4
SECONDS = 4
COVERING = 3
# Likelihoods this close (nats) are a tie: the more specific link is named first.
TIED_NATS = 0.1


@dataclass(frozen=True, slots=True)
class CanarySighting:
    """One sighting of one canary. `score` is None for a call without content, which carries
    the number's background rate (contacts without content per day) instead; `rows` is the
    size of the file, listing or message the match was found in (1 for an SMS or an order);
    `channel` says how it was seen (calls and SMS reach only canaries with a pool number)."""

    canary_id: uuid.UUID
    observed_at: datetime
    score: float | None
    control: bool = False
    background_rate: float | None = None
    rows: int | None = None
    channel: Channel | None = None


class Flag(StrEnum):
    CONTROL_SEEN = "control_seen"
    MULTIPLE_LEAKERS = "multiple_leakers"
    WEAK = "weak"
    # Every planted canary behind it was reached by calls or messages without content only.
    CALLS_ONLY = "calls_only"
    # Strong evidence, but no link reaches one half: the explanation names the runner-up.
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True, slots=True)
class Candidate:
    link_id: uuid.UUID
    probability: float
    explanation: Text
    unguarded: float  # the model's posterior before the rule-4 caps
    prior: float
    surfaced: tuple[uuid.UUID, ...]  # its canaries that surfaced, planted in the window
    visible: int  # the canaries it could see in the window, surfaced or not
    leaked_volume: float | None  # the records of it the leak most likely held


@dataclass(frozen=True, slots=True)
class Attribution:
    candidates: tuple[Candidate, ...]
    window_start: datetime | None  # the leak happened after this (the newest plant) ...
    window_end: datetime | None  # ... and before this (the first sighting)
    leaked_volume: float | None  # the top candidate's records in the leak, estimated
    leakers: tuple[uuid.UUID, ...]  # both links, when two leaked
    noise_probability: float
    flags: frozenset[Flag]
    explanation: Text
    records_from: datetime | None = None  # the look-back the leak drew its records from
    records_to: datetime | None = None

    @property
    def window_volume(self) -> float | None:
        """The name app/ stores the leaked volume under."""
        return self.leaked_volume


@dataclass
class _Hypothesis:
    links: tuple[uuid.UUID, ...]
    log_posterior: float
    fits: tuple[LinkFit, ...]


def _calls_log_lr(calls: Sequence[CanarySighting]) -> float:
    rates = [c.background_rate for c in calls if c.background_rate is not None]
    background = max([CALL_FLOOR_PER_DAY, *rates])
    times = [c.observed_at.timestamp() for c in calls]
    days = max(1.0, (max(times) - min(times)) / DAY)
    ratio = (background + LEAKED_CALLS_PER_DAY) / background
    return len(calls) * math.log(ratio) - LEAKED_CALLS_PER_DAY * days


def _surfaced(
    tree: ExposureTree,
    sightings: Sequence[CanarySighting],
    rows: int | None,
    control_bits: float,
) -> list[Surfaced]:
    grouped: dict[uuid.UUID, list[CanarySighting]] = {}
    for sighting in sightings:
        grouped.setdefault(sighting.canary_id, []).append(sighting)
    out = []
    for canary_id, group in grouped.items():
        link_id, planted = tree.plants[canary_id]
        scored = [(s.score, s.rows or rows or ROWS_UNKNOWN) for s in group if s.score is not None]
        calls = [s for s in group if s.score is None]
        log_lr = max(
            (bits * LN2 - math.log(max(size, 1)) for bits, size in scored), default=-math.inf
        )
        strong = any(bits >= STRONG_BITS and bits > control_bits for bits, _ in scored)
        if calls:
            log_lr = max(log_lr, _calls_log_lr(calls))
        first_seen = min(s.observed_at.timestamp() for s in group)
        canary = Surfaced(canary_id, link_id, planted, first_seen, log_lr, strong)
        if not canary.leakable:  # a chance match: the likelihood ratio of one
            canary = replace(canary, log_lr=0.0, strong=False)
        out.append(canary)
    return out


def _unrelated(tree: ExposureTree, a: uuid.UUID, b: uuid.UUID) -> bool:
    return not tree.reads(a, b) and not tree.reads(b, a)


def _hypotheses(incident: Likelihoods) -> tuple[list[_Hypothesis], list[_Hypothesis]]:
    """Single leakers weighed in full, and pairs: each likely link with the links likeliest
    to have leaked what it leaves unexplained."""
    tree = incident.tree
    universe = sorted(incident.universe(), key=incident.estimate, reverse=True)
    ranked = universe[:WEIGHED]
    # The cheap ranking undervalues a broad link whose many canaries each weigh little
    # (calls without content): a link that saw every canary the incident rests on is always
    # weighed in full, the likeliest few of them.
    basis = {c.canary_id for c in incident.basis}
    whole = [
        link_id
        for link_id in universe[WEIGHED:]
        if basis <= {c.canary_id for c in incident.seen_by(link_id)}
    ]
    ranked += whole[:COVERING]
    leak = math.log(1.0 - NOISE_PRIOR)
    fits = {link_id: incident.fit(link_id) for link_id in ranked}
    evidence = {
        link_id: fit.log_likelihood - incident.log_some(fit.log_miss)
        for link_id, fit in fits.items()
    }
    # A reader tied on the evidence with a more specific link it reads (it saw no canary
    # that one did not) is held to that link's posterior: its extra records are ones no
    # canary tested, so its prior must not rank it first; the specific link comes first.
    plain = {
        link_id: leak + math.log1p(-MULTI_PRIOR) + tree.log_prior(link_id) + evidence[link_id]
        for link_id in fits
    }
    held: dict[uuid.UUID, float] = {}
    for link_id in sorted(fits, key=lambda i: tree.links[i].records_per_day):
        tied = [
            held[other]
            for other in held
            if tree.reads(link_id, other) and abs(evidence[link_id] - evidence[other]) < TIED_NATS
        ]
        held[link_id] = min([plain[link_id], *tied])
    singles = [_Hypothesis((link_id,), held[link_id], (fits[link_id],)) for link_id in fits]
    pairs: list[_Hypothesis] = []
    if len(incident.strong) < 2:
        return singles, pairs
    tried: set[frozenset[uuid.UUID]] = set()
    likeliest = sorted(singles, key=lambda h: h.log_posterior, reverse=True)[:FIRSTS]
    for first in (h.links[0] for h in likeliest):
        seen = {c.canary_id for c in incident.seen_by(first)}
        rest = [c for c in incident.strong if c.canary_id not in seen]
        if not rest:
            continue
        others = set().union(*(tree.exposure_set(c.link_id) for c in rest))
        others = {o for o in others if _unrelated(tree, first, o)}
        rest_ids = {c.canary_id for c in rest}

        def covers(link_id: uuid.UUID, rest_ids: set[uuid.UUID] = rest_ids) -> tuple[int, float]:
            shown = sum(1 for c in incident.seen_by(link_id) if c.canary_id in rest_ids)
            return shown, incident.estimate(link_id)

        for second in sorted(others, key=covers, reverse=True)[:SECONDS]:
            if frozenset((first, second)) in tried:
                continue
            tried.add(frozenset((first, second)))
            fit_first = incident.fit(first)
            credited = [c for c in incident.seen_by(second) if c.canary_id not in seen]
            fit_second = incident.fit(second, credited)
            log_post = (
                leak
                + math.log(MULTI_PRIOR)
                + math.log(2.0)
                + tree.log_prior(first)
                + tree.log_prior(second)
                + fit_first.log_likelihood
                + fit_second.log_likelihood
                - incident.log_some(fit_first.log_miss + fit_second.log_miss)
            )
            pairs.append(_Hypothesis((first, second), log_post, (fit_first, fit_second)))
    return singles, pairs


def _named(tree: ExposureTree, link_id: uuid.UUID) -> Named:
    link = tree.links[link_id]
    return Named(link.name, link.kind)


def _nothing(
    control_seen: bool, clock: Callable[[datetime], str], before_plant: int = 0
) -> Attribution:
    """No link to name: no planted canary surfaced, or none after it was planted."""
    flags = {Flag.WEAK} | ({Flag.CONTROL_SEEN} if control_seen else set())
    facts = IncidentFacts(
        control_seen=control_seen, weak=True, noise=1.0, before_plant=before_plant
    )
    return Attribution((), None, None, None, (), 1.0, frozenset(flags), summary_text(facts, clock))


def attribute(
    tree: ExposureTree,
    sightings: Sequence[CanarySighting],
    *,
    leaked_records: int | None = None,
    chance_per_row: float = CHANCE_PER_ROW,
    clock: Callable[[datetime], str] = utc_text,
) -> Attribution:
    """Rank the links that could have leaked the canaries of one incident (see the module).
    `leaked_records`: the rows of the files behind the incident, when every sighting came
    from one with a known size (a cap on any link's leaked volume, and the rows a match
    without its own `rows` is weighed against). `chance_per_row`: how often a row of
    strangers matches some canary (measured by control canaries where the caller can).
    `clock` writes times in the text."""
    controls = [s for s in sightings if s.control or s.canary_id not in tree.plants]
    planted = [s for s in sightings if not s.control and s.canary_id in tree.plants]
    control_bits = max((s.score for s in controls if s.score is not None), default=-math.inf)
    surfaced = _surfaced(tree, planted, leaked_records, control_bits)
    if not any(c.leakable for c in surfaced):
        return _nothing(bool(controls), clock, before_plant=len(surfaced))
    sizes = [s.rows or leaked_records or ROWS_UNKNOWN for s in sightings if s.score is not None]
    chance = min(1.0, chance_per_row * max(sizes)) if sizes else 1.0
    by_phone = all(s.channel in PHONE_CHANNELS for s in planted)
    incident = Likelihoods(tree, surfaced, leaked_records, chance, by_phone)
    singles, pairs = _hypotheses(incident)
    # The windows are dated by the canaries the likeliest single leaker saw: a strong chance
    # match elsewhere, planted later, must not move every link's window past the leak.
    top = max(singles, key=lambda h: h.log_posterior)
    basis = [c for c in incident.seen_by(top.links[0]) if c.strong or not incident.strong]
    alone = all(top.log_posterior > h.log_posterior for h in pairs)
    if basis and alone and incident.date(basis):
        singles, pairs = _hypotheses(incident)
    return _conclude(incident, singles, pairs, controls, planted, clock)


def _conclude(
    incident: Likelihoods,
    singles: list[_Hypothesis],
    pairs: list[_Hypothesis],
    controls: Sequence[CanarySighting],
    planted: Sequence[CanarySighting],
    clock: Callable[[datetime], str],
) -> Attribution:
    tree = incident.tree
    noise_log = math.log(NOISE_PRIOR) - math.log(incident.chance)
    total = logsumexp([noise_log, *(h.log_posterior for h in [*singles, *pairs])])
    unguarded: dict[uuid.UUID, float] = {}
    for h in singles:
        unguarded[h.links[0]] = math.exp(h.log_posterior - total)
    for pair in pairs:
        for link_id in pair.links:
            unguarded[link_id] = unguarded.get(link_id, 0.0) + math.exp(pair.log_posterior - total)
    multi = logsumexp(h.log_posterior for h in pairs)
    noise = math.exp(noise_log - total)
    best_single = max(singles, key=lambda h: h.log_posterior)
    best_pair = max(pairs, key=lambda h: h.log_posterior, default=None)
    two = best_pair is not None and multi > best_single.log_posterior
    lead = best_pair if best_pair is not None and two else best_single
    window = lead.fits[0].best
    records_window = (
        datetime.fromtimestamp(window.start, UTC),
        datetime.fromtimestamp(window.end, UTC),
    )

    def guarded(link_id: uuid.UUID) -> float:
        p = unguarded[link_id]
        if len(incident.strong) < 2:
            return min(p, WEAK_CAP)
        credited = incident.shown(link_id, window) or incident.seen_by(link_id)
        shared = any(tree.exposure_set(c.link_id) != {link_id} for c in credited)
        return min(p, SHARED_CAP) if shared else p

    ranked = sorted(
        (link_id for link_id, p in unguarded.items() if p > 0.0),
        # Equal to the ninth decimal is a tie (a reader whose prior was held to a more
        # specific link's): the more specific link, handling fewer records, comes first.
        key=lambda i: (
            -round(guarded(i), 9),
            -round(unguarded[i], 9),
            tree.links[i].records_per_day,
        ),
    )[:MAX_CANDIDATES]
    candidates = []
    for link_id in ranked:
        about = incident.describe(link_id, window)
        candidates.append(
            Candidate(
                link_id,
                guarded(link_id),
                candidate_text(about, records_window, clock),
                unguarded[link_id],
                tree.prior(link_id),
                tuple(c.canary_id for c in incident.shown(link_id, window)),
                about.visible,
                about.volume,
            )
        )

    flags: set[Flag] = set()
    if controls:
        flags.add(Flag.CONTROL_SEEN)
    if len(incident.strong) < 2:
        flags.add(Flag.WEAK)
    if all(s.score is None for s in planted):
        flags.add(Flag.CALLS_ONLY)
    leakers: tuple[uuid.UUID, ...] = lead.links if two else ()
    if two:
        flags.add(Flag.MULTIPLE_LEAKERS)
    first = candidates[0] if candidates else None
    if first and Flag.WEAK not in flags and first.probability < 0.5:
        flags.add(Flag.AMBIGUOUS)
    lead_link = lead.links[0]
    basis = [c for c in incident.seen_by(lead_link) if c.strong or not incident.strong]
    basis = basis or incident.basis
    leak_from = max(c.planted for c in basis)
    leak_to = max(leak_from, min(c.first_seen for c in basis))
    facts = IncidentFacts(
        top=_named(tree, first.link_id) if first else None,
        probability=first.probability if first else 0.0,
        leak_window=(datetime.fromtimestamp(leak_from, UTC), datetime.fromtimestamp(leak_to, UTC)),
        records_window=records_window,
        volume=first.leaked_volume if first else None,
        noise=noise,
        leakers=[_named(tree, link_id) for link_id in leakers],
        control_seen=Flag.CONTROL_SEEN in flags,
        weak=Flag.WEAK in flags,
        runner_up=_named(tree, candidates[1].link_id) if len(candidates) > 1 else None,
        ambiguous=Flag.AMBIGUOUS in flags,
        tied=_tied(tree, candidates),
        readers=_readers(tree, candidates, first),
        before_plant=sum(1 for c in incident.surfaced if not c.leakable),
    )
    return Attribution(
        tuple(candidates),
        facts.leak_window[0] if facts.leak_window else None,
        facts.leak_window[1] if facts.leak_window else None,
        first.leaked_volume if first else None,
        leakers,
        noise,
        frozenset(flags),
        summary_text(facts, clock),
        facts.records_window[0] if facts.records_window else None,
        facts.records_window[1] if facts.records_window else None,
    )


def _readers(
    tree: ExposureTree, candidates: Sequence[Candidate], first: Candidate | None
) -> list[Named]:
    """The other candidates that read the top one's data: they saw its canaries too."""
    if first is None:
        return []
    return [
        _named(tree, c.link_id)
        for c in candidates[1:]
        if c.link_id != first.link_id and tree.reads(c.link_id, first.link_id)
    ]


def _tied(tree: ExposureTree, candidates: Sequence[Candidate]) -> list[Named]:
    """Candidates nested with the top one (one reads the other's data) and held level with
    it: the canaries cannot tell them apart (see _hypotheses)."""
    if not candidates:
        return []
    first = candidates[0]
    return [
        _named(tree, c.link_id)
        for c in candidates[1:]
        if (tree.reads(c.link_id, first.link_id) or tree.reads(first.link_id, c.link_id))
        and round(c.unguarded, 9) == round(first.unguarded, 9)
    ]
