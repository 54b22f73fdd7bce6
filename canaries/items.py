"""What a canary parcel holds, what it weighs and when its waybill was created.

A link's feed has its own mix (a cosmetics merchant ships cosmetics), so the category mix
is a link setting with a default close to national e-commerce parcel traffic. Weights are
log-normal around a per-category median, as parcel weights are; times fall inside the
region's business hours, in China Standard Time.
"""

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from canaries.sampling import Weighted

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")


@dataclass(frozen=True, slots=True)
class Category:
    items: tuple[str, ...]
    median_kg: float
    sigma: float  # of the natural log of the weight
    min_kg: float
    max_kg: float


CATEGORIES: dict[str, Category] = {
    "服饰": Category(
        ("衣服", "T恤", "连衣裙", "外套", "裤子", "羽绒服", "卫衣", "衬衫"), 0.5, 0.5, 0.1, 5
    ),
    "鞋靴": Category(("鞋子", "运动鞋", "靴子", "拖鞋", "凉鞋"), 1.0, 0.35, 0.3, 4),
    "日用品": Category(
        ("日用品", "纸巾", "洗衣液", "收纳盒", "毛巾", "牙刷", "垃圾袋"), 1.2, 0.7, 0.1, 15
    ),
    "食品": Category(("食品", "零食", "茶叶", "坚果", "大米", "牛奶", "饼干"), 1.5, 0.7, 0.1, 25),
    "生鲜": Category(("水果", "生鲜", "海鲜", "牛肉"), 3.0, 0.5, 0.5, 20),
    "美妆": Category(("化妆品", "护肤品", "口红", "面膜", "洗发水"), 0.4, 0.6, 0.05, 3),
    "数码": Category(("数码配件", "手机壳", "耳机", "数据线", "充电宝", "手机"), 0.3, 0.6, 0.05, 3),
    "家电": Category(("小家电", "电饭煲", "吹风机", "电风扇", "榨汁机"), 3.5, 0.5, 0.5, 30),
    "母婴": Category(("母婴用品", "奶粉", "纸尿裤", "玩具", "童装"), 1.5, 0.6, 0.1, 15),
    "图书": Category(("书", "图书", "教材", "文具"), 0.8, 0.5, 0.1, 10),
    "文件": Category(("文件", "合同", "资料"), 0.15, 0.4, 0.02, 1),
    "家居": Category(("家居用品", "床上用品", "四件套", "窗帘", "灯具"), 2.0, 0.6, 0.2, 25),
}

# Approximate category shares of national parcel traffic (industry reports, rounded).
DEFAULT_MIX: dict[str, float] = {
    "服饰": 0.22,
    "鞋靴": 0.06,
    "日用品": 0.16,
    "食品": 0.12,
    "生鲜": 0.04,
    "美妆": 0.09,
    "数码": 0.09,
    "家电": 0.04,
    "母婴": 0.05,
    "图书": 0.04,
    "文件": 0.03,
    "家居": 0.06,
}

# Waybills are created (printed) while outlets and merchants work; hours are CST.
_HOUR_WEIGHTS = {
    8: 3,
    9: 7,
    10: 9,
    11: 9,
    12: 6,
    13: 7,
    14: 9,
    15: 9,
    16: 9,
    17: 8,
    18: 6,
    19: 4,
    20: 3,
}
# Western regions keep local hours about two hours behind Beijing time.
_LATE_PROVINCES = {"650000": 2, "540000": 2, "630000": 1}


class UnknownCategoryError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown item category {name!r}; known: {', '.join(CATEGORIES)}")


@dataclass(frozen=True, slots=True)
class Item:
    name: str
    category: str
    weight_kg: float


class ItemMinter:
    def __init__(self, mix: Mapping[str, float] | None = None) -> None:
        mix = DEFAULT_MIX if mix is None else mix
        for name in mix:
            if name not in CATEGORIES:
                raise UnknownCategoryError(name)
        self._categories = Weighted.from_mapping(dict(mix))

    def draw(self, rng: random.Random) -> Item:
        name = self._categories.draw(rng)
        category = CATEGORIES[name]
        weight = category.median_kg * math.exp(rng.gauss(0.0, category.sigma))
        weight = min(max(weight, category.min_kg), category.max_kg)
        return Item(rng.choice(category.items), name, round(weight, 2))


_HOURS = Weighted((hour, float(weight)) for hour, weight in _HOUR_WEIGHTS.items())
# Draws of a day and hour before one falls at or before `now`; a window that is only today
# before its first business hour runs out of them and falls back to the days before.
_MAX_TIME_DRAWS = 64


def creation_time(
    rng: random.Random,
    province_code: str,
    start: date,
    end: date,
    *,
    now: datetime | None = None,
    hours: Weighted[int] | None = None,
    weekdays: Mapping[int, float] | None = None,
) -> datetime:
    """A waybill creation time on a day in [start, end], in the link's hours (CST), never
    later than `now`: a record created in the future is filtered out by one comparison.

    `hours` (CST hours) and `weekdays` (Monday 0) come from the link's style profile; by
    default business hours, shifted for the western regions, and any day of the week.
    """
    days = (end - start).days
    if days < 0:
        raise ValueError(f"empty date window {start} .. {end}")
    if now is not None and now.astimezone(CHINA_STANDARD_TIME).date() < start:
        raise ValueError(f"the date window {start} .. {end} lies after {now}")
    shift = 0 if hours is not None else _LATE_PROVINCES.get(province_code, 0)
    moment = datetime.combine(start, time(0), tzinfo=CHINA_STANDARD_TIME)
    for _ in range(_MAX_TIME_DRAWS):
        day = start + timedelta(days=rng.randint(0, days))
        if weekdays is not None and rng.random() >= weekdays.get(day.weekday(), 0.0) / max(
            weekdays.values()
        ):
            continue
        hour = min((hours or _HOURS).draw(rng) + shift, 23)
        moment = datetime.combine(
            day, time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=CHINA_STANDARD_TIME
        )
        if now is None or moment <= now:
            return moment
    if now is not None and start < now.astimezone(CHINA_STANDARD_TIME).date():
        yesterday = now.astimezone(CHINA_STANDARD_TIME).date() - timedelta(days=1)
        return creation_time(
            rng, province_code, start, min(end, yesterday), now=now, hours=hours, weekdays=weekdays
        )
    # Only today is allowed and the link's hours have not begun: the latest moment there is.
    return moment if now is None else min(moment, now)
