"""What investigators read on the pages and in the bundle (issue 18): local times, one
vocabulary, incidents named by what they are, honest badges and counts."""

import io
import random
import re
import uuid
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.incidents.grouping import title_for
from app.incidents.titles import KINDS, file_name, titles
from app.models.canaries import Canary, Plant, PlantChannel
from app.models.incidents import Incident, IncidentSighting
from app.models.keys import Role
from app.models.sightings import Sighting, SightingSource
from app.planting.service import mint_canaries
from app.web.chart import chart, per_day
from app.web.i18n import LOCALE, MESSAGES, PLURALS, translator
from app.web.incidents import TreeNode, evidence_name
from app.web.pages import PAGE_ROWS
from attribution import vocabulary
from attribution.kinds import LinkKind
from tests.conftest import KeyFactory, LinkFactory, bearer
from tests.test_web import _sign_in, _sign_in_page, artifacts, browser
from tests.test_web_incidents import (
    EVIL_URL,
    IMG,
    Leak,
    Served,
    _blob,
    _courier,
    _incident,
    _line,
    _listing,
    _one,
    leak,
    served,
)

__all__ = ["artifacts", "browser", "leak", "served"]  # fixtures

SEEN = datetime(2026, 3, 1, 4, 5, 6, tzinfo=UTC)  # 12:05:06 in Shanghai


def _reported_at(client: TestClient, session: Session, make_key: KeyFactory) -> Leak:
    leak = _courier(session)
    # Planted a month before the listing was seen (a canary seen before its plant is chance).
    for plant in session.exec(select(Plant)).all():
        plant.planted_at = SEEN - timedelta(days=30)
        session.add(plant)
    session.commit()
    body = {
        "kind": "listing",
        "text": _listing(leak.leaked),
        "url": "https://market.example/item/7",
        "observed_at": SEEN.isoformat(),
    }
    response = client.post("/v1/sightings", json=body, headers=bearer(make_key(Role.SECURITY)))
    assert response.status_code == 202, response.text
    return leak


def test_times_are_shown_in_the_configured_zone_on_the_page_and_in_the_bundle(
    client: TestClient, session: Session, make_key: KeyFactory
) -> None:
    leak = _reported_at(client, session, make_key)
    incident = _incident(session, leak)
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    soup = BeautifulSoup(client.get(f"/incidents/{incident.id}").text, "html.parser")
    assert "2026-03-01 12:05 (UTC+08:00)" in _one(soup, "#facts").get_text()
    assert "2026-03-01 12:05 (UTC+08:00)" in _one(soup, "#evidence td").get_text()
    assert "UTC<" not in str(soup) and " UTC " not in soup.get_text()
    # The explanation (written when the attribution is computed) writes times the same way.
    assert "时间为 Asia/Shanghai 时间" in _one(soup, "#timeline").get_text()
    explanation = _one(soup, "p.explanation").get_text()
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d \(UTC\+08:00\)", explanation), explanation
    assert "(UTC+8)" not in soup.get_text()
    listed = BeautifulSoup(client.get("/incidents").text, "html.parser")
    assert "2026-03-01 12:05 (UTC+08:00)" in _one(listed, "table.incidents").get_text()
    bundle = client.get(f"/incidents/{incident.id}/bundle")
    assert bundle.status_code == 200
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        report = BeautifulSoup(archive.read("report.html").decode(), "html.parser").get_text()
    assert "2026-03-01 12:05:06 (UTC+08:00)" in report
    assert "2026-03-01 04:05:06+00:00" not in report


# --- one vocabulary ----------------------------------------------------------------------

FORBIDDEN = {
    "金丝雀": "诱饵运单",
    "区域": "大区",
    "软件服务商": "面单软件商",
    "呼叫中心": "客服中心",
    "清单": "数据交易帖 (a listing) or manifest.json",
    "挂牌": "数据交易帖",
}
TEMPLATES = [
    *(Path(__file__).parents[1] / "app" / "web" / "templates").glob("*.html"),
    Path(__file__).parents[1] / "app" / "incidents" / "templates" / "report.html",
]


