"""Attribution and grouping on generated leaks (benchmarks/scenarios.py), against issue 15's
targets, with the reliability table of the probabilities.

    python -m benchmarks.attribution_accuracy [--scenarios 600] [--per-world 100] [--seed 1]
        [--seeds 1-6 [--jobs 2]] [--show-misses] [--monthly-batches]

`--seeds` runs --scenarios for each seed (in --jobs processes) and prints the figures over
all of them, then the first-place figure seed by seed: a 2,000-scenario seed holds about
750 eligible leaks, so one seed's figure moves by about 0.35 % (one standard error).

Every scenario's sightings are grouped into incidents by attribution.grouping (as the app
groups them as they arrive) and each incident is attributed. A new world (courier, partners,
canaries at a fresh density) every --per-world scenarios. Targets:
- the true link first in >= 99 % of the leaks by one link where two or more of its canaries
  surfaced (in the incident holding most of the leak); printed also over the leaks where two
  or more canaries planted at the link itself (not below it) surfaced;
- no innocent link ever at 0.99 or more;
- two leakers in one file reported as two (the multiple-leakers result naming both) in
  >= 95 % of the cases where each surfaced two or more canaries;
- control-only and noise-only incidents accuse nobody (no link above one half, nor at one
  half without the weak flag);
- one leak, one incident in >= 98 % (and two unrelated leaks apart).
"""

import argparse
import multiprocessing
import random
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from attribution.grouping import IncidentProfile, group
from attribution.model import Attribution, ExposureTree, Flag, attribute
from benchmarks.scenarios import (
    Leak,
    Scenario,
    Shape,
    Staged,
    World,
    build_world,
    stage_any,
)

BUCKETS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


@dataclass
class Reliability:
    """Predicted probabilities against outcomes, by bucket."""

    count: Counter[int] = field(default_factory=Counter)
    predicted: dict[int, float] = field(default_factory=dict)
    observed: Counter[int] = field(default_factory=Counter)

    def add(self, probability: float, right: bool) -> None:
        bucket = next(
            i
            for i in range(len(BUCKETS) - 1)
            if probability < BUCKETS[i + 1] or i == len(BUCKETS) - 2
        )
        self.count[bucket] += 1
        self.predicted[bucket] = self.predicted.get(bucket, 0.0) + probability
        self.observed[bucket] += right

    def merge(self, other: "Reliability") -> None:
        self.count.update(other.count)
        self.observed.update(other.observed)
        for bucket, total in other.predicted.items():
            self.predicted[bucket] = self.predicted.get(bucket, 0.0) + total

    def rows(self) -> list[str]:
        out = [f"    {'bucket':>13}  {'count':>6}  {'mean predicted':>14}  {'observed':>8}"]
        for i in range(len(BUCKETS) - 1):
            n = self.count[i]
            if not n:
                continue
            label = (
                f"[{BUCKETS[i]:.2f}, {BUCKETS[i + 1]:.2f}{']' if i == len(BUCKETS) - 2 else ')'}"
            )
            mean, seen = self.predicted[i] / n, self.observed[i] / n
            out.append(f"    {label:>13}  {n:>6}  {mean:>14.3f}  {seen:>8.3f}")
        return out


@dataclass
class Tally:
    scenarios: int = 0
    shapes: Counter[Shape] = field(default_factory=Counter)
    incidents: int = 0
    eligible: int = 0
    first: int = 0
    second: int = 0  # the true link first or second
    # The model's own expectation of `first`: the sum of its top candidate's probability
    # (before the caps). A calibrated model's misses are the close calls it says are close.
    expected_first: float = 0.0
    # The same over the leaks where two or more canaries planted at the leaker itself (not
    # at a link below it) surfaced.
    own_eligible: int = 0
    own_first: int = 0
    misses: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # each miss in full (--show-misses)
    innocent_max: float = 0.0
    innocent_high: int = 0
    unguarded_max: float = 0.0
    pairs_eligible: int = 0
    pairs_named: int = 0
    quiet_incidents: int = 0
    quiet_accused: int = 0
    leaks: int = 0
    leaks_one_incident: int = 0
    multichannel: int = 0
    multichannel_one: int = 0
    two_leaks: int = 0
    two_leaks_apart: int = 0
    shown: Reliability = field(default_factory=Reliability)
    unguarded: Reliability = field(default_factory=Reliability)
    attribute_seconds: list[float] = field(default_factory=list)
    group_seconds: list[float] = field(default_factory=list)
    per_seed: list[str] = field(default_factory=list)

    def merge(self, other: "Tally") -> None:
        """Add another run's counts to these (the runs of several seeds, pooled)."""
        for name, value in vars(other).items():
            mine = getattr(self, name)
            if isinstance(value, Reliability):
                mine.merge(value)
            elif isinstance(value, Counter):
                mine.update(value)
            elif isinstance(value, list):
                mine.extend(value)
            elif name in ("innocent_max", "unguarded_max"):
                setattr(self, name, max(mine, value))
            else:
                setattr(self, name, mine + value)


