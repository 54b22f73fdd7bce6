"""Hand-built couriers for attribution's tests: links by name, canaries planted by batch."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from attribution.kinds import Channel, LinkKind
from attribution.model import CanarySighting, Exposure, ExposureTree, LinkNode

NOW = datetime(2025, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@dataclass
class Courier:
    """A courier's links by name, and the canaries planted at each."""

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
        """A link with `canaries` planted evenly over the last 60 days."""
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

    def plant(
        self, name: str, count: int, at: datetime | None = None, by_phone: bool = False
    ) -> list[uuid.UUID]:
        """`count` more canaries at the link: at one time (a batch) when `at` is given,
        otherwise spread evenly over the last 60 days."""
        planted = []
        for i in range(count):
            canary = uuid.uuid4()
            when = at if at is not None else NOW - (60 - 60 * i / count) * DAY
            self.exposures.append(Exposure(canary, self.links[name].id, when, by_phone))
            planted.append(canary)
        self.canaries[name].extend(planted)
        return planted

    def tree(self) -> ExposureTree:
        return ExposureTree(self.links.values(), self.exposures)

    def id(self, name: str) -> uuid.UUID:
        return self.links[name].id

    def name(self, link_id: uuid.UUID) -> str:
        return next(name for name, link in self.links.items() if link.id == link_id)

    def link_of(self, canary: uuid.UUID) -> uuid.UUID:
        return next(e.link_id for e in self.exposures if e.canary_id == canary)


def courier() -> Courier:
    """A head office, two regions of four outlets with a courier each, a platform with a
    merchant, and a printing-software vendor reading one outlet and the merchant."""
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


def seen(
    canaries: list[uuid.UUID],
    score: float = 45.0,
    *,
    at: datetime = NOW + DAY,
    rows: int | None = None,
    channel: Channel | None = None,
) -> list[CanarySighting]:
    return [CanarySighting(c, at, score, rows=rows, channel=channel) for c in canaries]
