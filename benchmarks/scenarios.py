"""A seeded courier, its canaries over time, and staged leaks seen the ways leaks are seen:
what attribution and grouping are measured on.

The courier: a head office, regions, outlets under them and couriers under the outlets
(every record a courier sees, its outlet, region and head office see too); a call centre
and a waybill system under the head office with feeds of their own; platforms with their
merchants; a printing-software vendor. The vendor's clients are about a third of the
outlets and of the merchants: every e-waybill a client prints passes through the vendor's
cloud, so the vendor reads all its client sees. In the link tree the vendor is a reader
besides each client's parent.

Volumes: a courier handles 60-160 records a day, an outlet adds its own counter and pickup
records (20-60 % on top of its couriers'), regions, the head office, platforms and the vendor
add a few percent of their own feeds; a merchant ships 30-3,000 orders a day. The volumes
attribution is told are off by about a quarter either way, as declared volumes are.

Canaries: every link's own feed gets canaries at one density per world (0.02-1 % of
records, log-uniform), the two ways the product plants: half the links stream their feed
through the splicer (canaries one by one at random times, `interleave`), the others have
their dispatch system pull a batch every 1-7 days (`pull`). Rotation's floor, as the product
keeps it (app.planting.rotation): a link that has gone 3 days (`rotation_days` 30 /
`rotation_batch` 10) without a plant gets one canary ready, which goes out with the next
records it streams or its next pull: every link under test has canaries of its own spread
over time. `monthly_batches` has every link pulled once every 30 days instead (the harder
world: a short look-back then often holds one link's batch and no other). Three in ten carry
a pool number (calls and SMS reach only those). Control canaries, a twentieth as many, are
never planted.

A leak: a link (by kind: couriers and outlets 28 % each, merchants 15 %, regions 10 %, vendor
5 %, platforms, head office, call centre and system 3-4 % each) takes n of its records of
the last 5-240 days (log-uniform, as attribution assumes), n from 10 to 2,000,000
(log-uniform; all of them if it saw fewer); each of its canaries in that period is among
them with n over its records. Only canaries and row counts
matter to the model, so no row is ever made. The leak is then seen, 0.5-20 days later,
through channels:
- a dump: 1,000 to 2,000,000 rows (log-uniform) compiled from many sources, the leak's
  share 1-100 %; whole records matched at 60-110 bits (waybill, name, mobile), one in ten
  partial or masked (32-50 bits);
- a listing: 20-500 rows, 30-100 % of them from the leak, masked (half show the waybill
  number, 40-70 bits; the others 32-50), its size known half the time;
- an SMS campaign to 1-100 % of the leak's numbers (canaries with a pool number matched by
  name and number, 36-60 bits), one template and sender;
- brushing orders to 0.1-10 % of its addresses (name and full address, 36-60 bits), one
  merchant;
- calls without content to 5-100 % of its numbers, a leaked number called about every two
  days on top of its background rate (0.05-0.3 a day), over 1-14 days.
Chance: a row of strangers matches a given canary at 32 bits or more with probability
10^-11 (the matcher's bound allows 2^-32), so a file gets chance matches at 10^-11 times the
index size a row (about 10^-6 at 100,000 canaries), each a random canary or control, scored
32 bits plus an exponential with half-life one bit (a sixteenth reach 36). As the matcher's
weights say, a true canary shows such a low-scoring pattern too: the partial dump rows and
masked listing rows above.

Shapes: one leaker in a listing, a dump, an SMS campaign, brushing orders, calls only, or
2-4 channels at once; the vendor leaking into a dump and a listing; two unrelated leakers in
one dump or listing; two unrelated leaks a few days apart, each on its own channels; control
canaries only; noise only (chance matches in a file without a leak, background calls).
"""

import math
import random
import uuid
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from attribution.grouping import SightingProfile
from attribution.kinds import Channel, LinkKind
from attribution.model import CanarySighting, Exposure, LinkNode
from attribution.tree import LOOKBACK_RANGE

