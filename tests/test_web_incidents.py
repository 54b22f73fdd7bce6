"""The incident pages: the list, one incident's report, evidence downloads and the bundle,
over HTTP and in a real browser.

The leak is made by the real code paths: canaries minted and planted at an outlet, a
listing naming three of them reported through `POST /v1/sightings`, grouped into an
incident and attributed as the API does it. The listing carries markup an attacker would
write; the pages must show it as text, and the browser must run none of it.
"""

import hashlib
import io
import json
import random
import re
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Dialog
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.auth.keys import issue_key
from app.db import Database, make_engine, upgrade
from app.evidence.store import EvidenceStore
from app.incidents.grouping import incident_sightings
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.main import create_app
from app.models.canaries import Canary, PlantChannel
from app.models.incidents import Incident, IncidentStatus
from app.models.keys import Role
from app.models.links import Link
from app.models.sightings import Sighting, SightingSource
from app.planting.schemas import StoredCanary
from app.planting.service import mint_canaries
from app.settings import Settings
from app.web.i18n import MESSAGES
from attribution.kinds import LinkKind
from attribution.model import Flag
from canaries.couriers import Courier
from tests.conftest import BACKENDS, KeyFactory, attributed, bearer, fresh_database, session_scope
from tests.loopback import serving
from tests.test_web import _csrf, _shoot, _sign_in, _sign_in_page, artifacts, browser
from watchers.observations import Evidence

__all__ = ["artifacts", "browser"]  # fixtures shared with tests/test_web.py

SCRIPT = "<script>alert('listing')</script>"
IMG = '"><img src=x onerror=alert(1)>'
# A URL may hold no spaces, and still try to break out of an attribute.
EVIL_URL = 'https://market.example/item/9"><img/src=x/onerror=alert(2)>'


def _line(c: StoredCanary | Canary) -> str:
    """A leaked record as a listing shows it: name and address cut, waybill number whole."""
    return (
        f"{c.name[0]}*{c.name[-1]} {c.mobile} {c.province}{c.city}{c.district}"
        f"{c.address[:6]}*** 运单 {c.waybill_no}"
    )


def _listing(canaries: list[StoredCanary]) -> str:
    rows = "\n".join(f"{IMG}{SCRIPT} {_line(c)}" for c in canaries)
    return f"出售全国快递单号数据 日更 0.5元一条 样本:\n{rows}\n联系客服 {SCRIPT}"


@dataclass
class Leak:
    head: Link
    region: Link
    leaker: Link
    quiet: Link
    leaked: list[StoredCanary]
    control: Canary


def _courier(session: Session) -> Leak:
    """A head office, a region with two outlets; the first sells three of its canaries."""

    def link(name: str, kind: LinkKind, region: str, parent: Link | None) -> Link:
        data = LinkCreate(
            name=name,
            kind=kind,
            region=region,
            courier=Courier.ZTO,
            parent_id=parent.id if parent else None,
        )
        return create_link(session, Actor.cli(), data)

    head = link("中通总部", LinkKind.HEAD_OFFICE, "330000", None)
    region = link("杭州区域", LinkKind.REGION, "330100", head)
    leaker = link("拱墅网点", LinkKind.OUTLET, "330105", region)
    quiet = link("余杭网点", LinkKind.OUTLET, "330110", region)
    # Twenty, so that a control canary is minted alongside (5% of them).
    cli = Actor.cli()
    minted = mint_canaries(session, cli, leaker.id, 20, PlantChannel.CLI, rng=random.Random(3))
    mint_canaries(session, cli, quiet.id, 8, PlantChannel.CLI, rng=random.Random(4))
    control = session.exec(
        select(Canary).where(Canary.link_id == leaker.id, col(Canary.control))
    ).first()
    assert control is not None
    return Leak(head, region, leaker, quiet, minted.planted[:3], control)


def _report(api: httpx.Client | TestClient, leak: Leak) -> None:
    """The listing of three canaries, and a control canary seen somewhere else."""
    listing = api.post(
        "/v1/sightings", json={"kind": "listing", "text": _listing(leak.leaked), "url": EVIL_URL}
    )
    assert listing.status_code == 202, listing.text
    assert listing.json()["matches"] == 3, listing.text
    control = api.post(
        "/v1/sightings",
        json={
            "kind": "listing",
            "text": _line(leak.control),
            "url": "https://other.example/item/1",
        },
    )
    assert control.status_code == 202, control.text
    assert control.json()["matches"] == 1, control.text


