"""A seeded courier, its canaries over time, and staged leaks: what attribution is measured on.

The courier: a head office, regions, outlets under them and couriers under the outlets
(every record a courier sees, its outlet, region and head office see too); platforms with
their merchants; a printing-software vendor. The vendor's clients are about a third of the
outlets and of the merchants: every e-waybill a client prints passes through the vendor's
cloud, so the vendor reads all its client sees (for an outlet, its couriers' parcels as
well). In the link tree the vendor is a reader besides each client's parent.

Volumes: a courier handles 60-160 records a day, an outlet adds its own counter and pickup
records (20-60 % on top of its couriers'), regions, the head office, platforms and the vendor
add a few percent of their own feeds; a merchant ships 30-3,000 orders a day. The volumes the
attribution is told are off by about a quarter either way, as declared volumes are.

Canaries: every link's own feed gets canaries at one density per world (0.02-1 % of records,
log-uniform), in rotation batches every 30 days. A leak is a random link (by kind: couriers
and outlets 30 % each, merchants 15 %, regions 10 %, vendor, platforms and head office 5 %
each) at a random time; it takes the link's records of the last 5-150 days and a listing
shows 20-500 of them, sampled uniformly, so the canaries in it are what the density makes
them. The listing is seen 0.5-20 days later; each canary's match scores 40-70 bits when its
waybill number shows, 32-50 when only masked fields do. Noise: one incident in twenty also
matches a control canary by chance, one in ten gets a call without content to some planted
canary's number.
"""

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from attribution.kinds import LinkKind
from attribution.model import CanarySighting, Exposure, LinkNode

DAY = timedelta(days=1)
ROTATION_DAYS = 30
LEAK_KIND_SHARE: dict[LinkKind, float] = {
    LinkKind.COURIER_STAFF: 0.30,
    LinkKind.OUTLET: 0.30,
    LinkKind.MERCHANT: 0.15,
    LinkKind.REGION: 0.10,
    LinkKind.VENDOR: 0.05,
    LinkKind.PLATFORM: 0.05,
    LinkKind.HEAD_OFFICE: 0.05,
}
CONTROL_NOISE = 0.05
CALL_NOISE = 0.10
LEAK_ROWS = (20, 500)
LOOKBACK_DAYS = (5.0, 150.0)
SIGHTING_DELAY_DAYS = (0.5, 20.0)


@dataclass(slots=True)
class World:
    """The links as attribution is told them, every plant, and the truth the generator keeps."""

    links: list[LinkNode]
    exposures: list[Exposure]
    controls: list[uuid.UUID]
    start: datetime
    end: datetime
    density: float
    # The generator's own truth: real volumes, plants per link, who reads whose data.
    true_per_day: dict[uuid.UUID, float] = field(default_factory=dict)
    plants_at: dict[uuid.UUID, list[Exposure]] = field(default_factory=dict)
    read_by: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)

    def readable(self, link_id: uuid.UUID) -> set[uuid.UUID]:
        """The link and every link whose data it reads, directly or through others."""
        seen = {link_id}
        todo = [link_id]
        while todo:
            for below in self.read_by.get(todo.pop(), []):
                if below not in seen:
                    seen.add(below)
                    todo.append(below)
        return seen


@dataclass(frozen=True, slots=True)
class Scenario:
    leakers: tuple[uuid.UUID, ...]
    leaked_at: datetime
    sightings: tuple[CanarySighting, ...]
    leaked_records: int | None  # the listing's row count, when the incident states it
    surfaced: dict[uuid.UUID, frozenset[uuid.UUID]]  # per leaker, its canaries in the listing


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


def build_world(
    rng: random.Random,
    *,
    regions: int = 10,
    outlets: int = 100,
    platforms: int = 2,
    merchants: int = 50,
    days: int = 240,
    density: float | None = None,
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
    memo: dict[uuid.UUID, float] = {}
    for reader in [*region_ids, head, *platform_ids, vendor]:
        b.own[reader] = rng.uniform(0.02, 0.08) * b.visible(reader, {})
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
        batch_at = start + rng.uniform(0, ROTATION_DAYS) * DAY - ROTATION_DAYS * DAY
        while batch_at < start + days * DAY:
            for _ in range(_poisson(rng, own * density * ROTATION_DAYS)):
                planted = max(start, batch_at + rng.uniform(0, 2 / 24) * DAY)
                mine.append(Exposure(_id(rng), link_id, planted))
            batch_at += ROTATION_DAYS * DAY
        mine.sort(key=lambda e: e.planted_at)
        exposures.extend(mine)
    controls = [_id(rng) for _ in range(max(10, len(exposures) // 20))]
    return World(
        links,
        exposures,
        controls,
        start,
        start + days * DAY,
        density,
        true_per_day,
        plants_at,
        b.read_by,
    )


def _leak_link(world: World, rng: random.Random, exclude: set[uuid.UUID]) -> uuid.UUID:
    free = [link for link in world.links if link.id not in exclude]
    kinds = [k for k in LEAK_KIND_SHARE if any(link.kind is k for link in free)]
    kind = rng.choices(kinds, weights=[LEAK_KIND_SHARE[k] for k in kinds])[0]
    return rng.choice([link.id for link in free if link.kind is kind])


def _score(rng: random.Random) -> float:
    return rng.uniform(40, 70) if rng.random() < 0.5 else rng.uniform(32, 50)


def stage_leak(world: World, rng: random.Random, *, leakers: int = 1) -> Scenario:
    """One incident: `leakers` links each leak part of their recent records into one listing."""
    leaked_at = world.start + rng.uniform(60, (world.end - world.start) / DAY - 20) * DAY
    seen_at = leaked_at + rng.uniform(*SIGHTING_DELAY_DAYS) * DAY
    chosen: list[uuid.UUID] = []
    surfaced: dict[uuid.UUID, frozenset[uuid.UUID]] = {}
    rows = 0
    for _ in range(leakers):
        link_id = _leak_link(world, rng, set(chosen))
        chosen.append(link_id)
        lookback = min(_log_uniform(rng, *LOOKBACK_DAYS), (leaked_at - world.start) / DAY)
        since = leaked_at - lookback * DAY
        visible = [
            e.canary_id
            for below in world.readable(link_id)
            for e in world.plants_at[below]
            if since <= e.planted_at <= leaked_at
        ]
        real = round(world.true_per_day[link_id] * lookback)
        shown = min(rng.randint(*LEAK_ROWS), real + len(visible))
        rows += shown
        picked = rng.sample(range(real + len(visible)), shown)
        surfaced[link_id] = frozenset(visible[i] for i in picked if i < len(visible))
    sightings = [
        CanarySighting(canary_id, seen_at + rng.uniform(0, 1) * DAY, _score(rng))
        for canaries in surfaced.values()
        for canary_id in sorted(canaries)
    ]
    if rng.random() < CONTROL_NOISE:
        control = rng.choice(world.controls)
        sightings.append(CanarySighting(control, seen_at, rng.uniform(32, 38), control=True))
    if rng.random() < CALL_NOISE:
        called = rng.choice(world.exposures)
        while called.planted_at >= seen_at:
            called = rng.choice(world.exposures)
        sightings.append(
            CanarySighting(
                called.canary_id,
                seen_at + rng.uniform(0, 2) * DAY,
                None,
                background_rate=rng.uniform(0.05, 0.3),
            )
        )
    return Scenario(
        tuple(chosen),
        leaked_at,
        tuple(sightings),
        rows if rng.random() < 0.7 else None,
        surfaced,
    )
