"""Hostile input at every edge, on SQLite and PostgreSQL (issue 14, items 1, 3-5, 7, 8, 10).

NUL and control characters never reach a text column (PostgreSQL refuses NUL: one byte used
to hide a leak behind a 500); names hold no invisible characters; offsets beyond any list
are refused; a link with a feed profile can be deleted; a Twilio form is read only as it
was signed; oversized chunked bodies get 413; unreadable reported files say why; an admin
key cannot lock itself out; a partner learns nothing from its own reports.
"""

import io
import random
import uuid
import zipfile
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from app.auth.actor import Actor
from app.main import create_app
from app.models.audit import AuditEntry
from app.models.canaries import PlantChannel
from app.models.keys import Role
from app.models.sightings import Sighting
from app.models.telephony import PhoneContact
from app.planting.schemas import FeedProfileBody, StoredCanary
from app.planting.service import mint_canaries, set_feed_profile
from app.settings import Settings
from tests.conftest import KeyFactory, LinkFactory, SharedSessionDatabase, bearer

TOKEN = "twilio-token-" + "x" * 20
LIST_ROUTES = [
    "/v1/links",
    "/v1/sightings",
    "/v1/incidents",
    "/v1/scans",
    "/v1/sites",
    "/v1/keys",
    "/v1/numbers",
    "/v1/audit",
    "/v1/alerts/subscriptions",
    "/v1/alerts/deliveries",
]


def _line(c: StoredCanary) -> str:
    return f"{c.name} {c.mobile} {c.province}{c.city}{c.district}{c.address} 运单 {c.waybill_no}"


@pytest.fixture
def planted(session: Session, make_link: LinkFactory) -> list[StoredCanary]:
    outlet = make_link("西湖网点")
    minted = mint_canaries(session, Actor.cli(), outlet.id, 4, PlantChannel.CLI,
                           rng=random.Random(5))  # fmt: skip
    session.commit()
    return minted.planted


