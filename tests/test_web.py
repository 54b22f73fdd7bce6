"""Investigator pages: sign-in, sessions, CSRF and every page, over HTTP and in a real browser.

The browser tests drive Debian's chromium through playwright against the app served by
uvicorn on loopback, with data made by the real code paths (a poll of a fake trading site
on loopback makes the sightings). Screenshots of each page are kept under
HONEYTRACE_TEST_ARTIFACTS (default: the test's temporary directory). Without chromium they
skip, unless HONEYTRACE_REQUIRE_BROWSER=1 (as .ci/run sets) turns the skip into a failure.
"""

import os
import random
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, sync_playwright
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.auth.actor import Actor
from app.auth.keys import issue_key, revoke_key
from app.canary_index import LiveIndex
from app.db import Database, utcnow
from app.evidence.store import EvidenceStore
from app.intake.pipeline import Intake
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.main import create_app
from app.models.canaries import Canary, CanaryStatus, PlantChannel
from app.models.keys import ApiKey, Role
from app.models.links import Link
from app.models.sightings import SightingSource
from app.numbers.service import assign_number, register_number
from app.planting.schemas import StoredCanary
from app.planting.service import mint_canaries
from app.settings import Settings
from app.telephony.contacts import keep_contact
from app.web.i18n import MESSAGES
from app.web.signin import SESSION_COOKIE, WEB_ROLES, safe_next, sign_session_id, start_session
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from tests.conftest import (
    BACKENDS,
    SHANGHAI,
    KeyFactory,
    LinkFactory,
    bearer,
    migrated_database,
    session_scope,
)
from tests.fakesite import FakeListing, Trouble, make_fake_site
from tests.loopback import serving
from watchers.observations import SourceKind
from watchers.telephony import Contact

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
PAGES = ("/", "/coverage", "/watchers", "/coverage.csv")
CHROMIUM = Path("/usr/bin/chromium")
BROWSER_REQUIRED = os.environ.get("HONEYTRACE_REQUIRE_BROWSER") == "1"
RECORD = r"(?P<name>\S+)\s+(?P<mobile>1\d\d\*{4}\d{4})\s+(?P<address>\S+)\s+(?P<waybill_no>\w+)"


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html
    return found.group(1)


def _sign_in(client: TestClient, key: str, next_path: str = "/") -> httpx.Response:
    form = client.get("/signin")
    data = {"api_key": key, "csrf_token": _csrf(form.text), "next": next_path}
    response: httpx.Response = client.post("/signin", data=data, follow_redirects=False)
    return response


def _key_record(session: Session, secret: str) -> ApiKey:
    prefix = secret.split("_")[1]
    record = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).one()
    return record


# --- over HTTP (no browser) --------------------------------------------------------------


def test_only_roles_that_read_sightings_may_sign_in() -> None:
    assert {Role.ADMIN, Role.SECURITY, Role.INVESTIGATOR} == WEB_ROLES