DAY = timedelta(days=1)
ROTATION_DAYS = 30
ROTATION_BATCH = 10  # the product's defaults (app.planting.schemas.FeedProfileBody)
FLOOR_GAP = ROTATION_DAYS / ROTATION_BATCH  # app.planting.rotation.floor_gap
PULLED_SHARE = 0.5
PULL_EVERY_DAYS = (1.0, 7.0)
NUMBERED_SHARE = 0.3
LEAK_KIND_SHARE: dict[LinkKind, float] = {
    LinkKind.COURIER_STAFF: 0.28,
    LinkKind.OUTLET: 0.28,
    LinkKind.MERCHANT: 0.15,
    LinkKind.REGION: 0.10,
    LinkKind.VENDOR: 0.05,
    LinkKind.PLATFORM: 0.04,
    LinkKind.HEAD_OFFICE: 0.04,
    LinkKind.CALL_CENTRE: 0.03,
    LinkKind.SYSTEM: 0.03,
}
LOOKBACK_DAYS = LOOKBACK_RANGE
SIGHTING_DELAY_DAYS = (0.5, 20.0)
DUMP_ROWS = (1_000, 2_000_000)
LEAK_RECORDS = (10, 2_000_000)
LISTING_ROWS = (20, 500)
# A row of strangers matches one given canary at 32 bits or more about 20 times less often
# than the matcher's bound (2^-32) allows.
CHANCE_PER_PAIR = 1e-11
PARTIAL_DUMP_ROWS = 0.1
LEAKED_CALLS_PER_DAY = 0.5


class Shape(StrEnum):
    LISTING = "listing"
    DUMP = "dump"
    SMS = "sms"
    BRUSHING = "brushing"
    CALLS = "calls"
    CHANNELS = "several channels"
    VENDOR = "vendor"
    TWO_LEAKERS = "two leakers, one file"
    TWO_LEAKS = "two leaks"
    CONTROL = "control only"
    NOISE = "noise only"


SHAPE_SHARE: dict[Shape, float] = {
    Shape.LISTING: 0.14,
    Shape.DUMP: 0.14,
    Shape.SMS: 0.06,
    Shape.BRUSHING: 0.06,
    Shape.CALLS: 0.05,
    Shape.CHANNELS: 0.20,
    Shape.VENDOR: 0.05,
    Shape.TWO_LEAKERS: 0.12,
    Shape.TWO_LEAKS: 0.08,
    Shape.CONTROL: 0.05,
    Shape.NOISE: 0.05,
}


@dataclass(slots=True)
class World:
    """The links as attribution is told them, every plant, and the truth the generator keeps."""

    links: list[LinkNode]
    exposures: list[Exposure]
    controls: list[uuid.UUID]
    numbered: frozenset[uuid.UUID]  # canaries carrying a pool number
    start: datetime
    end: datetime
    density: float
    true_per_day: dict[uuid.UUID, float] = field(default_factory=dict)
    plants_at: dict[uuid.UUID, list[Exposure]] = field(default_factory=dict)
    read_by: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    _readable: dict[uuid.UUID, frozenset[uuid.UUID]] = field(default_factory=dict)

    def readable(self, link_id: uuid.UUID) -> frozenset[uuid.UUID]:
        """The link and every link whose data it reads, directly or through others."""
        if link_id not in self._readable:
            seen = {link_id}
            todo = [link_id]
            while todo:
                for below in self.read_by.get(todo.pop(), []):
                    if below not in seen:
                        seen.add(below)
                        todo.append(below)
            self._readable[link_id] = frozenset(seen)
        return self._readable[link_id]

    def unrelated(self, a: uuid.UUID, b: uuid.UUID) -> bool:
        """Neither link reads the other's data."""
        return a not in self.readable(b) and b not in self.readable(a)

    @property
    def chance_per_row(self) -> float:
        """How often a row of strangers matches some canary: what control canaries measure."""
        return CHANCE_PER_PAIR * (len(self.exposures) + len(self.controls))

    def visible(self, link_id: uuid.UUID, since: datetime, until: datetime) -> list[uuid.UUID]:
        """The canaries the link could see planted in [since, until]."""
        out: list[uuid.UUID] = []
        for below in self.readable(link_id):
            plants = self.plants_at[below]
            times = [e.planted_at for e in plants]
            lo, hi = bisect_left(times, since), bisect_right(times, until)
            out.extend(e.canary_id for e in plants[lo:hi])
        return out


