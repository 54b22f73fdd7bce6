"""The migrations are the schema: they agree with the models and run both ways."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, Table, func, insert, inspect, select, table, update
from sqlmodel import Session, col

from app.auth.actor import Actor
from app.db import (
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
    utcnow,
)
from app.evidence.log import log_sightings
from app.evidence.rows import verify_evidence
from app.evidence.store import EvidenceStore
from app.models import metadata
from app.models.audit import AuditEntry
from app.models.canaries import Canary, Plant, PlantChannel
from app.models.evidence import EvidenceEntry
from app.models.incidents import Incident, IncidentSighting
from app.models.links import Link, LinkReader
from app.models.sightings import Sighting, SightingSource
from app.planting.service import mint_canaries
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from tests.conftest import add_sightings, session_scope


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_revisions_are_read_as_alembic_reads_them(empty_engine: Engine) -> None:
    """app.db reads the head from the migration files' lines and the database's revision in
    plain SQL, so that commands start without importing Alembic: the same answers."""
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()

    def both() -> tuple[str | None, str | None]:
        with empty_engine.connect() as connection:
            alembic = MigrationContext.configure(connection).get_current_revision()
            return current_revision(connection), alembic

    assert both() == (None, None), "never migrated: no alembic_version table"
    upgrade(empty_engine, "0001")
    assert both() == ("0001", "0001")
    upgrade(empty_engine)
    assert both() == (head_revision(), head_revision())
    downgrade(empty_engine, "base")
    assert both() == (None, None), "an empty alembic_version table"


def test_upgrade_downgrade_upgrade(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    tables = set(inspect(empty_engine).get_table_names())
    assert {"links", "api_keys", "audit_log", "alembic_version"} <= tables
    downgrade(empty_engine, "base")
    assert set(inspect(empty_engine).get_table_names()) == {"alembic_version"}
    upgrade(empty_engine)
    assert set(inspect(empty_engine).get_table_names()) == tables


def test_app_models_alone_holds_every_table(engine: Engine) -> None:
    """Alembic's env imports only app.models: every table must be registered by it alone."""
    script = (
        "import json; from app.models import metadata; print(json.dumps(sorted(metadata.tables)))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    migrated = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert set(json.loads(shown.stdout)) == migrated


def test_tables_rebuilt_with_rows_that_others_refer_to(empty_engine: Engine) -> None:
    """0012 rebuilds `sightings` on SQLite (a column becomes nullable) while incidents refer
    to its rows: down and up again with data in place, nothing lost; a sighting only the
    new schema can hold stops a downgrade."""
    upgrade(empty_engine)
    with session_scope(empty_engine) as session:
        outlet = Link(name="网点", kind=LinkKind.OUTLET, region_code="330106",
                      courier=Courier.ZTO)  # fmt: skip
        session.add(outlet)
        session.flush()
        (canary,) = mint_canaries(session, Actor.cli(), outlet.id, 1, PlantChannel.CLI).planted
        sighting = Sighting(canary_id=canary.id, link_id=outlet.id, source=SightingSource.SITE,
                            dedup_key="k1", score=45.0, location={"url": "http://x.example/1"},
                            excerpt="")  # fmt: skip
        add_sightings(session, [sighting])

    def counts() -> tuple[int, ...]:
        names = ("sightings", "incident_sightings", "incidents", "canaries", "plants")
        with empty_engine.connect() as connection:
            return tuple(
                connection.execute(select(func.count()).select_from(table(name))).scalar_one()
                for name in names
            )

    before = counts()
    assert before[:3] == (1, 1, 1)
    downgrade(empty_engine, "0011")
    assert counts() == before
    upgrade(empty_engine)
    assert counts() == before
    with session_scope(empty_engine) as session:
        bare = Sighting(canary_id=canary.id, link_id=outlet.id, source=SightingSource.CALL,
                        dedup_key="k2", score=None, location={}, excerpt="")  # fmt: skip
        add_sightings(session, [bare])
    with pytest.raises(RuntimeError, match="cannot hold them"):
        downgrade(empty_engine, "0011")
    assert counts()[:2] == (2, 2)
    with empty_engine.connect() as connection:
        assert current_revision(connection) == head_revision()


def test_rows_written_before_0016_are_chained_as_found(
    empty_engine: Engine, tmp_path: Path
) -> None:
    """0016 chains what attribution reads and the chain did not cover (links and readers,
    incident memberships, the audit log): an untouched database verifies after the upgrade,
    and again after a downgrade and another upgrade, which chain nothing twice."""
    upgrade(empty_engine, "0015")
    with session_scope(empty_engine) as session:
        # What the code before 0016 left: links, readers, memberships and audit rows not chained.
        links = [
            Link(name="大区", kind=LinkKind.REGION, region_code="330000", courier=Courier.ZTO),
            Link(name="厂商", kind=LinkKind.VENDOR, region_code="330000", courier=Courier.ZTO),
        ]
        session.add_all(links)
        session.flush()
        outlet = Link(name="网点", kind=LinkKind.OUTLET, region_code="330106",
                      courier=Courier.ZTO, parent_id=links[0].id)  # fmt: skip
        session.add(outlet)
        session.flush()
        session.add(LinkReader(link_id=outlet.id, reader_id=links[1].id))
        session.add(AuditEntry(actor="cli", action="link.create", target_type="link"))
        (canary,) = mint_canaries(session, Actor.cli(), outlet.id, 1, PlantChannel.CLI).planted
        sighting = Sighting(canary_id=canary.id, link_id=outlet.id, source=SightingSource.DUMP,
                            dedup_key="k1", evidence_sha256="a" * 64, excerpt="")  # fmt: skip
        session.add(sighting)
        session.flush()
        log_sightings(session, [(sighting, None)])
        # The incident as 0015's table holds it (today's model has columns 0015 has not).
        incident = Incident(title="t", first_seen_at=utcnow(), last_seen_at=utcnow())
        as_of_0015 = Table("incidents", MetaData(), autoload_with=session.connection())
        session.execute(
            insert(Incident.__table__).values(  # type: ignore[attr-defined]
                {
                    column.name: getattr(incident, column.key)
                    for column in Incident.__table__.columns  # type: ignore[attr-defined]
                    if column.name in as_of_0015.c
                }
            )
        )
        session.add(IncidentSighting(sighting_id=sighting.id, incident_id=incident.id))

    def verified() -> tuple[int, dict[str, int]]:
        with Session(empty_engine) as session:
            result = verify_evidence(session, EvidenceStore(tmp_path))
            by_kind = select(col(EvidenceEntry.kind), func.count()).group_by(
                col(EvidenceEntry.kind)
            )
            kinds = session.execute(by_kind)
            assert result.ok, result.problem
            return result.rows, dict(kinds.all())

    upgrade(empty_engine)
    rows, kinds = verified()
    # 3 links, 1 plant, 1 sighting, 1 membership; the unchained audit row and the mint's.
    assert rows == 3 + 1 + 1 + 1 + 2
    assert (kinds["link"], kinds["membership"], kinds["audit"]) == (3, 1, 2)
    downgrade(empty_engine, "0015")
    upgrade(empty_engine)
    assert verified() == (rows, kinds)


def test_plants_made_before_0022_learn_whether_their_canary_carries_a_pool_number(
    empty_engine: Engine,
) -> None:
    """0022 copies each canary's mobile form onto its plant: a plant of a canary with a pool
    number says so after the upgrade, the others do not."""
    upgrade(empty_engine, "0021")
    with session_scope(empty_engine) as session:
        outlet = Link(name="网点", kind=LinkKind.OUTLET, region_code="330106", courier=Courier.ZTO)
        session.add(outlet)
        session.flush()
        planted = mint_canaries(session, Actor.cli(), outlet.id, 3, PlantChannel.CLI).planted
    pooled = planted[0].id
    with empty_engine.begin() as connection:
        connection.execute(
            update(Canary).where(col(Canary.id) == pooled).values(mobile_form="privacy")
        )
    upgrade(empty_engine)
    with Session(empty_engine) as session:
        rows = session.execute(select(col(Plant.canary_id), col(Plant.by_phone))).all()
    assert dict(rows) == {c.id: c.id == pooled for c in planted}
