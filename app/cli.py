"""The `honeytrace` command. Scripts rely on these names and on the `--json` outputs.

Every command lives in its domain's `commands` module and is imported only when it runs (or
its own `--help` is asked for): `honeytrace --help` and `--version` import Typer and nothing
of the database or web stack (tests/test_cli_startup.py; benchmarks/cli_startup.py times it).
"""

import importlib
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from app.console import want_progress


@dataclass(frozen=True)
class Entry:
    module: str
    attribute: str  # a Typer app (a group of commands) or a function (one command)
    summary: str  # what `honeytrace --help` says, without importing the module


# Alphabetical, as --help lists them. tests/test_cli_startup.py checks each summary begins
# the command's own help.
COMMANDS: dict[str, Entry] = {
    "canaries": Entry(
        "app.planting.commands", "canaries_cli", "Canaries: rotation and the realism audit."
    ),
    "db": Entry("app.serve", "db_cli", "The database schema."),
    "demo": Entry(
        "app.demo.commands",
        "demo",
        "Plant canaries in a small courier, stage a leak at one outlet",
    ),
    "evidence": Entry(
        "app.evidence.commands",
        "evidence_cli",
        "The evidence log: verify the chain, export daily anchors.",
    ),
    "incidents": Entry(
        "app.incidents.commands",
        "incidents_cli",
        "Incidents: sightings grouped by leak, with their attribution.",
    ),
    "keys": Entry("app.keys.commands", "keys_cli", "API keys."),
    "links": Entry("app.links.commands", "links_cli", "Links of the data chain."),
    "mint": Entry(
        "app.planting.commands",
        "mint",
        "Mint canaries for a link and plant them there (channel `cli`); print them.",
    ),
    "scan": Entry(
        "app.scans.commands",
        "scan",
        "Scan leaked files (CSV/TSV/text, XLSX, JSON, HTML, ZIP/GZ) for canaries.",
    ),
    "serve": Entry(
        "app.serve",
        "serve",
        "Serve the API (and its docs at /docs); the embedded SQLite file is upgraded first.",
    ),
    "sites": Entry("app.sites.commands", "sites_cli", "Data-trading sites the watcher crawls."),
    "watch": Entry("app.jobs.watch", "watch_cli", "Run the watchers from the command line."),
    "worker": Entry(
        "app.jobs.commands",
        "worker",
        "Run jobs from the PostgreSQL queue until stopped",
    ),
}


def load_command(name: str) -> Any:
    """The click command behind `name`, its module imported now."""
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    if isinstance(target, typer.Typer):
        # A group even when it holds one command (`watch run`, `db upgrade`).
        command: Any = typer.main.get_group(target)
    else:
        single = typer.Typer()
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    _plain(command)
    return command


def _plain(command: Any) -> None:
    """Plain help, as the top level's: rich's help panels cost more to import (about 0.3 s
    here) than the rest of `--help` together."""
    command.rich_markup_mode = None
    for below in getattr(command, "commands", {}).values():
        _plain(below)


class LazyGroup(TyperGroup):
    """Commands imported when run; the top-level help lists them from COMMANDS alone."""

    listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            if self.listing:
                summary = COMMANDS[cmd_name].summary
                return TyperCommand(cmd_name, help=summary, short_help=summary)
            self.commands[cmd_name] = load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


cli = typer.Typer(
    cls=LazyGroup,
    help="honeytrace: canary waybills that name the link that leaked them.",
    rich_markup_mode=None,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        typer.echo(f"honeytrace {version('honeytrace')}")
        raise typer.Exit()


@cli.callback()
def _everywhere(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    show_progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--quiet",
            " /-q",
            envvar="HONEYTRACE_PROGRESS",
            show_default=False,
            help="Progress bars on stderr for long tasks, or none; by default only when "
            "stderr is a terminal. stdout is the same either way.",
        ),
    ] = None,
) -> None:
    want_progress(show_progress)


def main() -> None:
    cli(prog_name="honeytrace")


if __name__ == "__main__":
    main()