def _chinese_texts() -> dict[str, str]:
    texts = {f"i18n {k}": v for k, v in MESSAGES["zh"].items()}
    texts |= {f"vocabulary {k}": m.zh for k, m in vocabulary.MESSAGES.items()}
    texts |= {f"glossary {k}": m.zh for k, m in vocabulary.GLOSSARY.items()}
    texts |= {f"title {k}": words["zh"] for k, words in KINDS.items()}
    texts |= {f"template {p.name}": p.read_text() for p in TEMPLATES}
    return texts


def test_no_chinese_message_or_template_uses_a_word_the_glossary_forbids() -> None:
    texts = _chinese_texts()
    assert len(TEMPLATES) > 5 and len(texts) > 300
    slips = [
        f"{where}: {word} (say {FORBIDDEN[word]})"
        for where, text in texts.items()
        for word in FORBIDDEN
        if word in text
    ]
    assert slips == []


def test_link_kinds_are_named_as_the_explanations_name_them() -> None:
    for kind in LinkKind:
        term = vocabulary.GLOSSARY[kind]
        assert MESSAGES["zh"][f"kind.{kind}"] == term.zh, kind
        assert MESSAGES["en"][f"kind.{kind}"] == term.en, kind


def test_english_counts_take_the_plural_only_when_more_than_one() -> None:
    english, chinese = translator("en"), translator("zh")
    assert english("incident.tree_hidden", n=1) == "1 other link below, not shown"
    assert english("incident.tree_hidden", n=3) == "3 other links below, not shown"
    assert english("incident.tree_planted", n=1) == "1 of the surfaced canaries was planted here"
    assert english("incident.tree_planted", n=2).endswith("canaries were planted here")
    assert english("link.shown_of", shown=1, n=1) == "showing 1 of 1 canary"
    assert chinese("incident.tree_hidden", n=1) == "另有 1 个下级环节未列出"
    assert set(PLURALS) <= set(MESSAGES["en"])


def test_the_labels_are_gettext_catalogues_complete_in_both_languages() -> None:
    catalogues = {}
    for lang in ("zh", "en"):
        path = LOCALE / lang / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as source:
            catalogues[lang] = read_po(source, locale=lang)
    zh, en = catalogues["zh"], catalogues["en"]
    assert zh.num_plurals == 1 and en.num_plurals == 2
    ids = {lang: {m.id for m in c if m.id} for lang, c in catalogues.items()}
    assert ids["zh"] == ids["en"] and len(ids["zh"]) > 200
    for lang, catalog in catalogues.items():
        for message in catalog:
            if not message.id:
                continue
            string = message.string
            forms = tuple(string) if isinstance(string, tuple | list) else (string,)
            assert len(forms) == (catalog.num_plurals if message.pluralizable else 1), message.id
            assert all(forms) and not message.fuzzy, (lang, message.id)
    assert {m.id[0] for m in en if m.pluralizable} == set(PLURALS)
    # What the pages show is what the catalogues say, through gettext.
    plural = en["incident.tree_hidden"]
    assert plural is not None and isinstance(plural.string, tuple)
    assert translator("en")("incident.tree_hidden", n=2) == plural.string[1].format(n=2)
    with pytest.raises(KeyError):
        translator("zh")("no.such.label")


def test_the_explanations_words_are_a_gettext_catalogue_too() -> None:
    path = vocabulary.LOCALE / "zh" / "LC_MESSAGES" / "attribution.po"
    with path.open("rb") as source:
        catalog = read_po(source, locale="zh")
    entries = [m for m in catalog if m.id]
    assert len(entries) == len(vocabulary.GLOSSARY) + len(vocabulary.MESSAGES)
    assert all(m.context and not m.fuzzy for m in entries)
    untranslated = [m.context for m in entries if not all(m.string or [""])]
    assert untranslated == ["sentence_separator"]  # Chinese sentences run on, on purpose
    counted = vocabulary.MESSAGES["n_other_links"]
    assert counted.template(vocabulary.Lang.EN, 1) == "{n} other link"
    assert counted.template(vocabulary.Lang.EN, 2) == "{n} other links"
    assert counted.template(vocabulary.Lang.ZH, 2) == "另外 {n} 个环节"
    assert vocabulary.term(LinkKind.CALL_CENTRE, vocabulary.Lang.ZH) == "客服中心"