@pytest.fixture
def leak(client: TestClient, session: Session, make_key: KeyFactory) -> Leak:
    story = _courier(session)
    session.commit()
    client.headers.update(bearer(make_key(Role.SECURITY)))
    _report(client, story)
    del client.headers["Authorization"]
    return story


def _incident(session: Session, leak: Leak) -> Incident:
    return session.exec(select(Incident).where(Incident.top_link_id == leak.leaker.id)).one()


def _control_incident(session: Session) -> Incident:
    return session.exec(select(Incident).where(col(Incident.control))).one()


def _blob(session: Session, incident: Incident) -> str:
    """The kept report behind the listing's sightings (one blob for all three)."""
    digests = {s.evidence_sha256 for s in incident_sightings(session, incident.id)}
    assert len(digests) == 1
    digest = digests.pop()
    assert digest is not None
    return digest


def _one(node: Tag, selector: str) -> Tag:
    found = node.select_one(selector)
    assert found is not None, selector
    return found


def test_every_incident_status_and_flag_has_a_label_in_both_languages() -> None:
    for lang in MESSAGES:
        for status in IncidentStatus:
            assert f"incident_status.{status}" in MESSAGES[lang], (lang, status)
        for flag in Flag:
            assert f"flag.{flag}" in MESSAGES[lang], (lang, flag)


# --- over HTTP (no browser) --------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/incidents",
        f"/incidents/{uuid.uuid4()}",
        f"/incidents/{uuid.uuid4()}/bundle",
        f"/evidence/{'a' * 64}",
    ],
)
def test_incident_pages_send_a_visitor_without_a_session_to_sign_in(
    client: TestClient, path: str
) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    location = httpx.URL(response.headers["location"])
    assert location.path == "/signin" and location.params["next"] == path


@pytest.mark.parametrize("change", ["close", "merge", "split"])
def test_incident_changes_need_a_session(client: TestClient, change: str) -> None:
    path = f"/incidents/{uuid.uuid4()}/{change}"
    response = client.post(path, data={"csrf_token": "0" * 64}, follow_redirects=False)
    assert response.status_code == 303
    assert httpx.URL(response.headers["location"]).path == "/signin"


def test_the_incident_page_shows_the_attribution_the_tree_and_the_timeline(
    client: TestClient, session: Session, make_key: KeyFactory, leak: Leak
) -> None:
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    incident = _incident(session, leak)
    page = client.get(f"/incidents/{incident.id}")
    assert page.status_code == 200, page.text
    soup = BeautifulSoup(page.text, "html.parser")
    first = soup.select("table.candidates tbody tr")[0]
    assert _one(first, "a")["href"] == f"/links/{leak.leaker.id}"
    assert _one(first, "a").get_text() == "拱墅网点"
    probability = float(_one(first, ".value").get_text())
    assert probability == pytest.approx(incident.top_probability, abs=0.005)
    assert float(str(_one(first, "rect.bar-fill")["width"])) == pytest.approx(
        probability * 100, abs=0.6
    )
    assert "拱墅网点" in _one(first, "td.explanation").get_text()  # zh by default
    assert _one(soup, "li.most-likely > .node-label a").get_text() == "拱墅网点"
    # The tree: the leaker under its region under the head office, the quiet outlet hidden.
    path = [a.get_text() for a in soup.select("li.most-likely")[0].find_parents("li")]
    assert len(path) == 2
    tree = [a.get_text() for a in soup.select("ul.link-tree a")]
    assert tree[:3] == ["中通总部", "杭州区域", "拱墅网点"] and "余杭网点" not in tree
    assert "另有 1 个下级环节未列出" in _one(soup, "#tree").get_text()
    assert _one(soup, "li.planted .badge.planted").get_text() == "浮现的诱饵运单中有 3 个投放在此"
    svg = _one(soup, "svg.timeline")
    assert len(svg.select("circle.plant-mark")) == 3
    assert len(svg.select("path.sighting-mark")) == 3
    assert len(svg.select("rect.leak-window")) == 1
    assert len(soup.select("#evidence tbody tr")) == 3
    assert {a["href"] for a in soup.select("#evidence a.download")} == {
        f"/evidence/{_blob(session, incident)}"
    }
    english = BeautifulSoup(client.get(f"/incidents/{incident.id}?lang=en").text, "html.parser")
    assert "Candidate links, most likely first" in english.get_text()
    assert "3 surfaced and 17 did not" in _one(english, "td.explanation").get_text()


