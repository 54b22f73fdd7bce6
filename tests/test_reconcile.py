"""Twilio reconciliation: the real twilio `Client` lists calls and messages from a stand-in for
Twilio's REST API on loopback (tests/fake_twilio.py), and what a webhook missed is recorded
through the webhooks' own path, once."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta, timezone
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from app.auth.actor import Actor
from app.db import Database, utcnow
from app.evidence.store import EvidenceStore
from app.intake.pipeline import Intake
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.main import create_app
from app.models.sightings import Sighting
from app.models.telephony import PhoneContact, PhoneNumber
from app.numbers.background import background_rates
from app.numbers.service import assign_number, register_number
from app.planting.schemas import FeedProfileBody, StoredCanary
from app.planting.service import mint_canaries, set_feed_profile
from app.settings import Settings
from app.telephony.reconcile import (
    ReconcileReport,
    TwilioNotConfiguredError,
    reconcile_job,
    reconcile_twilio,
    twilio_client,
)
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from tests.conftest import BACKENDS, migrated_database, session_scope
from tests.fake_twilio import FakeTwilio, call_resource, loopback_client, message_resource
from tests.loopback import free_port, serving

ACCOUNT = "AC" + "5" * 32
TOKEN = "reconcile-test-auth-token-0123456789"
POOL = "+8617000001234"
CONTROL = "+8617000009999"
PRIVACY = "+8617100002222"  # another provider's: Twilio is never asked about it
CALLER = "+8613900000000"


@dataclass
class World:
    engine: Engine
    settings: Settings
    canary: StoredCanary
    fake: FakeTwilio
    base: str  # the fake's

    @property
    def intake(self) -> Intake:
        return Intake.standalone(Database(self.engine), self.settings)

    def reconcile(self, token: str = TOKEN, limit: int = 1000) -> ReconcileReport:
        client = loopback_client(self.base, ACCOUNT, token)
        return reconcile_twilio(
            self.intake,
            client,
            since=utcnow() - timedelta(hours=24),
            limit=limit,
        )


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A fresh database (reconciliation commits), an outlet whose one canary carries its pool
    number, a control number, another provider's number, and an empty fake Twilio."""
    with migrated_database(request.param, tmp_path) as (url, engine):
        settings = Settings(
            database_url=url,
            rotation_interval_seconds=0,
            evidence_dir=str(tmp_path / "evidence"),
            twilio_account_sid=ACCOUNT,
            twilio_auth_token=SecretStr(TOKEN),
        )
        canary = _plant(engine)
        fake = FakeTwilio(ACCOUNT, TOKEN)
        with serving(fake.app()) as base:
            yield World(engine, settings, canary, fake, base)


def _plant(engine: Engine) -> StoredCanary:
    actor = Actor.cli()
    with session_scope(engine) as session:
        link = create_link(
            session,
            actor,
            LinkCreate(name="网点", kind=LinkKind.OUTLET, region="330106", courier=Courier.ZTO),
        )
        pool = register_number(session, actor, POOL, "twilio", ["voice", "sms"], None, False, False)
        register_number(session, actor, CONTROL, "twilio", ["voice", "sms"], None, False, True)
        register_number(session, actor, PRIVACY, "aliyun", ["voice"], None, True, False)
        assign_number(session, actor, pool.id, link.id)
        profile = FeedProfileBody(mobile_form="full", control_share=0)
        set_feed_profile(session, actor, link.id, profile)
        (canary,) = mint_canaries(session, actor, link.id, 1, None).planted
    assert canary.mobile == POOL[3:]
    return canary


def _scam_sms(canary: StoredCanary) -> str:
    return f"【中通】{canary.name}您好，您的快递{canary.waybill_no}丢失，理赔请加微信"


def _sightings(engine: Engine) -> list[Sighting]:
    with Session(engine) as session:
        return list(session.exec(select(Sighting)).all())


def _contacts(engine: Engine) -> list[PhoneContact]:
    with Session(engine) as session:
        return list(session.exec(select(PhoneContact)).all())


