"""Rotation: unacknowledged and stale hand-outs expire; quiet links get fresh canaries."""

import time
import uuid
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.auth.actor import Actor
from app.db import Database, make_engine, upgrade, utcnow
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.main import create_app
from app.models.audit import AuditEntry
from app.models.canaries import Canary, CanaryStatus, FeedProfile
from app.models.keys import Role
from app.planting.rotation import rotate
from app.settings import Settings
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from tests.conftest import KeyFactory, LinkFactory, bearer, session_scope


def _statuses(session: Session) -> dict[str, int]:
    counts: dict[str, int] = {}
    for canary in session.exec(select(Canary)).all():
        counts[canary.status] = counts.get(canary.status, 0) + 1
    return counts


def test_rotation_expires_and_refreshes(
    client: TestClient, session: Session, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    quiet = make_link("安静网点", LinkKind.OUTLET)
    busy = make_link("繁忙网点", LinkKind.OUTLET)
    session.add(FeedProfile(link_id=quiet.id, rotation_days=7, rotation_batch=4, control_share=0))
    session.add(FeedProfile(link_id=busy.id, rotation_days=7, rotation_batch=4, control_share=0))
    session.commit()
    client.post(
        f"/v1/links/{busy.id}/canaries", json={"count": 2}, headers=bearer(make_key(Role.SECURITY))
    )
    client.post(
        f"/v1/links/{busy.id}/feed/pull",
        json={"count": 3},
        headers=bearer(make_key(Role.INTEGRATION)),
    )
    assert _statuses(session) == {"planted": 2, "pending": 3}

    now = utcnow()
    first = rotate(session, Actor.cli(), now)
    # The floor is 4 canaries a 7 days, one at a time: the quiet link gets one now.
    assert (first.expired_pending, first.links_refreshed, first.minted) == (0, 1, 1)
    ready = session.exec(select(Canary).where(Canary.status == CanaryStatus.READY)).all()
    assert {c.link_id for c in ready} == {quiet.id}

    again = rotate(session, Actor.cli(), now)
    assert again.minted == 0, "ready stock is waiting; rotation must not pile up more"

    later = rotate(session, Actor.cli(), now + timedelta(days=8))
    assert later.expired_pending == 3
    assert later.expired_ready == 1
    assert later.links_refreshed == 2  # both quiet now: the busy link's plants are 8 days old
    assert _statuses(session)["expired"] == 4


def test_the_floor_is_spread_over_the_period(
    client: TestClient, session: Session, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    """A quiet link gets its floor one canary at a time, whenever it has gone
    rotation_days / rotation_batch days (here 7 / 4 = 1.75) without a plant: never a batch
    at once, which crowds a short look-back with one link's canaries."""
    link = make_link("安静网点", LinkKind.OUTLET)
    session.add(FeedProfile(link_id=link.id, rotation_days=7, rotation_batch=4, control_share=0))
    session.commit()
    now = utcnow()
    assert rotate(session, Actor.cli(), now).minted == 1
    feed = bearer(make_key(Role.INTEGRATION))
    batch = client.post(f"/v1/links/{link.id}/feed/pull", json={"count": 1}, headers=feed).json()
    assert len(batch["records"]) == 1
    spliced = [batch["records"][0]["waybill_no"]]
    ack = client.post(
        f"/v1/feed/batches/{batch['batch_id']}/ack", json={"spliced": spliced}, headers=feed
    )
    assert ack.json()["planted"] == 1
    assert rotate(session, Actor.cli(), now + timedelta(days=1)).minted == 0
    assert rotate(session, Actor.cli(), now + timedelta(days=2)).minted == 1
    assert _statuses(session) == {"planted": 1, "ready": 1}


def test_serve_runs_rotation_on_its_own_schedule(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'scheduled.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        link = create_link(
            session,
            Actor.cli(),
            LinkCreate(name="网点", kind=LinkKind.OUTLET, region="330106", courier=Courier.EMS),
        )
        session.add(FeedProfile(link_id=link.id, rotation_batch=3, control_share=0))
    app = create_app(Settings(database_url=url, rotation_interval_seconds=1), Database(engine))
    with TestClient(app):
        deadline = time.monotonic() + 20
        ready: list[Canary] = []
        while not ready and time.monotonic() < deadline:
            time.sleep(0.2)
            with Session(engine) as session:
                ready = list(
                    session.exec(select(Canary).where(Canary.status == CanaryStatus.READY)).all()
                )
    assert len(ready) == 1  # the floor is spread: one at a time
    with Session(engine) as session:
        actions = session.exec(select(AuditEntry.actor).where(AuditEntry.action == "canary.rotate"))
        assert "scheduler" in set(actions)
    engine.dispose()


def test_a_canary_that_waited_is_not_expired_as_soon_as_a_pull_hands_it_out(
    client: TestClient, session: Session, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    """A hand-out expires a day after the pull, not a day after the canary was minted: a
    replacement or floor canary that waited two days for the pull must survive the next
    rotation, or the dispatch system's ack is refused and what it spliced goes unplanted."""
    link = make_link("等待网点", LinkKind.OUTLET)
    session.add(FeedProfile(link_id=link.id, control_share=0))
    session.commit()
    now = utcnow()
    rotate(session, Actor.cli(), now - timedelta(days=2))
    (waiting,) = session.exec(select(Canary).where(Canary.status == CanaryStatus.READY)).all()
    waiting.minted_at = now - timedelta(days=2)
    session.add(waiting)
    session.commit()
    feed = bearer(make_key(Role.INTEGRATION))
    batch = client.post(f"/v1/links/{link.id}/feed/pull", json={"count": 2}, headers=feed).json()
    assert waiting.waybill_no in [r["waybill_no"] for r in batch["records"]]
    report = rotate(session, Actor.cli(), utcnow())
    assert report.expired_pending == 0
    spliced = [r["waybill_no"] for r in batch["records"]]
    ack = client.post(
        f"/v1/feed/batches/{batch['batch_id']}/ack", json={"spliced": spliced}, headers=feed
    )
    assert ack.status_code == 200, ack.text
    assert ack.json() == {"planted": 2, "expired": 0}
    later = rotate(session, Actor.cli(), utcnow() + timedelta(days=2))
    assert later.expired_pending == 0  # planted: nothing left to expire


def test_a_streamed_feeds_claim_on_waiting_canaries_lapses_after_a_day(
    session: Session, make_link: LinkFactory
) -> None:
    """A splicing run claims the link's waiting canaries and releases what it did not send;
    if its process died, rotation releases the claim a day later, or the link would keep
    waiting canaries nobody sends, and no floor (rotation counts them as waiting)."""
    link = make_link("流式网点", LinkKind.OUTLET)
    session.add(FeedProfile(link_id=link.id, control_share=0))
    session.commit()
    now = utcnow()
    rotate(session, Actor.cli(), now)
    (waiting,) = session.exec(select(Canary).where(Canary.status == CanaryStatus.READY)).all()
    waiting.batch_id = uuid.uuid4()  # what FeedSplice._claim_waiting writes
    waiting.handed_out_at = now
    session.add(waiting)
    session.commit()
    rotate(session, Actor.cli(), now + timedelta(hours=12))
    session.refresh(waiting)
    assert waiting.batch_id is not None, "a live run keeps its claim"
    rotate(session, Actor.cli(), now + timedelta(days=1, hours=1))
    released = session.get(Canary, waiting.id, populate_existing=True)
    assert released is not None
    assert (released.status, released.batch_id, released.handed_out_at) == (
        CanaryStatus.READY, None, None
    )  # fmt: skip
