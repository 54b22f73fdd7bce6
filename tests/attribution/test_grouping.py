"""One leak, one incident: sightings of one leak join whatever the channel, two unrelated
leaks stay apart, an investigator's split stays split."""

import uuid
from dataclasses import replace

from attribution.grouping import (
    IncidentProfile,
    Join,
    SightingProfile,
    absorb,
    anchors,
    choose,
    group,
    joins,
    profile,
)
from attribution.kinds import Channel, LinkKind
from attribution.model import CanarySighting, Flag, attribute
from tests.attribution.courier import DAY, NOW, Courier, courier, seen


def profiles(
    c: Courier,
    sightings: list[CanarySighting],
    channel: Channel,
    keys: frozenset[str],
) -> list[SightingProfile]:
    """What grouping is told of these sightings, arriving by one channel with these keys."""
    return [
        SightingProfile(
            uuid.uuid4(),
            s.canary_id,
            None if s.control else c.link_of(s.canary_id),
            s.observed_at,
            channel,
            keys,
            s.score,
        )
        for s in sightings
    ]


def demo() -> Courier:
    """The courier `honeytrace demo` registers (app/demo/story.py), 30 canaries planted at
    every link at once, with the app's records a day (app/incidents/exposures.py)."""
    c = Courier()
    c.add("中通演示总部", LinkKind.HEAD_OFFICE, 5_000 + 2_000 + 3_100 + 1_400, canaries=0)
    c.add("浙江大区", LinkKind.REGION, 1_000 + 3 * 600 + 200, "中通演示总部", canaries=0)
    c.add("江苏大区", LinkKind.REGION, 1_000 + 2 * 600, "中通演示总部", canaries=0)
    for outlet, region in (("西湖网点", "浙江大区"), ("拱墅网点", "浙江大区"),
                           ("余杭网点", "浙江大区"), ("鼓楼网点", "江苏大区"),
                           ("玄武网点", "江苏大区")):  # fmt: skip
        per_day = 700 if outlet in ("西湖网点", "拱墅网点") else 600
        c.add(outlet, LinkKind.OUTLET, per_day, region, canaries=0)
    c.add("西湖网点 快递员 王师傅", LinkKind.COURIER_STAFF, 100, "西湖网点", canaries=0)
    c.add("拱墅网点 快递员 李师傅", LinkKind.COURIER_STAFF, 100, "拱墅网点", canaries=0)
    c.add("好物商城", LinkKind.PLATFORM, 100_600, canaries=0)
    c.add("好物商城 家居旗舰店", LinkKind.MERCHANT, 300, "好物商城", canaries=0)
    c.add("好物商城 数码专营店", LinkKind.MERCHANT, 300, "好物商城", canaries=0)
    c.add("快打面单软件", LinkKind.VENDOR, 20_000, canaries=0)
    for name in c.links:
        c.plant(name, 30, at=NOW - DAY / 24, by_phone=name == "拱墅网点")
    return c


def test_the_demo_leak_is_one_incident_naming_the_outlet() -> None:
    """Issue 15: the demo's one outlet leak made three incidents (site 0.92, SMS 0.44,
    brushing order 0.44). Three of its canaries on a trading site, one in a scam SMS to its
    pool number, one as a brushing order's recipient: one incident, the outlet first."""
    c = demo()
    leaked = c.canaries["拱墅网点"]
    site = profiles(
        c,
        seen(leaked[:3], 98.0, at=NOW, rows=60, channel=Channel.SITE),
        Channel.SITE,
        frozenset({"url:http://127.0.0.1/listing/1"}),
    )
    sms_sighting = CanarySighting(leaked[3], NOW + DAY / 24, 47.0, rows=1, channel=Channel.SMS)
    sms = profiles(
        c, [sms_sighting], Channel.SMS, frozenset({"line:17099990001", "template:快递理赔"})
    )
    order_sighting = CanarySighting(leaked[4], NOW + DAY / 12, 61.0, rows=1, channel=Channel.ORDER)
    order = profiles(c, [order_sighting], Channel.ORDER, frozenset({"merchant:shop-9"}))
    (incident,) = group([*site, *sms, *order], c.tree())
    assert incident.channels == {Channel.SITE, Channel.SMS, Channel.ORDER}
    sightings = [
        *seen(leaked[:3], 98.0, at=NOW, rows=60, channel=Channel.SITE),
        sms_sighting,
        order_sighting,
    ]
    result = attribute(c.tree(), sightings)
    assert c.name(result.candidates[0].link_id) == "拱墅网点"
    assert result.candidates[0].probability > 0.9
    assert Flag.WEAK not in result.flags


def test_a_dump_and_a_pasted_listing_of_one_outlet_on_one_day_are_one_incident() -> None:
    """Issue 15: they made two incidents. Different canaries of the same outlet, seen the
    same day by two channels with nothing else in common."""
    c = courier()
    batch = c.plant("网点1-3", 20, at=NOW - 12 * DAY)
    dump = profiles(c, seen(batch[:6], 100.0, rows=300_000), Channel.DUMP, frozenset({"file:ab12"}))
    listing = profiles(
        c, seen(batch[10:13], 42.0, at=NOW + DAY / 2), Channel.SITE, frozenset({"url:x/1"})
    )
    (incident,) = group([*dump, *listing], c.tree())
    assert len(incident.sightings) == 9
    assert anchors(incident, c.tree()) == {c.id("网点1-3")}