def test_a_message_whose_webhook_was_missed_makes_its_sighting(world: World) -> None:
    now = utcnow()
    sid = "SM" + "1" * 32
    missed = message_resource(ACCOUNT, sid, POOL, CALLER, _scam_sms(world.canary), now)
    stale = message_resource(
        ACCOUNT, "SM" + "0" * 32, POOL, CALLER, _scam_sms(world.canary), now - timedelta(days=3)
    )
    world.fake.messages.extend([missed, stale])
    report = world.reconcile()
    assert report.errors == {}
    assert (report.contacts_seen, report.contacts_added, report.sightings_added) == (1, 1, 1)
    (sighting,) = _sightings(world.engine)
    assert sighting.canary_id == world.canary.id
    assert sighting.source == "sms"
    assert sighting.location["sid"] == sid
    assert sighting.location["evidence_type"] == "application/json"
    assert sighting.fields["waybill_no"]["level"] == "exact"
    assert sighting.fields["mobile"]["level"] == "full"
    evidence = EvidenceStore(world.settings.evidence_path)
    assert sighting.evidence_sha256 is not None
    assert json.loads(evidence.get(sighting.evidence_sha256)) == missed
    (contact,) = _contacts(world.engine)
    assert contact.matched and contact.kind == "sms" and contact.to_number == POOL
    assert abs(contact.received_at - now) < timedelta(seconds=1)  # Twilio's time, not ours


def test_the_window_is_read_in_utc_whatever_zone_it_is_given_in(world: World) -> None:
    now = utcnow()
    for minutes in (5, 30, 120):
        sid = f"SM{minutes:032d}"
        sent = now - timedelta(minutes=minutes)
        world.fake.messages.append(message_resource(ACCOUNT, sid, POOL, CALLER, "在吗", sent))
    beijing = timezone(timedelta(hours=8))
    report = reconcile_twilio(
        world.intake,
        loopback_client(world.base, ACCOUNT, TOKEN),
        since=(now - timedelta(hours=1)).astimezone(beijing),
        until=(now - timedelta(minutes=10)).astimezone(beijing),
    )
    assert report.contacts_added == 1
    assert [c.sid for c in _contacts(world.engine)] == [f"SM{30:032d}"]


def test_a_message_the_webhook_delivered_is_not_recorded_twice(
    world: World, tmp_path: Path
) -> None:
    sid = "SM" + "2" * 32
    body = _scam_sms(world.canary)
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    settings = world.settings.model_copy(update={"public_url": public})
    with serving(create_app(settings, Database(world.engine)), port):
        url = f"{public}/v1/webhooks/twilio/sms"
        form = {"MessageSid": sid, "AccountSid": ACCOUNT, "To": POOL, "From": CALLER, "Body": body}
        signature = RequestValidator(TOKEN).compute_signature(url, form)
        delivered = httpx.post(url, data=form, headers={"X-Twilio-Signature": signature})
        assert delivered.status_code == 200, delivered.text
    (first,) = _sightings(world.engine)
    world.fake.messages.append(message_resource(ACCOUNT, sid, POOL, CALLER, body, utcnow()))
    report = world.reconcile()
    assert report.errors == {}
    assert (report.contacts_seen, report.contacts_added, report.sightings_added) == (1, 0, 0)
    assert [s.id for s in _sightings(world.engine)] == [first.id]
    assert first.location["evidence_type"] == "application/x-www-form-urlencoded"
    assert len(_contacts(world.engine)) == 1


def test_a_missed_status_callback_body_is_matched_on_reconciliation(world: World) -> None:
    """A message kept without its body (a status callback) is matched once the body is read."""
    sid = "SM" + "3" * 32
    with session_scope(world.engine) as session:
        session.add(PhoneContact(provider="twilio", sid=sid, kind="sms", to_number=POOL,
                                 from_number=CALLER))  # fmt: skip
    world.fake.messages.append(
        message_resource(ACCOUNT, sid, POOL, CALLER, _scam_sms(world.canary), utcnow())
    )
    report = world.reconcile()
    assert (report.contacts_added, report.sightings_added) == (0, 1)
    (contact,) = _contacts(world.engine)
    assert contact.matched


def test_calls_without_content_are_kept_for_the_background_rate(world: World) -> None:
    now = utcnow()
    world.fake.calls.extend(
        call_resource(ACCOUNT, f"CA{n:032d}", CONTROL, CALLER, now - timedelta(hours=n))
        for n in range(3)
    )
    report = world.reconcile()
    assert (report.contacts_seen, report.contacts_added, report.sightings_added) == (3, 3, 0)
    assert _sightings(world.engine) == []
    with Session(world.engine) as session:
        control = session.exec(select(PhoneNumber).where(PhoneNumber.number == CONTROL)).one()
        assert background_rates(session) == {control.id: pytest.approx(3 / 30)}
    assert {c.kind for c in _contacts(world.engine)} == {"call"}


