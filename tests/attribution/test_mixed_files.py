"""The leak model for mixed files: a dump, a listing or a campaign holds the leaker's records
among anyone's, so the leaked volume is estimated from the canaries, never from the size of
the file; an exact waybill match is never chance; a prior never outranks the evidence."""

import random
import uuid

from attribution.kinds import Channel, LinkKind
from attribution.model import CanarySighting, ExposureTree, Flag, attribute
from benchmarks.scenarios import build_world
from tests.attribution.courier import DAY, NOW, Courier, courier, seen

# Records a day as the app counts them when a link sets none (app/incidents/exposures.py):
# its kind's own plus those of the links below it.
COURIER, OUTLET, REGION, HEAD = 100.0, 600.0, 1_000.0, 5_000.0


def zhejiang() -> Courier:
    """A head office with two regions; four outlets in Zhejiang, one in Jiangsu, each with
    two couriers. Every outlet got a batch of 20 canaries ten days ago and another 20 forty
    days ago, every courier 5 each time."""
    c = Courier()
    outlets = {"宁波鄞州网点": "浙江大区", "杭州西湖网点": "浙江大区", "杭州拱墅网点": "浙江大区",
               "温州鹿城网点": "浙江大区", "南京玄武网点": "江苏大区"}  # fmt: skip
    per_outlet = OUTLET + 2 * COURIER
    zhejiang = REGION + 4 * per_outlet
    jiangsu = REGION + per_outlet
    c.add("总部", LinkKind.HEAD_OFFICE, HEAD + zhejiang + jiangsu, canaries=0)
    c.add("浙江大区", LinkKind.REGION, zhejiang, "总部", canaries=0)
    c.add("江苏大区", LinkKind.REGION, jiangsu, "总部", canaries=0)
    for outlet, region in outlets.items():
        c.add(outlet, LinkKind.OUTLET, per_outlet, region, canaries=0)
        for days in (40, 10):
            c.plant(outlet, 20, at=NOW - days * DAY)
        for k in (1, 2):
            c.add(f"{outlet}快递员{k}", LinkKind.COURIER_STAFF, COURIER, outlet, canaries=0)
            for days in (40, 10):
                c.plant(f"{outlet}快递员{k}", 5, at=NOW - days * DAY)
    return c


def test_a_300000_row_dump_with_six_canaries_names_their_outlet() -> None:
    """Issue 15: the dump named the head office at 0.000000004 and left the outlet out,
    taking 300,000 rows for what one link leaked. Six exact waybill matches (about 100
    bits each) in a file of anyone's records point at the outlet that saw them."""
    c = zhejiang()
    leaked = c.canaries["宁波鄞州网点"][20:26]  # six of its latest batch
    dump = seen(leaked, 100.0, rows=300_000, channel=Channel.DUMP)
    result = attribute(c.tree(), dump, leaked_records=300_000)
    top = result.candidates[0]
    assert c.name(top.link_id) == "宁波鄞州网点"
    assert top.probability >= 0.9
    assert result.noise_probability < 1e-9
    assert "chance match" not in result.explanation.en
    assert top.leaked_volume is not None and top.leaked_volume < 300_000
    assert "the size of a file says nothing about it" in result.explanation.en


def test_a_big_file_never_rules_out_a_small_link() -> None:
    c = zhejiang()
    leaked = c.canaries["杭州西湖网点快递员1"][5:9]  # a courier's latest batch, 4 of 5
    for rows in (1_000, 50_003, 2_000_000):
        dump = seen(leaked, 100.0, rows=rows, channel=Channel.DUMP)
        result = attribute(c.tree(), dump, leaked_records=rows)
        assert c.name(result.candidates[0].link_id) == "杭州西湖网点快递员1", rows
        assert result.candidates[0].probability > 0.5, rows


def test_three_canaries_of_an_outlet_in_50003_rows_name_it() -> None:
    """Issue 15: the head office got 0.95 and the outlet 0.00, with no warning."""
    c = zhejiang()
    leaked = c.canaries["杭州拱墅网点"][21:24]
    result = attribute(c.tree(), seen(leaked, 95.0, rows=50_003), leaked_records=50_003)
    assert c.name(result.candidates[0].link_id) == "杭州拱墅网点"
    assert result.candidates[0].probability > 0.9
    head = next(x for x in result.candidates if c.name(x.link_id) == "总部")
    assert head.probability < 0.05


def test_an_exact_waybill_match_is_never_chance() -> None:
    """The chance that any of 2,000,000 rows matches one canary at 100 bits is below
    2,000,000 · 2^-100: one such match is a lead, but never noise."""
    c = zhejiang()
    one = seen(c.canaries["温州鹿城网点"][25:26], 100.0, rows=2_000_000)
    result = attribute(c.tree(), one, leaked_records=2_000_000)
    assert result.noise_probability < 1e-12
    assert Flag.WEAK in result.flags  # one canary cannot tell its outlet from its region


