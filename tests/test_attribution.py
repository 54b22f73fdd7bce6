"""Attribution: a pure function over exposures and sightings, checked on hand-built courier
trees (tests/attribution/courier.py). The leak model for mixed files, grouping, the text and
the issue's targets on generated leaks are in tests/attribution/."""

import itertools
import random
import uuid

import pytest

from attribution.kinds import LinkKind
from attribution.model import (
    SHARED_CAP,
    WEAK_CAP,
    Attribution,
    CanarySighting,
    Exposure,
    ExposureTree,
    Flag,
    UnknownLinkError,
    attribute,
)
from benchmarks.scenarios import FLOOR_GAP, Shape, build_world, stage
from tests.attribution.courier import DAY, NOW, Courier, courier, seen


def ranking(c: Courier, result: Attribution) -> list[str]:
    return [c.name(candidate.link_id) for candidate in result.candidates]


def probability(c: Courier, result: Attribution, name: str) -> float:
    return next(x.probability for x in result.candidates if x.link_id == c.id(name))


def test_an_outlet_before_its_region_and_head_office() -> None:
    c = courier()
    result = attribute(c.tree(), seen(c.canaries["网点1-2"][5:8]), leaked_records=300)
    assert ranking(c, result)[:3] == ["网点1-2", "大区1", "总部"]
    assert probability(c, result, "网点1-2") > 0.9
    assert result.flags == frozenset()


def test_a_link_that_never_saw_a_canary_is_no_candidate() -> None:
    c = courier()
    result = attribute(c.tree(), seen(c.canaries["网点1-2"][5:8]), leaked_records=300)
    assert set(ranking(c, result)) == {"网点1-2", "大区1", "总部"}


def test_outlets_of_one_region_surfacing_together_point_at_the_region() -> None:
    c = courier()
    surfaced = [c.canaries[f"网点1-{o}"][-1] for o in (1, 2, 3, 4)] + [c.canaries["大区1"][-1]]
    result = attribute(c.tree(), seen(surfaced), leaked_records=200)
    assert ranking(c, result)[0] == "大区1"
    assert Flag.MULTIPLE_LEAKERS not in result.flags


def test_outlets_of_every_region_point_at_the_head_office() -> None:
    c = courier()
    surfaced = [c.canaries[f"网点{r}-{o}"][-1] for r in (1, 2) for o in (2, 3, 4)]
    result = attribute(c.tree(), seen(surfaced), leaked_records=300)
    assert ranking(c, result)[0] == "总部"
    assert Flag.MULTIPLE_LEAKERS not in result.flags


def test_negative_evidence_the_region_would_have_surfaced_its_other_outlets() -> None:
    """The same two canaries of one outlet clear its region the more canaries the region's
    other outlets carry: a leak of 2,000 region records would have surfaced some of them."""
    sparse, dense = courier(), courier()
    for outlet in ("网点1-1", "网点1-3", "网点1-4"):
        dense.plant(outlet, 1000)
    results = [
        attribute(c.tree(), seen(c.canaries["网点1-2"][6:8]), leaked_records=2000)
        for c in (sparse, dense)
    ]
    region = [probability(c, r, "大区1") for c, r in zip((sparse, dense), results, strict=True)]
    assert region[1] < region[0] / 10
    assert ranking(dense, results[1])[0] == "网点1-2"


def test_two_outlets_leaking_are_more_than_one_leaker() -> None:
    c = courier()
    surfaced = c.canaries["网点1-2"][4:8] + c.canaries["网点2-3"][4:8]
    result = attribute(c.tree(), seen(surfaced), leaked_records=400)
    assert Flag.MULTIPLE_LEAKERS in result.flags
    assert {c.name(link_id) for link_id in result.leakers} == {"网点1-2", "网点2-3"}
    assert set(ranking(c, result)[:2]) == {"网点1-2", "网点2-3"}
    assert "more than one leaker" in result.explanation.en
    assert "不止一个泄露者" in result.explanation.zh


