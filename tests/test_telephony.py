"""The number pool, canaries carrying pool numbers, and Twilio's webhooks over loopback,
signed with the twilio library's own RequestValidator (only Twilio's cloud is stood in for).
"""

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from twilio.request_validator import RequestValidator

from app.auth.keys import issue_key
from app.db import Database, make_engine, upgrade
from app.main import create_app
from app.models.audit import AuditEntry
from app.models.canaries import Canary, Plant
from app.models.keys import Role
from app.models.sightings import Sighting
from app.models.telephony import PhoneContact
from app.settings import Settings
from app.telephony.provider_webhooks import signature
from tests.conftest import BACKENDS, scratch_postgres_database, session_scope
from tests.loopback import free_port, serving

TOKEN = "twilio-test-auth-token-0123456789"
POOL = "+8617000001234"
CONTROL = "+8617000009999"
PRIVACY = "+8617100002222"
PROVIDER_SECRET = "privacy-provider-secret-abcdef"


@dataclass
class Server:
    base: str
    engine: Engine
    headers: dict[str, str]


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    if request.param == "sqlite":
        yield from _serve(f"sqlite:///{tmp_path / 'tel.db'}", tmp_path)
        return
    with scratch_postgres_database() as url:
        yield from _serve(url, tmp_path)


def _serve(url: str, tmp_path: Path) -> Iterator[Server]:
    engine = make_engine(url)
    upgrade(engine)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=url,
        rotation_interval_seconds=0,
        public_url=base,
        twilio_auth_token=SecretStr(TOKEN),
        evidence_dir=str(tmp_path / "evidence"),
        telephony_secrets={"aliyun": SecretStr(PROVIDER_SECRET)},
    )
    with session_scope(engine) as session:
        secret = issue_key(session, role=Role.SECURITY, name="security").secret
    with serving(create_app(settings, Database(engine)), port):
        yield Server(base, engine, {"Authorization": f"Bearer {secret}"})
    engine.dispose()


def _signed(
    server: Server, path: str, params: dict[str, str], token: str = TOKEN
) -> httpx.Response:
    url = server.base + path
    signature = RequestValidator(token).compute_signature(url, params)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature})


def _setup(server: Server) -> dict[str, str]:
    """An outlet whose feed shows full numbers, its pool number, a control number, and the
    one canary the pool allows."""
    h = server.headers
    link = httpx.post(
        f"{server.base}/v1/links",
        json={"name": "网点", "kind": "outlet", "region": "330106", "courier": "zto"},
        headers=h,
    ).json()
    refused = httpx.put(
        f"{server.base}/v1/links/{link['id']}/feed-profile",
        json={"mobile_form": "full", "control_share": 0},
        headers=h,
    )
    assert refused.status_code == 422  # no numbers yet: rule 2
    pool = httpx.post(f"{server.base}/v1/numbers", json={"number": POOL[3:]}, headers=h).json()
    assert pool["number"] == POOL
    control = httpx.post(
        f"{server.base}/v1/numbers", json={"number": CONTROL, "control": True}, headers=h
    ).json()
    assigned = httpx.post(
        f"{server.base}/v1/numbers/{pool['id']}/assign", json={"link_id": link["id"]}, headers=h
    )
    assert assigned.status_code == 200 and assigned.json()["link_id"] == link["id"]
    no = httpx.post(
        f"{server.base}/v1/numbers/{control['id']}/assign", json={"link_id": link["id"]}, headers=h
    )
    assert no.status_code == 422  # a control number is never planted
    saved = httpx.put(
        f"{server.base}/v1/links/{link['id']}/feed-profile",
        json={"mobile_form": "full", "control_share": 0},
        headers=h,
    )
    assert saved.status_code == 200, saved.text
    minted = httpx.post(
        f"{server.base}/v1/links/{link['id']}/canaries", json={"count": 1}, headers=h
    )
    assert minted.status_code == 201, minted.text
    canary: dict[str, str] = minted.json()[0]
    assert canary["mobile"] == POOL[3:]
    more = httpx.post(f"{server.base}/v1/links/{link['id']}/canaries", json={"count": 1}, headers=h)
    assert more.status_code == 409  # the pool's one number is taken: nothing is invented
    return canary