def test_the_prior_does_not_outrank_the_evidence() -> None:
    """Issue 15: a region at 0.47 ranked above the outlet holding all 3 surfaced canaries.
    A region that leaked would have shown its other outlets' canaries too; they did not."""
    c = zhejiang()
    leaked = c.canaries["杭州西湖网点"][22:25]
    result = attribute(c.tree(), seen(leaked, 45.0))  # a listing of unknown size
    names = [c.name(x.link_id) for x in result.candidates]
    assert names.index("杭州西湖网点") < names.index("浙江大区")
    region = next(x for x in result.candidates if c.name(x.link_id) == "浙江大区")
    assert region.prior > result.candidates[0].prior  # the prior alone would rank it first
    assert region.probability < 0.05
    assert "Prior before any canary is weighed" in result.candidates[0].explanation.en


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
    region = [
        next(x.probability for x in r.candidates if c.name(x.link_id) == "大区1")
        for c, r in zip((sparse, dense), results, strict=True)
    ]
    assert region[1] < region[0] / 10
    assert dense.name(results[1].candidates[0].link_id) == "网点1-2"


def test_calls_and_sms_count_only_the_canaries_they_can_reach() -> None:
    """An SMS campaign reaches only canaries with a pool number: of a batch of ten, the two
    that carry one are all an SMS could have surfaced."""
    c = courier()
    numbered = c.plant("商家", 2, at=NOW - 5 * DAY, by_phone=True)
    c.plant("商家", 8, at=NOW - 5 * DAY)
    by_phone = attribute(c.tree(), seen(numbered, 45.0, rows=1, channel=Channel.SMS))
    merchant = next(x for x in by_phone.candidates if c.name(x.link_id) == "商家")
    assert merchant.visible == 2
    listed = attribute(c.tree(), seen(numbered, 45.0, rows=200, channel=Channel.SITE))
    merchant = next(x for x in listed.candidates if c.name(x.link_id) == "商家")
    assert merchant.visible >= 10


def test_a_strong_chance_match_elsewhere_does_not_break_the_attribution() -> None:
    """A 2,000,000-row dump holding a courier's latest batch and, by chance (about two
    such a file at a million rows a chance match), one canary of another region at 37 bits,
    in a courier of generated size: the courier stays first and the stray's link is not
    named a leaker."""
    world = build_world(random.Random(5))
    tree = ExposureTree(world.links, world.exposures)
    kinds = {link.id: link.kind for link in world.links}
    couriers = [e for e in world.exposures if kinds[e.link_id] is LinkKind.COURIER_STAFF]
    latest = max(couriers, key=lambda e: e.planted_at)
    batch = [e.canary_id for e in couriers if e.link_id == latest.link_id][-5:]
    readers = tree.exposure_set(latest.link_id)
    stray = next(
        e
        for e in couriers
        if not readers
        & tree.exposure_set(e.link_id)
        - {link.id for link in world.links if link.kind is LinkKind.HEAD_OFFICE}
    )
    at = latest.planted_at + 3 * DAY
    dump = seen(batch, 90.0, at=at, rows=2_000_000) + seen(
        [stray.canary_id], 37.0, at=at, rows=2_000_000
    )
    result = attribute(tree, dump, leaked_records=2_000_000, chance_per_row=1e-6)
    assert result.candidates[0].link_id == latest.link_id
    assert Flag.MULTIPLE_LEAKERS not in result.flags
    assert all(x.probability < 0.5 for x in result.candidates if x.link_id == stray.link_id)


def test_a_reader_no_canary_can_check_is_held_level_with_the_link_it_reads() -> None:
    """A region whose other outlet carries no canary saw exactly what its outlet saw: the
    canaries cannot tell them apart, so the region's larger prior does not put it first."""
    c = Courier()
    c.add("浙江大区", LinkKind.REGION, 2_200, canaries=0)
    c.add("西湖网点", LinkKind.OUTLET, 600, "浙江大区", canaries=0)
    c.add("滨江网点", LinkKind.OUTLET, 600, "浙江大区", canaries=0)
    batch = c.plant("西湖网点", 20, at=NOW - 3 * DAY)
    result = attribute(c.tree(), seen(batch[:3], 90.0))
    outlet, region = result.candidates[:2]
    assert (c.name(outlet.link_id), c.name(region.link_id)) == ("西湖网点", "浙江大区")
    assert outlet.probability == region.probability and region.prior > outlet.prior
    assert "cannot tell 西湖网点 (outlet) from 浙江大区 (region)" in result.explanation.en