# --- incidents by name, not by ID --------------------------------------------------------


def test_an_incident_is_titled_in_each_language_and_never_with_a_bilingual_string(
    client: TestClient, session: Session, make_key: KeyFactory, leak: Leak
) -> None:
    incident = _incident(session, leak)
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    zh = BeautifulSoup(client.get(f"/incidents/{incident.id}").text, "html.parser")
    en = BeautifulSoup(client.get(f"/incidents/{incident.id}?lang=en").text, "html.parser")
    assert _one(zh, "h1").get_text().startswith(f"数据交易帖：{EVIL_URL}")
    assert _one(en, "h1").get_text().startswith(f"Listing: {EVIL_URL}")
    for soup in (zh, en):
        assert " / " not in _one(soup, "h1").get_text()
        assert "清单" not in soup.get_text()


def test_a_leaked_file_names_its_incident_and_the_dashboard_lists_title_channels_and_flags(
    client: TestClient, session: Session, make_key: KeyFactory
) -> None:
    leak = _courier(session)
    session.commit()
    rows = "\n".join(_line(c) for c in leak.leaked[:1]).encode()
    upload = client.post(
        "/v1/sightings/files",
        files={"file": ("zto-11月-样本.txt", rows, "text/plain")},
        headers=bearer(make_key(Role.SECURITY)),
    )
    assert upload.status_code == 202, upload.text
    incident = session.exec(select(Incident)).one()
    assert "zto-11月-样本.txt" in incident.title  # the API's title too, not the sha256
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    page = BeautifulSoup(client.get(f"/incidents/{incident.id}").text, "html.parser")
    assert _one(page, "h1").get_text().startswith("泄露文件：zto-11月-样本.txt")
    dashboard = BeautifulSoup(client.get("/?lang=en").text, "html.parser")
    (row,) = dashboard.select("#incidents tbody tr")
    cells = [td.get_text(" ", strip=True) for td in row.select("td")]
    assert cells[0] == "Leaked file: zto-11月-样本.txt"
    assert _one(row, "a")["href"] == f"/incidents/{incident.id}"
    assert cells[1] == "report"
    assert incident.flags and "a lead only" in cells[2]  # one canary: weak
    assert not re.search(r"\b[0-9a-f]{8}\b", row.get_text())  # no bare IDs
    listed = BeautifulSoup(client.get("/incidents?lang=en").text, "html.parser")
    assert "Leaked file: zto-11月-样本.txt" in _one(listed, "table.incidents").get_text()


def test_a_scanned_dump_s_incident_is_named_by_the_file_not_its_sha256(
    session: Session, make_link: LinkFactory
) -> None:
    outlet = make_link("西湖网点", LinkKind.OUTLET)
    (canary, *_) = mint_canaries(
        session, Actor.cli(), outlet.id, 3, PlantChannel.CLI, rng=random.Random(2)
    ).planted
    digest = "ab" * 32
    dump = Sighting(
        canary_id=canary.id,
        link_id=outlet.id,
        source=SightingSource.DUMP,
        dedup_key="e" * 64,
        score=40.0,
        excerpt="",
        evidence_sha256=digest,
        location={"source_id": digest, "file": "D:\\收到\\zto 全国.csv", "rows": "9"},
        observed_at=SEEN,
    )
    keys = [f"file:{digest}"]
    incident = Incident(
        title=title_for(keys, False, file_name(dump.location)),
        keys=keys,
        first_seen_at=SEEN,
        last_seen_at=SEEN,
    )
    session.add_all([dump, incident])
    session.flush()
    session.add(IncidentSighting(sighting_id=dump.id, incident_id=incident.id))
    session.commit()
    assert incident.title == "文件 / File zto 全国.csv"  # the API's, stored
    title = titles(session, [incident])[incident.id]
    assert (title.text("zh"), title.text("en")) == (
        "泄露文件：zto 全国.csv",
        "Leaked file: zto 全国.csv",
    )
    nameless = Incident(keys=keys, title="x", first_seen_at=SEEN, last_seen_at=SEEN)
    session.add(nameless)
    session.commit()
    assert titles(session, [nameless])[nameless.id].value == f"sha256 {digest[:12]}…"


