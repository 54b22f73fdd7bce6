"""The plain-language side of an attribution, in English and Chinese, for investigators."""

from dataclasses import dataclass
from datetime import datetime

from attribution.kinds import LinkKind

KIND_NAMES: dict[LinkKind, tuple[str, str]] = {
    LinkKind.HEAD_OFFICE: ("head office", "总部"),
    LinkKind.REGION: ("region", "大区"),
    LinkKind.OUTLET: ("outlet", "网点"),
    LinkKind.COURIER_STAFF: ("courier", "快递员"),
    LinkKind.PLATFORM: ("platform", "电商平台"),
    LinkKind.MERCHANT: ("merchant", "商家"),
    LinkKind.VENDOR: ("printing-software vendor", "面单软件商"),
    LinkKind.CALL_CENTRE: ("call centre", "客服中心"),
    LinkKind.SYSTEM: ("system", "系统"),
}


@dataclass(frozen=True, slots=True)
class Text:
    en: str
    zh: str


@dataclass(frozen=True, slots=True)
class Named:
    name: str
    kind: LinkKind

    def en(self) -> str:
        return f"{self.name} ({KIND_NAMES[self.kind][0]})"

    def zh(self) -> str:
        return f"{self.name}（{KIND_NAMES[self.kind][1]}）"


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def candidate_text(
    link: Named,
    *,
    credited: int,
    surfaced: int,
    visible: int,
    records: float,
    leak_size: float,
    lookback_days: float,
    shared: bool,
) -> Text:
    """Why a link is where it is: what it saw, and what a leak from it would have surfaced."""
    expected = visible * min(1.0, leak_size / records) if records > 0 else float(visible)
    days = round(lookback_days)
    en = (
        f"{link.en()} saw {credited} of the {surfaced} canaries that surfaced. In the {days} days "
        f"before the first sighting it could see {visible} canaries among about {records:,.0f} "
        f"records; a leak of about {leak_size:,.0f} of those records would surface "
        f"{expected:.1f} of its canaries on average, and {credited} did."
    )
    zh = (
        f"{link.zh()}见过浮现的 {surfaced} 个金丝雀中的 {credited} 个。首次发现前 {days} 天内，"
        f"它在约 {records:,.0f} 条记录中可见 {visible} 个金丝雀；若从中泄露约 {leak_size:,.0f} 条，"
        f"平均会浮现 {expected:.1f} 个，实际浮现 {credited} 个。"
    )
    if shared:
        en += (
            " Other links saw these canaries too (those that read its data always do), so the"
            " canaries alone cannot rule out that one of them, or several together, leaked them."
        )
        zh += (
            "其他环节也见过这些金丝雀（能读取其数据的上级环节都见过），"
            "仅凭金丝雀无法排除是其中某个或某几个环节泄露的。"
        )
    return Text(en, zh)


def summary_text(
    top: Named | None,
    *,
    probability: float,
    window: tuple[datetime, datetime] | None,
    window_volume: float | None,
    noise: float,
    leakers: list[Named],
    control_seen: bool,
    weak: bool,
) -> Text:
    """The report's opening paragraph: who, when, how much, and what to be careful about."""
    en: list[str] = []
    zh: list[str] = []
    if top is None:
        en.append("No planted canary surfaced, so no link can be named.")
        zh.append("没有已投放的金丝雀浮现，无法指向任何环节。")
    else:
        en.append(f"Most likely source: {top.en()}, probability {probability:.0%}.")
        zh.append(f"最可能的泄露环节：{top.zh()}，概率 {probability:.0%}。")
    if top is not None and window is not None:
        start, end = _when(window[0]), _when(window[1])
        volume = f"{window_volume:,.0f}" if window_volume is not None else "?"
        en.append(
            f"The leak happened between {start} (the newest surfaced canary was planted) and "
            f"{end} (the first sighting); {top.name} saw about {volume} records in that window."
        )
        zh.append(
            f"泄露发生在 {start}（最新浮现的金丝雀投放时间）与 {end}（首次发现）之间；"
            f"{top.name}在此期间约可见 {volume} 条记录。"
        )
    if leakers:
        en.append(
            "No single link explains all the sightings: the smallest set of links that saw them "
            f"all is {', '.join(n.en() for n in leakers)} (more than one leaker)."
        )
        zh.append(
            "没有单一环节能解释全部发现：覆盖全部金丝雀的最小环节集合是"
            f"{'、'.join(n.zh() for n in leakers)}（不止一个泄露者）。"
        )
    if control_seen:
        en.append(
            "A control canary surfaced. Control canaries are never planted, so this points at a "
            "chance match or a leak inside honeytrace itself, never at a link."
        )
        zh.append(
            "有对照金丝雀浮现。对照金丝雀从未投放，"
            "这说明是偶然匹配或 honeytrace 内部泄露，与任何环节无关。"
        )
    if weak:
        en.append(
            "Fewer than two canaries surfaced with a strong match: this is a lead, not an "
            "attribution."
        )
        zh.append("强匹配的金丝雀少于两个：这只是线索，不能据此认定泄露环节。")
    if noise >= 0.01:
        en.append(f"Chance that every sighting is a chance match: {noise:.0%}.")
        zh.append(f"全部发现均为偶然匹配的概率：{noise:.0%}。")
    return Text(" ".join(en), "".join(zh))
