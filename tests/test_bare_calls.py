"""Calls and messages without content to canary numbers: sightings without a score, weighed
against the number's background rate, burning nothing, and alerting only once a leak is
likelier than noise. Through the signed webhooks of a real server on loopback, whose jobs
(in-process on SQLite, the queue worked by `serve` on PostgreSQL) refresh the incidents."""

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import Session, col, select

from app.auth.keys import issue_key
from app.db import Database
from app.incidents.announce import QUIET_UNTIL_NOISE
from app.main import create_app
from app.models.canaries import Canary
from app.models.incidents import Incident
from app.models.keys import Role
from app.models.sightings import Sighting
from app.models.telephony import PhoneContact
from app.settings import Settings
from tests.conftest import BACKENDS, attributed, migrated_database, session_scope
from tests.loopback import free_port, serving
from tests.test_telephony import (
    CONTROL,
    POOL,
    PROVIDER_SECRET,
    TOKEN,
    Server,
    _privacy_canary,
    _provider_post,
    _setup,
    _signed,
)


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """`serve` with its jobs: in-process on SQLite, the PostgreSQL queue worked by `serve`
    itself (one host, no workers)."""
    with migrated_database(request.param, tmp_path) as (url, engine):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = Settings(
            database_url=url,
            rotation_interval_seconds=0,
            public_url=base,
            twilio_auth_token=SecretStr(TOKEN),
            evidence_dir=str(tmp_path / "evidence"),
            telephony_secrets={"aliyun": SecretStr(PROVIDER_SECRET)},
            jobs_in_process=True,
        )
        with session_scope(engine) as session:
            secret = issue_key(session, role=Role.SECURITY, name="security").secret
        with serving(create_app(settings, Database(engine)), port):
            yield Server(base, engine, {"Authorization": f"Bearer {secret}"})


def _settled(server: Server) -> list[Incident]:
    """The incidents once the refresh jobs have caught up with every sighting."""
    attributed(server.engine)
    with Session(server.engine) as session:
        return list(session.exec(select(Incident).order_by(col(Incident.created_at))))


def _call(server: Server, n: int, caller: str, to: str = POOL) -> None:
    call = {"CallSid": f"CA{n:032d}", "To": to, "From": caller}
    assert _signed(server, "/v1/webhooks/twilio/voice", call).status_code == 200


def test_a_bare_call_to_a_planted_canarys_number_is_a_sighting_that_burns_nothing(
    server: Server,
) -> None:
    canary = _setup(server)  # minted through the API: planted at once
    _call(server, 2, "+8613700000002")
    _call(server, 3, "+8613700000003", to=CONTROL)  # a control number measures noise only
    with Session(server.engine) as session:
        (sighting,) = session.exec(select(Sighting)).all()
        assert str(sighting.canary_id) == canary["id"]
        assert sighting.score is None and sighting.source == "call"
        assert sighting.location["to"] == POOL and sighting.evidence_sha256
        still = session.get(Canary, uuid.UUID(canary["id"]))
        assert still is not None and still.status == "planted"  # noise may not burn it
        contacts = session.exec(select(PhoneContact)).all()
        assert len(contacts) == 2 and not any(c.matched for c in contacts)
    (incident,) = _settled(server)
    assert "calls_only" in incident.flags and "weak" in incident.flags
    assert incident.noise_probability >= QUIET_UNTIL_NOISE
    assert (incident.top_probability or 0) <= 0.5  # without a strong match: rule 4
    assert not incident.announced  # one call a week reaches any number: no alert

    shown = httpx.get(f"{server.base}/v1/incidents/{incident.id}", headers=server.headers)
    assert shown.status_code == 200
    (read,) = shown.json()["sightings"]
    assert read["score"] is None
    assert shown.json()["attribution_pending"] is False

    # Its transcript names the canary: a sighting with a score, in the same incident.
    said = {"CallSid": f"CA{2:032d}", "TranscriptionText": f"你好，是{canary['name']}吗"}
    assert _signed(server, "/v1/webhooks/twilio/transcription", said).status_code == 204
    (incident,) = _settled(server)
    assert incident.sighting_count == 2
    assert "calls_only" not in incident.flags
    assert incident.announced
    with Session(server.engine) as session:
        burned = session.get(Canary, uuid.UUID(canary["id"]))
        assert burned is not None and burned.status == "burned"


