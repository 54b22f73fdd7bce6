"""The migrations are the schema: they agree with the models and run both ways."""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select, table

from app.auth.actor import Actor
from app.db import current_revision, downgrade, head_revision, make_engine, upgrade
from app.models import metadata
from app.models.canaries import PlantChannel
from app.models.links import Link
from app.models.sightings import Sighting, SightingSource
from app.planting.service import mint_canaries
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from tests.conftest import BACKENDS, add_sightings, scratch_postgres_database, session_scope


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    with scratch_postgres_database() as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


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