def test_an_incident_page_takes_a_unique_short_id_and_answers_a_404_page_otherwise(
    client: TestClient, session: Session, make_key: KeyFactory, leak: Leak
) -> None:
    incident = _incident(session, leak)
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    short = str(incident.id)[:8]
    found = client.get(f"/incidents/{short}", follow_redirects=False)
    assert found.status_code == 303
    assert found.headers["location"] == f"/incidents/{incident.id}"
    assert client.get(f"/incidents/{short.upper()}").status_code == 200
    for ref in ("zzzz", "12", "0000000000", "'; drop table incidents; --", "a" * 200):
        missing = client.get(f"/incidents/{ref}")
        assert missing.status_code == 404, ref
        assert missing.headers["content-type"].startswith("text/html"), ref
        assert "未找到" in missing.text
    # Two incidents whose IDs share a prefix: the prefix is refused, a longer one is not.
    twin = Incident(
        id=uuid.UUID(str(incident.id)[:8] + "-0000-4000-8000-000000000000"),
        title="twin",
        first_seen_at=incident.first_seen_at,
        last_seen_at=incident.last_seen_at,
    )
    session.add(twin)
    session.commit()
    ambiguous = client.get(f"/incidents/{short}")
    assert ambiguous.status_code == 404 and "请多输入几位" in ambiguous.text
    longer = client.get(f"/incidents/{str(incident.id)[:13]}", follow_redirects=False)
    assert longer.status_code == 303


# --- honest badges, counts, names --------------------------------------------------------


def test_a_candidate_s_badge_in_the_tree_is_coloured_by_its_probability_band(
    client: TestClient, session: Session, make_key: KeyFactory
) -> None:
    leak = _courier(session)
    assert [TreeNode(leak.leaker, 1, p).band for p in (0.92, 0.5, 0.49, 0.1, 0.09, 0.01)] == [
        "high",
        "high",
        "mid",
        "mid",
        "low",
        "low",
    ]
    assert TreeNode(leak.leaker).band == "none"
    # Twelve of the outlet's twenty canaries surface: the outlet is near certain, the links
    # above it (which saw them too) unlikely.
    sold = session.exec(
        select(Canary).where(Canary.link_id == leak.leaker.id, col(Canary.control).is_(False))
    ).all()[:12]
    session.commit()
    body = {"kind": "listing", "text": "\n".join(map(_line, sold)), "url": "https://m.example/1"}
    response = client.post("/v1/sightings", json=body, headers=bearer(make_key(Role.SECURITY)))
    assert response.status_code == 202 and response.json()["matches"] == 12, response.text
    incident = _incident(session, leak)
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    soup = BeautifulSoup(client.get(f"/incidents/{incident.id}?lang=en").text, "html.parser")
    badges = soup.select("ul.link-tree .badge.rank")
    assert len(badges) >= 2
    bands = set()
    for badge in badges:
        p = float(badge.get_text().rsplit(" ", 1)[1])
        band = "high" if p >= 0.5 else ("mid" if p >= 0.1 else "low")
        assert f"band-{band}" in badge["class"], (p, badge["class"])
        bands.add(band)
    assert "band-high" in _one(soup, "li.most-likely > .node-label .badge.rank")["class"]
    assert "low" in bands, [b.get_text() for b in badges]  # the 0.0x candidates are not red