def accuses(result: Attribution) -> bool:
    """Names a link: above one half, or at one half without the weak flag (an incident
    with fewer than two strong matches is capped at one half and called a lead)."""
    top = max((c.probability for c in result.candidates), default=0.0)
    return top > 0.5 or (top >= 0.5 and Flag.WEAK not in result.flags)


def leaked_records(staged: list[Staged]) -> int | None:
    """The rows of the files behind an incident, each once, when every sighting came from a
    file or listing of known size (as app.incidents.exposures.leaked_records)."""
    rows: dict[str, int] = {}
    for s in staged:
        if s.file_rows is None:
            return None
        rows[s.source] = s.file_rows
    return sum(rows.values()) or None


def _relation(tree: ExposureTree, link_id: uuid.UUID, truth: tuple[uuid.UUID, ...]) -> str:
    if link_id in truth:
        return "TRUE"
    for t in truth:
        if tree.reads(link_id, t):
            return "reads a leaker"
        if tree.reads(t, link_id):
            return "read by a leaker"
    return "unrelated"


def describe_miss(
    tree: ExposureTree, scenario: Scenario, leak: Leak, staged: list[Staged], result: Attribution
) -> str:
    """One miss in full: the leak, what the incident holds, and how the model ranked it."""

    def name(link_id: uuid.UUID) -> str:
        link = tree.links[link_id]
        return f"{link.name} ({link.kind}, {link.records_per_day:.0f}/day)"

    truth = leak.leakers
    lines = [
        f"  MISS {scenario.shape}: leaker(s) "
        + ", ".join(
            f"{name(t)} with {len(leak.surfaced[t])} surfaced of {leak.at_risk.get(t)} in its "
            f"{leak.lookback.get(t, 0.0):.1f} days"
            for t in truth
        )
        + f"; leaked {leak.leaked_at:%m-%d %H:%M}; flags {sorted(result.flags)}; "
        f"leakers named {[name(i) for i in result.leakers]}; noise {result.noise_probability:.3g}"
    ]
    for c in result.candidates[:5]:
        lines.append(
            f"    cand {name(c.link_id)} p={c.probability:.3f} unguarded={c.unguarded:.3f} "
            f"prior={c.prior:.2g} surfaced={len(c.surfaced)} visible={c.visible} "
            f"volume={c.leaked_volume} [{_relation(tree, c.link_id, truth)}]"
        )
    for s in sorted(staged, key=lambda s: s.sighting.observed_at):
        sighting = s.sighting
        plant = tree.plants.get(sighting.canary_id)
        where = "control" if plant is None else name(plant[0])
        rel = "" if plant is None else _relation(tree, plant[0], truth)
        planted = "" if plant is None else f"planted {datetime.fromtimestamp(plant[1], UTC):%m-%d}"
        lines.append(
            f"    row {sighting.channel} seen {sighting.observed_at:%m-%d %H:%M} "
            f"score={sighting.score if sighting.score is None else round(sighting.score, 1)} "
            f"rows={s.file_rows} leak={s.leak} at {where} [{rel}] {planted}"
        )
    return "\n".join(lines)


