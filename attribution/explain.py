"""The plain-language side of an attribution, in English and Chinese, for investigators and
for whoever they hand the case to. Words come from attribution.vocabulary only; times stay
in UTC in the model and are written by the `clock` the caller passes (the app writes them
in the deployment's HONEYTRACE_TIME_ZONE, Asia/Shanghai by default)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from attribution.kinds import LinkKind
from attribution.vocabulary import MESSAGES, Lang, term

Clock = Callable[[datetime], str]


def utc_text(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True, slots=True)
class Text:
    en: str
    zh: str


@dataclass(frozen=True, slots=True)
class Named:
    name: str
    kind: LinkKind


Param = str | int | float | Text | Named | Sequence[Named]


def _value(value: Param, lang: Lang) -> str | int | float:
    if isinstance(value, Text):
        return value.en if lang is Lang.EN else value.zh
    if isinstance(value, Named):
        kind = term(value.kind, lang)
        return MESSAGES["link_named"].template(lang, None).format(name=value.name, kind=kind)
    if isinstance(value, str | int | float):
        return value
    separator = MESSAGES["list_separator"].template(lang, None)
    return separator.join(str(_value(named, lang)) for named in value)


def say(key: str, n: int | None = None, **params: Param) -> Text:
    """One message in both languages; `n` picks the English singular or plural."""
    message = MESSAGES[key]
    out = {}
    for lang in Lang:
        values = {name: _value(value, lang) for name, value in params.items()}
        if n is not None:
            values["n"] = n
        out[lang] = message.template(lang, n).format(**values)
    return Text(out[Lang.EN], out[Lang.ZH])


def join(parts: Sequence[Text]) -> Text:
    en = MESSAGES["sentence_separator"].template(Lang.EN, None)
    zh = MESSAGES["sentence_separator"].template(Lang.ZH, None)
    return Text(en.join(p.en for p in parts), zh.join(p.zh for p in parts))


@dataclass(frozen=True, slots=True)
class CandidateFacts:
    """What one candidate's paragraph says, over the incident's one window."""

    link: Named
    per_day: float
    weight: float
    prior: float
    surfaced: int
    visible: int
    records: float
    volume: float | None


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What the report's opening paragraph says."""

    top: Named | None = None
    probability: float = 0.0
    leak_window: tuple[datetime, datetime] | None = None
    records_window: tuple[datetime, datetime] | None = None
    volume: float | None = None
    noise: float = 1.0
    leakers: list[Named] = field(default_factory=list)
    control_seen: bool = False
    weak: bool = False
    runner_up: Named | None = None
    ambiguous: bool = False
    tied: list[Named] = field(default_factory=list)
    readers: list[Named] = field(default_factory=list)
    before_plant: int = 0  # canaries seen before they were planted: chance matches


def _instant(window: tuple[datetime, datetime]) -> bool:
    """A window that is one batch's plants: the leak began with them."""
    return window[1] - window[0] < timedelta(hours=6)


def candidate_text(facts: CandidateFacts, window: tuple[datetime, datetime], clock: Clock) -> Text:
    """Why a link is where it is: what it could see, what surfaced, what did not, the
    volume that fits, and its prior with the reason for it."""
    start, end = (clock(moment) for moment in window)
    visible = max(facts.visible, facts.surfaced)
    parts = [
        say(
            "candidate_seen_at" if _instant(window) else "candidate_seen",
            link=facts.link,
            visible=say("n_canaries", n=visible),
            surfaced=facts.surfaced,
            missing=visible - facts.surfaced,
            start=start,
            end=end,
        )
    ]
    if facts.volume is not None and facts.records > 0:
        share = min(1.0, facts.volume / facts.records)
        parts.append(
            say("candidate_volume", volume=facts.volume, records=facts.records, share=share)
        )
    parts.append(
        say(
            "candidate_prior",
            prior=facts.prior,
            kind=Text(term(facts.link.kind, Lang.EN), term(facts.link.kind, Lang.ZH)),
            weight=facts.weight,
            per_day=facts.per_day,
        )
    )
    return join(parts)


def summary_text(facts: IncidentFacts, clock: Clock) -> Text:
    """The report's opening paragraph: who, when, how much, and what to be careful about,
    each said once for the incident."""
    parts: list[Text] = []
    top = facts.top
    if top is None:
        parts.append(say("summary_nothing_leakable" if facts.before_plant else "summary_nothing"))
    else:
        parts.append(say("summary_top", link=top, probability=facts.probability))
        if facts.leak_window is not None:
            start, end = (clock(moment) for moment in facts.leak_window)
            parts.append(say("summary_when", start=start, end=end))
        if facts.records_window is not None:
            start, end = (clock(moment) for moment in facts.records_window)
            key = "summary_window_at" if _instant(facts.records_window) else "summary_window"
            parts.append(say(key, start=start, end=end))
            parts.append(say("summary_priors"))
        if facts.volume is not None:
            parts.append(say("summary_volume", link=top, volume=facts.volume))
    if facts.leakers:
        parts.append(say("summary_leakers", leakers=facts.leakers))
    if top is not None and facts.readers:
        others = say("n_other_links", n=len(facts.readers))
        parts.append(say("summary_readers", others=others, names=facts.readers, link=top))
    if top is not None and facts.tied:
        parts.append(say("summary_tied", link=top, names=facts.tied))
    if facts.before_plant:
        parts.append(say("warning_before_plant", n=facts.before_plant))
    if facts.control_seen:
        parts.append(say("warning_control"))
    if facts.weak and top is not None:
        parts.append(say("warning_weak"))
    elif facts.ambiguous and top is not None and facts.runner_up is not None:
        parts.append(say("warning_ambiguous", link=top, runner_up=facts.runner_up))
    if facts.noise >= 0.01:
        parts.append(say("summary_noise", noise=facts.noise))
    return join(parts)
