"""One leak, one incident: which sightings belong together, whatever the channel.

A leak is sold and used many ways at once: a dump, a listing pasted from it, an SMS
campaign to its numbers, brushing orders to its addresses, calls. Each reaches honeytrace
as sightings with their own source keys (same file, URL, caller, template, merchant...).
Grouping by source keys alone makes one incident per channel; these rules join them.

A sighting (or an incident) joins an open incident when they are not kept apart, are close
in time, and one of these holds, checked in this order:
1. SOURCE: they share a source key. Whatever their canaries: a file holding two leakers'
   canaries is one incident, which attribution splits between the leakers.
2. CANARY: they share a planted canary: the same record surfacing again.
3. NESTED or 4. CLOSE: the links their strong canaries point at could be one leak. Each
   profile has an anchor, the most specific link that saw all its strong canaries (the
   tops of their planted links when no link saw them all). Let M be the most specific
   link that saw both anchors a and b: a leak of M's records shows k canaries all from a's
   part of M with probability about (v_a/v_M)^k, v being records a day. They join when the
   two profiles together have at least CLOSE_ENOUGH of that chance: NESTED when M is one of
   the anchors (an outlet's incident and one canary of its courier, 1/8), CLOSE otherwise
   (one canary each from two couriers of one outlet, about 1/8 · 1/8). An outlet's dump and
   three canaries of an outlet elsewhere in the region (1/10^3) stay apart, as does a
   profile whose canaries span regions (anchor the head office) and a courier's listing.
Kept apart: profiles the caller marks `apart` (an investigator's split stays split) never
join. Close in time: the sighting within GROUP_WINDOW of the incident's first and last
sightings. Control canaries point at no link: they join by rule 1 only. Weak sightings
(below 36 bits, calls without content) join by any rule but never move an incident's
anchors, so noise cannot widen an incident towards the head office.

What is left to the caller: which incidents are open (a closed one takes nothing), the
source keys, and storing the result. `group` runs the rules over a batch in time order, as
the app does one sighting at a time, merging incidents a sighting bridges.
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum

from attribution.kinds import Channel
from attribution.model import STRONG_BITS
from attribution.tree import ExposureTree

GROUP_WINDOW = timedelta(days=30)
CLOSE_ENOUGH = 0.01


class Join(IntEnum):
    """Why two profiles are one leak, strongest reason first (lower is stronger)."""

    SOURCE = 1
    CANARY = 2
    NESTED = 3
    CLOSE = 4


@dataclass(frozen=True, slots=True)
class SightingProfile:
    """What grouping needs of one sighting."""

    id: uuid.UUID
    canary_id: uuid.UUID
    link_id: uuid.UUID | None  # where the canary was planted; None for a control canary
    observed_at: datetime
    channel: Channel
    keys: frozenset[str]
    score: float | None  # None for a call or message without content


@dataclass(frozen=True, slots=True)
class IncidentProfile:
    """What grouping needs of one incident: its canaries, where they point, when, how seen.
    Build one with `profile`; `reach` and `tops` are kept up to date by `absorb`."""

    id: uuid.UUID
    sightings: frozenset[uuid.UUID]
    canaries: frozenset[uuid.UUID]
    strong_at: frozenset[uuid.UUID]  # the links its strong canaries were planted at
    weak_at: frozenset[uuid.UUID]  # the same for its other planted canaries
    strong: int  # how many distinct strong canaries
    first_seen: datetime
    last_seen: datetime
    channels: frozenset[Channel]
    keys: frozenset[str]
    reach: frozenset[uuid.UUID]  # the links that saw every planted link it rests on
    tops: frozenset[uuid.UUID]  # those planted links whose data no other of them reads
    apart: frozenset[uuid.UUID] = frozenset()  # incidents it must never join

    @property
    def basis(self) -> frozenset[uuid.UUID]:
        """The planted links it rests on: its strong canaries', else its weak ones'."""
        return self.strong_at or self.weak_at


def _minimal(tree: ExposureTree, links: Iterable[uuid.UUID]) -> frozenset[uuid.UUID]:
    """The links of the set that read no other link of it: the most specific ones."""
    links = set(links)
    return frozenset(a for a in links if not any(b != a and tree.reads(a, b) for b in links))


def _tops(tree: ExposureTree, links: Iterable[uuid.UUID]) -> frozenset[uuid.UUID]:
    """The links of the set whose data no other link of it reads. Reading is transitive, so
    the tops of a set and one more link are the tops of its tops and that link."""
    links = set(links)
    return frozenset(a for a in links if not any(b != a and tree.reads(b, a) for b in links))


def _reach(tree: ExposureTree, links: Iterable[uuid.UUID]) -> frozenset[uuid.UUID]:
    sets = [tree.exposure_set(link) for link in links]
    return frozenset.intersection(*sets) if sets else frozenset()


def _is_strong(sighting: SightingProfile) -> bool:
    return sighting.score is not None and sighting.score >= STRONG_BITS


def profile(
    sightings: Iterable[SightingProfile],
    tree: ExposureTree,
    incident_id: uuid.UUID | None = None,
    apart: frozenset[uuid.UUID] = frozenset(),
) -> IncidentProfile:
    """The profile of an incident holding these sightings (at least one); its id the first
    sighting's unless given. The app rebuilds an open incident's profile with it."""
    ordered = sorted(sightings, key=lambda s: (s.observed_at, str(s.id)))
    canaries: set[uuid.UUID] = set()
    strong_canaries: set[uuid.UUID] = set()
    strong_at: set[uuid.UUID] = set()
    weak_at: set[uuid.UUID] = set()
    for s in ordered:
        if s.link_id is None:
            continue
        canaries.add(s.canary_id)
        if _is_strong(s):
            strong_canaries.add(s.canary_id)
            strong_at.add(s.link_id)
        else:
            weak_at.add(s.link_id)
    basis = strong_at or weak_at
    return IncidentProfile(
        id=incident_id or ordered[0].id,
        sightings=frozenset(s.id for s in ordered),
        canaries=frozenset(canaries),
        strong_at=frozenset(strong_at),
        weak_at=frozenset(weak_at - strong_at),
        strong=len(strong_canaries),
        first_seen=ordered[0].observed_at,
        last_seen=ordered[-1].observed_at,
        channels=frozenset(s.channel for s in ordered),
        keys=frozenset().union(*(s.keys for s in ordered)),
        reach=_reach(tree, basis),
        tops=_tops(tree, basis),
        apart=apart,
    )


def restore(
    incident_id: uuid.UUID,
    summary: "StoredProfile",
    keys: frozenset[str],
    apart: frozenset[uuid.UUID],
    tree: ExposureTree,
) -> IncidentProfile:
    """An open incident's profile from what the caller stored of it (`summary`) and its
    keys, without reading its sightings again."""
    basis = summary.strong_at or summary.weak_at
    known = frozenset(link for link in basis if link in tree.links)
    return IncidentProfile(
        id=incident_id,
        sightings=frozenset(),
        canaries=summary.canaries,
        strong_at=summary.strong_at,
        weak_at=summary.weak_at,
        strong=summary.strong,
        first_seen=summary.first_seen,
        last_seen=summary.last_seen,
        channels=summary.channels,
        keys=keys,
        reach=_reach(tree, known),
        tops=_tops(tree, known),
        apart=apart,
    )


@dataclass(frozen=True, slots=True)
class StoredProfile:
    """What a caller keeps of an incident's profile between sightings (its sightings and
    tree-derived parts are read again as needed)."""

    canaries: frozenset[uuid.UUID]
    strong_at: frozenset[uuid.UUID]
    weak_at: frozenset[uuid.UUID]
    strong: int
    first_seen: datetime
    last_seen: datetime
    channels: frozenset[Channel]

    @classmethod
    def of(cls, incident: IncidentProfile) -> "StoredProfile":
        return cls(
            incident.canaries,
            incident.strong_at,
            incident.weak_at,
            incident.strong,
            incident.first_seen,
            incident.last_seen,
            incident.channels,
        )


def anchors(incident: IncidentProfile, tree: ExposureTree) -> frozenset[uuid.UUID]:
    """The most specific link(s) that saw every planted link the profile rests on; the tops
    of those links when no link saw them all (two leakers)."""
    return _minimal(tree, incident.reach) if incident.reach else incident.tops


def _one_leak(tree: ExposureTree, a: uuid.UUID, ka: int, b: uuid.UUID, kb: int) -> Join | None:
    """Rules 3 and 4: M, the most specific link that saw both anchors, could well have
    shown both profiles' canaries (see the module); NESTED when M is one of them."""
    common = tree.exposure_set(a) & tree.exposure_set(b)
    if not common:
        return None
    meet = min(_minimal(tree, common), key=lambda m: tree.links[m].records_per_day)
    volume = max(tree.links[meet].records_per_day, 1.0)
    share_a = min(1.0, tree.links[a].records_per_day / volume)
    share_b = min(1.0, tree.links[b].records_per_day / volume)
    if share_a**ka * share_b**kb < CLOSE_ENOUGH:
        return None
    return Join.NESTED if meet in (a, b) else Join.CLOSE


