"""Every word attribution writes, in English and Chinese, from one place.

GLOSSARY fixes the domain's terms (诱饵运单 is a canary, 网点 an outlet, ...); MESSAGES are
the sentences, format strings with named parameters. A message that counts something has
an English singular and plural (Chinese has one form), chosen by its `n` parameter as
gettext's ngettext would, so the catalogue can move to gettext as it stands: the English
singular is the msgid, the plural the msgid_plural, the Chinese the translation.
"""

from dataclasses import dataclass
from enum import StrEnum

from attribution.kinds import LinkKind


class Lang(StrEnum):
    EN = "en"
    ZH = "zh"


@dataclass(frozen=True, slots=True)
class Message:
    en: str
    en_plural: str | None
    zh: str

    def template(self, lang: Lang, n: int | None) -> str:
        if lang is Lang.ZH:
            return self.zh
        if n is not None and n != 1 and self.en_plural is not None:
            return self.en_plural
        return self.en


GLOSSARY: dict[str, Message] = {
    "canary": Message("canary", "canaries", "诱饵运单"),
    "control_canary": Message("control canary", "control canaries", "对照运单"),
    "link": Message("link", "links", "环节"),
    "record": Message("record", "records", "条记录"),
    "sighting": Message("sighting", "sightings", "发现"),
    "incident": Message("incident", "incidents", "事件"),
    "leak": Message("leak", "leaks", "泄露"),
    "dump": Message("leaked file", "leaked files", "泄露文件"),
    "listing": Message("listing", "listings", "数据交易帖"),
    "sms": Message("scam SMS", "scam SMS", "诈骗短信"),
    "call": Message("call", "calls", "来电"),
    "order": Message("brushing order", "brushing orders", "刷单订单"),
    "report": Message("report", "reports", "举报"),
    LinkKind.HEAD_OFFICE: Message("head office", "head offices", "总部"),
    LinkKind.REGION: Message("region", "regions", "大区"),
    LinkKind.OUTLET: Message("outlet", "outlets", "网点"),
    LinkKind.COURIER_STAFF: Message("courier", "couriers", "快递员"),
    LinkKind.PLATFORM: Message("platform", "platforms", "电商平台"),
    LinkKind.MERCHANT: Message("merchant", "merchants", "商家"),
    LinkKind.VENDOR: Message("printing-software vendor", "printing-software vendors", "面单软件商"),
    LinkKind.CALL_CENTRE: Message("call centre", "call centres", "客服中心"),
    LinkKind.SYSTEM: Message("system", "systems", "系统"),
}