def test_a_link_page_says_how_many_canaries_it_shows_and_pages_through_them(
    client: TestClient, session: Session, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    outlet = make_link("西湖网点", LinkKind.OUTLET)
    planted = mint_canaries(
        session, Actor.cli(), outlet.id, 230, PlantChannel.CLI, rng=random.Random(5)
    ).planted
    session.commit()
    live = [c for c in planted if not c.control]
    assert len(live) > PAGE_ROWS
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    first = BeautifulSoup(client.get(f"/links/{outlet.id}?lang=en").text, "html.parser")
    note = _one(first, "#paging-live")
    assert f"showing 1–{PAGE_ROWS} of {len(live)} canaries" in note.get_text()
    shown = {a.get_text() for a in first.select("#canaries table")[0].select("code")}
    assert len(shown) == PAGE_ROWS
    following = _one(note, "a[rel=next]")["href"]
    second = BeautifulSoup(client.get(f"/links/{outlet.id}{following}&lang=en").text, "html.parser")
    rest = {a.get_text() for a in second.select("#canaries table")[0].select("code")}
    assert len(rest) == len(live) - PAGE_ROWS and not rest & shown
    assert shown | rest == {c.waybill_no for c in live}
    assert f"showing {PAGE_ROWS + 1}–{len(live)} of" in _one(second, "#paging-live").get_text()
    assert _one(second, "#paging-live a[rel=prev]")
    assert client.get(f"/links/{outlet.id}?live=abc&burned=-1").status_code == 200
    chinese = BeautifulSoup(client.get(f"/links/{outlet.id}?lang=zh").text, "html.parser")
    assert f"显示 1–{PAGE_ROWS} 个，共 {len(live)} 个诱饵运单" in chinese.get_text()


def test_evidence_downloads_are_named_by_what_they_are_and_the_header_names_the_key(
    client: TestClient, session: Session, make_key: KeyFactory, leak: Leak
) -> None:
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    digest = _blob(session, _incident(session, leak))
    blob = client.get(f"/evidence/{digest}")
    assert blob.status_code == 200
    disposition = blob.headers["content-disposition"]
    assert f'filename="evidence-report-{digest[:12]}.json"' in disposition
    assert ".bin" not in disposition
    assert blob.headers["content-type"] == "application/octet-stream"  # never rendered
    assert evidence_name("site", "text/html; charset=gb18030", digest).endswith(".html")
    assert evidence_name("sms", None, digest).endswith(".bin")
    page = BeautifulSoup(client.get("/").text, "html.parser")
    assert _one(page, ".who .key-name").get_text() == "test investigator"
    assert "key:" not in _one(page, ".who").get_text()


# --- the bundle's report -----------------------------------------------------------------


def test_the_bundle_report_lists_waybills_urls_and_excerpts_escaped(
    client: TestClient, session: Session, make_key: KeyFactory, leak: Leak
) -> None:
    incident = _incident(session, leak)
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    bundle = client.get(f"/incidents/{incident.id}/bundle")
    assert bundle.status_code == 200
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        source = archive.read("report.html").decode()
    assert "<script>" not in source and "<img" not in source
    assert "&lt;script&gt;alert(&#39;listing&#39;)&lt;/script&gt;" in source
    report = BeautifulSoup(source, "html.parser")
    assert report.find("script") is None and report.find("img") is None
    rows = report.select("tr.sighting")
    assert len(rows) == 3
    assert {_one(r, "td.waybill code").get_text() for r in rows} == {
        c.waybill_no for c in leak.leaked
    }
    assert {_one(r, "td.where").get_text() for r in rows} == {EVIL_URL}
    for row, canary in zip(
        sorted(rows, key=lambda r: _one(r, "td.waybill").get_text()),
        sorted(leak.leaked, key=lambda c: c.waybill_no),
        strict=True,
    ):
        excerpt = _one(row, "td.excerpt").get_text()
        assert canary.waybill_no in excerpt and IMG in excerpt


# --- the dashboard's trend ---------------------------------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_sightings_are_counted_per_local_day_and_channel() -> None:
    seen = [
        (datetime(2026, 3, 1, 15, 59, tzinfo=UTC), "site"),  # 23:59 on 1 March in Shanghai
        (datetime(2026, 3, 1, 16, 1, tzinfo=UTC), "site"),  # 00:01 on 2 March
        (datetime(2026, 3, 1, 16, 2, tzinfo=UTC), "sms"),
        (datetime(2026, 3, 1, 17, 0), "sms"),  # naive: UTC by the storage rule
        (datetime(2026, 1, 1, 0, 0, tzinfo=UTC), "dump"),  # long before: left out
        (datetime(2026, 3, 2, 16, 0, tzinfo=UTC), "dump"),  # 3 March: after today
    ]
    days = per_day(seen, SHANGHAI, date(2026, 3, 2), days=7)
    assert [d.day for d in days] == [date(2026, 2, 24) + timedelta(days=i) for i in range(7)]
    assert days[-2].counts == {"site": 1}
    assert days[-1].counts == {"site": 1, "sms": 2}
    assert sum(d.total for d in days) == 4 and all(d.total == 0 for d in days[:-2])
    utc = per_day(seen, ZoneInfo("UTC"), date(2026, 3, 2), days=7)
    assert utc[-2].counts == {"site": 2, "sms": 2}  # the zone decides the day

    drawn = chart(days)
    assert drawn.total == 4 and drawn.channels == ["site", "sms"]
    last = [b for b in drawn.bars if b.day == date(2026, 3, 2)]
    assert [(b.channel, b.count) for b in last] == [("site", 1), ("sms", 2)]  # stacked
    site, sms = last
    assert sms.height == pytest.approx(2 * site.height, abs=0.2)
    assert site.y + site.height == pytest.approx(drawn.bottom)  # from the axis up
    assert sms.y + sms.height == pytest.approx(site.y)  # on top of the one below
    assert min(b.y for b in drawn.bars) >= drawn.top
    assert drawn.ticks[0].text == "0" and int(drawn.ticks[-1].text) >= 3
    assert chart(per_day([], SHANGHAI, date(2026, 3, 2))).bars == []


def test_the_dashboard_draws_the_trend_from_the_sightings(
    client: TestClient, session: Session, make_key: KeyFactory, leak: Leak
) -> None:
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    soup = BeautifulSoup(client.get("/?lang=en").text, "html.parser")
    svg = _one(soup, "#trend svg.trend")
    bars = svg.select("rect.bar")
    today = datetime.now(SHANGHAI).date().isoformat()
    assert [(b["data-day"], b["data-channel"], b["data-count"]) for b in bars] == [
        (today, "report", "4")  # three canaries on one listing, one control elsewhere
    ]
    assert "4 sightings in all" in _one(soup, "#trend").get_text()
    assert [li.get_text() for li in soup.select("#trend ul.legend li")] == ["report"]


def test_the_trend_is_drawn_in_a_browser_without_scripts(
    browser: Browser, served: Served, artifacts: Path
) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    _sign_in_page(page, served.base, served.key)
    bar = page.locator("#trend svg.trend rect.bar")
    assert bar.count() == 1
    box = bar.bounding_box()
    assert box is not None and box["height"] > 20 and box["width"] > 5
    fill = bar.evaluate("node => getComputedStyle(node).fill")
    assert fill == "rgb(87, 96, 106)", fill  # the stylesheet's colour for reports
    assert page.locator("#trend ul.legend li").all_inner_texts() == ["人工上报"]
    assert all(url.startswith(served.base) for url in requests), requests  # no CDN
    assert errors == []
    page.locator("#trend").screenshot(path=str(artifacts / "trend.png"))
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    assert (artifacts / "trend.png").stat().st_size > 1000
    context.close()


def test_a_malformed_link_or_canary_id_is_a_404_page_not_json(
    client: TestClient, make_key: KeyFactory
) -> None:
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    for path in ("/links/abc", "/canaries/12345678", "/links/" + "f" * 300):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert "未找到" in response.text