def count(tally: Tally, world: World, tree: ExposureTree, scenario: Scenario) -> None:
    tally.scenarios += 1
    tally.shapes[scenario.shape] += 1
    by_id = {s.profile.id: s for s in scenario.staged}
    started = time.perf_counter()
    incidents = group([s.profile for s in scenario.staged], tree)
    tally.group_seconds.append(time.perf_counter() - started)
    results: list[tuple[IncidentProfile, list[Staged], Attribution]] = []
    for incident in incidents:
        staged = [by_id[i] for i in incident.sightings]
        started = time.perf_counter()
        result = attribute(
            tree,
            [s.sighting for s in staged],
            leaked_records=leaked_records(staged),
            chance_per_row=world.chance_per_row,
        )
        tally.attribute_seconds.append(time.perf_counter() - started)
        results.append((incident, staged, result))
    tally.incidents += len(results)
    kinds = {link.id: link.kind for link in world.links}

    for _, staged, result in results:
        leaks = {s.leak for s in staged if s.leak is not None}
        guilty = {link for i in leaks for link in scenario.leaks[i].leakers}
        for candidate in result.candidates:
            right = candidate.link_id in guilty
            tally.shown.add(candidate.probability, right)
            tally.unguarded.add(candidate.unguarded, right)
            if not right:
                tally.innocent_max = max(tally.innocent_max, candidate.probability)
                tally.innocent_high += candidate.probability >= 0.99
                tally.unguarded_max = max(tally.unguarded_max, candidate.unguarded)
        if not leaks:
            tally.quiet_incidents += 1
            tally.quiet_accused += accuses(result)

    for index, leak in enumerate(scenario.leaks):
        holding = [
            (sum(1 for s in staged if s.leak == index), result) for _, staged, result in results
        ]
        holding = [(n, result) for n, result in holding if n]
        if not holding:
            continue
        tally.leaks += 1
        tally.leaks_one_incident += len(holding) == 1
        channels = {s.profile.channel for s in scenario.staged if s.leak == index}
        if len(channels) > 1:
            tally.multichannel += 1
            tally.multichannel_one += len(holding) == 1
        _, main = max(holding, key=lambda h: h[0])
        main_staged = next(st for _, st, result in results if result is main)
        if len(leak.leakers) == 1:
            (leaker,) = leak.leakers
            if len(leak.surfaced[leaker]) >= 2:
                tally.eligible += 1
                top = main.candidates[0].link_id if main.candidates else None
                tally.first += top == leaker
                tally.expected_first += main.candidates[0].unguarded if main.candidates else 0.0
                tally.second += leaker in [c.link_id for c in main.candidates[:2]]
                own = sum(1 for c in leak.surfaced[leaker] if tree.plants[c][0] == leaker)
                if own >= 2:
                    tally.own_eligible += 1
                    tally.own_first += top == leaker
                if top != leaker:
                    tally.misses.append(
                        f"{scenario.shape}: {kinds[leaker]} with {len(leak.surfaced[leaker])} "
                        f"canaries, first {kinds[top] if top else None}"
                    )
                    tally.details.append(describe_miss(tree, scenario, leak, main_staged, main))
        elif all(len(leak.surfaced[link]) >= 2 for link in leak.leakers):
            tally.pairs_eligible += 1
            named = Flag.MULTIPLE_LEAKERS in main.flags and set(main.leakers) == set(leak.leakers)
            tally.pairs_named += named
            if not named:
                tally.details.append(describe_miss(tree, scenario, leak, main_staged, main))
    if scenario.shape is Shape.TWO_LEAKS and len(scenario.leaks) == 2:
        tally.two_leaks += 1
        tally.two_leaks_apart += not any(
            {s.leak for s in staged} >= {0, 1} for _, staged, _ in results
        )


def run(seed: int, scenarios: int, per_world: int, *, monthly_batches: bool = False) -> Tally:
    tally = Tally()
    rng = random.Random(seed)
    done = 0
    while done < scenarios:
        world = build_world(random.Random(rng.getrandbits(64)), monthly_batches=monthly_batches)
        tree = ExposureTree(world.links, world.exposures)
        for _ in range(min(per_world, scenarios - done)):
            count(tally, world, tree, stage_any(world, rng))
            done += 1
    return tally


