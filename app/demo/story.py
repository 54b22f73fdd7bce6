"""`honeytrace demo`: the whole story on a bare machine, with SQLite and no network.

A small courier is registered (head office, regions, outlets, couriers, a platform and its
merchants, a printing-software vendor); canaries are minted and planted at its links. One
outlet leaks: three of its canaries turn up masked on a data-trading site served here on
loopback, one in a scam SMS to its pool number through Twilio's signed webhook, and one as
the recipient of a brushing order. The watchers run, and the incident names the outlet.
Every step goes through the same code and HTTP API a real deployment uses.
"""

import random
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlmodel import Session
from twilio.request_validator import RequestValidator

from app.auth.actor import Actor
from app.auth.keys import issue_key
from app.db import Database, make_engine, upgrade
from app.demo.market import MarketListing, SampleRecord, make_market
from app.demo.serving import free_port, serving
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.main import create_app
from app.models.canaries import PlantChannel
from app.models.keys import Role
from app.models.links import Link
from app.numbers.service import assign_number, register_number
from app.planting.schemas import StoredCanary
from app.planting.service import mint_canaries
from app.settings import Settings
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from canaries.mint import LinkProfile, Minter

COURIER = Courier.ZTO
POOL_NUMBER = "+8617099990001"  # the operator's own (a virtual-operator block, rule 2)
ATTRIBUTION_WAIT_SECONDS = 60.0
# (name, kind, region, parent name): the tree by who can read whose data.
TREE: tuple[tuple[str, LinkKind, str, str | None], ...] = (
    ("中通演示总部", LinkKind.HEAD_OFFICE, "310000", None),
    ("浙江大区", LinkKind.REGION, "330000", "中通演示总部"),
    ("江苏大区", LinkKind.REGION, "320000", "中通演示总部"),
    ("西湖网点", LinkKind.OUTLET, "330106", "浙江大区"),
    ("拱墅网点", LinkKind.OUTLET, "330105", "浙江大区"),
    ("余杭网点", LinkKind.OUTLET, "330110", "浙江大区"),
    ("鼓楼网点", LinkKind.OUTLET, "320106", "江苏大区"),
    ("玄武网点", LinkKind.OUTLET, "320102", "江苏大区"),
    ("西湖网点 快递员 王师傅", LinkKind.COURIER_STAFF, "330106", "西湖网点"),
    ("拱墅网点 快递员 李师傅", LinkKind.COURIER_STAFF, "330105", "拱墅网点"),
    ("好物商城", LinkKind.PLATFORM, "330108", None),
    ("好物商城 家居旗舰店", LinkKind.MERCHANT, "330108", "好物商城"),
    ("好物商城 数码专营店", LinkKind.MERCHANT, "440305", "好物商城"),
    ("快打面单软件", LinkKind.VENDOR, "330110", None),
)
LEAKER = "拱墅网点"
CANARIES_PER_LINK = 30


@dataclass
class DemoResult:
    """What the story came to, for the printout and the tests."""

    base_url: str
    investigator_key: str
    leaker_id: uuid.UUID
    links: dict[str, uuid.UUID]
    steps: list[str] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)


def build_courier(
    session: Session, rng: random.Random
) -> tuple[dict[str, Link], list[StoredCanary]]:
    """Register the tree and plant canaries at every link; the leaker's canaries returned."""
    links: dict[str, Link] = {}
    for name, kind, region, parent in TREE:
        data = LinkCreate(
            name=name,
            kind=kind,
            region=region,
            courier=COURIER,
            parent_id=links[parent].id if parent else None,
        )
        links[name] = create_link(session, Actor.cli(), data)
    leaked: list[StoredCanary] = []
    for name, link in links.items():
        result = mint_canaries(
            session, Actor.cli(), link.id, CANARIES_PER_LINK, PlantChannel.CLI, rng=rng
        )
        if name == LEAKER:
            leaked = [c for c in result.planted if not c.control]
    number = register_number(
        session, Actor.cli(), POOL_NUMBER, "twilio", ["sms", "voice"], "330105", False, False
    )
    assign_number(session, Actor.cli(), number.id, links[LEAKER].id)
    return links, leaked


def strangers(count: int, rng: random.Random) -> list[SampleRecord]:
    """Made-up people standing for the real customers a leaked list holds (none is stored)."""
    today = date.today()
    profile = LinkProfile(COURIER, area="330105", window=(today - timedelta(days=7), today))
    minted = Minter(profile, rng, control_share=0).mint(count)
    return [
        SampleRecord(c.name, c.mobile, c.province + c.city + c.district + c.address, c.waybill_no)
        for c in minted
    ]


def sample(canary: StoredCanary) -> SampleRecord:
    address = canary.province + canary.city + canary.district + canary.address
    return SampleRecord(canary.name, canary.mobile, address, canary.waybill_no)