def test_canaries_from_two_trees_have_no_single_source() -> None:
    c = courier()
    surfaced = c.canaries["网点2-1"][7:9] + c.canaries["商家"][7:9]
    result = attribute(c.tree(), seen(surfaced), leaked_records=200)
    assert {c.name(link_id) for link_id in result.leakers} == {"网点2-1", "商家"}


def test_the_vendor_reads_its_clients() -> None:
    c = courier()
    surfaced = c.canaries["网点1-1"][7:9] + c.canaries["商家"][7:9]
    result = attribute(c.tree(), seen(surfaced), leaked_records=200)
    assert ranking(c, result)[0] == "面单软件商"
    assert result.leakers == ()


def test_a_control_canary_never_points_at_a_link() -> None:
    c = courier()
    control = CanarySighting(uuid.uuid4(), NOW, 60.0, control=True)
    result = attribute(c.tree(), [control])
    assert result.candidates == ()
    assert Flag.CONTROL_SEEN in result.flags
    assert "control canary" in result.explanation.en
    # A control canary the caller also planted by mistake still names nobody.
    planted_control = CanarySighting(c.canaries["总部"][0], NOW, 60.0, control=True)
    assert attribute(c.tree(), [planted_control]).candidates == ()


def test_a_control_canary_makes_matches_no_stronger_than_it_weak() -> None:
    c = courier()
    canaries = c.canaries["网点2-2"][7:9]
    control = CanarySighting(uuid.uuid4(), NOW, 40.0, control=True)
    clean = attribute(c.tree(), seen(canaries, 39.0), leaked_records=200)
    noisy = attribute(c.tree(), [*seen(canaries, 39.0), control], leaked_records=200)
    assert Flag.WEAK not in clean.flags
    assert {Flag.WEAK, Flag.CONTROL_SEEN} <= noisy.flags
    assert max(x.probability for x in noisy.candidates) <= WEAK_CAP


def test_a_bare_call_at_the_background_rate_accuses_nobody() -> None:
    c = courier()
    call = CanarySighting(c.canaries["快递员1-3"][1], NOW, None, background_rate=0.2)
    result = attribute(c.tree(), [call])
    assert Flag.WEAK in result.flags
    assert result.noise_probability > 0.5
    assert max(x.probability for x in result.candidates) < 0.1


def test_one_weak_match_is_never_an_attribution() -> None:
    """Only the head office saw this canary, but one match at 33 bits names nobody: the
    model gives it about even odds against chance, and the cap holds it at one half."""
    c = courier()
    result = attribute(c.tree(), seen(c.canaries["总部"][9:], 33.0))
    assert ranking(c, result) == ["总部"]
    assert result.candidates[0].probability <= WEAK_CAP
    assert result.noise_probability > 0.2
    assert Flag.WEAK in result.flags
    assert "a lead, not an attribution" in result.explanation.en


def test_one_strong_canary_is_a_lead_too() -> None:
    c = courier()
    result = attribute(c.tree(), seen(c.canaries["网点2-3"][9:], 80.0, rows=1000))
    assert result.noise_probability < 1e-6  # an 80-bit match is no chance match ...
    assert Flag.WEAK in result.flags  # ... but one canary does not single out a link
    assert max(x.probability for x in result.candidates) <= WEAK_CAP


def test_a_link_whose_readers_saw_the_same_canaries_is_capped() -> None:
    c = courier()
    result = attribute(c.tree(), seen(c.canaries["网点1-2"]), leaked_records=5000)
    top = result.candidates[0]
    assert c.name(top.link_id) == "网点1-2"
    assert top.unguarded > SHARED_CAP
    assert top.probability == SHARED_CAP
    # Said once, for the incident, not on every candidate.
    assert "Canaries prove who saw them, not who leaked them" in result.explanation.en
    assert not any("not who leaked" in x.explanation.en for x in result.candidates)


