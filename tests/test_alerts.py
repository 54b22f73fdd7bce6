"""Alerts: signed webhooks in four shapes, sent to a real receiver on loopback through the job
system (retries and backoff, nothing after a rollback), throttled per incident even when two
transactions raise one event at once, behind the SSRF guard, and never showing, auditing or
logging their credentials.

Delivery commits its own units of work, so these tests run on databases of their own (one
per backend), emptied of alerts after each test.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import random
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from app.alerts.delivery import MAX_ATTEMPTS, DeliveryRetryError, deliver, sweep_deliveries
from app.alerts.events import AlertEvent, Severity
from app.alerts.schemas import SubscriptionCreate, SubscriptionUpdate
from app.alerts.service import create_subscription, notify, update_subscription
from app.auth.actor import Actor
from app.auth.keys import issue_key
from app.db import Database, make_engine, unit_of_work, upgrade, utcnow
from app.intake.record import keep_sightings
from app.jobs.runtime import Runtime
from app.jobs.tasks import jobs
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.main import create_app
from app.models.alerts import (
    AlertDelivery,
    AlertSubscription,
    AlertThrottle,
    DeliveryStatus,
    EventKind,
)
from app.models.audit import AuditEntry
from app.models.canaries import Canary, PlantChannel
from app.models.keys import Role
from app.models.sightings import Sighting, SightingSource
from app.planting.service import mint_canaries
from app.problems import InvalidError
from app.queueing.jobs import JobQueue
from app.queueing.postgres import PostgresQueue, work
from app.resources import app_resources
from app.settings import Settings
from app.sites.crawling import CrawlLoop
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from tests.alert_receiver import AlertReceiver
from tests.conftest import BACKENDS, SHANGHAI, RecordingQueue, bearer, fresh_database, session_scope
from tests.loopback import serving

PUBLIC = "https://honeytrace.example"
SECRET = "whsec-test-0123456789"
SUBSCRIPTIONS = "/v1/alerts/subscriptions"
ALL_EVENTS = ["incident.opened", "incident.escalated", "control.sighting"]


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[AlertReceiver, str]]:
    served = AlertReceiver()
    with serving(served.app) as url:
        yield served, url


@pytest.fixture
def inbox(receiver: tuple[AlertReceiver, str]) -> tuple[AlertReceiver, str]:
    served, url = receiver
    served.reset()
    return served, url


@pytest.fixture(scope="module", params=BACKENDS)
def alert_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    with fresh_database(request.param, tmp_path_factory.mktemp("alerts")) as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def db(alert_engine: Engine) -> Iterator[Engine]:
    yield alert_engine
    with alert_engine.begin() as connection:
        for table in (AlertThrottle, AlertDelivery, AlertSubscription):
            connection.execute(delete(table))


def alert_settings(engine: Engine, **changes: Any) -> Settings:
    fields: dict[str, Any] = {
        "database_url": engine.url.render_as_string(hide_password=False),
        "rotation_interval_seconds": 0,
        "site_check_interval_seconds": 0,
        "alert_sweep_interval_seconds": 0,
        "alert_private_addresses": True,
        "public_url": PUBLIC,
    }
    return Settings(**(fields | changes))


def subscribe(engine: Engine, url: str, **fields: Any) -> uuid.UUID:
    body = {"name": f"sub-{uuid.uuid4().hex[:8]}", "kind": "webhook", "url": url}
    body |= {"secret": SECRET, "events": ALL_EVENTS} | fields
    with session_scope(engine) as session:
        created = create_subscription(
            session, Actor.cli(), SubscriptionCreate.model_validate(body), allow_private=True
        )
        return created.id


def incident_event(
    incident_id: uuid.UUID | None = None,
    kind: EventKind = EventKind.INCIDENT_OPENED,
    severity: Severity = Severity.HIGH,
    summary_zh: str = "滨江网点的诱饵运单在某数据市场出现。",
) -> AlertEvent:
    return AlertEvent(
        kind=kind,
        incident_id=incident_id or uuid.uuid4(),
        title="滨江网点疑似泄露 / Outlet leak suspected",
        summary_zh=summary_zh,
        summary_en="Canaries of the Binjiang outlet surfaced on a trading site.",
        severity=severity,
        payload={"candidates": 3, "top_link": "滨江网点"},
    )


def raise_event(engine: Engine, event: AlertEvent) -> list[uuid.UUID]:
    with session_scope(engine) as session:
        return [d.id for d in notify(session, None, event)]


def stored(engine: Engine, delivery_id: uuid.UUID) -> AlertDelivery:
    with Session(engine) as session:
        delivery = session.get(AlertDelivery, delivery_id)
        assert delivery is not None
        return delivery


def _hmac_hex(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def test_a_webhook_alert_is_signed_over_its_timestamp_and_body(
    db: Engine, inbox: tuple[AlertReceiver, str]
) -> None:
    receiver, base = inbox
    subscribe(db, f"{base}/hooks/honeytrace")
    event = incident_event()
    (delivery_id,) = raise_event(db, event)
    sent = deliver(Database(db), alert_settings(db), delivery_id)
    assert sent is not None
    assert (sent.status, sent.response_status, sent.attempts) == (DeliveryStatus.SENT, 200, 1)

    (request,) = receiver.wait_for(1)
    assert request.path == "/hooks/honeytrace"
    timestamp = request.headers["x-honeytrace-timestamp"]
    assert abs(time.time() - int(timestamp)) < 60
    expected = "sha256=" + _hmac_hex(SECRET, timestamp.encode() + b"." + request.body)
    assert hmac.compare_digest(request.headers["x-honeytrace-signature"], expected)
    assert request.headers["x-honeytrace-delivery"] == str(delivery_id)
    assert request.headers["x-honeytrace-event"] == "incident.opened"
    body = request.json()
    assert set(body) == {
        "event", "incident_id", "title", "summary_zh", "summary_en", "severity", "url",
        "payload", "sent_at",
    }  # fmt: skip
    assert body["event"] == "incident.opened"
    assert body["incident_id"] == str(event.incident_id)
    assert body["url"] == f"{PUBLIC}/incidents/{event.incident_id}"
    assert (body["summary_zh"], body["severity"]) == (event.summary_zh, "high")
    assert body["payload"] == {"candidates": 3, "top_link": "滨江网点"}


def test_slack_gets_text_and_blocks_with_its_markup_escaped(
    db: Engine, inbox: tuple[AlertReceiver, str]
) -> None:
    receiver, base = inbox
    subscribe(db, f"{base}/services/T000/B000/XXXX", kind="slack", secret=None)
    event = incident_event(summary_zh="<!channel> 点这里 & 领赔偿")
    (delivery_id,) = raise_event(db, event)
    deliver(Database(db), alert_settings(db), delivery_id)
    body = receiver.wait_for(1)[0].json()
    assert "滨江网点疑似泄露" in body["text"]
    assert [block["type"] for block in body["blocks"]] == ["header", "section", "context"]
    section = body["blocks"][1]["text"]
    assert section["type"] == "mrkdwn"
    assert "&lt;!channel&gt; 点这里 &amp; 领赔偿" in section["text"]
    assert "<!channel>" not in json.dumps(body, ensure_ascii=False)
    link = body["blocks"][2]["elements"][0]["text"]
    assert f"<{PUBLIC}/incidents/{event.incident_id}|honeytrace>" in link


def test_dingtalk_gets_markdown_and_the_robot_signature(
    db: Engine, inbox: tuple[AlertReceiver, str]
) -> None:
    receiver, base = inbox
    robot_secret = "SEC" + secrets.token_hex(16)
    subscribe(db, f"{base}/robot/send?access_token=tok42", kind="dingtalk", secret=robot_secret)
    event = incident_event(summary_zh="见 [链接](https://evil.example) 的样本")
    (delivery_id,) = raise_event(db, event)
    deliver(Database(db), alert_settings(db), delivery_id)
    (request,) = receiver.wait_for(1)
    assert request.path == "/robot/send"
    assert request.query["access_token"] == "tok42"
    timestamp = request.query["timestamp"]
    assert abs(time.time() * 1000 - int(timestamp)) < 60_000
    digest = hmac.new(
        robot_secret.encode(), f"{timestamp}\n{robot_secret}".encode(), hashlib.sha256
    )
    assert request.query["sign"] == base64.b64encode(digest.digest()).decode()
    body = request.json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == event.title
    text = body["markdown"]["text"]
    assert event.summary_en in text
    assert f"({PUBLIC}/incidents/{event.incident_id})" in text
    # Text from outside cannot become a link in the group chat.
    assert "](https://evil.example)" not in text


def test_wecom_gets_markdown_within_its_byte_limit(
    db: Engine, inbox: tuple[AlertReceiver, str]
) -> None:
    receiver, base = inbox
    subscribe(db, f"{base}/cgi-bin/webhook/send?key=k-123", kind="wecom", secret=None)
    event = incident_event(summary_zh="泄露" * 1000)  # 6,000 bytes of UTF-8
    (delivery_id,) = raise_event(db, event)
    deliver(Database(db), alert_settings(db), delivery_id)
    (request,) = receiver.wait_for(1)
    assert request.query == {"key": "k-123"}
    body = request.json()
    assert body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert len(content.encode()) <= 4096
    assert content.startswith("#### 滨江网点疑似泄露")
    assert content.endswith(f"({PUBLIC}/incidents/{event.incident_id})")


def test_a_5xx_is_retried_and_the_retry_is_sent(
    db: Engine, inbox: tuple[AlertReceiver, str]
) -> None:
    receiver, base = inbox
    subscribe(db, f"{base}/hook")
    (delivery_id,) = raise_event(db, incident_event())
    receiver.answer((500, {"error": "down for a minute"}))
    settings = alert_settings(db)
    with pytest.raises(DeliveryRetryError, match="HTTP 500"):
        deliver(Database(db), settings, delivery_id)
    waiting = stored(db, delivery_id)
    assert (waiting.status, waiting.attempts, waiting.response_status) == ("pending", 1, 500)
    assert waiting.last_error == "HTTP 500"
    assert waiting.next_attempt_at > utcnow() + timedelta(seconds=4)  # after the backoff

    sent = deliver(Database(db), settings, delivery_id)
    assert sent is not None
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 2, None)
    first, second = receiver.wait_for(2)
    assert first.headers["x-honeytrace-delivery"] == second.headers["x-honeytrace-delivery"]
    for request in (first, second):  # each attempt signed afresh, and verifies
        timestamp = request.headers["x-honeytrace-timestamp"]
        expected = "sha256=" + _hmac_hex(SECRET, timestamp.encode() + b"." + request.body)
        assert request.headers["x-honeytrace-signature"] == expected
    assert deliver(Database(db), settings, delivery_id) is not None
    assert len(receiver.received) == 2, "a sent alert is not sent again"


def test_an_alert_failing_every_attempt_gives_up_after_the_last(
    db: Engine, inbox: tuple[AlertReceiver, str]
) -> None:
    receiver, base = inbox
    subscribe(db, f"{base}/hook")
    (delivery_id,) = raise_event(db, incident_event())
    receiver.answer(*[(503, {})] * MAX_ATTEMPTS)
    settings = alert_settings(db)
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(DeliveryRetryError):
            deliver(Database(db), settings, delivery_id)
    failed = deliver(Database(db), settings, delivery_id)  # the last attempt: recorded, not raised
    assert failed is not None
    assert (failed.status, failed.attempts, failed.last_error) == (
        "failed",
        MAX_ATTEMPTS,
        "HTTP 503",
    )
    deliver(Database(db), settings, delivery_id)
    assert len(receiver.received) == MAX_ATTEMPTS


def test_a_4xx_fails_at_once_without_a_retry(db: Engine, inbox: tuple[AlertReceiver, str]) -> None:
    receiver, base = inbox
    subscribe(db, f"{base}/services/T/B/gone", kind="slack", secret=None)
    (delivery_id,) = raise_event(db, incident_event())
    receiver.answer((404, "no_service"))
    failed = deliver(Database(db), alert_settings(db), delivery_id)
    assert failed is not None
    assert (failed.status, failed.attempts, failed.response_status) == ("failed", 1, 404)
    assert failed.last_error == "HTTP 404: no_service"
    deliver(Database(db), alert_settings(db), delivery_id)
    assert len(receiver.received) == 1


def test_a_robot_refusing_with_an_errcode_fails_and_its_rate_limit_is_retried(
    db: Engine, inbox: tuple[AlertReceiver, str]
) -> None:
    receiver, base = inbox
    subscribe(db, f"{base}/robot/send?access_token=t", kind="dingtalk", secret="SECx")
    (refused_id,) = raise_event(db, incident_event())
    receiver.answer((200, {"errcode": 310000, "errmsg": "sign not match"}))
    refused = deliver(Database(db), alert_settings(db), refused_id)
    assert refused is not None
    assert (refused.status, refused.response_status) == ("failed", 200)
    assert refused.last_error == "errcode 310000: sign not match"

    (busy_id,) = raise_event(db, incident_event())
    receiver.answer((200, {"errcode": 130101, "errmsg": "send too fast"}))
    with pytest.raises(DeliveryRetryError, match="130101"):
        deliver(Database(db), alert_settings(db), busy_id)
    assert stored(db, busy_id).status == "pending"


def test_one_alert_per_incident_and_event_in_the_throttle_window(
    db: Engine, inbox: tuple[AlertReceiver, str]
) -> None:
    _, base = inbox
    subscription_id = subscribe(db, f"{base}/hook", throttle_seconds=3600)
    incident = uuid.uuid4()
    assert len(raise_event(db, incident_event(incident))) == 1
    assert raise_event(db, incident_event(incident)) == []
    assert len(raise_event(db, incident_event())) == 1, "another incident is not throttled"

    # An escalation passes the opened alert's throttle; a rise to a new severity always
    # gets through, a repeat of the same one does not.
    escalated = EventKind.INCIDENT_ESCALATED
    assert len(raise_event(db, incident_event(incident, escalated, Severity.HIGH))) == 1
    assert raise_event(db, incident_event(incident, escalated, Severity.HIGH)) == []
    assert len(raise_event(db, incident_event(incident, escalated, Severity.CRITICAL))) == 1

    # Once the window has passed, the incident alerts again.
    with db.begin() as connection:
        connection.execute(
            update(AlertThrottle)
            .where(col(AlertThrottle.subscription_id) == subscription_id)
            .values(last_at=utcnow() - timedelta(seconds=3601))
        )
    assert len(raise_event(db, incident_event(incident))) == 1


def test_a_subscription_without_a_throttle_gets_every_alert(
    db: Engine, inbox: tuple[AlertReceiver, str]
) -> None:
    _, base = inbox
    subscribe(db, f"{base}/hook", throttle_seconds=0, events=["incident.opened"])
    incident = uuid.uuid4()
    assert len(raise_event(db, incident_event(incident))) == 1
    assert len(raise_event(db, incident_event(incident))) == 1
    escalation = incident_event(incident, EventKind.INCIDENT_ESCALATED)
    assert raise_event(db, escalation) == [], "not subscribed to escalations"


def test_two_transactions_raising_one_event_at_once_deliver_once(
    db: Engine, inbox: tuple[AlertReceiver, str]
) -> None:
    _, base = inbox
    subscribe(db, f"{base}/hook")

    def race(event: AlertEvent, end: str) -> int:
        """The first transaction claims the throttle and holds it while a second raises the
        same event; then the first ends (`end`). Returns what the second delivered."""
        second: list[int] = []
        with Session(unit_of_work(db)) as first:
            assert len(notify(first, None, event)) == 1
            thread = threading.Thread(target=lambda: second.append(len(raise_event(db, event))))
            thread.start()
            thread.join(1.0)
            assert thread.is_alive(), "the second transaction waits for the first"
            if end == "commit":
                first.commit()
            else:
                first.rollback()
        thread.join(30)
        assert not thread.is_alive()
        return second[0]

    assert race(incident_event(), "commit") == 0
    assert race(incident_event(), "rollback") == 1

    # Eight at once, none waiting for another to start: one delivery.
    event = incident_event()
    barrier = threading.Barrier(8)
    counts: list[int] = []

    def raise_together() -> None:
        with session_scope(db) as session:
            barrier.wait()
            counts.append(len(notify(session, None, event)))

    threads = [threading.Thread(target=raise_together) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(counts) == [0] * 7 + [1]
    with Session(db) as session:
        subject = f"incident:{event.incident_id}"
        rows = session.exec(select(AlertDelivery).where(AlertDelivery.subject == subject)).all()
    assert len(rows) == 1


def test_the_ssrf_guard_refuses_at_subscription_and_again_at_delivery(
    db: Engine, inbox: tuple[AlertReceiver, str]
) -> None:
    receiver, base = inbox
    port = base.rsplit(":", 1)[1]
    refused = {
        f"{base}/hook": "only https",
        f"https://127.0.0.1:{port}/hook": "loopback",
        f"https://localhost:{port}/hook": "loopback",
        "https://10.1.2.3/hook": "private",
        "https://169.254.169.254/latest/meta-data": "link-local",
        "https://[::ffff:127.0.0.1]/hook": "loopback",
    }
    for url, reason in refused.items():
        body = SubscriptionCreate.model_validate(
            {"name": "x", "kind": "webhook", "url": url, "secret": SECRET, "events": ALL_EVENTS}
        )
        with session_scope(db) as session, pytest.raises(InvalidError, match=reason):
            create_subscription(session, Actor.cli(), body, allow_private=False)

    with session_scope(db) as session:
        admin = issue_key(session, role=Role.ADMIN, name="admin").secret
    url = f"https://localhost:{port}/hook"
    posted = {"name": "x", "kind": "webhook", "url": url, "secret": SECRET, "events": ALL_EVENTS}
    with TestClient(
        create_app(alert_settings(db, alert_private_addresses=False), Database(db))
    ) as client:
        answer = client.post(SUBSCRIPTIONS, json=posted, headers=bearer(admin))
    assert answer.status_code == 422
    assert "loopback" in answer.json()["detail"]

    # Saved while private addresses were allowed; delivered once they no longer are. The
    # guard looks again (a name may resolve elsewhere by then) and nothing is sent.
    subscribe(db, f"https://localhost:{port}/hook")
    (delivery_id,) = raise_event(db, incident_event())
    failed = deliver(Database(db), alert_settings(db, alert_private_addresses=False), delivery_id)
    assert failed is not None
    assert failed.status == "failed"
    assert failed.last_error is not None
    assert "SSRF guard" in failed.last_error and "loopback" in failed.last_error
    time.sleep(0.2)
    assert receiver.received == []


def test_a_subscription_disabled_before_its_alert_is_sent_sends_nothing(
    db: Engine, inbox: tuple[AlertReceiver, str]
) -> None:
    receiver, base = inbox
    subscription_id = subscribe(db, f"{base}/hook")
    (delivery_id,) = raise_event(db, incident_event())
    with session_scope(db) as session:
        off = SubscriptionUpdate(enabled=False)
        update_subscription(session, Actor.cli(), subscription_id, off, allow_private=True)
    assert raise_event(db, incident_event()) == []
    failed = deliver(Database(db), alert_settings(db), delivery_id)
    assert failed is not None
    assert (failed.status, failed.attempts) == ("failed", 0)
    assert failed.last_error is not None and "disabled" in failed.last_error
    time.sleep(0.2)
    assert receiver.received == []


def test_subscriptions_over_the_api_never_show_audit_or_log_their_credentials(
    db: Engine, inbox: tuple[AlertReceiver, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver, base = inbox
    secret, new_secret, token = (secrets.token_hex(16) for _ in range(3))
    with session_scope(db) as session:
        security = issue_key(session, role=Role.SECURITY, name="security").secret
        investigator = issue_key(session, role=Role.INVESTIGATOR, name="investigator").secret
    body = {
        "name": "值班群",
        "kind": "webhook",
        "url": f"{base}/hook?token={token}",
        "secret": secret,
        "events": ["incident.opened", "control.sighting"],
    }
    with TestClient(create_app(alert_settings(db), Database(db))) as client:
        refused = client.post(SUBSCRIPTIONS, json=body, headers=bearer(investigator))
        assert refused.status_code == 403
        created = client.post(SUBSCRIPTIONS, json=body, headers=bearer(security))
        assert created.status_code == 201, created.text
        shown = created.json()
        assert (shown["secret"], shown["url"]) == ("(set)", f"{base}/…")
        one = f"{SUBSCRIPTIONS}/{shown['id']}"
        for path in (SUBSCRIPTIONS, one, f"{one}/test", "/v1/alerts/deliveries"):
            method = "POST" if path.endswith("/test") else "GET"
            refused = client.request(method, path, headers=bearer(investigator))
            assert refused.status_code == 403, path
        replies = [created]
        replies.append(client.get(SUBSCRIPTIONS, headers=bearer(security)))
        replies.append(
            client.patch(
                one, json={"secret": new_secret, "throttle_seconds": 60}, headers=bearer(security)
            )
        )
        replies.append(client.get(one, headers=bearer(security)))
        tested = client.post(f"{one}/test", headers=bearer(security))
        receiver.answer((500, {}))
        failed_test = client.post(f"{one}/test", headers=bearer(security))
        replies += [tested, failed_test]
        replies.append(client.get("/v1/alerts/deliveries", headers=bearer(security)))
        assert [r.status_code for r in replies] == [201, 200, 200, 200, 200, 200, 200]
        assert replies[3].json()["throttle_seconds"] == 60
        assert (tested.json()["status"], tested.json()["event"]) == ("sent", "test")
        assert (failed_test.json()["status"], failed_test.json()["last_error"]) == (
            "failed",
            "HTTP 500",
        )
        request = receiver.wait_for(1)[0]
        assert request.query == {"token": token}
        timestamp = request.headers["x-honeytrace-timestamp"]
        signed = "sha256=" + _hmac_hex(new_secret, timestamp.encode() + b"." + request.body)
        assert request.headers["x-honeytrace-signature"] == signed
        assert client.delete(one, headers=bearer(security)).status_code == 204
        assert client.get(one, headers=bearer(security)).status_code == 404

    credentials = (secret, new_secret, token)
    for reply in replies:
        assert not any(c in reply.text for c in credentials), reply.request.url
    with Session(db) as session:
        audit = session.exec(
            select(AuditEntry).where(AuditEntry.target_type == "alert_subscription")
        ).all()
    assert {a.action for a in audit} >= {
        "alert_subscription.create", "alert_subscription.update", "alert_subscription.test",
        "alert_subscription.delete",
    }  # fmt: skip
    assert not any(c in json.dumps([a.detail for a in audit]) for c in credentials)
    assert any(r.name == "honeytrace.alerts" for r in caplog.records)
    # The receiver's access log is the outside world's, not honeytrace's.
    for record in (r for r in caplog.records if r.name != "uvicorn.access"):
        logged = json.dumps(record.__dict__, default=str, ensure_ascii=False)
        assert not any(c in logged for c in credentials), record.getMessage()


def test_alerts_go_through_the_job_system_and_a_rollback_sends_nothing(
    db: Engine, inbox: tuple[AlertReceiver, str]
) -> None:
    """On SQLite `serve` runs the job after the commit, on PostgreSQL a worker takes it from
    the queue; either way a 5xx is retried after the backoff."""
    receiver, base = inbox
    subscribe(db, f"{base}/hook")
    settings = alert_settings(db)
    app = create_app(settings, Database(db))
    receiver.answer((503, {}))
    with TestClient(app):
        with Session(unit_of_work(db)) as session:
            assert len(notify(session, app_resources(app).get(JobQueue), incident_event())) == 1
            session.rollback()
        with session_scope(db) as session:
            (delivery,) = notify(session, app_resources(app).get(JobQueue), incident_event())
        if db.dialect.name == "postgresql":
            runtime = Runtime.assemble(Database(db), settings, PostgresQueue(jobs), CrawlLoop())
            # A worker that stops once it has caught up with the queue, run before and
            # after the backoff's first wait.
            for pause in (0.0, 4.5):
                time.sleep(pause)
                worker = work(
                    jobs, runtime, concurrency=1, wait=False, install_signal_handlers=False
                )
                asyncio.run(worker)
        first, second = receiver.wait_for(2)
        deadline = time.monotonic() + 10
        while stored(db, delivery.id).status != "sent":
            assert time.monotonic() < deadline, "the retry was not recorded"
            time.sleep(0.05)
    assert second.at - first.at >= 4  # the backoff's first wait
    assert first.headers["x-honeytrace-delivery"] == str(delivery.id)
    time.sleep(0.2)
    assert len(receiver.received) == 2, "the rolled-back alert was never sent"
    with Session(db) as session:
        assert len(session.exec(select(AlertDelivery)).all()) == 1


def test_a_control_sighting_raises_an_alert_the_sweep_sends(
    db: Engine, inbox: tuple[AlertReceiver, str]
) -> None:
    receiver, base = inbox
    subscribe(db, f"{base}/hook", events=["control.sighting"])
    with session_scope(db) as session:
        link = create_link(
            session,
            Actor.cli(),
            LinkCreate(
                name=f"网点-{uuid.uuid4().hex[:6]}",
                kind=LinkKind.OUTLET,
                region="330106",
                courier=Courier.ZTO,
            ),
        )
        minted = mint_canaries(
            session, Actor.cli(), link.id, 20, PlantChannel.CLI, rng=random.Random(5)
        )
        control = session.exec(
            select(Canary).where(Canary.link_id == link.id, col(Canary.control))
        ).first()
        assert control is not None
        dump = hashlib.sha256(control.id.bytes).hexdigest()
        seen = [
            Sighting(
                canary_id=canary_id,
                link_id=link.id,
                control=canary_id == control.id,
                source=SightingSource.DUMP,
                dedup_key=hashlib.sha256(f"{dump}|{row}".encode()).hexdigest(),
                score=25.0,
                evidence_sha256=dump,
                location={"file": "leak.csv", "row": row},
                excerpt=f"row {row}",
            )
            for row, canary_id in enumerate([control.id, control.id, minted.planted[0].id])
        ]
        assert (
            len(
                keep_sightings(
                    session, Actor.cli(), [(s, None) for s in seen], jobs=None, zone=SHANGHAI
                ).added
            )
            == 3
        )
    with Session(db) as session:
        (delivery,) = session.exec(select(AlertDelivery)).all()
    assert (delivery.event, delivery.subject) == ("control.sighting", f"canary:{control.id}")

    queue = RecordingQueue()
    database = Database(db)
    assert sweep_deliveries(database, queue, delivery.next_attempt_at - timedelta(seconds=1)) == 0
    assert sweep_deliveries(database, queue, utcnow()) == 1
    assert queue.deferred == [("deliver_alert", {"delivery_id": str(delivery.id)})]
    assert sweep_deliveries(database, queue, utcnow()) == 0, "queued once, not at every sweep"

    sent = deliver(Database(db), alert_settings(db), delivery.id)
    assert sent is not None and sent.status == "sent"
    body = receiver.wait_for(1)[0].json()
    assert (body["event"], body["incident_id"], body["severity"]) == (
        "control.sighting",
        None,
        "high",
    )
    assert body["url"] == f"{PUBLIC}/canaries/{control.id}"
    assert body["payload"]["sightings"] == 2
    assert body["payload"]["canary_id"] == str(control.id)
