"""Times as people read them: stored and sent in UTC, shown in the configured zone.

One format everywhere a person reads a time (pages, CLI, evidence bundles):
`2026-12-06 12:25 (UTC+08:00)`, the offset written out because "CST" names three zones.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; SQLite hands back naive ones, which are UTC by our rule."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def local(moment: datetime, zone: ZoneInfo) -> datetime:
    return as_utc(moment).astimezone(zone)


def shown(moment: datetime, zone: ZoneInfo, *, seconds: bool = False) -> str:
    """`moment` in `zone`, to the minute (or second), with its UTC offset."""
    there = local(moment, zone)
    offset = there.strftime("%z")
    clock = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return f"{there.strftime(clock)} (UTC{offset[:3]}:{offset[3:]})"
