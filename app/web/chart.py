"""The dashboard's chart: sightings per day and per channel over the last weeks, counted by
day in the configured zone and laid out here as plain numbers for the template to draw as
inline SVG (no script, no library, no CDN: the CSP refuses them all, and the pages work
offline). Bars are stacked by channel, in a fixed order so colours keep their meaning.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from app.localtime import local
from app.models.sightings import Sighting, SightingSource

DAYS = 30
CHANNELS = [s.value for s in SightingSource]


@dataclass(frozen=True)
class Day:
    day: date
    counts: dict[str, int]  # by channel, only those seen that day

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def per_day(
    seen: Iterable[tuple[datetime, str]], zone: ZoneInfo, today: date, days: int = DAYS
) -> list[Day]:
    """Sightings (time, channel) counted by local day, the `days` days up to `today`, every
    day present (zero too), the oldest first; sightings outside them are left out."""
    first = today - timedelta(days=days - 1)
    counts: dict[date, dict[str, int]] = {first + timedelta(days=i): {} for i in range(days)}
    for moment, channel in seen:
        day = local(moment, zone).date()
        if day in counts:
            counts[day][channel] = counts[day].get(channel, 0) + 1
    return [Day(day, by_channel) for day, by_channel in counts.items()]


def recent_days(session: Session, zone: ZoneInfo, now: datetime, days: int = DAYS) -> list[Day]:
    today = local(now, zone).date()
    since = now - timedelta(days=days + 1)
    rows = session.exec(
        select(Sighting.observed_at, Sighting.source).where(col(Sighting.observed_at) >= since)
    ).all()
    return per_day(((at, str(source)) for at, source in rows), zone, today, days)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    channel: str
    day: date
    count: int


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    bars: list[Bar]
    days: list[Label]  # some days under the axis
    ticks: list[Label]  # counts beside the axis
    channels: list[str]  # those in the chart, in stacking order
    total: int


def _step(top: int) -> int:
    """A round tick step that gives at most five ticks up to `top`."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if top / step <= 5:
            return step
    return max(1, top // 5)


def chart(days: list[Day]) -> Chart:
    width, height = 960, 240
    left, right, top, bottom = 48, 944, 16, 200
    most = max((d.total for d in days), default=0)
    step = _step(max(most, 1))
    ceiling = max(step, -(-most // step) * step)
    slot = (right - left) / max(len(days), 1)
    bar_width = round(max(slot - 4, 1), 1)

    def y(count: float) -> float:
        return round(bottom - (bottom - top) * count / ceiling, 1)

    bars: list[Bar] = []
    for i, day in enumerate(days):
        stacked = 0
        x = round(left + i * slot + 2, 1)
        for channel in CHANNELS:
            count = day.counts.get(channel, 0)
            if not count:
                continue
            bars.append(
                Bar(
                    x,
                    y(stacked + count),
                    bar_width,
                    round(y(stacked) - y(stacked + count), 1),
                    channel,
                    day.day,
                    count,
                )
            )
            stacked += count
    every = max(1, len(days) // 6)
    labels = [
        Label(round(left + i * slot + slot / 2, 1), bottom + 16, f"{d.day:%m-%d}")
        for i, d in enumerate(days)
        if (len(days) - 1 - i) % every == 0
    ]
    ticks = [Label(left - 6, y(v), str(v)) for v in range(0, ceiling + 1, step)]
    seen = {b.channel for b in bars}
    return Chart(
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        bars=bars,
        days=labels,
        ticks=ticks,
        channels=[c for c in CHANNELS if c in seen],
        total=sum(d.total for d in days),
    )
