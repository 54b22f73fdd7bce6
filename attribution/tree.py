"""The link tree as attribution sees it: who reads whose data, what each link handles a day,
and when each link could see which canaries.

A link's data is read by its parent and by any other reader it names (a printing-software
vendor reads its clients' waybills); a reader of a reader reads it too. A canary planted at L
is seen by L and all of L's readers: its exposure set.
"""

import math
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from attribution.kinds import LinkKind

# How far back the records a leak draws on reach, in days: log-uniform over the range (a
# few days of a courier's sheets to eight months of a system's), weighed at the centres of
# seven equal log-bins (see attribution.model).
LOOKBACK_RANGE = (5.0, 240.0)
LOOKBACK_DAYS = (7.0, 12.0, 20.0, 35.0, 60.0, 105.0, 185.0)

# Prior weight of a link per record it handles a day, by kind (see attribution.model).
KIND_WEIGHT: dict[LinkKind, float] = {
    LinkKind.COURIER_STAFF: 1.0,
    LinkKind.OUTLET: 1.0,
    LinkKind.MERCHANT: 1.0,
    LinkKind.CALL_CENTRE: 1.0,
    LinkKind.REGION: 0.5,
    LinkKind.VENDOR: 0.5,
    LinkKind.HEAD_OFFICE: 0.2,
    LinkKind.PLATFORM: 0.2,
    LinkKind.SYSTEM: 0.2,
}


@dataclass(frozen=True, slots=True)
class LinkNode:
    """A link as attribution needs it; `readers` are links besides the parent that read its
    data (a printing-software vendor reads its clients')."""

    id: uuid.UUID
    parent_id: uuid.UUID | None
    kind: LinkKind
    name: str
    records_per_day: float
    readers: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True, slots=True)
class Exposure:
    """Canary C entered link L's feed at time T; `by_phone` when it carries a full pool
    number, so that calls and SMS can reach it (a masked canary they cannot)."""

    canary_id: uuid.UUID
    link_id: uuid.UUID
    planted_at: datetime
    by_phone: bool = False


@dataclass(frozen=True, slots=True)
class PlantCount:
    """`count` canaries planted at a link at one time (a batch): the canaries that did not
    surface matter only as numbers, so a store can hand them over counted."""

    link_id: uuid.UUID
    planted_at: datetime
    count: int
    by_phone: int = 0  # how many of them carry a full pool number


class UnknownLinkError(ValueError):
    def __init__(self, link_id: uuid.UUID) -> None:
        super().__init__(f"a canary was planted at link {link_id}, which is not in the tree")


def plant_range(planted: Iterable[datetime], seen: Iterable[datetime]) -> tuple[datetime, datetime]:
    """The plants a store must hand over (besides the surfaced canaries' own): those from the
    longest look-back before the oldest surfaced canary's plant up to the newest sighting.
    Every window the model weighs ends at a surfaced canary's plant, so none reaches
    further back."""
    planted, seen = list(planted), list(seen)
    since = min(planted or seen) - timedelta(days=max(LOOKBACK_DAYS))
    return since, max(planted + seen)