def test_windows_and_volume() -> None:
    c = courier()
    batch = c.plant("网点2-4", 12, at=NOW - 20 * DAY)
    sightings = [
        CanarySighting(batch[0], NOW + 3 * DAY, 45.0),
        CanarySighting(batch[1], NOW + 2 * DAY, 45.0),
        CanarySighting(batch[2], NOW + 4 * DAY, 45.0),
    ]
    result = attribute(c.tree(), sightings, leaked_records=300)
    assert result.window_start == NOW - 20 * DAY  # the newest surfaced canary's plant
    assert result.window_end == NOW + 2 * DAY  # the first sighting
    assert result.records_from is not None and result.records_to is not None
    assert result.records_from <= NOW - 20 * DAY <= result.records_to
    assert result.leaked_volume is not None and 0 < result.leaked_volume <= 300
    assert result.window_volume == result.leaked_volume
    assert "网点2-4" in result.explanation.zh and "records" in result.explanation.en


def test_explanations_in_both_languages() -> None:
    c = courier()
    result = attribute(c.tree(), seen(c.canaries["快递员2-2"]), leaked_records=100)
    top = result.candidates[0]
    assert c.name(top.link_id) == "快递员2-2"
    assert "2 surfaced and 0 did not" in top.explanation.en
    assert "2 个已浮现，0 个未浮现" in top.explanation.zh
    assert "诱饵运单" in top.explanation.zh and "快递员" in top.explanation.zh


def test_a_plant_at_an_unknown_link_is_refused() -> None:
    c = courier()
    stray = Exposure(uuid.uuid4(), uuid.uuid4(), NOW)
    with pytest.raises(UnknownLinkError):
        ExposureTree(c.links.values(), [*c.exposures, stray])


def test_the_generator_builds_the_courier_the_issue_describes() -> None:
    world = build_world(random.Random(3))
    kinds = [link.kind for link in world.links]
    assert kinds.count(LinkKind.HEAD_OFFICE) == 1
    assert kinds.count(LinkKind.REGION) == 10
    assert kinds.count(LinkKind.OUTLET) == 100
    assert kinds.count(LinkKind.COURIER_STAFF) >= 300
    assert kinds.count(LinkKind.MERCHANT) == 50
    assert kinds.count(LinkKind.CALL_CENTRE) == kinds.count(LinkKind.SYSTEM) == 1
    (vendor,) = [link.id for link in world.links if link.kind is LinkKind.VENDOR]
    clients = {link.kind for link in world.links if vendor in link.readers}
    assert clients == {LinkKind.OUTLET, LinkKind.MERCHANT}
    again = build_world(random.Random(3))
    assert [e.canary_id for e in again.exposures] == [e.canary_id for e in world.exposures]
    scenario = stage(world, random.Random(4), Shape.TWO_LEAKERS)
    (leak,) = scenario.leaks
    first, second = leak.leakers
    assert world.unrelated(first, second)
    for canaries in leak.surfaced.values():
        assert all(world.start <= e.planted_at for e in world.exposures if e.canary_id in canaries)


def test_the_generator_keeps_rotations_floor_as_the_product_does() -> None:
    """No link goes longer without a plant than the floor allows (app.planting.rotation):
    FLOOR_GAP days and the hour rotation runs, plus, for a pulled feed, the wait for its next
    pull (at most 7 days); never a batch of the floor's canaries at once."""
    world = build_world(random.Random(8), density=0.0002)  # the floor is most of the canaries
    longest = 0.0
    for plants in world.plants_at.values():
        times = [world.start] + [e.planted_at for e in plants]
        gaps = [(b - a).total_seconds() / 86_400 for a, b in itertools.pairwise(times)]
        longest = max(longest, *gaps)
    assert FLOOR_GAP < longest <= FLOOR_GAP + 1 / 24 + 7.0 + 2 / 24
    # A courier's own canaries at this density are about one in 60 days: nearly all it has
    # is the floor's, about one every FLOOR_GAP days (more often only through a pull's wait).
    days = (world.end - world.start).days
    couriers = [link.id for link in world.links if link.kind is LinkKind.COURIER_STAFF]
    counts = [len(world.plants_at[c]) for c in couriers]
    assert days / (FLOOR_GAP + 7.2) < min(counts) and max(counts) <= days / FLOOR_GAP + 10
