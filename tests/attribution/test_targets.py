"""Issue 15's targets on a seeded subset of the generated leaks (benchmarks/scenarios.py),
grouped and attributed as the benchmark does (benchmarks/attribution_accuracy.py); the
benchmark prints the same figures over 2,000 scenarios a seed.

The true link first where two or more canaries planted at it surfaced: every one. Where two
or more it saw surfaced (planted at it or below it), the benchmark's 99 % holds over
thousands of scenarios (README), but one miss in this subset's 74 is 98.6 %: a parent's leak
that showed only two canaries of one link below it reads as that link's, which is the likelier
story (the true link is then second). The subset holds the level below that figure.
"""

from benchmarks.attribution_accuracy import run
from benchmarks.scenarios import SHAPE_SHARE


def test_the_issue_targets_on_a_seeded_subset() -> None:
    tally = run(seed=20250601, scenarios=200, per_world=100)
    assert set(tally.shapes) == set(SHAPE_SHARE)  # every shape of leak is in it
    assert tally.eligible >= 40 and tally.own_eligible >= 25
    assert tally.first / tally.eligible >= 0.97, tally.misses
    assert tally.own_first == tally.own_eligible, tally.misses
    assert tally.second / tally.eligible >= 0.99, tally.misses
    assert tally.innocent_high == 0
    assert tally.pairs_named / tally.pairs_eligible >= 0.95
    assert tally.quiet_incidents >= 20 and tally.quiet_accused == 0
    assert tally.leaks_one_incident / tally.leaks >= 0.98
    assert tally.two_leaks >= 5 and tally.two_leaks_apart == tally.two_leaks