def test_attacker_text_is_shown_as_text(
    client: TestClient, session: Session, make_key: KeyFactory, leak: Leak
) -> None:
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    incident = _incident(session, leak)
    for path in ("/incidents", f"/incidents/{incident.id}", "/"):
        source = client.get(path).text
        assert "<script>alert" not in source and "<img" not in source, path
    page = client.get(f"/incidents/{incident.id}").text
    assert "&lt;script&gt;alert(&#39;listing&#39;)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    soup = BeautifulSoup(page, "html.parser")
    assert soup.find("script") is None and soup.find("img") is None
    assert IMG in _one(soup, "#evidence td.excerpt").get_text()
    assert EVIL_URL in _one(soup, "#evidence td.where").get_text()


def test_a_control_incident_says_so_and_names_no_link(
    client: TestClient, session: Session, make_key: KeyFactory, leak: Leak
) -> None:
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    incident = _control_incident(session)
    soup = BeautifulSoup(client.get(f"/incidents/{incident.id}").text, "html.parser")
    assert "对照运单从未投放" in _one(soup, "li.flag-control_seen").get_text()
    assert soup.select_one("table.candidates") is None
    assert "没有候选环节" in _one(soup, "#candidates").get_text()
    svg = _one(soup, "svg.timeline")
    assert len(svg.select("circle.plant-mark")) == 0  # a control is never planted
    assert len(svg.select("path.sighting-mark.control")) == 1


def test_the_list_shows_open_incidents_first(
    client: TestClient, session: Session, make_key: KeyFactory, leak: Leak
) -> None:
    closer = make_key(Role.INVESTIGATOR)
    control = _control_incident(session)
    closed = client.post(f"/v1/incidents/{control.id}/close", headers=bearer(closer))
    assert closed.status_code == 200, closed.text
    assert _sign_in(client, closer).status_code == 303
    soup = BeautifulSoup(client.get("/incidents?lang=en").text, "html.parser")
    rows = soup.select("table.incidents tbody tr")
    assert [r["class"][0] for r in rows] == ["incident-open", "incident-closed"]
    assert rows[0].select("a")[1].get_text() == "拱墅网点"
    dashboard = BeautifulSoup(client.get("/").text, "html.parser")
    listed = dashboard.select("#incidents tbody tr")
    assert len(listed) == 1 and "拱墅网点" in listed[0].get_text()
    assert _one(listed[0], "a")["href"] == f"/incidents/{_incident(session, leak).id}"


STAY = {"follow_redirects": False}


def _fresh(session: Session, incident_id: uuid.UUID) -> Incident:
    """The incident as the request that changed it left it."""
    session.expire_all()
    incident = session.get(Incident, incident_id)
    assert incident is not None
    return incident


def test_an_investigator_merges_splits_and_closes_from_the_page(
    client: TestClient, session: Session, make_key: KeyFactory, leak: Leak
) -> None:
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    incident, control = _incident(session, leak), _control_incident(session)
    page = client.get(f"/incidents/{incident.id}").text
    token = _csrf(page)
    soup = BeautifulSoup(page, "html.parser")
    assert [o["value"] for o in soup.select("#merge-form option")] == [str(control.id)]
    assert len(soup.select("input[name=sighting_ids][form=split-form]")) == 3

    base = f"/incidents/{incident.id}"
    merge = {"incident_ids": [str(control.id)]}
    for forged in ({}, {"csrf_token": "0" * 64}):
        refused = client.post(f"{base}/merge", data=merge | forged, follow_redirects=False)
        assert refused.status_code == 403 and "CSRF" in refused.text
    merged = client.post(f"{base}/merge", data=merge | {"csrf_token": token}, **STAY)
    assert merged.status_code == 303 and merged.headers["location"] == base
    assert _fresh(session, control.id).merged_into_id == incident.id
    assert len(incident_sightings(session, incident.id)) == 4

    moved = [s.id for s in incident_sightings(session, incident.id) if s.control]
    split = client.post(f"{base}/split", data={"sighting_ids": moved, "csrf_token": token}, **STAY)
    assert split.status_code == 303
    new_id = uuid.UUID(split.headers["location"].rsplit("/", 1)[1])
    assert [s.id for s in incident_sightings(session, new_id)] == moved
    everything = [s.id for s in incident_sightings(session, incident.id)]
    refused = client.post(f"{base}/split", data={"sighting_ids": everything, "csrf_token": token})
    assert refused.status_code == 409 and "无法完成这一更改" in refused.text

    closed = client.post(f"{base}/close", data={"csrf_token": token}, **STAY)
    assert closed.status_code == 303
    assert _fresh(session, incident.id).status == IncidentStatus.CLOSED
    after = BeautifulSoup(client.get(base).text, "html.parser")
    assert after.select_one("#manage") is None and "已结" in _one(after, "h1 .badge").get_text()


