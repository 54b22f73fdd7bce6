"""`honeytrace --help` imports no database or web stack: commands load when they run.

Not timed here (benchmarks/cli_startup.py times it beside `python -c pass`): the test looks
at the set of modules `python -X importtime` reports.
"""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from app.cli import COMMANDS, cli, load_command
from tests.conftest import ROOT

HEAVY = ("sqlalchemy", "sqlmodel", "fastapi", "starlette", "polars", "alembic", "uvicorn")


def _imported_by(*args: str) -> tuple[set[str], str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
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