def joins(a: IncidentProfile, b: IncidentProfile, tree: ExposureTree) -> Join | None:
    """Whether two profiles are one leak, and by which rule (see the module); None if not."""
    if a.id in b.apart or b.id in a.apart or a.id == b.id:
        return None
    if b.first_seen > a.last_seen + GROUP_WINDOW or a.first_seen > b.last_seen + GROUP_WINDOW:
        return None
    if a.keys & b.keys:
        return Join.SOURCE
    if not a.canaries.isdisjoint(b.canaries):
        return Join.CANARY
    ka, kb = max(a.strong, 1), max(b.strong, 1)
    reasons = [
        reason
        for x in anchors(a, tree)
        for y in anchors(b, tree)
        if (reason := _one_leak(tree, x, ka, y, kb)) is not None
    ]
    return min(reasons, default=None)


def absorb(
    incident: IncidentProfile, other: IncidentProfile, tree: ExposureTree
) -> IncidentProfile:
    """The incident with the other's sightings (its id kept)."""
    strong_at = incident.strong_at | other.strong_at
    sides = [p for p in (incident, other) if p.strong_at] or [
        p for p in (incident, other) if p.weak_at
    ]
    if len(sides) == 2:
        reach, tops = incident.reach & other.reach, _tops(tree, incident.tops | other.tops)
    else:
        reach, tops = (sides[0].reach, sides[0].tops) if sides else (frozenset(), frozenset())
    return replace(
        incident,
        sightings=incident.sightings | other.sightings,
        canaries=incident.canaries | other.canaries,
        strong_at=strong_at,
        weak_at=(incident.weak_at | other.weak_at) - strong_at,
        strong=incident.strong + other.strong,
        first_seen=min(incident.first_seen, other.first_seen),
        last_seen=max(incident.last_seen, other.last_seen),
        channels=incident.channels | other.channels,
        keys=incident.keys | other.keys,
        reach=reach,
        tops=tops,
        apart=incident.apart | other.apart,
    )