def test_two_unrelated_leaks_stay_apart() -> None:
    c = courier()
    outlet = c.plant("网点2-2", 10, at=NOW - 9 * DAY)
    merchant = c.plant("商家", 10, at=NOW - 9 * DAY)
    sightings = [
        *profiles(c, seen(outlet[:5], 90.0, rows=10_000), Channel.DUMP, frozenset({"file:1"})),
        *profiles(c, seen(merchant[:3], 44.0), Channel.SITE, frozenset({"url:y"})),
    ]
    incidents = group(sightings, c.tree())
    assert len(incidents) == 2
    assert {frozenset(anchors(i, c.tree())) for i in incidents} == {
        frozenset({c.id("网点2-2")}),
        frozenset({c.id("商家")}),
    }


def test_outlets_of_two_regions_and_a_courier_listing_stay_apart() -> None:
    """A profile whose canaries span regions points at the head office, which reads every
    courier's data: a courier's own listing still does not join it (1/200^3)."""
    c = courier()
    wide = c.plant("网点1-1", 3, at=NOW - 9 * DAY) + c.plant("网点2-4", 3, at=NOW - 9 * DAY)
    own = c.plant("快递员2-1", 5, at=NOW - 9 * DAY)
    sightings = [
        *profiles(c, seen(wide, 80.0), Channel.DUMP, frozenset({"file:2"})),
        *profiles(c, seen(own[:3], 44.0), Channel.SITE, frozenset({"url:z"})),
    ]
    assert len(group(sightings, c.tree())) == 2


def test_one_canary_each_from_two_couriers_of_an_outlet_may_be_one_leak() -> None:
    """An outlet of 1,000 records a day with couriers of 150: a leak of the outlet shows
    one canary of each with chance about 0.15 · 0.15, enough to join."""
    c = courier()
    c.add("网点1-5", LinkKind.OUTLET, 1_000, "大区1", canaries=0)
    for name in ("快递员1-5a", "快递员1-5b"):
        c.add(name, LinkKind.COURIER_STAFF, 150, "网点1-5", canaries=0)
    a = c.plant("快递员1-5a", 1, at=NOW - 3 * DAY)
    b = c.plant("快递员1-5b", 1, at=NOW - 3 * DAY)
    sms = profiles(c, seen(a, 45.0, channel=Channel.SMS), Channel.SMS, frozenset({"phone:1"}))
    order = profiles(c, seen(b, 45.0), Channel.ORDER, frozenset({"merchant:2"}))
    first, second = (profile(p, c.tree()) for p in (sms, order))
    assert joins(first, second, c.tree()) is Join.CLOSE


def test_a_split_stays_split() -> None:
    c = courier()
    batch = c.plant("网点1-4", 10, at=NOW - 4 * DAY)
    left = profile(profiles(c, seen(batch[:3]), Channel.SITE, frozenset({"url:a"})), c.tree())
    right = profile(profiles(c, seen(batch[3:6]), Channel.SITE, frozenset({"url:b"})), c.tree())
    assert joins(left, right, c.tree()) is Join.NESTED
    left = replace(left, apart=frozenset({right.id}))
    assert joins(left, right, c.tree()) is None
    assert joins(right, left, c.tree()) is None
    # A sighting that would join either joins one, and brings the split's memory with it.
    more = profile(profiles(c, seen(batch[6:7]), Channel.SITE, frozenset({"url:b"})), c.tree())
    chosen = choose([left, right], more, c.tree())
    assert chosen is not None and chosen.id == right.id
    assert absorb(left, more, c.tree()).apart == {right.id}


def test_sightings_far_apart_in_time_are_two_incidents() -> None:
    c = courier()
    batch = c.plant("网点2-1", 10, at=NOW - 4 * DAY)
    early = profiles(c, seen(batch[:2], at=NOW), Channel.SITE, frozenset({"url:a"}))
    late = profiles(c, seen(batch[2:4], at=NOW + 45 * DAY), Channel.SITE, frozenset({"url:a"}))
    assert len(group([*early, *late], c.tree())) == 2


def test_a_control_canary_joins_by_its_source_only() -> None:
    c = courier()
    batch = c.plant("网点2-3", 10, at=NOW - 4 * DAY)
    listing = profiles(c, seen(batch[:3]), Channel.SITE, frozenset({"url:a"}))
    control = SightingProfile(
        uuid.uuid4(), uuid.uuid4(), None, NOW + DAY, Channel.SMS, frozenset({"phone:9"}), 35.0
    )
    assert len(group([*listing, control], c.tree())) == 2
    same_page = replace(control, keys=frozenset({"url:a"}))
    assert len(group([*listing, same_page], c.tree())) == 1


def test_a_weak_sighting_joins_but_does_not_move_the_anchor() -> None:
    c = courier()
    batch = c.plant("网点1-1", 10, at=NOW - 4 * DAY)
    strong = profile(
        profiles(c, seen(batch[:4], 60.0), Channel.DUMP, frozenset({"file:q"})), c.tree()
    )
    call = profile(
        profiles(c, seen(c.canaries["大区1"][-1:], 33.0), Channel.SITE, frozenset({"file:q"})),
        c.tree(),
    )
    merged = absorb(strong, call, c.tree())
    assert anchors(merged, c.tree()) == anchors(strong, c.tree()) == {c.id("网点1-1")}
    assert isinstance(merged, IncidentProfile) and merged.strong == 4
