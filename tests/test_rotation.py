"""Rotation: unacknowledged and stale hand-outs expire; quiet links get fresh canaries."""

import time
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
    assert (first.expired_pending, first.links_refreshed, first.minted) == (0, 1, 4)
    ready = session.exec(select(Canary).where(Canary.status == CanaryStatus.READY)).all()
    assert {c.link_id for c in ready} == {quiet.id}

    again = rotate(session, Actor.cli(), now)
    assert again.minted == 0, "ready stock is waiting; rotation must not pile up more"

    later = rotate(session, Actor.cli(), now + timedelta(days=8))
    assert later.expired_pending == 3
    assert later.expired_ready == 4
    assert later.links_refreshed == 2  # both quiet now: the busy link's plants are 8 days old
    assert _statuses(session)["expired"] == 7


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
    assert len(ready) == 3
    with Session(engine) as session:
        actions = session.exec(select(AuditEntry.actor).where(AuditEntry.action == "canary.rotate"))
        assert "scheduler" in set(actions)
    engine.dispose()