def test_nul_and_control_characters_in_reports_never_reach_a_text_column(
    client: TestClient, session: Session, make_key: KeyFactory, planted: list[StoredCanary]
) -> None:
    headers = bearer(make_key(Role.SECURITY))
    body = {"kind": "sms", "text": f"\x00您好\x07{_line(planted[0])}\x00\x1b[31m"}
    answer = client.post("/v1/sightings", json=body, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["matches"] == 1
    (sighting,) = session.exec(select(Sighting)).all()
    assert "\x00" not in sighting.excerpt and "\x07" not in sighting.excerpt
    for refused in (
        {"kind": "listing", "text": "x", "reference": "a\x00b"},
        {"kind": "listing", "text": "x", "url": "https://a.example/\x00"},
    ):
        answer = client.post("/v1/sightings", json=refused, headers=headers)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    audit = client.get("/v1/audit", params={"action": "a\x00b"}, headers=headers)
    assert audit.status_code in (403, 422)
    admin = bearer(make_key(Role.ADMIN))
    assert client.get("/v1/audit", params={"action": "a\x00b"}, headers=admin).status_code == 422


@pytest.mark.parametrize(
    "name",
    ["网点\x00甲", "\u202e点网", "网\u200b点", "网点\x85", "line\nbreak", "\ufeff网点"],
)
def test_link_names_with_control_or_invisible_characters_are_refused(
    client: TestClient, admin_headers: dict[str, str], name: str
) -> None:
    body = {"name": name, "kind": "outlet", "region": "330106", "courier": "zto"}
    answer = client.post("/v1/links", json=body, headers=admin_headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "name"
    good = client.post("/v1/links", json={**body, "name": "网点"}, headers=admin_headers)
    assert good.status_code == 201
    renamed = client.patch(
        f"/v1/links/{good.json()['id']}", json={"name": name}, headers=admin_headers
    )
    assert renamed.status_code == 422


def test_offsets_beyond_any_list_are_refused(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    for path in LIST_ROUTES:
        answer = client.get(path, params={"offset": 2**63}, headers=admin_headers)
        assert answer.status_code == 422, (path, answer.text)
        page = client.get(path, params={"offset": 0, "limit": 5}, headers=admin_headers)
        assert page.status_code == 200, (path, page.text)
        assert set(page.json()) == {"items", "total", "limit", "offset"}, path
    before = client.get("/v1/audit", params={"before_id": 2**63}, headers=admin_headers)
    assert before.status_code == 422


def test_a_link_with_a_feed_profile_can_be_deleted(
    client: TestClient, session: Session, admin_headers: dict[str, str], make_link: LinkFactory
) -> None:
    link = make_link("滨江网点")
    set_feed_profile(session, Actor.cli(), link.id, FeedProfileBody(feed_format="csv"))
    session.commit()
    assert client.delete(f"/v1/links/{link.id}", headers=admin_headers).status_code == 204
    assert client.get(f"/v1/links/{link.id}", headers=admin_headers).status_code == 404


def test_an_admin_key_cannot_revoke_itself(
    client: TestClient, session: Session, make_key: KeyFactory
) -> None:
    secret = make_key(Role.ADMIN)
    mine = next(
        k for k in client.get("/v1/keys", headers=bearer(secret)).json()["items"]
        if secret.split("_")[1] == k["prefix"]
    )  # fmt: skip
    refused = client.post(f"/v1/keys/{mine['id']}/revoke", headers=bearer(secret))
    assert refused.status_code == 409
    assert client.get("/v1/keys", headers=bearer(secret)).status_code == 200


def test_a_chunked_body_over_the_limit_is_413_not_400(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(1100):
            yield b"x" * 1024
        yield b'"}'

    headers = {**admin_headers, "Content-Type": "application/json"}
    answer = client.post("/v1/links", content=chunks(), headers=headers)
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("orders.csv", "w") as member,
    ):
        for _ in range(300):
            member.write(bytes(1 << 20))
    return buffer.getvalue()


def test_an_unreadable_reported_file_says_why(
    client: TestClient, make_key: KeyFactory, planted: list[StoredCanary]
) -> None:
    headers = bearer(make_key(Role.SECURITY))
    sample = ("收件人,手机,地址,运单号\n" + _line(planted[1]).replace(" ", ",", 3)).encode()
    whole = io.BytesIO()
    with zipfile.ZipFile(whole, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("leak.csv", sample * 200)
    for name, data, reason in (
        ("bomb.zip", _zip_bomb(), "zip bomb"),
        ("cut.zip", whole.getvalue()[: len(whole.getvalue()) // 2], "truncated"),
    ):
        answer = client.post("/v1/sightings/files", files={"file": (name, data)}, headers=headers)
        assert answer.status_code == 202, answer.text
        assert reason in (answer.json()["read_error"] or ""), answer.text


@pytest.fixture
def twilio_app(settings: Settings, engine: Engine, session: Session) -> FastAPI:
    signed = settings.model_copy(
        update={"twilio_auth_token": SecretStr(TOKEN), "public_url": "http://testserver"}
    )
    return create_app(signed, SharedSessionDatabase(engine, session), jobs=False)


def test_twilio_forms_are_read_only_as_signed(twilio_app: FastAPI, session: Session) -> None:
    form = {"MessageSid": "SM" + "1" * 32, "To": "+8617000000001", "From": "+8613800000000",
            "Body": "你好\x00"}  # fmt: skip
    url = "http://testserver/v1/webhooks/twilio/sms"
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    with TestClient(twilio_app) as client:
        ok = client.post(url, data=form, headers={"X-Twilio-Signature": signature})
        assert ok.status_code == 200, ok.text  # a NUL in the body loses nothing
        (contact,) = session.exec(select(PhoneContact)).all()
        assert contact.sid == form["MessageSid"]
        # The same signed fields with an unsigned Body= in front: the last value is the
        # signed one, the first would land in the evidence.
        smuggled = "Body=%E8%AF%88%E9%AA%97&" + "&".join(f"{k}={v}" for k, v in form.items())
        refused = client.post(
            url,
            content=smuggled.replace("\x00", "%00").encode(),
            headers={"X-Twilio-Signature": signature,
                     "Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        assert refused.status_code == 403
        multipart = client.post(
            url, data=form, files={"extra": ("x.txt", b"unsigned")},
            headers={"X-Twilio-Signature": signature},
        )  # fmt: skip
        assert multipart.status_code == 403
    reasons = [
        e.detail.get("reason")
        for e in session.exec(select(AuditEntry).where(AuditEntry.action == "webhook.refused"))
    ]
    assert reasons == ["not a form Twilio signs"] * 2


def test_a_provider_event_with_control_characters_is_kept_or_refused(
    settings: Settings, engine: Engine, session: Session
) -> None:
    import hashlib
    import hmac
    import json
    import time

    secret = "p" * 32
    app = create_app(
        settings.model_copy(update={"telephony_secrets": {"aliyun": SecretStr(secret)}}),
        SharedSessionDatabase(engine, session),
        jobs=False,
    )

    def signed(event: dict[str, str]) -> dict[str, str]:
        stamp = str(int(time.time()))
        body = json.dumps(event).encode()
        mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        return {
            "X-Honeytrace-Timestamp": stamp,
            "X-Honeytrace-Signature": "sha256=" + mac.hexdigest(),
            "content": body.decode(),
        }

    with TestClient(app) as client:
        event = {"event_id": "ev-1", "kind": "sms", "caller": "13800000000",
                 "callee": "17000000001", "text": "你\x00好"}  # fmt: skip
        headers = signed(event)
        body = headers.pop("content")
        kept = client.post("/v1/webhooks/telephony/aliyun", content=body, headers=headers)
        assert kept.status_code == 204, kept.text
        bad = {**event, "event_id": "ev\x002"}
        headers = signed(bad)
        body = headers.pop("content")
        refused = client.post("/v1/webhooks/telephony/aliyun", content=body, headers=headers)
        assert refused.status_code == 422
    assert [c.sid for c in session.exec(select(PhoneContact)).all()] == ["ev-1"]


def test_a_partner_learns_nothing_from_its_own_reports(
    client: TestClient,
    session: Session,
    make_key: KeyFactory,
    make_link: LinkFactory,
) -> None:
    from attribution.kinds import LinkKind

    platform = make_link("平台", LinkKind.PLATFORM)
    merchant = make_link("商家", LinkKind.MERCHANT, platform)
    partner = bearer(make_key(Role.PARTNER, platform))
    minted = client.post(
        f"/v1/links/{merchant.id}/canaries", json={"count": 3}, headers=partner
    ).json()
    before = client.get("/v1/incidents", headers=partner).json()
    canary = minted[0]
    held = f"{canary['name']} {canary['mobile']} {canary['address']} 运单 {canary['waybill_no']}"
    for text in (held, "某人 13800000000 某地某路1号 运单 78000000000000"):
        answer = client.post("/v1/sightings", json={"kind": "listing", "text": text},
                             headers=partner)  # fmt: skip
        assert answer.status_code == 202
        assert set(answer.json()) >= {"source_id"} and answer.json()["matches"] is None
        assert client.get("/v1/incidents", headers=partner).json() == before
    staff = client.get("/v1/incidents", headers=bearer(make_key(Role.INVESTIGATOR))).json()
    assert staff["total"] == 1  # the report was recorded: staff see it
    (sighting,) = session.exec(select(Sighting)).all()
    assert sighting.canary_id == uuid.UUID(canary["id"])
