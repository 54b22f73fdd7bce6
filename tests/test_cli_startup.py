"""`honeytrace --help` imports no database or web stack: commands load when they run; and
`honeytrace scan` imports no web stack, no migrations and no job queue.

Not timed here (benchmarks/cli_startup.py times them beside `python -c pass`): the tests look
at the set of modules `python -X importtime` reports.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import COMMANDS, cli, load_command
from app.db import current_revision, head_revision, make_engine, upgrade
from tests.conftest import ROOT

HEAVY = ("sqlalchemy", "sqlmodel", "fastapi", "starlette", "polars", "alembic", "uvicorn")
# What a scan leaves out: FastAPI is the routes', Alembic is imported to migrate (the
# schema's revision is read in plain SQL), procrastinate by a queue that runs jobs.
NOT_FOR_A_SCAN = ("fastapi", "starlette", "alembic", "procrastinate", "uvicorn", "psycopg")


def _imported_by(*args: str, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env=env,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return modules, done.stdout


@pytest.mark.parametrize("args", [("--help",), ("--version",)])
def test_help_and_version_import_no_database_or_web_stack(args: tuple[str, ...]) -> None:
    modules, stdout = _imported_by(*args)
    assert "typer" in modules, "importtime was read"
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []
    assert not any(m.startswith("app.") and m not in {"app.cli", "app.console"} for m in modules)
    if args == ("--help",):
        assert all(name in stdout for name in COMMANDS)


def test_a_command_still_imports_what_it_needs() -> None:
    modules, stdout = _imported_by("links", "--help")
    assert "app.links.service" in modules and "sqlalchemy" in modules
    assert "import" in stdout and "list" in stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_summary_begins_the_commands_own_help(name: str) -> None:
    command = load_command(name)
    assert command.name == name
    assert " ".join((command.help or "").split()).startswith(COMMANDS[name].summary)


def test_the_help_lists_every_command_and_a_subcommand_runs() -> None:
    listed = CliRunner().invoke(cli, ["--help"])
    assert listed.exit_code == 0
    assert all(f"{name} " in listed.stdout for name in COMMANDS)
    sub = CliRunner().invoke(cli, ["incidents", "--help"])
    assert sub.exit_code == 0 and "show" in sub.stdout
    unknown = CliRunner().invoke(cli, ["nonesuch"])
    assert unknown.exit_code == 2


def _invoke(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("record", [False, True], ids=["scan", "scan --record"])
def test_a_scan_imports_no_web_stack_migrations_or_job_queue(tmp_path: Path, record: bool) -> None:
    env = {
        "HONEYTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'scan.db'}",
        "HONEYTRACE_EVIDENCE_DIR": str(tmp_path / "evidence"),
    }
    _invoke(env, "links", "add", "--name", "网点", "--kind", "outlet", "--region", "330106",
            "--courier", "zto")  # fmt: skip
    canary = json.loads(_invoke(env, "mint", "--link", "网点", "--count", "3").splitlines()[0])
    leak = tmp_path / "one-row.csv"
    leak.write_text(
        f"收件人,电话,运单号\n{canary['name']},{canary['mobile']},{canary['waybill_no']}\n", "utf-8"
    )

    args = ["scan", str(leak), "--json", *(["--record"] if record else [])]
    modules, stdout = _imported_by(*args, env=os.environ | env)
    (match,) = json.loads(stdout)["matches"]
    assert match["waybill_no"] == canary["waybill_no"]
    assert {"sqlalchemy", "polars", "app.intake.pipeline"} <= modules, "the scan ran"
    assert sorted(m for m in modules if m.split(".")[0] in NOT_FOR_A_SCAN) == []
    # Only a recording scan loads what sightings are handed to (alerts, incidents, burns).
    assert ("app.intake.record" in modules) == record
    # Minting (its tables, addresses, the style reader) only when a canary is to be replaced.
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("收件人,电话,运单号\n王*明,139****0000,ZT0000000000001\n", "utf-8")
    modules, stdout = _imported_by("scan", str(stranger), "--json", env=os.environ | env)
    assert json.loads(stdout)["matches"] == []
    assert not {"canaries.mint", "canaries.addresses", "canaries.style"} & modules
    assert "canaries.mint" in _imported_by(*args, env=os.environ | env)[0]


def test_a_command_brings_an_older_sqlite_file_to_the_newest_migration(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine, "0001")
    _invoke({"HONEYTRACE_DATABASE_URL": url}, "links", "list")
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision() != "0001"
    engine.dispose()