def test_calls_to_one_number_alert_once_a_leak_is_likelier_than_noise(server: Server) -> None:
    canary = _setup(server)
    noise: list[float] = []
    for n in range(1, 9):  # eight calls in a few minutes, each from another caller id
        _call(server, n, f"+86137000000{n:02d}")
        (incident,) = _settled(server)  # the line groups them
        noise.append(incident.noise_probability)
        assert incident.announced == (incident.noise_probability < QUIET_UNTIL_NOISE)
    assert incident.sighting_count == 8 and "calls_only" in incident.flags
    assert noise == sorted(noise, reverse=True)  # every call makes noise less likely
    print("noise after each call", [round(x, 4) for x in noise])
    assert noise[0] >= QUIET_UNTIL_NOISE > noise[-1]
    assert incident.announced
    assert incident.top_link_id is not None and str(incident.top_link_id) == canary["link_id"]
    assert (incident.top_probability or 0) <= 0.5  # without a strong match: rule 4


def test_a_bare_call_on_a_privacy_number_names_the_canary_of_its_extension(
    server: Server,
) -> None:
    canary = _privacy_canary(server)
    extension = canary["mobile"].split("转")[1]
    event = {"event_id": "call-bare", "kind": "call", "caller": "+8613900000000",
             "callee": "+86" + canary["mobile"].split("转")[0], "extension": extension}  # fmt: skip
    # Before the canary was planted, a call to its number cannot be about it.
    early = {**event, "event_id": "call-early", "time": "2020-01-01T00:00:00Z"}
    assert _provider_post(server, json.dumps(early).encode()).status_code == 204
    assert _provider_post(server, json.dumps(event).encode()).status_code == 204
    no_extension = {**event, "event_id": "call-bare-2"}
    del no_extension["extension"]
    assert _provider_post(server, json.dumps(no_extension).encode()).status_code == 204
    with Session(server.engine) as session:
        (sighting,) = session.exec(select(Sighting)).all()  # a shared number names nobody
    assert str(sighting.canary_id) == canary["id"] and sighting.score is None
    assert sighting.location["extension"] == extension


def test_calls_after_a_burn_concern_the_burned_canary_not_its_replacement(
    server: Server,
) -> None:
    """A burned canary's full number goes to its replacement; buyers still hold the burned
    one's record, so a later call is about that one, and counted once."""
    burned = _setup(server)
    body = f"{burned['name']}您好，您的快递{burned['waybill_no']}丢失，理赔请加微信"
    sms = {"MessageSid": "SM" + "7" * 32, "To": POOL, "From": "+8613900000001", "Body": body}
    assert _signed(server, "/v1/webhooks/twilio/sms", sms).status_code == 200
    # The burn minted a replacement (rule 6) with the pool's one number; the link's feed
    # hands it out and plants it.
    with session_scope(server.engine) as session:
        key = issue_key(session, role=Role.INTEGRATION, name="feed").secret
    feed = {"Authorization": f"Bearer {key}"}
    pulled = httpx.post(f"{server.base}/v1/links/{burned['link_id']}/feed/pull",
                        json={"count": 1}, headers=feed)  # fmt: skip
    assert pulled.status_code == 200, pulled.text
    (replacement,) = pulled.json()["records"]
    acked = httpx.post(f"{server.base}/v1/feed/batches/{pulled.json()['batch_id']}/ack",
                       json={"spliced": [replacement["waybill_no"]]}, headers=feed)  # fmt: skip
    assert acked.status_code == 200, acked.text
    assert replacement["mobile"] == burned["mobile"] == POOL[3:]
    assert replacement["waybill_no"] != burned["waybill_no"]
    _call(server, 40, "+8613900000002")
    with Session(server.engine) as session:
        bare = session.exec(select(Sighting).where(col(Sighting.score).is_(None))).all()
        assert [str(s.canary_id) for s in bare] == [burned["id"]]
        kept = session.exec(
            select(Canary).where(Canary.waybill_no == replacement["waybill_no"])
        ).one()
        assert kept.status == "planted"  # and its plant is newer than the burned one's