def run_seed(args: tuple[int, int, int, bool]) -> Tally:
    seed, scenarios, per_world, monthly_batches = args
    tally = run(seed, scenarios, per_world, monthly_batches=monthly_batches)
    tally.per_seed.append(
        f"seed {seed}: {share(tally.first, tally.eligible)} (expected "
        f"{tally.expected_first / max(tally.eligible, 1):.2%}); where >= 2 planted at the link "
        f"itself {share(tally.own_first, tally.own_eligible)}"
    )
    return tally


def pooled(seeds: list[int], scenarios: int, per_world: int, monthly: bool, jobs: int) -> Tally:
    work = [(seed, scenarios, per_world, monthly) for seed in seeds]
    if jobs > 1:
        with multiprocessing.Pool(jobs) as pool:
            tallies = pool.map(run_seed, work)
    else:
        tallies = [run_seed(item) for item in work]
    total = tallies[0]
    for tally in tallies[1:]:
        total.merge(tally)
    return total


def seed_list(text: str) -> list[int]:
    """`3`, `1-6` or `1,4,9`."""
    out: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        out.extend(range(int(first), int(last or first) + 1))
    return out


def share(part: int, whole: int) -> str:
    return f"{part / whole:.2%} ({part}/{whole})" if whole else "n/a"


def report(tally: Tally, show_misses: bool = False) -> list[str]:
    shapes = ", ".join(f"{shape} {n}" for shape, n in sorted(tally.shapes.items()))
    seconds = sorted(tally.attribute_seconds)
    lines = [
        f"scenarios: {tally.scenarios} ({shapes}); incidents: {tally.incidents}",
        f"true link first, >= 2 of its canaries surfaced (target >= 99 %): "
        f"{share(tally.first, tally.eligible)} (the model's own expectation "
        f"{tally.expected_first / max(tally.eligible, 1):.2%}); first or second "
        f"{share(tally.second, tally.eligible)}; where >= 2 canaries planted at the link "
        f"itself surfaced {share(tally.own_first, tally.own_eligible)}",
        f"innocent links: max probability {tally.innocent_max:.4f}, at >= 0.99 "
        f"{tally.innocent_high} times (target 0); before the caps max {tally.unguarded_max:.4f}",
        f"two leakers in one file named as two (target >= 95 %): "
        f"{share(tally.pairs_named, tally.pairs_eligible)}",
        f"incidents without a leak (control, noise) naming a link (target 0): "
        f"{tally.quiet_accused} of {tally.quiet_incidents}",
        f"one leak, one incident (target >= 98 %): {share(tally.leaks_one_incident, tally.leaks)};"
        f" seen on several channels {share(tally.multichannel_one, tally.multichannel)}",
        f"two unrelated leaks kept apart: {share(tally.two_leaks_apart, tally.two_leaks)}",
        "reliability of the probabilities shown (every candidate of every incident):",
        *tally.shown.rows(),
        "reliability before the rule-4 caps:",
        *tally.unguarded.rows(),
        f"time per attribution: mean {statistics.fmean(seconds) * 1e3:.1f} ms, "
        f"p99 {seconds[int(len(seconds) * 0.99)] * 1e3:.1f} ms, max {seconds[-1] * 1e3:.0f} ms; "
        f"grouping a scenario: mean {statistics.fmean(tally.group_seconds) * 1e3:.1f} ms",
    ]
    if len(tally.per_seed) > 1:
        lines.append("true link first, seed by seed:")
        lines.extend(f"    {line}" for line in tally.per_seed)
    if tally.misses:
        lines.append("misses: " + "; ".join(tally.misses[:20]))
    if show_misses:
        lines.extend(tally.details)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenarios", type=int, default=600)
    parser.add_argument("--per-world", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--seeds", type=seed_list, help="several seeds, pooled: 1-6 or 1,4,9 (overrides --seed)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="processes for --seeds")
    parser.add_argument(
        "--show-misses",
        action="store_true",
        help="print each first-place and two-leaker miss in full (candidates, sightings)",
    )
    parser.add_argument(
        "--monthly-batches",
        action="store_true",
        help="plant every link's canaries in one batch a month (the harder world)",
    )
    args = parser.parse_args()
    seeds = args.seeds or [args.seed]
    tally = pooled(seeds, args.scenarios, args.per_world, args.monthly_batches, args.jobs)
    print("\n".join(report(tally, args.show_misses)))


if __name__ == "__main__":
    main()