@dataclass(frozen=True, slots=True)
class Staged:
    """One generated sighting: what the model and grouping are given, and where it came
    from (`source`: one file, listing, campaign, merchant or number)."""

    sighting: CanarySighting
    profile: SightingProfile
    source: str
    file_rows: int | None  # rows of the file or listing it was found in, when known
    leak: int | None  # the scenario's leak it belongs to; None for chance


@dataclass(frozen=True, slots=True)
class Leak:
    leakers: tuple[uuid.UUID, ...]
    leaked_at: datetime
    # Per leaker, its canaries matched with content anywhere (a call without content to a
    # canary's number is a sighting, but not the canary's record surfacing).
    surfaced: dict[uuid.UUID, frozenset[uuid.UUID]]
    # Per leaker, the days its leak reached back and the canaries it held in them.
    lookback: dict[uuid.UUID, float] = field(default_factory=dict)
    at_risk: dict[uuid.UUID, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scenario:
    shape: Shape
    leaks: tuple[Leak, ...]
    staged: tuple[Staged, ...]


def _id(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    # Knuth's method: count uniforms until their product drops below e^-mean.
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def _binomial_sample(rng: random.Random, items: list[uuid.UUID], p: float) -> list[uuid.UUID]:
    if p >= 1.0:
        return list(items)
    return [item for item in items if rng.random() < p]


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


class _Builder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.nodes: dict[uuid.UUID, tuple[uuid.UUID | None, LinkKind, str]] = {}
        self.own: dict[uuid.UUID, float] = {}
        self.read_by: dict[uuid.UUID, list[uuid.UUID]] = {}
        self.extra_readers: dict[uuid.UUID, list[uuid.UUID]] = {}

    def add(self, parent: uuid.UUID | None, kind: LinkKind, name: str, own: float) -> uuid.UUID:
        link_id = _id(self.rng)
        self.nodes[link_id] = (parent, kind, name)
        self.own[link_id] = own
        if parent is not None:
            self.read_by.setdefault(parent, []).append(link_id)
        return link_id

    def reads(self, reader: uuid.UUID, client: uuid.UUID) -> None:
        self.read_by.setdefault(reader, []).append(client)
        self.extra_readers.setdefault(client, []).append(reader)

    def visible(self, link_id: uuid.UUID, memo: dict[uuid.UUID, float]) -> float:
        if link_id not in memo:
            below = self.read_by.get(link_id, [])
            memo[link_id] = self.own[link_id] + sum(self.visible(b, memo) for b in below)
        return memo[link_id]


def _plant_times(
    rng: random.Random, per_day: float, pulls_every: float | None, days: float
) -> list[float]:
    """When (days into the world) a link's canaries reach its feed: spliced in one by one as
    the feed streams (`pulls_every` None), or pulled in batches on the dispatch system's
    schedule; then rotation's floor (see _floor)."""
    if pulls_every is None:
        times = sorted(rng.uniform(0, days) for _ in range(_poisson(rng, per_day * days)))
        return sorted(times + _floor(rng, times, None, days))
    pulls: list[float] = []
    times = []
    at = rng.uniform(0, pulls_every)
    while at < days:
        pulls.append(at)
        times.extend([at] * _poisson(rng, per_day * pulls_every))
        at += pulls_every
    return sorted(times + _floor(rng, times, pulls, days))


def _floor(
    rng: random.Random, natural: list[float], pulls: list[float] | None, days: float
) -> list[float]:
    """Rotation's floor over a link's own plant times (sorted): whenever FLOOR_GAP days pass
    without a plant (and nothing waits), one canary is made ready within the hour rotation
    runs; a streamed feed sends it with its next records, a pulled one with its next pull."""
    out: list[float] = []
    last = 0.0
    following = iter(natural)
    upcoming = next(following, math.inf)
    while True:
        while upcoming <= last + FLOOR_GAP:
            last = max(last, upcoming)
            upcoming = next(following, math.inf)
        ready = last + FLOOR_GAP + rng.uniform(0, 1 / 24)
        if pulls is None:
            at = ready
        else:
            later = bisect_left(pulls, ready)
            at = pulls[later] if later < len(pulls) else math.inf
        if at >= days:
            return out
        out.append(at)
        last = at


def build_world(
    rng: random.Random,
    *,
    regions: int = 10,
    outlets: int = 100,
    platforms: int = 2,
    merchants: int = 50,
    days: int = 240,
    density: float | None = None,
    monthly_batches: bool = False,
) -> World:
    """A courier and its partners with canaries planted over `days` days."""
    b = _Builder(rng)
    head = b.add(None, LinkKind.HEAD_OFFICE, "总部", 0.0)
    region_ids = [b.add(head, LinkKind.REGION, f"大区{r + 1:02d}", 0.0) for r in range(regions)]
    outlet_ids: list[uuid.UUID] = []
    for o in range(outlets):
        region = o % regions
        outlet = b.add(region_ids[region], LinkKind.OUTLET, f"网点{region + 1:02d}-{o + 1:03d}", 0)
        couriers = [
            b.add(outlet, LinkKind.COURIER_STAFF, f"快递员{o + 1:03d}-{k + 1:02d}", 0)
            for k in range(rng.randint(3, 12))
        ]
        for courier in couriers:
            b.own[courier] = rng.uniform(60, 160)
        b.own[outlet] = rng.uniform(0.2, 0.6) * sum(b.own[c] for c in couriers)
        outlet_ids.append(outlet)
    merchant_ids: list[uuid.UUID] = []
    platform_ids = [
        b.add(None, LinkKind.PLATFORM, f"平台{chr(ord('A') + p)}", 0.0) for p in range(platforms)
    ]
    for m in range(merchants):
        p = m % platforms
        name = f"商家{chr(ord('A') + p)}-{m + 1:02d}"
        own = _log_uniform(rng, 30, 3000)
        merchant_ids.append(b.add(platform_ids[p], LinkKind.MERCHANT, name, own))
    vendor = b.add(None, LinkKind.VENDOR, "面单软件商", 0.0)
    for client in outlet_ids + merchant_ids:
        if rng.random() < 1 / 3:
            b.reads(vendor, client)
    # Readers' own feeds: a few percent of what they read (exceptions, exports, audits).
    for reader in [*region_ids, head, *platform_ids, vendor]:
        b.own[reader] = rng.uniform(0.02, 0.08) * b.visible(reader, {})
    total = b.visible(head, {})
    b.add(head, LinkKind.CALL_CENTRE, "客服中心", rng.uniform(0.01, 0.03) * total)
    b.add(head, LinkKind.SYSTEM, "面单系统", rng.uniform(0.02, 0.05) * total)
    memo: dict[uuid.UUID, float] = {}
    true_per_day = {link_id: b.visible(link_id, memo) for link_id in b.nodes}

    links = [
        LinkNode(
            id=link_id,
            parent_id=parent,
            kind=kind,
            name=name,
            records_per_day=true_per_day[link_id] * math.exp(rng.gauss(0.0, 0.25)),
            readers=tuple(b.extra_readers.get(link_id, [])),
        )
        for link_id, (parent, kind, name) in b.nodes.items()
    ]
    density = density if density is not None else _log_uniform(rng, 0.0002, 0.01)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    exposures: list[Exposure] = []
    plants_at: dict[uuid.UUID, list[Exposure]] = {}
    for link_id, own in b.own.items():
        mine = plants_at.setdefault(link_id, [])
        if monthly_batches:
            pulls_every: float | None = ROTATION_DAYS
        elif rng.random() < PULLED_SHARE:
            pulls_every = rng.uniform(*PULL_EVERY_DAYS)
        else:
            pulls_every = None  # streamed through the splicer
        for offset in _plant_times(rng, own * density, pulls_every, days):
            planted = start + (offset + rng.uniform(0, 2 / 24)) * DAY
            by_phone = rng.random() < NUMBERED_SHARE
            mine.append(Exposure(_id(rng), link_id, planted, by_phone))
        mine.sort(key=lambda e: e.planted_at)
        exposures.extend(mine)
    numbered = frozenset(e.canary_id for e in exposures if e.by_phone)
    controls = [_id(rng) for _ in range(max(10, len(exposures) // 20))]
    return World(
        links,
        exposures,
        controls,
        numbered,
        start,
        start + days * DAY,
        density,
        true_per_day,
        plants_at,
        b.read_by,
    )


@dataclass
class _Stage:
    """A scenario being built: its sightings, and where each canary's plant is."""

    world: World
    rng: random.Random
    staged: list[Staged] = field(default_factory=list)
    plant_link: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.plant_link:
            self.plant_link = {e.canary_id: e.link_id for e in self.world.exposures}

    def see(
        self,
        canary: uuid.UUID,
        at: datetime,
        score: float | None,
        channel: Channel,
        keys: frozenset[str],
        leak: int | None,
        *,
        rows: int | None = None,
        file_rows: int | None = None,
        background: float | None = None,
    ) -> None:
        control = canary not in self.plant_link
        sighting = CanarySighting(canary, at, score, control, background, rows, channel)
        profile = SightingProfile(
            _id(self.rng), canary, self.plant_link.get(canary), at, channel, keys, score
        )
        source = min(keys)
        self.staged.append(Staged(sighting, profile, source, file_rows, leak))

    def chance(self, at: datetime, rows: int, channel: Channel, keys: frozenset[str]) -> None:
        """Chance matches of a file of `rows` rows: random canaries or controls."""
        for _ in range(_poisson(self.rng, rows * self.world.chance_per_row)):
            self.chance_match(at, channel, keys, rows=rows, file_rows=rows)

    def chance_match(
        self,
        at: datetime,
        channel: Channel,
        keys: frozenset[str],
        *,
        rows: int | None,
        file_rows: int | None,
    ) -> None:
        world, rng = self.world, self.rng
        if rng.random() < 1 / 21:
            canary = rng.choice(world.controls)
        else:
            canary = rng.choice(world.exposures).canary_id
        score = 32.0 + rng.expovariate(math.log(2.0))
        self.see(canary, at, score, channel, keys, None, rows=rows, file_rows=file_rows)


@dataclass(frozen=True, slots=True)
class _Taken:
    """What one leaker's leak holds: its canaries in it, and its records at risk."""

    leaker: uuid.UUID
    canaries: list[uuid.UUID]
    records: float
    volume: float
    lookback: float
    at_risk: int


def _leak_link(world: World, rng: random.Random, kinds: dict[LinkKind, float]) -> uuid.UUID:
    present = [k for k in kinds if any(link.kind is k for link in world.links)]
    kind = rng.choices(present, weights=[kinds[k] for k in present])[0]
    return rng.choice([link.id for link in world.links if link.kind is kind])


def _unrelated_pair(world: World, rng: random.Random) -> tuple[uuid.UUID, uuid.UUID]:
    first = _leak_link(world, rng, LEAK_KIND_SHARE)
    while True:
        second = _leak_link(world, rng, LEAK_KIND_SHARE)
        if world.unrelated(first, second):
            return first, second


def _take(
    world: World, rng: random.Random, leaker: uuid.UUID, at: datetime, volume: float
) -> _Taken:
    """A leak of about `volume` of the leaker's records of a recent period (capped at all)."""
    lookback = min(_log_uniform(rng, *LOOKBACK_DAYS), (at - world.start) / DAY)
    at_risk = world.visible(leaker, at - lookback * DAY, at)
    records = world.true_per_day[leaker] * lookback + len(at_risk)
    volume = min(volume, records)
    taken = _binomial_sample(rng, at_risk, volume / records)
    return _Taken(leaker, taken, records, volume, lookback, len(at_risk))


def _dump(st: _Stage, taken: list[_Taken], at: datetime, leak: int, rows: int) -> None:
    keys = frozenset({f"file:{_id(st.rng)}"})
    for part in taken:
        for canary in part.canaries:
            partial = st.rng.random() < PARTIAL_DUMP_ROWS
            score = st.rng.uniform(32, 50) if partial else st.rng.uniform(60, 110)
            st.see(canary, at, score, Channel.DUMP, keys, leak, rows=rows, file_rows=rows)
    st.chance(at, rows, Channel.DUMP, keys)


def _listing(st: _Stage, taken: list[_Taken], at: datetime, leak: int) -> None:
    rng = st.rng
    rows = rng.randint(*LISTING_ROWS)
    known = rows if rng.random() < 0.5 else None
    keys = frozenset({f"url:{_id(rng)}"})
    from_leak = rows * rng.uniform(0.3, 1.0) / len(taken)
    for part in taken:
        share = min(1.0, from_leak / max(part.volume, 1.0))
        for canary in _binomial_sample(rng, part.canaries, share):
            score = rng.uniform(40, 70) if rng.random() < 0.5 else rng.uniform(32, 50)
            st.see(canary, at, score, Channel.SITE, keys, leak, rows=known, file_rows=known)


def _messages(
    st: _Stage, taken: list[_Taken], at: datetime, leak: int, channel: Channel, share: float
) -> None:
    """An SMS campaign (numbers only) or brushing orders (every canary has an address)."""
    rng = st.rng
    if channel is Channel.SMS:
        keys = frozenset({f"template:{_id(rng)}", f"phone:{_id(rng)}"})
    else:
        keys = frozenset({f"merchant:{_id(rng)}"})
    for part in taken:
        reachable = [c for c in part.canaries if channel is Channel.ORDER or c in st.world.numbered]
        for canary in _binomial_sample(rng, reachable, share):
            when = at + rng.uniform(0, 2) * DAY
            st.see(canary, when, rng.uniform(36, 60), channel, keys, leak, rows=1)


def _calls(st: _Stage, taken: list[_Taken], at: datetime, leak: int | None) -> None:
    rng = st.rng
    share = _log_uniform(rng, 0.05, 1.0)
    days = rng.uniform(1, 14)
    caller = f"phone:{_id(rng)}"
    for part in taken:
        for canary in _binomial_sample(
            rng, [c for c in part.canaries if c in st.world.numbered], share
        ):
            background = rng.uniform(0.05, 0.3)
            count = max(1, _poisson(rng, (background + LEAKED_CALLS_PER_DAY) * days))
            keys = frozenset({f"line:{canary}", caller})
            for _ in range(count):
                when = at + rng.uniform(0, days) * DAY
                st.see(canary, when, None, Channel.CALL, keys, leak, background=background)


def _background_calls(st: _Stage, at: datetime) -> None:
    """Calls without content a few canary numbers get with no leak at all."""
    rng, world = st.rng, st.world
    numbered = sorted(world.numbered)
    for _ in range(rng.randint(1, 3)):
        canary = rng.choice(numbered)
        background = rng.uniform(0.05, 0.3)
        days = rng.uniform(1, 30)
        keys = frozenset({f"line:{canary}"})
        for _ in range(max(1, _poisson(rng, background * days))):
            when = at + rng.uniform(0, days) * DAY
            st.see(canary, when, None, Channel.CALL, keys, None, background=background)


def _leak_time(world: World, rng: random.Random) -> datetime:
    return world.start + rng.uniform(60, (world.end - world.start) / DAY - 40) * DAY


def _delay(rng: random.Random) -> timedelta:
    return rng.uniform(*SIGHTING_DELAY_DAYS) * DAY


def _one_leak(
    st: _Stage, leakers: tuple[uuid.UUID, ...], channels: list[Channel], leak: int, at: datetime
) -> Leak:
    """`leakers` leak together (into the same files) and are seen on `channels`."""
    rng, world = st.rng, st.world
    rows = round(_log_uniform(rng, *DUMP_ROWS))
    share = _log_uniform(rng, 0.01, 1.0)
    if channels == [Channel.SITE]:
        volume = float(LISTING_ROWS[1])
    elif Channel.DUMP in channels:
        volume = rows * share / len(leakers)
    else:
        volume = _log_uniform(rng, *LEAK_RECORDS)
    taken = [_take(world, rng, leaker, at, volume) for leaker in leakers]
    before = len(st.staged)
    for channel in channels:
        seen_at = at + _delay(rng)
        if channel is Channel.DUMP:
            _dump(st, taken, seen_at, leak, rows)
        elif channel is Channel.SITE:
            _listing(st, taken, seen_at, leak)
        elif channel is Channel.SMS:
            _messages(st, taken, seen_at, leak, channel, _log_uniform(rng, 0.01, 1.0))
        elif channel is Channel.ORDER:
            _messages(st, taken, seen_at, leak, channel, _log_uniform(rng, 0.001, 0.1))
        else:
            _calls(st, taken, seen_at, leak)
    mine = {
        s.sighting.canary_id
        for s in st.staged[before:]
        if s.leak == leak and s.sighting.score is not None
    }
    surfaced = {part.leaker: frozenset(c for c in part.canaries if c in mine) for part in taken}
    lookback = {part.leaker: part.lookback for part in taken}
    return Leak(leakers, at, surfaced, lookback, {part.leaker: part.at_risk for part in taken})


def stage(world: World, rng: random.Random, shape: Shape) -> Scenario:
    """One scenario of the given shape (see the module)."""
    st = _Stage(world, rng)
    at = _leak_time(world, rng)
    leaks: list[Leak] = []
    single = {
        Shape.LISTING: [Channel.SITE],
        Shape.DUMP: [Channel.DUMP],
        Shape.SMS: [Channel.SMS],
        Shape.BRUSHING: [Channel.ORDER],
        Shape.CALLS: [Channel.CALL],
    }
    several = [Channel.DUMP, Channel.SITE, Channel.SMS, Channel.ORDER, Channel.CALL]
    if shape in single:
        leaker = _leak_link(world, rng, LEAK_KIND_SHARE)
        leaks.append(_one_leak(st, (leaker,), single[shape], 0, at))
    elif shape is Shape.CHANNELS:
        leaker = _leak_link(world, rng, LEAK_KIND_SHARE)
        channels = rng.sample(several, rng.randint(2, 4))
        leaks.append(_one_leak(st, (leaker,), channels, 0, at))
    elif shape is Shape.VENDOR:
        leaker = _leak_link(world, rng, {LinkKind.VENDOR: 1.0})
        leaks.append(_one_leak(st, (leaker,), [Channel.DUMP, Channel.SITE], 0, at))
    elif shape is Shape.TWO_LEAKERS:
        pair = _unrelated_pair(world, rng)
        leaks.append(_one_leak(st, pair, [rng.choice([Channel.DUMP, Channel.SITE])], 0, at))
    elif shape is Shape.TWO_LEAKS:
        first, second = _unrelated_pair(world, rng)
        for index, leaker in enumerate((first, second)):
            channels = rng.sample(several, rng.randint(1, 2))
            when = at + rng.uniform(0, 5) * DAY
            leaks.append(_one_leak(st, (leaker,), channels, index, when))
    elif shape is Shape.CONTROL:
        keys = frozenset({f"url:{_id(rng)}"})
        for _ in range(rng.randint(1, 3)):
            control = rng.choice(world.controls)
            score = rng.uniform(32, 40)
            st.see(control, at, score, Channel.SITE, keys, None, rows=None)
    else:
        rows = round(_log_uniform(rng, *DUMP_ROWS))
        keys = frozenset({f"file:{_id(rng)}"})
        for _ in range(max(1, _poisson(rng, rows * world.chance_per_row))):
            st.chance_match(at, Channel.DUMP, keys, rows=rows, file_rows=rows)
        _background_calls(st, at)
    return Scenario(shape, tuple(leaks), tuple(st.staged))


def stage_any(world: World, rng: random.Random) -> Scenario:
    """A scenario of a shape drawn by SHAPE_SHARE."""
    shapes = list(SHAPE_SHARE)
    return stage(world, rng, rng.choices(shapes, weights=[SHAPE_SHARE[s] for s in shapes])[0])