def test_a_role_that_may_not_manage_incidents_gets_no_forms_and_is_refused(
    client: TestClient, session: Session, make_key: KeyFactory, leak: Leak
) -> None:
    assert _sign_in(client, make_key(Role.SECURITY)).status_code == 303
    incident = _incident(session, leak)
    page = client.get(f"/incidents/{incident.id}").text
    assert BeautifulSoup(page, "html.parser").select_one("#manage") is None
    refused = client.post(f"/incidents/{incident.id}/close", data={"csrf_token": _csrf(page)})
    assert refused.status_code == 403 and "你的角色不能" in refused.text
    assert _fresh(session, incident.id).status == IncidentStatus.OPEN


def test_evidence_is_downloaded_only_when_a_sighting_refers_to_it(
    client: TestClient, session: Session, settings: Settings, make_key: KeyFactory, leak: Leak
) -> None:
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    digest = _blob(session, _incident(session, leak))
    blob = client.get(f"/evidence/{digest}")
    assert blob.status_code == 200
    assert hashlib.sha256(blob.content).hexdigest() == digest
    assert blob.headers["content-type"] == "application/octet-stream"
    assert blob.headers["content-disposition"].startswith("attachment;")
    assert blob.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in blob.headers["content-security-policy"]
    assert json.loads(blob.content)["url"] == EVIL_URL  # the report, kept as it came

    store = EvidenceStore(settings.evidence_path)
    stray = store.put(Evidence(b"<html>not behind any sighting</html>", "text/html"))
    dump = Sighting(
        canary_id=leak.leaked[0].id,
        link_id=leak.leaker.id,
        source=SightingSource.DUMP,
        dedup_key="d" * 64,
        score=30.0,
        excerpt="",
        evidence_sha256=stray,
    )
    unknown = hashlib.sha256(b"never stored").hexdigest()
    for missing in (unknown, stray):
        response = client.get(f"/evidence/{missing}")
        assert response.status_code == 404 and "未找到" in response.text
    # A dump's hash names a file that is never kept, even where a blob has that name.
    session.add(dump)
    session.commit()
    assert client.get(f"/evidence/{stray}").status_code == 404
    for attempt in (
        digest.upper(),
        digest[:63],
        "../" * 4 + "etc/passwd",
        "..%2F..%2F..%2Fetc%2Fpasswd",
        f"{digest[:2]}%2F{digest}",
        f"..%2F{digest[:2]}%2F{digest}",
        "%2e%2e",
        digest + "%00",
    ):
        response = client.get(f"/evidence/{attempt}")
        assert response.status_code in (404, 422), (attempt, response.status_code)
        assert hashlib.sha256(response.content).hexdigest() != digest


def test_the_bundle_downloads_under_the_page_session(
    client: TestClient, session: Session, make_key: KeyFactory, leak: Leak
) -> None:
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    incident = _incident(session, leak)
    response = client.get(f"/incidents/{incident.id}/bundle")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith("attachment;")
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["incident_id"] == str(incident.id)
        for entry in manifest["files"]:
            assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
        assert f"evidence/{_blob(session, incident)}" in archive.namelist()
    assert client.get(f"/incidents/{uuid.uuid4()}/bundle").status_code == 404


# --- in a real browser -------------------------------------------------------------------


@dataclass
class Served:
    base: str
    engine: Engine
    key: str
    leak: Leak
    incident_id: uuid.UUID
    blob: str


