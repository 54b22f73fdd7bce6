"""examples/client.py, run as a partner would run it, against the app served on loopback:
an outlet's dispatch system pulls its canaries and acknowledges them with its link-scoped
integration key, and a partner reports a listing of one of them, which becomes a sighting."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlmodel import Session, select

from app.auth.actor import Actor
from app.auth.keys import issue_key
from app.db import Database
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.main import create_app
from app.models.canaries import Canary, Plant
from app.models.keys import Role
from app.models.links import Link
from app.models.sightings import Sighting
from app.settings import Settings
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from tests.conftest import BACKENDS, ROOT, migrated_database, session_scope
from tests.loopback import serving

CLIENT = ROOT / "examples" / "client.py"


def _run(*arguments: str, base: str, **keys: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HONEYTRACE_")}
    environment |= {"HONEYTRACE_URL": base, **keys}
    return subprocess.run(
        [sys.executable, str(CLIENT), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_client_example_pulls_acks_and_reports(backend: str, tmp_path: Path) -> None:
    with migrated_database(backend, tmp_path) as (url, engine):
        with session_scope(engine) as session:
            cli = Actor.cli()

            def link(name: str, kind: LinkKind, region: str, parent: Link | None = None) -> Link:
                data = LinkCreate(
                    name=name,
                    kind=kind,
                    region=region,
                    courier=Courier.ZTO,
                    parent_id=parent.id if parent else None,
                )
                return create_link(session, cli, data)

            office = link("总部", LinkKind.HEAD_OFFICE, "330000")
            outlet = str(link("西湖网点", LinkKind.OUTLET, "330106", office).id)
            other = str(link("上城网点", LinkKind.OUTLET, "330102", office).id)
            platform = link("电商平台", LinkKind.PLATFORM, "330000", office)
            feed_key = issue_key(
                session,
                role=Role.INTEGRATION,
                name="西湖 dispatch",
                scope_link_id=uuid.UUID(outlet),
            ).secret
            partner_key = issue_key(
                session, role=Role.PARTNER, name="平台", scope_link_id=platform.id
            ).secret
        settings = Settings(
            database_url=url,
            evidence_dir=str(tmp_path / "evidence"),
            index_path=str(tmp_path / "canaries.keys"),
            rotation_interval_seconds=0,
        )
        with serving(create_app(settings, Database(engine), jobs=False)) as base:
            pulled = _run("feed", outlet, "--count", "3", base=base, HONEYTRACE_FEED_KEY=feed_key)
            assert pulled.returncode == 0, pulled.stderr
            records = [json.loads(line) for line in pulled.stdout.splitlines()]
            assert len(records) == 3
            assert "'planted': 3" in pulled.stderr

            # The outlet's key pulls no other outlet's canaries: the client says why.
            refused = _run("feed", other, base=base, HONEYTRACE_FEED_KEY=feed_key)
            assert refused.returncode == 1
            assert "honeytrace refused: 404" in refused.stderr

            record = records[0]
            listing = (
                f"出售全国快递单号数据 日更 样本: {record['name'][0]}*{record['name'][-1]} "
                f"{record['mobile']} {record['province']}{record['city']}{record['district']}"
                f"{record['address'][:6]}*** 0.5元一条"
            )
            reported = _run(
                "report",
                "--text",
                listing,
                "--url-seen",
                "https://forum.example/t/1",
                base=base,
                HONEYTRACE_REPORT_KEY=partner_key,
            )
            assert reported.returncode == 0, reported.stderr
            told = json.loads(reported.stdout)
            assert told["source_id"] and told["matches"] is None  # a partner is not told

            bad = _run("report", "--text", "", base=base, HONEYTRACE_REPORT_KEY=partner_key)
            assert bad.returncode == 1 and "text:" in bad.stderr

        with Session(engine) as session:
            planted = session.exec(select(Plant)).all()
            assert {str(p.link_id) for p in planted} == {outlet}
            assert len(planted) == 3
            waybills = {r["waybill_no"] for r in records}
            pulled_canaries = [session.get(Canary, p.canary_id) for p in planted]
            assert {c.waybill_no for c in pulled_canaries if c} == waybills
            (sighting,) = session.exec(select(Sighting)).all()
            seen = session.get(Canary, sighting.canary_id)
            assert seen is not None and seen.waybill_no == record["waybill_no"]