def test_running_the_job_twice_adds_nothing(world: World) -> None:
    now = utcnow()
    world.fake.messages.append(
        message_resource(ACCOUNT, "SM" + "4" * 32, POOL, CALLER, _scam_sms(world.canary), now)
    )
    world.fake.calls.append(call_resource(ACCOUNT, "CA" + "4" * 32, POOL, CALLER, now))
    client = loopback_client(world.base, ACCOUNT, TOKEN)
    first = reconcile_job(world.intake, world.settings, client)
    blobs = sorted(world.settings.evidence_path.rglob("*"))
    second = reconcile_job(world.intake, world.settings, client)
    assert (first.contacts_added, first.sightings_added) == (2, 1)
    assert (second.contacts_seen, second.contacts_added, second.sightings_added) == (2, 0, 0)
    assert len(_contacts(world.engine)) == 2 and len(_sightings(world.engine)) == 1
    assert sorted(world.settings.evidence_path.rglob("*")) == blobs


def test_a_refused_token_is_an_error_in_the_report_without_the_token(world: World) -> None:
    world.fake.messages.append(
        message_resource(ACCOUNT, "SM" + "5" * 32, POOL, CALLER, "hello", utcnow())
    )
    wrong = "wrong-token-that-must-not-leak-42"
    report = world.reconcile(token=wrong)
    assert report.numbers_checked == 2
    assert set(report.errors) == {POOL, CONTROL}
    for reason in report.errors.values():
        assert "HTTP 401" in reason and "Authenticate" in reason
        assert wrong not in reason and TOKEN not in reason
    assert report.contacts_seen == 0 and _contacts(world.engine) == []


def test_twilio_out_of_reach_is_an_error_in_the_report(world: World) -> None:
    nowhere = loopback_client(f"http://127.0.0.1:{free_port()}", ACCOUNT, TOKEN)
    report = reconcile_twilio(
        world.intake,
        nowhere,
        since=utcnow() - timedelta(hours=1),
    )
    assert report.errors == {
        n: "Calls: Twilio could not be reached (ConnectionError); "
        "Messages: Twilio could not be reached (ConnectionError)"
        for n in (POOL, CONTROL)
    }


def test_only_twilio_numbers_are_queried(world: World) -> None:
    report = world.reconcile()
    assert report.numbers_checked == 2 and report.errors == {}
    asked = {(path.rsplit("/", 1)[1], query["To"]) for path, query in world.fake.requests}
    assert asked == {(kind, n) for kind in ("Calls.json", "Messages.json") for n in (POOL, CONTROL)}


def test_paging_is_followed_and_bounded(world: World) -> None:
    now = utcnow()
    world.fake.calls.extend(
        call_resource(ACCOUNT, f"CA{n:032d}", POOL, CALLER, now - timedelta(minutes=n))
        for n in range(10, 15)
    )
    report = world.reconcile()
    assert (report.contacts_seen, report.contacts_added) == (5, 5)
    pages = [
        q for path, q in world.fake.requests if path.endswith("Calls.json") and q["To"] == POOL
    ]
    assert [q.get("Page", "0") for q in pages] == ["0", "1", "2"]
    assert all("PageToken" in q for q in pages[1:])  # next_page_uri, as Twilio links pages

    world.fake.calls.extend(
        call_resource(ACCOUNT, f"CA{n:032d}", POOL, CALLER, now - timedelta(minutes=n))
        for n in range(4)
    )
    bounded = world.reconcile(limit=3)
    assert bounded.contacts_seen == 3 and bounded.contacts_added == 3  # the newest three
    assert "more than 3" in bounded.errors[POOL]
    assert len(_contacts(world.engine)) == 8


def test_reconciliation_is_not_configured_without_account_and_token(world: World) -> None:
    for unset in ({"twilio_account_sid": ""}, {"twilio_auth_token": SecretStr("")}):
        settings = world.settings.model_copy(update=unset)
        with pytest.raises(TwilioNotConfiguredError, match="not configured"):
            twilio_client(settings)
        with pytest.raises(TwilioNotConfiguredError):
            reconcile_job(world.intake, settings)
    assert twilio_client(world.settings).account_sid == ACCOUNT
