"""Explanations a prosecutor can follow: one window per incident, per candidate its canaries
that surfaced and those that did not, its prior and why, warnings said once, English and
Chinese from one vocabulary, times in UTC written by the caller's clock."""

import re
import string
from datetime import UTC, datetime, timedelta, timezone

from attribution.explain import say
from attribution.kinds import Channel, LinkKind
from attribution.model import Flag, attribute
from attribution.vocabulary import GLOSSARY, MESSAGES, Lang
from tests.attribution.courier import DAY, NOW, courier, seen

SHANGHAI = timezone(timedelta(hours=8))


def shanghai(moment: datetime) -> str:
    return f"{moment.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 北京时间"


def test_one_window_for_every_candidate() -> None:
    c = courier()
    batch = c.plant("网点1-3", 15, at=NOW - 8 * DAY)
    result = attribute(c.tree(), seen(batch[:5], 60.0, rows=20_000), leaked_records=20_000)
    assert len(result.candidates) >= 3
    windows = {re.search(r"from (.+?) to (.+?):", x.explanation.en) for x in result.candidates}
    spans = {m.groups() for m in windows if m}
    assert len(spans) == 1
    assert result.records_from is not None and result.records_to is not None
    assert result.records_from.tzinfo is not None and result.records_from.utcoffset() == timedelta()


def test_each_candidate_says_what_surfaced_what_did_not_and_its_prior() -> None:
    c = courier()
    batch = c.plant("网点1-3", 15, at=NOW - 8 * DAY)
    result = attribute(c.tree(), seen(batch[:5], 60.0, rows=20_000), leaked_records=20_000)
    for candidate in result.candidates:
        missing = candidate.visible - len(candidate.surfaced)
        text = candidate.explanation
        assert f"{len(candidate.surfaced)} surfaced and {missing} did not" in text.en
        assert f"{len(candidate.surfaced)} 个已浮现，{missing} 个未浮现" in text.zh
        assert f"{candidate.prior:.2%}" in text.en and "records a day" in text.en
    region = next(x for x in result.candidates if c.name(x.link_id) == "大区1")
    assert "at weight 0.5 (region)" in region.explanation.en
    assert "权重 0.5（大区）" in region.explanation.zh
    assert result.explanation.en.count("Priors: ") == 1  # why, said once


def test_warnings_are_said_once_for_the_incident() -> None:
    c = courier()
    weak = attribute(c.tree(), seen(c.canaries["网点2-1"][-1:], 40.0))
    assert Flag.WEAK in weak.flags
    assert weak.explanation.en.count("Warning") == 1
    assert not any("Warning" in x.explanation.en for x in weak.candidates)
    strong = attribute(c.tree(), seen(c.canaries["网点2-1"], 60.0), leaked_records=1000)
    assert strong.explanation.en.count("not who leaked them") == 1
    assert not any("not who leaked" in x.explanation.en for x in strong.candidates)


def test_plurals_in_english() -> None:
    assert say("n_other_links", n=1).en == "1 other link"
    assert say("n_other_links", n=2).en == "2 other links"
    assert say("n_canaries", n=1).en == "1 canary"
    assert say("n_canaries", n=0).en == "0 canaries"
    assert say("n_canaries", n=2).zh == "2 个诱饵运单"
    c = courier()
    result = attribute(c.tree(), seen(c.canaries["网点1-2"], 60.0), leaked_records=1000)
    assert "2 other links" in result.explanation.en  # its region and the head office


def test_chinese_from_the_glossary() -> None:
    assert GLOSSARY["canary"].zh == "诱饵运单"
    assert {GLOSSARY[k].zh for k in LinkKind} >= {
        "大区",
        "网点",
        "快递员",
        "面单软件商",
        "客服中心",
    }
    c = courier()
    result = attribute(c.tree(), seen(c.canaries["面单软件商"][-3:], 60.0), leaked_records=500)
    assert "诱饵运单" in result.explanation.zh and "面单软件商" in result.explanation.zh
    assert "金丝雀" not in result.explanation.zh
    assert all("金丝雀" not in x.explanation.zh for x in result.candidates)


def test_messages_are_named_format_strings_with_singular_and_plural() -> None:
    """So they can move to gettext catalogues as they stand."""
    for key, message in MESSAGES.items():
        for lang in Lang:
            for template in {message.template(lang, 1), message.template(lang, 2)}:
                fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
                assert all(f and not f.isdigit() for f in fields), (key, template)
        if "{n}" in message.en:
            assert message.en_plural is not None, key


def test_times_stay_utc_and_the_caller_writes_them() -> None:
    c = courier()
    batch = c.plant("网点2-2", 10, at=datetime(2025, 5, 20, 18, 30, tzinfo=SHANGHAI))
    sightings = seen(batch[:4], 70.0, at=NOW, rows=1_000, channel=Channel.DUMP)
    result = attribute(c.tree(), sightings, leaked_records=1_000, clock=shanghai)
    assert result.window_start == datetime(2025, 5, 20, 10, 30, tzinfo=UTC)
    assert "2025-05-20 18:30 北京时间" in result.explanation.zh
    assert "UTC" not in result.explanation.en
    plain = attribute(c.tree(), sightings, leaked_records=1_000)
    assert "2025-05-20 10:30 UTC" in plain.explanation.en


def test_every_flag_has_a_line_in_both_languages() -> None:
    for flag in Flag:
        line = say(f"flag_{flag}")
        assert line.en and line.zh