@pytest.mark.parametrize("path", [*PAGES, f"/links/{uuid.uuid4()}", f"/canaries/{uuid.uuid4()}"])
def test_pages_send_a_visitor_without_a_session_to_sign_in(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    location = httpx.URL(response.headers["location"])
    assert location.path == "/signin"
    assert location.params.get("next", "/") == path


def test_sign_in_gives_a_signed_httponly_strict_cookie_that_never_holds_the_key(
    client: TestClient, make_key: KeyFactory
) -> None:
    key = make_key(Role.INVESTIGATOR)
    response = _sign_in(client, key, "/coverage")
    assert response.status_code == 303
    assert response.headers["location"] == "/coverage"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back
    assert key not in cookie and key.split("_", 2)[2] not in cookie
    page = client.get("/coverage")
    assert page.status_code == 200 and "覆盖报告" in page.text


def test_over_https_the_session_cookie_is_secure(app: FastAPI, make_key: KeyFactory) -> None:
    key = make_key(Role.SECURITY)
    with TestClient(app, base_url="https://testserver") as client:
        response = _sign_in(client, key)
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


def test_a_wrong_key_is_refused_and_partner_and_integration_keys_cannot_sign_in(
    client: TestClient, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    wrong = _sign_in(client, "ht_aaaaaaaaaaaa_" + "x" * 43)
    assert wrong.status_code == 401 and "密钥无效或已吊销" in wrong.text
    scope = make_link("某电商平台", kind=LinkKind.PLATFORM)
    for role, label in ((Role.PARTNER, "合作方"), (Role.INTEGRATION, "系统集成")):
        refused = _sign_in(client, make_key(role, scope if role is Role.PARTNER else None))
        assert refused.status_code == 403, refused.text
        assert f"“{label}”角色的密钥不能登录网页" in refused.text
        assert SESSION_COOKIE not in refused.headers.get("set-cookie", "")
        assert client.get("/", follow_redirects=False).status_code == 303


def test_a_post_without_the_right_csrf_token_is_refused(
    client: TestClient, make_key: KeyFactory
) -> None:
    key = make_key(Role.INVESTIGATOR)
    form = client.get("/signin")
    token = _csrf(form.text)
    for data in ({"api_key": key}, {"api_key": key, "csrf_token": "0" * 64}):
        refused = client.post("/signin", data=data, follow_redirects=False)
        assert refused.status_code == 403 and "CSRF" in refused.text
    # A token is bound to its own pre-session cookie: another browser's is no good here.
    client.cookies.clear()
    client.get("/signin")
    stolen = client.post("/signin", data={"api_key": key, "csrf_token": token})
    assert stolen.status_code == 403
    assert SESSION_COOKIE not in client.cookies

    assert _sign_in(client, key).status_code == 303
    page = client.get("/")
    for data in ({}, {"csrf_token": token}, {"csrf_token": "0" * 64}):
        refused = client.post("/signout", data=data, follow_redirects=False)
        assert refused.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200  # still signed in
    signed_out = client.post("/signout", data={"csrf_token": _csrf(page.text)})
    assert signed_out.status_code == 200 and "登录" in signed_out.text
    assert SESSION_COOKIE not in client.cookies
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_revoked_key_s_session_ends_at_once(
    client: TestClient, session: Session, make_key: KeyFactory
) -> None:
    key = make_key(Role.INVESTIGATOR)
    assert _sign_in(client, key).status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 200
    revoke_key(session, _key_record(session, key).id)
    session.commit()
    ended = client.get("/watchers", follow_redirects=False)
    assert ended.status_code == 303
    assert ended.headers["location"] == "/signin?next=/watchers"
    assert f'{SESSION_COOKIE}=""' in ended.headers["set-cookie"]  # and the browser forgets it


def test_a_forged_or_expired_session_token_is_refused(
    client: TestClient, session: Session, settings: Settings, make_key: KeyFactory
) -> None:
    key = _key_record(session, make_key(Role.ADMIN))
    good = start_session(session, settings, key.id, utcnow())
    expired = start_session(session, settings, key.id, utcnow() - timedelta(hours=9))
    session.commit()
    client.cookies.set(SESSION_COOKIE, good)
    assert client.get("/", follow_redirects=False).status_code == 200
    session_id = good.rpartition(".")[0]
    other_key = Settings(secret_key=SecretStr(settings.secret_key.get_secret_value() + "x"))
    forged = [
        sign_session_id(other_key, session_id),  # a live session, signed with another secret
        sign_session_id(settings, secrets.token_urlsafe(32)),  # well signed, never started
        good[:-1] + ("0" if good[-1] != "0" else "1"),  # a flipped bit in the MAC
        expired,
        "garbage",
    ]
    for token in forged:
        client.cookies.set(SESSION_COOKIE, token)
        assert client.get("/", follow_redirects=False).status_code == 303, token


@pytest.mark.parametrize(
    ("asked", "went"),
    [
        ("/links/x?lang=en", "/links/x?lang=en"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
    ],
)
def test_after_sign_in_only_a_path_on_this_site_is_followed(asked: str, went: str) -> None:
    assert safe_next(asked) == went


def test_pages_carry_security_headers_and_are_never_cached(
    client: TestClient, make_key: KeyFactory
) -> None:
    for response in (client.get("/signin"), _sign_in(client, make_key(Role.ADMIN))):
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
    for path in PAGES:
        headers = client.get(path).headers
        policy = headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert headers["cache-control"] == "no-store" and headers["x-frame-options"] == "DENY"


def test_the_pages_are_not_in_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/", "/signin", "/signout", "/coverage", "/coverage.csv", "/watchers"} & set(paths)


def test_every_label_exists_in_both_languages() -> None:
    assert set(MESSAGES["zh"]) == set(MESSAGES["en"])
    # Every value a page names by a label: kinds, statuses, sources, channels, couriers, roles.
    for prefix, values in (
        ("kind", LinkKind),
        ("status", CanaryStatus),
        ("source", SightingSource),
        ("channel", PlantChannel),
        ("courier", Courier),
        ("role", Role),
    ):
        for value in values:
            assert f"{prefix}.{value}" in MESSAGES["zh"], (prefix, value)
    for lang in MESSAGES:
        for key, text in MESSAGES[lang].items():
            assert text.strip(), (lang, key)
            assert set(re.findall(r"\{(\w+)\}", text)) == set(
                re.findall(r"\{(\w+)\}", MESSAGES["zh" if lang == "en" else "en"][key])
            ), key


@dataclass
class Planted:
    head: Link
    region: Link
    outlet: Link
    canaries: list[StoredCanary]


@pytest.fixture
def planted(session: Session, make_link: LinkFactory) -> Planted:
    head = make_link("中通总部", kind=LinkKind.HEAD_OFFICE, region="330000")
    region = make_link("杭州区域", kind=LinkKind.REGION, parent=head, region="330100")
    outlet = make_link("西湖网点", parent=region, region="330106")
    result = mint_canaries(
        session, Actor.cli(), outlet.id, 4, PlantChannel.CLI, rng=random.Random(8)
    )
    session.commit()
    return Planted(head, region, outlet, [c for c in result.planted if not c.control])


def test_every_page_renders_its_data_in_both_languages(
    client: TestClient, session: Session, make_key: KeyFactory, planted: Planted
) -> None:
    leaked = planted.canaries[0]
    text = f"{leaked.name} {leaked.mobile} {leaked.province}{leaked.city}{leaked.address} "
    report = client.post(
        "/v1/sightings",
        json={
            "kind": "listing",
            "text": text + leaked.waybill_no,
            "url": "https://market.example/item/7",
        },
        headers=bearer(make_key(Role.SECURITY)),
    )
    assert report.status_code == 202, report.text
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    canary = session.get(Canary, leaked.id)
    assert canary is not None and canary.status == CanaryStatus.BURNED
    shown = {
        "/": [leaked.waybill_no, "西湖网点", "https://market.example/item/7"],
        f"/links/{planted.outlet.id}": [
            "中通总部",
            "杭州区域",
            leaked.waybill_no,
            planted.canaries[1].waybill_no,
        ],
        f"/canaries/{leaked.id}": [leaked.waybill_no, leaked.name, "中通总部", "杭州区域"],
        "/coverage": ["西湖网点", "中通总部"],
        "/watchers": [],
    }
    labels = {
        "zh": ["总览", "人工上报", "已暴露", "覆盖报告"],
        "en": ["Dashboard", "report", "burned", "Coverage"],
    }
    for lang, words in labels.items():
        seen = ""
        for path, content in shown.items():
            page = client.get(path, params={"lang": lang})
            assert page.status_code == 200, (path, page.text)
            assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in page.text
            for item in content:
                assert item in page.text, (lang, path, item)
            seen += page.text
        for word in words:
            assert word in seen, (lang, word)
    # The language asked for is remembered.
    assert 'lang="en"' in client.get("/").text
    # The hidden middle of a masked mobile never reaches a page.
    if canary.mobile_secret:
        assert canary.mobile_secret not in client.get(f"/canaries/{leaked.id}").text


def test_an_unknown_link_or_canary_is_a_404_page(client: TestClient, make_key: KeyFactory) -> None:
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    for path in (f"/links/{uuid.uuid4()}", f"/canaries/{uuid.uuid4()}"):
        missing = client.get(path)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        assert "未找到" in missing.text


def test_link_names_are_escaped(
    client: TestClient, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    make_link('<script>alert("x")</script>网点')
    assert _sign_in(client, make_key(Role.INVESTIGATOR)).status_code == 303
    page = client.get("/coverage").text
    assert "<script>" not in page and "&lt;script&gt;" in page


# --- in a real browser -------------------------------------------------------------------


@dataclass
class Served:
    base: str
    engine: Engine
    keys: dict[Role, str]
    outlet: Link
    untested: Link
    leaked: StoredCanary
    quiet: StoredCanary
    market: str


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = (
            f"chromium is not installed at {CHROMIUM} (apt-get install chromium) "
            "so the browser tests cannot run"
        )
        if BROWSER_REQUIRED:
            pytest.fail(message + "; HONEYTRACE_REQUIRE_BROWSER=1 forbids skipping")
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    root = os.environ.get("HONEYTRACE_TEST_ARTIFACTS")
    name = re.sub(r"[^\w.-]+", "-", request.node.name)
    where = (Path(root) if root else tmp_path / "artifacts") / "web" / name
    where.mkdir(parents=True, exist_ok=True)
    print(f"screenshots of the pages: {where}")
    return where


def _listing_record(canary: StoredCanary) -> dict[str, str]:
    return {
        "name": canary.name,
        "mobile": canary.mobile,
        "address": canary.province + canary.city + canary.district + canary.address,
        "waybill_no": canary.waybill_no,
    }


def _world(
    engine: Engine, evidence: Path
) -> tuple[dict[Role, str], Link, Link, list[StoredCanary]]:
    with session_scope(engine) as session:
        cli = Actor.cli()

        def link(name: str, kind: LinkKind, region: str, parent: Link | None) -> Link:
            data = LinkCreate(
                name=name,
                kind=kind,
                region=region,
                courier=Courier.ZTO,
                parent_id=parent.id if parent else None,
            )
            return create_link(session, cli, data)

        head = link("中通总部", LinkKind.HEAD_OFFICE, "330000", None)
        region = link("杭州区域", LinkKind.REGION, "330100", head)
        outlet = link("拱墅网点", LinkKind.OUTLET, "330105", region)
        untested = link("余杭网点", LinkKind.OUTLET, "330110", region)
        planted = mint_canaries(session, cli, outlet.id, 5, PlantChannel.CLI, rng=random.Random(5))
        phone = register_number(
            session, cli, "+8617000000001", "twilio", ["voice"], None, False, False
        )
        assign_number(session, cli, phone.id, outlet.id)
        intake = Intake(Database(engine), LiveIndex(), EvidenceStore(evidence), SHANGHAI)
        for i in range(3):  # bare calls: the background every number gets
            call = Contact(
                provider="twilio",
                kind=SourceKind.CALL,
                sid=f"CA{i:032d}",
                to_number=phone.number,
                from_number="+8613100000000",
                received_at=utcnow(),
                raw=b"{}",
                content_type="application/json",
            )
            keep_contact(session, intake, call, None)
        keys = {
            role: issue_key(
                session,
                role=role,
                name=f"{role} 测试",
                scope_link_id=region.id if role is Role.PARTNER else None,
            ).secret
            for role in Role
        }
    return keys, outlet, untested, [c for c in planted.planted if not c.control]


@pytest.fixture(params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """The app on loopback over a fresh database, after a poll of a fake market that sells
    one of the outlet's canaries (another listing never answers: an error in the report)."""
    with migrated_database(request.param, tmp_path) as (url, engine):
        settings = Settings(
            database_url=url,
            rotation_interval_seconds=0,
            evidence_dir=str(tmp_path / "evidence"),
            fetch_private_addresses=True,
        )
        keys, outlet, untested, canaries = _world(engine, settings.evidence_path)
        leaked, quiet = canaries[0], canaries[1]
        rng = random.Random(2)
        strangers = [
            {
                "name": rng.choice("王李张刘陈") + rng.choice("建晓海") + rng.choice("国红军"),
                "mobile": f"13{rng.randrange(10)}{rng.randrange(10**8):08d}",
                "address": f"浙江省杭州市上城区望江路{i}号",
                "waybill_no": f"YT{rng.randrange(10**13):013d}",
            }
            for i in range(5)
        ]
        listings = [
            FakeListing(1, [*strangers[:2], _listing_record(leaked), *strangers[2:]]),
            FakeListing(2, strangers[:3], trouble=Trouble.FLAKY, fail_times=99),
        ]
        with (
            serving(make_fake_site(listings)) as market,
            serving(create_app(settings, Database(engine))) as base,
        ):
            definition = {
                "start_urls": [f"{market}/market?page=1"],
                "listing_links": "div.item a.item-link",
                "record_selector": "table.sample tbody tr",
                "record_regex": RECORD,
                "requests_per_second": 10,
                "timeout_seconds": 2,
                "retries": 0,
            }
            with httpx.Client(base_url=base, headers=bearer(keys[Role.SECURITY])) as api:
                site = api.post("/v1/sites", json={"name": "假数据市场", "definition": definition})
                assert site.status_code == 201, site.text
                poll = api.post(f"/v1/sites/{site.json()['id']}/poll", timeout=60)
                assert poll.status_code == 200, poll.text
                assert poll.json()["sightings_added"] == 1
            yield Served(base, engine, keys, outlet, untested, leaked, quiet, market)


def _shoot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def _sign_in_page(page: Page, base: str, key: str) -> None:
    page.goto(base + "/signin")
    page.fill("#api_key", key)
    page.click("form button[type=submit]")


def test_an_investigator_reads_every_page_in_a_browser(
    browser: Browser, served: Served, artifacts: Path
) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.goto(served.base + "/coverage")
    assert page.url == served.base + "/signin?next=/coverage"
    assert page.inner_text("h1") == "登录"
    _shoot(page, artifacts, "01-signin")

    # A partner's key is refused, with a reason, and no session is made.
    page.fill("#api_key", served.keys[Role.PARTNER])
    page.click("form button[type=submit]")
    assert "“合作方”角色的密钥不能登录网页" in page.inner_text(".error")
    assert SESSION_COOKIE not in {c["name"] for c in context.cookies()}
    _shoot(page, artifacts, "02-signin-partner-refused")

    page.fill("#api_key", served.keys[Role.INVESTIGATOR])
    page.click("form button[type=submit]")
    assert page.url == served.base + "/coverage"
    cookie = next(c for c in context.cookies() if c["name"] == SESSION_COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert served.keys[Role.INVESTIGATOR].split("_", 2)[2] not in cookie["value"]
    # Script on the page cannot read the session.
    assert SESSION_COOKIE not in page.evaluate("document.cookie")

    coverage = page.inner_text("table.coverage")
    assert "拱墅网点" in coverage and "余杭网点" in coverage
    assert page.locator("tr.untested").filter(has_text="余杭网点").count() == 1
    assert "从未测试的环节：" in page.inner_text(".actions")
    _shoot(page, artifacts, "03-coverage")

    page.click("nav.main-nav >> text=总览")
    sightings = page.inner_text("#sightings")
    assert served.leaked.waybill_no in sightings and "交易网站" in sightings
    assert f"{served.market}/item/1" in sightings
    assert re.search(r"[0-9a-f]{64}", sightings)  # the page's evidence hash
    assert served.leaked.waybill_no in page.inner_text("#burned")
    # The listing's sighting opened an incident (app.incidents), listed with its top link.
    assert page.locator("#incidents a[href^='/incidents/']").count() == 1
    _shoot(page, artifacts, "04-dashboard")

    page.click(f"#sightings >> text={served.leaked.waybill_no}")
    assert page.url.endswith(f"/canaries/{served.leaked.id}")
    assert "已暴露" in page.inner_text("#record")
    assert [x.strip() for x in page.locator("#exposure li a").all_inner_texts()] == [
        "拱墅网点",
        "杭州区域",
        "中通总部",
    ]
    assert "命令行" in page.inner_text("#plant")
    assert re.search(r"[0-9a-f]{64}", page.inner_text("#sightings"))
    _shoot(page, artifacts, "05-canary")

    page.click("#record >> text=拱墅网点")
    assert page.url.endswith(f"/links/{served.outlet.id}")
    assert page.locator(".tree-path li").all_inner_texts()[:2] == ["中通总部 总部", "杭州区域 大区"]
    canaries = page.inner_text("#canaries")
    assert served.quiet.waybill_no in canaries and served.leaked.waybill_no in canaries
    _shoot(page, artifacts, "06-link")

    page.click("nav.main-nav >> text=监测状态")
    sites = page.inner_text("#sites")
    assert "假数据市场" in sites and "从未" not in page.inner_text("#sites td.last-poll")
    last_poll = page.inner_text("#sites td.last-poll")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d \(UTC\+08:00\)", last_poll), last_poll
    assert f"{served.market}/item/2" in sites  # the listing that never answered
    numbers = page.inner_text("#numbers")
    assert "+8617000000001" in numbers and "0.10" in numbers and "拱墅网点" in numbers
    assert "最近 24 小时的来电和短信：3" in numbers
    _shoot(page, artifacts, "07-watchers")

    page.click("header .lang >> text=English")
    assert page.inner_text("h1") == "Watcher status"
    page.click("nav.main-nav >> text=Dashboard")  # the choice is remembered
    assert page.inner_text("h1") == "Dashboard"
    assert "trading site" in page.inner_text("#sightings")
    _shoot(page, artifacts, "08-dashboard-en")
    page.goto(served.base + "/coverage")
    _shoot(page, artifacts, "09-coverage-en")

    # A form whose CSRF token was tampered with, or removed, is refused.
    token = page.locator("form.signout input[name=csrf_token]")
    token.evaluate("input => { input.value = '0'.repeat(64); }")
    with page.expect_response(lambda r: r.url.endswith("/signout")) as forged:
        page.click("form.signout button")
    assert forged.value.status == 403 and "CSRF" in page.inner_text("main")
    _shoot(page, artifacts, "10-csrf-refused")
    page.goto(served.base + "/")
    page.locator("form.signout input[name=csrf_token]").evaluate("input => input.remove()")
    with page.expect_response(lambda r: r.url.endswith("/signout")) as absent:
        page.click("form.signout button")
    assert absent.value.status == 403
    page.goto(served.base + "/")
    assert page.inner_text("h1") == "Dashboard"  # still signed in

    page.click("form.signout button")
    assert page.url == served.base + "/signin"
    assert SESSION_COOKIE not in {c["name"] for c in context.cookies()}
    context.close()


def test_a_revoked_key_is_signed_out_in_the_browser(
    browser: Browser, served: Served, artifacts: Path
) -> None:
    context = browser.new_context()
    page = context.new_page()
    _sign_in_page(page, served.base, served.keys[Role.SECURITY])
    assert page.url == served.base + "/"
    page.goto(served.base + "/signin")
    assert page.url == served.base + "/"  # signed in already: no form, on to the pages

    with session_scope(served.engine) as session:
        prefix = served.keys[Role.SECURITY].split("_")[1]
        key = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).one()
        revoke_key(session, key.id)
    page.goto(served.base + "/watchers")
    assert page.url == served.base + "/signin?next=/watchers"
    assert SESSION_COOKIE not in {c["name"] for c in context.cookies()}
    _shoot(page, artifacts, "revoked-signin")

    # The sign-in form's own token is checked too.
    page.locator("input[name=csrf_token]").evaluate("input => { input.value = 'forged'; }")
    page.fill("#api_key", served.keys[Role.INVESTIGATOR])
    with page.expect_response(lambda r: r.url.endswith("/signin")) as forged:
        page.click("form button[type=submit]")
    assert forged.value.status == 403
    context.close()


def test_every_page_but_sign_in_needs_a_session(client: TestClient) -> None:
    """A walk over every web route, so a page added later cannot forget its session."""
    from fastapi.routing import APIRoute

    from app.web.routes import router

    filled = {"digest": "a" * 64}
    checked = 0
    for route in router.routes:
        assert isinstance(route, APIRoute)
        if route.path == "/signin":
            continue
        path = route.path
        for name in route.param_convertors:
            path = path.replace(f"{{{name}}}", filled.get(name, str(uuid.uuid4())))
        for method in route.methods or ():
            response = client.request(method, path, follow_redirects=False)
            refused = response.status_code == 403 or (
                response.status_code == 303
                and httpx.URL(response.headers["location"]).path == "/signin"
            )
            assert refused, (method, route.path, response.status_code)
            checked += 1
    assert checked >= 14  # every route listed in app.web.routes today