@contextmanager
def demo_service(
    workdir: Path, port: int | None = None
) -> Iterator[tuple[Settings, Database, str]]:
    """honeytrace itself, on a SQLite file in `workdir`, served on loopback."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'demo.db'}",
        evidence_dir=str(workdir / "evidence"),
        public_url=base,
        twilio_auth_token=SecretStr(secrets.token_urlsafe(24)),
        fetch_private_addresses=True,  # the demo's trading site is on loopback
        rotation_interval_seconds=0,
        site_check_interval_seconds=0,  # the demo polls when the story says so
    )
    database = Database(make_engine(settings.database_url))
    upgrade(database.engine)
    try:
        with serving(create_app(settings, database), port):
            yield settings, database, base
    finally:
        database.engine.dispose()


def run_story(
    settings: Settings,
    database: Database,
    base: str,
    say: Callable[[str], None] = print,
    seed: int = 2026,
) -> DemoResult:
    # Seeded: the demo tells the same story each time, and its canaries guard nothing.
    rng = random.Random(seed)  # noqa: S311
    with database.write() as session:
        links, leaked = build_courier(session, rng)
        security = issue_key(session, role=Role.SECURITY, name="demo security").secret
        platform = issue_key(session, role=Role.INTEGRATION, name="demo order platform").secret
        investigator = issue_key(session, role=Role.INVESTIGATOR, name="demo investigator").secret
    result = DemoResult(base, investigator, links[LEAKER].id, {n: x.id for n, x in links.items()})

    def step(text: str) -> None:
        result.steps.append(text)
        say(text)

    step(
        f"1. 快递公司 {len(links)} 个环节，每个环节植入 {CANARIES_PER_LINK} 条诱饵运单 "
        f"({len(links)} links, {CANARIES_PER_LINK} canaries planted at each)"
    )
    headers = {"Authorization": f"Bearer {security}"}
    listing = strangers(57, rng)
    for position, canary in zip((5, 23, 41), leaked[:3], strict=True):
        listing.insert(position, sample(canary))
    market = make_market(
        [MarketListing(1, "11月 杭州拱墅 快递单号数据 新鲜 5000条", "0.4元/条", listing)]
    )
    with serving(market) as market_url, httpx.Client(base_url=base, timeout=120) as api:
        step(f"2. {LEAKER} 泄露：交易站点挂出 60 条样本，含 3 条诱饵运单 ({market_url}/market)")
        site = {
            "name": "演示数据市场",
            "definition": {
                "start_urls": [f"{market_url}/market"],
                "listing_links": "a.item",
                "record_selector": "table.sample tr",
            },
        }
        created = api.post("/v1/sites", json=site, headers=headers)
        created.raise_for_status()
        poll = api.post(f"/v1/sites/{created.json()['id']}/poll", headers=headers)
        poll.raise_for_status()
        step(f"3. 站点监控抓取：新增 {poll.json()['sightings_added']} 条发现 (site watcher)")

        scam = leaked[3]
        body = (
            f"【中通快递】{scam.name}您好，您的快递{scam.waybill_no}在运输途中丢失，"
            "请添加理赔客服微信办理双倍赔付，退订回T"
        )
        form = {"MessageSid": "SM" + secrets.token_hex(16), "From": "+8617012345678",
                "To": POOL_NUMBER, "Body": body}  # fmt: skip
        url = f"{base}/v1/webhooks/twilio/sms"
        token = settings.twilio_auth_token.get_secret_value()
        signature = RequestValidator(token).compute_signature(url, form)
        sms = api.post(url, data=form, headers={"X-Twilio-Signature": signature})
        sms.raise_for_status()
        seen = api.get("/v1/sightings", params={"source": "sms"}, headers=headers)
        seen.raise_for_status()
        step(
            f"4. 诈骗短信打到 {LEAKER} 的号码池号码，经签名的 Twilio webhook 收到，"
            f"命中 {seen.json()['total']} 条 (scam SMS)"
        )

        brushed = leaked[4]
        order = {
            "order_id": "BR" + secrets.token_hex(6),
            "name": brushed.name,
            "mobile": brushed.mobile,
            "province": brushed.province,
            "city": brushed.city,
            "district": brushed.district,
            "address": brushed.address,
            "merchant_id": "刷单店铺-好评999",
        }
        screened = api.post(
            "/v1/screen", json={"orders": [order]}, headers={"Authorization": f"Bearer {platform}"}
        )
        screened.raise_for_status()
        step(f"5. 下单筛查命中刷单订单 {len(screened.json()['hits'])} 笔 (brushing order)")

        # The SMS and the order handed their incidents' attribution to a job: wait for it.
        deadline = time.monotonic() + ATTRIBUTION_WAIT_SECONDS
        while True:
            incidents = api.get("/v1/incidents", headers=headers)
            incidents.raise_for_status()
            pending = [i for i in incidents.json()["items"] if i["attribution_pending"]]
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for item in incidents.json()["items"]:
            detail = api.get(f"/v1/incidents/{item['id']}", headers=headers)
            detail.raise_for_status()
            result.incidents.append(detail.json())
    return result
