"""Attribution: a pure function over exposures and sightings, checked on hand-built courier
trees and on a seeded run of generated leaks against issue 6's targets."""

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

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
    LinkNode,
    UnknownLinkError,
    attribute,
)
from benchmarks.scenarios import build_world, stage_leak

NOW = datetime(2025, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@dataclass
class Courier:
    """A small courier: links by name, ten canaries planted at each over the last 60 days."""

    links: dict[str, LinkNode] = field(default_factory=dict)
    canaries: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    exposures: list[Exposure] = field(default_factory=list)

    def add(
        self,
        name: str,
        kind: LinkKind,
        per_day: float,
        parent: str | None = None,
        readers: tuple[str, ...] = (),
        canaries: int = 10,
    ) -> None:
        link = LinkNode(
            uuid.uuid4(),
            self.links[parent].id if parent else None,
            kind,
            name,
            per_day,
            tuple(self.links[r].id for r in readers),
        )
        self.links[name] = link
        self.canaries[name] = []
        self.plant(name, canaries)

    def plant(self, name: str, count: int) -> None:
        """`count` more canaries at the link, spread evenly over the last 60 days."""
        for i in range(count):
            canary = uuid.uuid4()
            self.canaries[name].append(canary)
            planted = NOW - (60 - 60 * i / count) * DAY
            self.exposures.append(Exposure(canary, self.links[name].id, planted))

    def tree(self) -> ExposureTree:
        return ExposureTree(self.links.values(), self.exposures)

    def id(self, name: str) -> uuid.UUID:
        return self.links[name].id

    def name(self, link_id: uuid.UUID) -> str:
        return next(name for name, link in self.links.items() if link.id == link_id)


def courier() -> Courier:
    c = Courier()
    c.add("面单软件商", LinkKind.VENDOR, 3000)
    c.add("总部", LinkKind.HEAD_OFFICE, 40_000)
    for r in (1, 2):
        c.add(f"大区{r}", LinkKind.REGION, 20_000, "总部")
        for o in (1, 2, 3, 4):
            readers = ("面单软件商",) if (r, o) == (1, 1) else ()
            c.add(f"网点{r}-{o}", LinkKind.OUTLET, 5_000, f"大区{r}", readers)
            c.add(f"快递员{r}-{o}", LinkKind.COURIER_STAFF, 150, f"网点{r}-{o}", canaries=2)
    c.add("平台", LinkKind.PLATFORM, 50_000)
    c.add("商家", LinkKind.MERCHANT, 800, "平台", ("面单软件商",))
    return c


def seen(canaries: list[uuid.UUID], score: float = 45.0) -> list[CanarySighting]:
    return [CanarySighting(canary, NOW + DAY, score) for canary in canaries]


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
    """Only the head office saw this canary, but one match at 33 bits names nobody."""
    c = courier()
    result = attribute(c.tree(), seen(c.canaries["总部"][9:], 33.0))
    assert ranking(c, result) == ["总部"]
    assert result.candidates[0].unguarded > 0.99
    assert result.candidates[0].probability == WEAK_CAP
    assert Flag.WEAK in result.flags


def test_a_link_whose_readers_saw_the_same_canaries_is_capped() -> None:
    c = courier()
    result = attribute(c.tree(), seen(c.canaries["网点1-2"]), leaked_records=5000)
    top = result.candidates[0]
    assert top.unguarded > SHARED_CAP
    assert top.probability == SHARED_CAP
    assert "cannot rule out" in top.explanation.en


def test_window_and_volume() -> None:
    c = courier()
    canaries = c.canaries["网点2-4"][6:9]
    sightings = [
        CanarySighting(canaries[0], NOW + 3 * DAY, 45.0),
        CanarySighting(canaries[1], NOW + 2 * DAY, 45.0),
        CanarySighting(canaries[2], NOW + 4 * DAY, 45.0),
    ]
    result = attribute(c.tree(), sightings, leaked_records=300)
    newest_plant = NOW - (60 - 6 * 8) * DAY
    assert result.window_start == newest_plant
    assert result.window_end == NOW + 2 * DAY
    assert result.window_volume == pytest.approx(5_000 * 14)
    assert "网点2-4" in result.explanation.zh and "70,000" in result.explanation.en


def test_explanations_in_both_languages() -> None:
    c = courier()
    result = attribute(c.tree(), seen(c.canaries["快递员2-2"]), leaked_records=100)
    top = result.candidates[0]
    assert c.name(top.link_id) == "快递员2-2"
    assert "saw 2 of the 2 canaries" in top.explanation.en
    assert "见过浮现的 2 个金丝雀中的 2 个" in top.explanation.zh


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
    (vendor,) = [link.id for link in world.links if link.kind is LinkKind.VENDOR]
    clients = {link.kind for link in world.links if vendor in link.readers}
    assert clients == {LinkKind.OUTLET, LinkKind.MERCHANT}
    again = build_world(random.Random(3))
    assert [e.canary_id for e in again.exposures] == [e.canary_id for e in world.exposures]
    scenario = stage_leak(world, random.Random(4))
    for canaries in scenario.surfaced.values():
        assert all(world.start <= e.planted_at for e in world.exposures if e.canary_id in canaries)


def test_seeded_scenarios_meet_the_issue_targets() -> None:
    """The true link first in >= 95 % of leaks where >= 2 of its canaries surfaced, and no
    innocent link ever at 0.99 or more. Leaks are staged, 100 per world, until 150 of them
    surfaced two or more canaries: the canary density is drawn per world and decides how
    many surface, so a fixed number of scenarios would measure on a varying number."""
    rng = random.Random(20250601)
    eligible = first = scenarios = 0
    innocent_max = 0.0
    while eligible < 150:
        world = build_world(random.Random(rng.getrandbits(64)))
        tree = ExposureTree(world.links, world.exposures)
        for _ in range(100):
            scenario = stage_leak(world, rng)
            result = attribute(tree, scenario.sightings, leaked_records=scenario.leaked_records)
            scenarios += 1
            (leaker,) = scenario.leakers
            innocent_max = max(
                [innocent_max] + [x.probability for x in result.candidates if x.link_id != leaker]
            )
            if len(scenario.surfaced[leaker]) >= 2:
                eligible += 1
                first += result.candidates[0].link_id == leaker
    assert scenarios < 3000
    assert first / eligible >= 0.95, f"{first} of {eligible} ranked first"
    assert innocent_max < 0.99
