"""The migrations are the schema: they agree with the models and run both ways."""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from app.db import alembic_config, current_revision, head_revision, make_engine, upgrade
from app.models import metadata
from tests.conftest import BACKENDS, scratch_postgres_database


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
    with empty_engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
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