def test_a_canary_seen_before_it_was_planted_is_chance_and_does_not_date_the_leak() -> None:
    """Seed 2 of the benchmark: an outlet leaked everything it held in a quiet fortnight (two
    couriers' batches), and the dump also held a chance match, at 36 bits, of a canary
    planted months after the dump was found. Taken as evidence, that plant put the leak
    after it, where the outlet's later canaries had not surfaced, and two innocent couriers
    were named at 0.95. A canary seen before it reached any feed cannot have leaked."""
    c = Courier()
    c.add("总部", LinkKind.HEAD_OFFICE, 100_000, canaries=0)
    c.add("大区", LinkKind.REGION, 10_000, "总部", canaries=0)
    for outlet in ("网点甲", "网点乙"):
        c.add(outlet, LinkKind.OUTLET, 1_200, "大区", canaries=0)
        c.plant(outlet, 10, at=NOW - 45 * DAY)
        for k in range(6):
            c.add(f"{outlet}快递员{k}", LinkKind.COURIER_STAFF, 120, outlet, canaries=0)
            if k > 1:  # the first two are quiet: rotation's batches only
                c.plant(f"{outlet}快递员{k}", 10, at=NOW - 45 * DAY)
                c.plant(f"{outlet}快递员{k}", 10, at=NOW + (10 + 3 * k) * DAY)  # after the leak
    leaked = c.plant("网点甲快递员0", 10, at=NOW - 14 * DAY)
    leaked += c.plant("网点甲快递员1", 10, at=NOW - 1 * DAY)
    late = c.plant("网点乙快递员3", 1, at=NOW + 120 * DAY)
    dump = seen(leaked, 80.0, at=NOW + 3 * DAY, rows=347_313, channel=Channel.DUMP)
    dump += seen(late, 36.5, at=NOW + 3 * DAY, rows=347_313, channel=Channel.DUMP)
    result = attribute(c.tree(), dump, leaked_records=347_313)
    top = result.candidates[0]
    assert c.name(top.link_id) == "网点甲", [
        (c.name(x.link_id), x.unguarded) for x in result.candidates
    ]
    assert all(
        c.name(x.link_id) != "网点甲快递员0" or x.probability < 0.5 for x in result.candidates
    )
    assert "1 canary surfaced before it was planted" in result.explanation.en
    assert "有 1 个诱饵运单在投放之前就已出现" in result.explanation.zh


def test_a_report_dated_before_its_canaries_were_planted_says_why_it_names_nobody() -> None:
    """A listing entered with a wrong date (a year ago, for one found today): the canaries
    in it had not reached any feed then, so no leak can explain them; the report says so."""
    c = zhejiang()
    leaked = c.canaries["宁波鄞州网点"][:3]
    listing = seen(leaked, 90.0, at=NOW - 365 * DAY, rows=40, channel=Channel.SITE)
    result = attribute(c.tree(), listing, leaked_records=40)
    assert result.candidates == ()
    assert result.noise_probability == 1.0 and Flag.WEAK in result.flags
    assert result.explanation.en.startswith("Every canary that surfaced was seen before it was")
    assert "3 canaries surfaced before they were planted" in result.explanation.en
    assert "Check when the sightings were made" in result.explanation.en
    assert "有 3 个诱饵运单在投放之前就已出现" in result.explanation.zh


def test_a_broad_leak_seen_through_many_calls_is_weighed_as_one_leaker() -> None:
    """Seed 3 of the benchmark: a head office's leak seen as calls without content to 54 of
    its numbers across the country and 7 brushing orders. Each call weighs little, and the
    cheap ranking that picks the links weighed in full ranked the head office 16th of 19, so
    it was never weighed alone: the answer was the vendor (innocent) and the head office
    together, each at 1.0 before the caps. Every link that saw every canary the incident
    rests on is weighed in full."""
    c = Courier()
    c.add("面单软件商", LinkKind.VENDOR, 40_000, canaries=0)
    c.add("总部", LinkKind.HEAD_OFFICE, 140_000, canaries=0)
    rng = random.Random(7)
    leaked: list[uuid.UUID] = []
    for r in range(10):
        c.add(f"大区{r}", LinkKind.REGION, 12_000, "总部", canaries=0)
        c.plant(f"大区{r}", 10, at=NOW - rng.uniform(5, 100) * DAY, by_phone=True)
        for o in range(10):
            outlet = f"网点{r}-{o}"
            readers = ("面单软件商",) if o % 3 == 0 else ()
            c.add(outlet, LinkKind.OUTLET, 1_200, f"大区{r}", readers, canaries=0)
            c.add(f"{outlet}快递员", LinkKind.COURIER_STAFF, 150, outlet, canaries=0)
            for _ in range(4):
                for link in (outlet, f"{outlet}快递员"):
                    at = NOW - rng.uniform(1, 120) * DAY
                    batch = c.plant(link, 3, at=at, by_phone=True)
                    c.plant(link, 30, at=at)
                    leaked += [x for x in batch if rng.random() < 0.02]
    calls = [
        CanarySighting(canary, NOW + rng.uniform(1, 12) * DAY, None, background_rate=0.1,
                       channel=Channel.CALL)
        for canary in leaked for _ in range(2)
    ]  # fmt: skip
    orders = seen(rng.sample(leaked, 7), 45.0, at=NOW + 2 * DAY, rows=1, channel=Channel.ORDER)
    result = attribute(c.tree(), calls + orders)
    top = result.candidates[0]
    assert len(leaked) >= 30
    assert c.name(top.link_id) == "总部", [
        (c.name(x.link_id), x.unguarded) for x in result.candidates
    ]
    assert Flag.MULTIPLE_LEAKERS not in result.flags
    vendor = [x for x in result.candidates if c.name(x.link_id) == "面单软件商"]
    assert all(x.probability < 0.5 for x in vendor)
