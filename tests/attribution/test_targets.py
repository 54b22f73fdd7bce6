"""Issue 15's targets on a seeded subset of the generated leaks (benchmarks/scenarios.py),
grouped and attributed as the benchmark does (benchmarks/attribution_accuracy.py); the
benchmark prints the same figures over 2,000 scenarios.

One target is not met, and this test holds the level that is: the true link first in 99 %
of the leaks where two or more of its canaries surfaced (about 98.3 % over 6,000 scenarios;
99.3 % where two or more planted at the link itself surfaced). Two or three canaries of one
courier do not always tell a courier's leak from its outlet's (the outlet's other canaries
may simply not have been in the leak's window), and both happen. There the model ranks by
the odds and says so; the true link is then second.
"""

from benchmarks.attribution_accuracy import run
from benchmarks.scenarios import SHAPE_SHARE


def test_the_issue_targets_on_a_seeded_subset() -> None:
    tally = run(seed=20250601, scenarios=200, per_world=100)
    assert set(tally.shapes) == set(SHAPE_SHARE)  # every shape of leak is in it
    assert tally.eligible >= 40 and tally.own_eligible >= 25
    assert tally.first / tally.eligible >= 0.96, tally.misses
    assert tally.own_first / tally.own_eligible >= 0.96, tally.misses
    assert tally.second / tally.eligible >= 0.98, tally.misses
    assert tally.innocent_high == 0
    assert tally.pairs_named / tally.pairs_eligible >= 0.95
    assert tally.quiet_incidents >= 20 and tally.quiet_accused == 0
    assert tally.leaks_one_incident / tally.leaks >= 0.98
    assert tally.two_leaks >= 5 and tally.two_leaks_apart == tally.two_leaks