@pytest.fixture(params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """The app on loopback over a fresh database, after the listing was reported."""
    with fresh_database(request.param, tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        settings = Settings(
            database_url=url,
            rotation_interval_seconds=0,
            evidence_dir=str(tmp_path / "evidence"),
            jobs_in_process=True,  # on PostgreSQL, serve refreshes the incident itself
        )
        with session_scope(engine) as session:
            leak = _courier(session)
            keys = {
                role: issue_key(session, role=role, name=f"{role} 测试").secret
                for role in (Role.SECURITY, Role.INVESTIGATOR)
            }
        with serving(create_app(settings, Database(engine))) as base:
            with httpx.Client(base_url=base, headers=bearer(keys[Role.SECURITY])) as api:
                _report(api, leak)
            attributed(engine)
            with session_scope(engine) as session:
                incident = _incident(session, leak)
                blob = _blob(session, incident)
            yield Served(base, engine, keys[Role.INVESTIGATOR], leak, incident.id, blob)
        engine.dispose()


def test_an_investigator_reads_an_incident_in_a_browser(
    browser: Browser, served: Served, artifacts: Path
) -> None:
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 1360, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    ran: list[str] = []

    def dialog(opened: Dialog) -> None:  # any alert() means attacker text ran
        ran.append(opened.message)
        opened.dismiss()

    page.on("dialog", dialog)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _sign_in_page(page, served.base, served.key)
    assert page.url == served.base + "/"
    incidents = page.locator("#incidents tbody tr")
    assert incidents.count() == 2
    assert "拱墅网点" in page.inner_text("#incidents")
    _shoot(page, artifacts, "01-dashboard")

    page.click("#incidents >> text=拱墅网点")  # the top link's page, then back to the incident
    assert page.url.endswith(f"/links/{served.leak.leaker.id}")
    page.go_back()
    page.click("#all-incidents")
    assert page.url == served.base + "/incidents"
    assert page.locator("table.incidents tbody tr").count() == 2
    _shoot(page, artifacts, "02-incidents")
    page.click(f"a[href='/incidents/{served.incident_id}']")
    assert page.url == f"{served.base}/incidents/{served.incident_id}"

    first = page.locator("table.candidates tbody tr").first
    assert first.locator("td").nth(1).inner_text() == "拱墅网点"
    assert re.fullmatch(r"0\.\d\d|1\.00", first.locator(".value").inner_text())
    leading = page.locator("li.most-likely > .node-label")
    assert leading.locator("a").inner_text() == "拱墅网点"
    assert leading.evaluate("e => getComputedStyle(e).borderTopWidth") == "2px"  # highlighted
    assert page.locator("svg.timeline circle.plant-mark").count() == 3
    assert page.locator("svg.timeline path.sighting-mark").count() == 3
    assert page.locator("svg.timeline rect.leak-window").count() == 1
    box = page.locator("svg.timeline").bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 100  # the CSS applied
    assert page.locator("img").count() == 0 and page.locator("main script").count() == 0
    assert IMG in page.locator("#evidence td.excerpt").first.inner_text()
    _shoot(page, artifacts, "03-incident")

    with page.expect_download() as download:
        page.locator("#evidence a.download").first.click()
    saved = download.value.path()
    assert hashlib.sha256(Path(saved).read_bytes()).hexdigest() == served.blob
    with page.expect_download() as bundle:
        page.click("#bundle")
    with zipfile.ZipFile(bundle.value.path()) as archive:
        assert f"evidence/{served.blob}" in archive.namelist()

    page.click("header .lang >> text=English")
    assert "Candidate links, most likely first" in page.inner_text("#candidates")
    assert "3 surfaced and 17 did not" in page.inner_text("#candidates")
    assert page.locator("svg.timeline text.lane-label").first.text_content() == "Planted"
    _shoot(page, artifacts, "04-incident-en")

    # Split one sighting off: the checkbox in the evidence table belongs to the split form.
    page.locator("#evidence input[name=sighting_ids]").first.check()
    page.click("#split-form button")
    assert page.url != f"{served.base}/incidents/{served.incident_id}"
    assert page.locator("#evidence tbody tr").count() == 1
    assert page.locator("svg.timeline path.sighting-mark").count() == 1
    _shoot(page, artifacts, "05-split-off")
    page.goto(f"{served.base}/incidents/{served.incident_id}")
    assert page.locator("#evidence tbody tr").count() == 2
    assert ran == [], ran
    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()