def test_an_sms_naming_a_canary_to_its_number_is_a_sighting_once(server: Server) -> None:
    canary = _setup(server)
    params = {
        "MessageSid": "SM" + "1" * 32,
        "AccountSid": "AC" + "0" * 32,
        "To": POOL,
        "From": "+8613900000000",
        "Body": f"【顺丰】{canary['name']}您好，您的快递{canary['waybill_no']}丢失，理赔请加微信",
    }
    for _ in range(2):  # Twilio retries: the second delivery adds nothing
        response = _signed(server, "/v1/webhooks/twilio/sms", params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/xml")
        assert "<Response></Response>" in response.text
    with Session(server.engine) as session:
        (sighting,) = session.exec(select(Sighting)).all()
        assert str(sighting.canary_id) == canary["id"]
        assert sighting.source == "sms"
        assert sighting.fields["mobile"]["level"] == "full"
        assert sighting.fields["waybill_no"]["level"] == "exact"
        assert sighting.location["sid"] == params["MessageSid"]
        (contact,) = session.exec(select(PhoneContact)).all()
        assert contact.matched and contact.kind == "sms"
        burned = session.get(Canary, uuid.UUID(canary["id"]))
        assert burned is not None and burned.status == "burned"


def _homophone(name: str) -> str:
    """The name with one character swapped for another of the same sound."""
    from pypinyin import lazy_pinyin

    for at, char in enumerate(name):
        sound = lazy_pinyin(char)[0]
        for code in range(0x4E00, 0x9FA6):
            other = chr(code)
            if other != char and lazy_pinyin(other)[0] == sound:
                return name[:at] + other + name[at + 1 :]
    raise AssertionError(f"no homophone for {name}")


def test_a_call_transcript_with_a_homophone_of_the_name_is_a_sighting(server: Server) -> None:
    canary = _setup(server)
    call = {"CallSid": "CA" + "2" * 32, "To": POOL, "From": "+8613700000000"}
    answered = _signed(server, "/v1/webhooks/twilio/voice", call)
    assert answered.status_code == 200
    assert "<Record" in answered.text and "<Hangup/>" in answered.text
    assert f'transcribeCallback="{server.base}/v1/webhooks/twilio/transcription"' in answered.text
    with Session(server.engine) as session:
        (bare,) = session.exec(select(Sighting)).all()  # by the number alone: no score
    assert bare.score is None and str(bare.canary_id) == canary["id"]
    name = canary["name"]
    written = _homophone(name)
    said = {"CallSid": call["CallSid"], "TranscriptionText": f"喂，是{written}吗？你的快递有问题"}
    assert _signed(server, "/v1/webhooks/twilio/transcription", said).status_code == 204
    with Session(server.engine) as session:
        (sighting,) = session.exec(select(Sighting).where(col(Sighting.score).is_not(None))).all()
    assert sighting.source == "call"
    assert sighting.fields["name"]["level"] == "homophone"
    assert sighting.fields["mobile"]["level"] == "full"


def test_contacts_without_content_count_towards_the_background_rate(server: Server) -> None:
    _setup(server)
    for n in range(3):
        call = {"CallSid": f"CA{n:032d}", "To": CONTROL, "From": "+8618800000000"}
        assert _signed(server, "/v1/webhooks/twilio/voice", call).status_code == 200
    numbers = httpx.get(f"{server.base}/v1/numbers", headers=server.headers).json()["items"]
    rates = {n["number"]: n["background_per_day"] for n in numbers}
    assert rates[CONTROL] == pytest.approx(3 / 30)
    assert rates[POOL] == 0


def test_unsigned_or_forged_webhooks_are_refused_and_audited(server: Server) -> None:
    params = {"MessageSid": "SM" + "9" * 32, "To": POOL, "From": "+1", "Body": "hi"}
    for path in ("sms", "voice", "transcription", "status", "recording"):
        url = f"{server.base}/v1/webhooks/twilio/{path}"
        assert httpx.post(url, data=params).status_code == 403
        forged = RequestValidator("not-the-token").compute_signature(url, params)
        refused = httpx.post(url, data=params, headers={"X-Twilio-Signature": forged})
        assert refused.status_code == 403
    # Signed for another URL (a replay against another path) fails too.
    other = RequestValidator(TOKEN).compute_signature(
        server.base + "/v1/webhooks/twilio/voice", params
    )
    replay = httpx.post(
        server.base + "/v1/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": other}
    )
    assert replay.status_code == 403
    with Session(server.engine) as session:
        refusals = session.exec(select(AuditEntry).where(AuditEntry.action == "webhook.refused"))
        assert len(refusals.all()) == 11
        assert session.exec(select(PhoneContact)).all() == []
    missing = _signed(server, "/v1/webhooks/twilio/sms", {"Body": "no sid"})
    assert missing.status_code == 422