def choose(
    open_incidents: Sequence[IncidentProfile], new: IncidentProfile, tree: ExposureTree
) -> IncidentProfile | None:
    """The open incident a new sighting (or batch) joins: the strongest reason, then the one
    seen most recently; None when it opens an incident of its own."""
    best: tuple[Join, float] | None = None
    chosen = None
    for incident in open_incidents:
        reason = joins(incident, new, tree)
        if reason is None:
            continue
        key = (reason, -incident.last_seen.timestamp())
        if best is None or key < best:
            best, chosen = key, incident
    return chosen


def _batches(sightings: Iterable[SightingProfile]) -> list[list[SightingProfile]]:
    """Sightings with the same source keys and no gap over GROUP_WINDOW between them, as the
    app stores them together (one scanned file, one listing); they join each other anyway."""
    runs: dict[frozenset[str], list[list[SightingProfile]]] = {}
    for s in sorted(sightings, key=lambda s: (s.observed_at, str(s.id))):
        mine = runs.setdefault(s.keys, [])
        if mine and s.observed_at - mine[-1][-1].observed_at <= GROUP_WINDOW:
            mine[-1].append(s)
        else:
            mine.append([s])
    return [run for key_runs in runs.values() for run in key_runs]


def group(sightings: Iterable[SightingProfile], tree: ExposureTree) -> list[IncidentProfile]:
    """Incidents of a batch of sightings, taken in time order as the app takes them: each
    joins the incident `choose` names, and any other open incident it now joins is merged
    into that one."""
    incidents: list[IncidentProfile] = []
    batches = sorted(_batches(sightings), key=lambda b: (b[0].observed_at, str(b[0].id)))
    for batch in batches:
        new = profile(batch, tree)
        target = choose(incidents, new, tree)
        if target is None:
            incidents.append(new)
            continue
        merged = absorb(target, new, tree)
        rest = [i for i in incidents if i.id != target.id]
        for other in list(rest):
            if joins(merged, other, tree) is not None:
                merged = absorb(merged, other, tree)
                rest.remove(other)
        incidents = [*rest, merged]
    return incidents
