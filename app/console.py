"""What every CLI command shares: settings with clean errors, a migrated engine, output.

`honeytrace --help` imports this module and nothing heavier (`app.cli` loads each command's
module only when it runs), so the database, settings and web stack are imported inside the
functions that need them.
"""

import json
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID
    from sqlalchemy import Engine

    from app.db import Database
    from app.problems import DomainError
    from app.settings import Settings

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]

# Progress bars go to stderr, so stdout stays what scripts read. None: only when stderr is a
# terminal; the top-level --progress/--quiet (or HONEYTRACE_PROGRESS) sets it for the command.
_progress_wanted: bool | None = None


def load_settings() -> "Settings":
    from pydantic import ValidationError

    from app.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            typer.echo(f"error: {where}: {error['msg']}", err=True)
        raise typer.Exit(2) from None


def ready_database(settings: "Settings") -> "Database":
    """The database on a current schema (see ready_engine)."""
    from app.db import Database

    return Database(ready_engine(settings))


def ready_engine(settings: "Settings") -> "Engine":
    """An engine on a current schema: the embedded SQLite file is upgraded in place. The
    schema's revision is read in plain SQL; Alembic is imported only to migrate."""
    from app.db import current_revision, head_revision, make_engine, upgrade

    engine = make_engine(settings.database_url)
    with engine.connect() as connection:
        current = current_revision(connection)
    head = head_revision()
    if current == head:
        return engine
    if settings.is_sqlite:
        upgrade(engine)
        return engine
    typer.echo(
        f"error: the database schema is at {current}, not {head}; "
        "run `honeytrace db upgrade` first",
        err=True,
    )
    raise typer.Exit(1)


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, default=str))


def fail(error: "DomainError") -> typer.Exit:
    typer.echo(f"error: {error.detail}", err=True)
    for item in error.extra.get("errors", [])[:50]:
        where = f"line {item['row']}: " if "row" in item else ""
        typer.echo(f"  {where}{item['field']}: {item['message']}", err=True)
    return typer.Exit(1)


def refuse(message: str) -> typer.Exit:
    """A usage error on one line (what was typed matched nothing, or too much): exit 2."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def width(text: str) -> int:
    """Columns `text` takes on a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns aligned for a person (Chinese names included), two spaces apart, the last
    column unpadded; `--json` is the form for scripts."""
    widths = [max(width(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [str(c) for c in row]
        padded = [c + " " * (widths[i] - width(c)) for i, c in enumerate(cells[:-1])]
        typer.echo("  ".join([*padded, cells[-1]]).rstrip())


def want_progress(wanted: bool | None) -> None:
    global _progress_wanted
    _progress_wanted = wanted


def showing_progress() -> bool:
    return sys.stderr.isatty() if _progress_wanted is None else _progress_wanted


class Ticker:
    """How a long task reports how far it is; this one shows nothing (--quiet, a pipe)."""

    def advance(self, steps: float = 1) -> None:
        pass

    def update(
        self,
        *,
        completed: float | None = None,
        total: float | None = None,
        description: str | None = None,
    ) -> None:
        pass


class _Bar(Ticker):
    def __init__(self, bar: "Progress", task: "TaskID") -> None:
        self.bar, self.task = bar, task

    def advance(self, steps: float = 1) -> None:
        self.bar.advance(self.task, steps)

    def update(
        self,
        *,
        completed: float | None = None,
        total: float | None = None,
        description: str | None = None,
    ) -> None:
        self.bar.update(self.task, completed=completed, total=total, description=description)


@contextmanager
def progress(description: str, total: float | None, *, in_bytes: bool = False) -> Iterator[Ticker]:
    """A progress bar on stderr (rich, imported only when one is shown) for a task of `total`
    steps or bytes; with no total, a bar that says the task is running."""
    if not showing_progress():
        yield Ticker()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    amount = [DownloadColumn(), TransferSpeedColumn()] if in_bytes else [MofNCompleteColumn()]
    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        *amount,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    # Lines printed while the bar runs go above it on the terminal only when stdout is that
    # terminal too: rich would otherwise send them to stderr, out of `> file`.
    with Progress(
        *columns, console=Console(file=sys.stderr), redirect_stdout=sys.stdout.isatty()
    ) as bar:
        yield _Bar(bar, bar.add_task(description, total=total))