MESSAGES: dict[str, Message] = {
    "link_named": Message("{name} ({kind})", None, "{name}（{kind}）"),
    "list_separator": Message(", ", None, "、"),
    "sentence_separator": Message(" ", None, ""),
    "n_canaries": Message("{n} canary", "{n} canaries", "{n} 个诱饵运单"),
    "n_other_links": Message("{n} other link", "{n} other links", "另外 {n} 个环节"),
    # One candidate.
    "candidate_seen": Message(
        "{link} could see {visible} from {start} to {end}: {surfaced} surfaced and {missing} "
        "did not.",
        None,
        "{link}在 {start} 至 {end} 期间可见 {visible}：{surfaced} 个已浮现，{missing} 个未浮现。",
    ),
    "candidate_volume": Message(
        "A leak of about {volume:,.0f} of the {records:,.0f} records it saw then "
        "({share:.2%}) fits best.",
        None,
        "最吻合的是泄露了它在此期间约 {records:,.0f} 条记录中的约 {volume:,.0f} 条"
        "（{share:.2%}）。",
    ),
    "candidate_seen_at": Message(
        "{link} could see {visible} planted at {start}: {surfaced} surfaced and {missing} did not.",
        None,
        "{link}可见 {start} 投放的 {visible}：{surfaced} 个已浮现，{missing} 个未浮现。",
    ),
    "candidate_prior": Message(
        "Prior before any canary is weighed: {prior:.2%}, for about {per_day:,.0f} records "
        "a day at weight {weight:g} ({kind}).",
        None,
        "未计入诱饵运单前的先验概率：{prior:.2%}，按每日约 {per_day:,.0f} 条记录、"
        "权重 {weight:g}（{kind}）计。",
    ),
    # The incident.
    "summary_nothing": Message(
        "No planted canary surfaced, so no link can be named.",
        None,
        "没有已投放的诱饵运单浮现，无法指向任何环节。",
    ),
    "summary_top": Message(
        "Most likely source: {link}, probability {probability:.0%}.",
        None,
        "最可能的泄露环节：{link}，概率 {probability:.0%}。",
    ),
    "summary_when": Message(
        "The leak happened between {start} (the newest surfaced canary was planted) and {end} "
        "(the first sighting).",
        None,
        "泄露发生在 {start}（最新浮现的诱饵运单投放时间）与 {end}（首次发现）之间。",
    ),
    "summary_window": Message(
        "Every link is weighed over the records it saw from {start} to {end}, the look-back "
        "that fits best.",
        None,
        "各环节均按其在 {start} 至 {end} 期间（最吻合的回溯期）可见的记录衡量。",
    ),
    "summary_window_at": Message(
        "Every link is weighed over the canaries planted at {start}, the look-back that fits best.",
        None,
        "各环节均按 {start} 投放的诱饵运单衡量（最吻合的回溯期）。",
    ),
    "summary_priors": Message(
        "Priors: a link's chance to be the leaker before any canary is weighed is in "
        "proportion to the records it handles (more records, more people and systems that "
        "can leak them), at weight 1 for couriers, outlets, merchants and call centres, 0.5 "
        "for regions and printing-software vendors, 0.2 for head offices, platforms and "
        "systems, which audit their staff and exports.",
        None,
        "先验：未计入诱饵运单前，某环节为泄露者的概率与其处理的记录量成正比（记录越多，"
        "能泄露它们的人员和系统越多），快递员、网点、商家、客服中心权重 1，大区和面单软件商 0.5，"
        "总部、电商平台和系统 0.2（它们审计员工和导出操作）。",
    ),
    "summary_volume": Message(
        "The leak holds about {volume:,.0f} of {link}'s records, as the share of its canaries "
        "that surfaced shows; the size of a file says nothing about it.",
        None,
        "按{link}的诱饵运单浮现比例估计，泄露中约有它的 {volume:,.0f} 条记录；文件大小与此无关。",
    ),
    "summary_leakers": Message(
        "No single link explains all the sightings: more than one leaker, most likely {leakers}.",
        None,
        "没有单一环节能解释全部发现：不止一个泄露者，最可能是{leakers}。",
    ),
    "summary_readers": Message(
        "Canaries prove who saw them, not who leaked them: {others} ({names}) read "
        "{link}'s data and saw its canaries too; the ranking rests on the canaries that did "
        "not surface.",
        None,
        "诱饵运单只能证明谁见过它们，不能证明谁泄露了它们：{others}（{names}）能读取{link}的数据，"
        "也见过这些诱饵运单；排序依据的是未浮现的诱饵运单。",
    ),
    "summary_tied": Message(
        "The canaries cannot tell {link} from {names}, which saw no canary {link} did not: "
        "plant canaries in the rest of their data to tell them apart. Until then they are "
        "given equal odds, the most specific first.",
        None,
        "仅凭诱饵运单无法区分{link}与{names}（它们没有见过{link}未见过的诱饵运单）："
        "需在其余数据中投放诱饵运单才能区分。在此之前两者概率相同，更具体的环节排在前面。",
    ),
    "warning_weak": Message(
        "Warning: fewer than two canaries surfaced with a strong match. This is a lead, not "
        "an attribution.",
        None,
        "注意：强匹配的诱饵运单少于两个，这只是线索，不能据此认定泄露环节。",
    ),
    "warning_ambiguous": Message(
        "Warning: the evidence does not single out one link; {link} and {runner_up} are close.",
        None,
        "注意：证据不足以锁定单一环节，{link}与{runner_up}难分高下。",
    ),
    "warning_control": Message(
        "A control canary surfaced. Control canaries are never planted, so this points at a "
        "chance match or a leak inside honeytrace itself, never at a link.",
        None,
        "有对照运单浮现。对照运单从未投放，"
        "这说明是偶然匹配或 honeytrace 内部泄露，与任何环节无关。",
    ),
    # One line per attribution.model.Flag, for lists and badges.
    "flag_control_seen": Message(
        "A control canary surfaced: noise, or a leak inside honeytrace itself.",
        None,
        "有对照运单浮现：偶然匹配，或 honeytrace 内部泄露。",
    ),
    "flag_multiple_leakers": Message(
        "No single link explains every sighting: more than one leaker.",
        None,
        "没有单一环节能解释全部发现：不止一个泄露者。",
    ),
    "flag_weak": Message(
        "Fewer than two canaries surfaced with a strong match: a lead, not an attribution.",
        None,
        "强匹配的诱饵运单少于两个：这只是线索，不能据此认定泄露环节。",
    ),
    "flag_calls_only": Message(
        "Only calls or messages without content reached canary numbers.",
        None,
        "只有打到诱饵号码上、没有内容的来电或短信。",
    ),
    "flag_ambiguous": Message(
        "Strong evidence, but it does not single out one link.",
        None,
        "证据充分，但不足以锁定单一环节。",
    ),
    "summary_noise": Message(
        "Chance that every sighting is a chance match: {noise:.0%}.",
        None,
        "全部发现均为偶然匹配的概率：{noise:.0%}。",
    ),
}


def term(key: str, lang: Lang, n: int = 1) -> str:
    """A glossary term, singular or plural."""
    return GLOSSARY[key].template(lang, n)