class ExposureTree:
    """Links, who reads whose data, and the plant times each link could see, indexed once.
    Built from the links alone it still answers exposure sets (what grouping needs)."""

    def __init__(
        self,
        links: Iterable[LinkNode],
        exposures: Iterable[Exposure] = (),
        counts: Iterable[PlantCount] = (),
    ) -> None:
        self.links = {link.id: link for link in links}
        self._readers = {
            link.id: tuple(
                r
                for r in ((link.parent_id,) if link.parent_id else ()) + link.readers
                if r in self.links
            )
            for link in self.links.values()
        }
        self._exposure: dict[uuid.UUID, frozenset[uuid.UUID]] = {}
        self.total_weight = sum(self.weight(link_id) for link_id in self.links)
        self._plant(exposures, counts)

    def planted(
        self, exposures: Iterable[Exposure] = (), counts: Iterable[PlantCount] = ()
    ) -> "ExposureTree":
        """This tree's links with these plants: the links' structures are shared, not built
        again (a process keeps the tree of its links; each incident brings its plants)."""
        tree = ExposureTree.__new__(ExposureTree)
        tree.links = self.links
        tree._readers = self._readers
        tree._exposure = self._exposure  # exposure sets depend on the links alone
        tree.total_weight = self.total_weight
        tree._plant(exposures, counts)
        return tree

    def _plant(self, exposures: Iterable[Exposure], counts: Iterable[PlantCount]) -> None:
        self.plants: dict[uuid.UUID, tuple[uuid.UUID, float]] = {}
        visible: dict[uuid.UUID, list[float]] = {}
        phones: dict[uuid.UUID, list[float]] = {}
        for exposure in exposures:
            if exposure.link_id not in self.links:
                raise UnknownLinkError(exposure.link_id)
            planted = exposure.planted_at.timestamp()
            self.plants[exposure.canary_id] = (exposure.link_id, planted)
            for reader in self.exposure_set(exposure.link_id):
                visible.setdefault(reader, []).append(planted)
                if exposure.by_phone:
                    phones.setdefault(reader, []).append(planted)
        for batch in counts:
            if batch.link_id not in self.links:
                raise UnknownLinkError(batch.link_id)
            planted = batch.planted_at.timestamp()
            for reader in self.exposure_set(batch.link_id):
                visible.setdefault(reader, []).extend([planted] * batch.count)
                phones.setdefault(reader, []).extend([planted] * batch.by_phone)
        self._visible = {link: sorted(times) for link, times in visible.items()}
        self._phones = {link: sorted(times) for link, times in phones.items() if times}
        # Whether the plants say which canaries a call can reach; if not, every one counts.
        self.knows_phones = bool(self._phones)

    def exposure_set(self, link_id: uuid.UUID) -> frozenset[uuid.UUID]:
        """The link and every link that reads its data, directly or through another reader."""
        known = self._exposure.get(link_id)
        if known is not None:
            return known
        seen = {link_id}
        todo = [link_id]
        while todo:
            for reader in self._readers[todo.pop()]:
                if reader not in seen:
                    seen.add(reader)
                    todo.append(reader)
        self._exposure[link_id] = frozenset(seen)
        return self._exposure[link_id]

    def reads(self, reader: uuid.UUID, link_id: uuid.UUID) -> bool:
        """Whether `reader` sees `link_id`'s data (a link reads its own)."""
        return reader in self.exposure_set(link_id)

    def visible_count(
        self, link_id: uuid.UUID, start: float, end: float, by_phone: bool = False
    ) -> int:
        """The canaries the link could see planted in [start, end]; with `by_phone`, only
        those a call or an SMS can reach (all of them if the plants do not say)."""
        index = self._phones if by_phone and self.knows_phones else self._visible
        times = index.get(link_id, [])
        return bisect_right(times, end) - bisect_left(times, start)

    def previous_plant(
        self, link_id: uuid.UUID, before: float, by_phone: bool = False
    ) -> float | None:
        """When the link last saw a canary planted before `before` (as visible_count)."""
        index = self._phones if by_phone and self.knows_phones else self._visible
        times = index.get(link_id, [])
        at = bisect_left(times, before)
        return times[at - 1] if at else None

    def weight(self, link_id: uuid.UUID) -> float:
        """A link's prior weight: its kind's weight times its records a day (at least 1)."""
        link = self.links[link_id]
        return KIND_WEIGHT[link.kind] * max(link.records_per_day, 1.0)

    def prior(self, link_id: uuid.UUID) -> float:
        """The prior that a leak comes from this link rather than another (see the model)."""
        return self.weight(link_id) / self.total_weight

    def log_prior(self, link_id: uuid.UUID) -> float:
        return math.log(self.prior(link_id))