def test_webhooks_refuse_when_twilio_is_not_configured(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    url = f"sqlite:///{tmp_path / 'x.db'}"
    engine = make_engine(url)
    upgrade(engine)
    app = create_app(Settings(database_url=url, rotation_interval_seconds=0), Database(engine))
    with TestClient(app) as client:
        response = client.post("/v1/webhooks/twilio/sms", data={"MessageSid": "SM1"})
    assert response.status_code == 503


def _privacy_canary(server: Server) -> dict[str, str]:
    h = server.headers
    link = httpx.post(
        f"{server.base}/v1/links",
        json={"name": "平台", "kind": "platform", "region": "440305", "courier": "jd"},
        headers=h,
    ).json()
    number = httpx.post(
        f"{server.base}/v1/numbers",
        json={"number": PRIVACY, "provider": "aliyun", "privacy": True},
        headers=h,
    ).json()
    httpx.post(
        f"{server.base}/v1/numbers/{number['id']}/assign", json={"link_id": link["id"]}, headers=h
    ).raise_for_status()
    httpx.put(
        f"{server.base}/v1/links/{link['id']}/feed-profile",
        json={"mobile_form": "privacy", "control_share": 0},
        headers=h,
    ).raise_for_status()
    minted = httpx.post(
        f"{server.base}/v1/links/{link['id']}/canaries", json={"count": 3}, headers=h
    )
    assert minted.status_code == 201, minted.text
    canaries: list[dict[str, str]] = minted.json()
    assert all(c["mobile"].startswith(PRIVACY[3:] + "转") for c in canaries)
    return canaries[1]


def _provider_post(
    server: Server, body: bytes, secret: str = PROVIDER_SECRET, stamp: int | None = None
) -> httpx.Response:
    timestamp = str(stamp if stamp is not None else int(time.time()))
    return httpx.post(
        f"{server.base}/v1/webhooks/telephony/aliyun",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Honeytrace-Timestamp": timestamp,
            "X-Honeytrace-Signature": signature(secret, timestamp, body),
        },
    )


def test_a_plant_says_whether_its_canary_carries_a_pool_number(server: Server) -> None:
    """Attribution counts the plants calls and messages can reach from the plants alone:
    each plant of a privacy-number canary says so, a masked canary's plant does not."""
    privacy = _privacy_canary(server)
    outlet = httpx.post(
        f"{server.base}/v1/links",
        json={"name": "网点", "kind": "outlet", "region": "330106", "courier": "zto"},
        headers=server.headers,
    ).json()
    masked = httpx.post(
        f"{server.base}/v1/links/{outlet['id']}/canaries", json={"count": 3},
        headers=server.headers,
    )  # fmt: skip
    assert masked.status_code == 201, masked.text
    with Session(server.engine) as session:
        plants = session.exec(select(Plant.link_id, Plant.by_phone)).all()
    by_link: dict[str, set[bool]] = {}
    for link_id, by_phone in plants:
        by_link.setdefault(str(link_id), set()).add(by_phone)
    assert by_link[privacy["link_id"]] == {True}
    assert by_link[outlet["id"]] == {False}


def test_a_privacy_number_provider_reports_a_call_with_its_extension(server: Server) -> None:
    canary = _privacy_canary(server)
    extension = canary["mobile"].split("转")[1]
    event = {
        "event_id": "call-0001",
        "kind": "call",
        "caller": "+86 139 0000 0000",
        "callee": PRIVACY,
        "extension": extension,
        "text": f"你好，{canary['name']}，你买的东西有质量问题，可以退款",
    }
    body = json.dumps(event, ensure_ascii=False).encode()
    for _ in range(2):
        assert _provider_post(server, body).status_code == 204
    with Session(server.engine) as session:
        (sighting,) = session.exec(select(Sighting)).all()
        assert str(sighting.canary_id) == canary["id"]
        assert sighting.source == "call"
        assert sighting.fields["mobile"]["level"] == "full"  # the extension names it
        (contact,) = session.exec(select(PhoneContact)).all()
        assert contact.provider == "aliyun" and contact.matched


def test_provider_webhooks_refuse_what_does_not_verify(server: Server) -> None:
    body = json.dumps({"event_id": "e1", "kind": "sms", "caller": "+1", "callee": PRIVACY})
    raw = body.encode()
    assert _provider_post(server, raw, secret="wrong").status_code == 403
    assert _provider_post(server, raw, stamp=int(time.time()) - 3600).status_code == 403
    unsigned = httpx.post(f"{server.base}/v1/webhooks/telephony/aliyun", content=raw)
    assert unsigned.status_code == 403
    timestamp = str(int(time.time()))
    other = httpx.post(
        f"{server.base}/v1/webhooks/telephony/unknown",
        content=raw,
        headers={"X-Honeytrace-Timestamp": timestamp,
                 "X-Honeytrace-Signature": signature(PROVIDER_SECRET, timestamp, raw)},
    )  # fmt: skip
    assert other.status_code == 403
    with Session(server.engine) as session:
        refused = session.exec(select(AuditEntry).where(AuditEntry.action == "webhook.refused"))
        assert len(refused.all()) == 4
        assert session.exec(select(PhoneContact)).all() == []
    assert _provider_post(server, b'{"kind": "sms"}').status_code == 422
    odd = httpx.post(f"{server.base}/v1/webhooks/telephony/Bad!Name", content=raw)
    assert odd.status_code == 422
