"""What every CLI command shares: settings with clean errors, a migrated engine, output."""

import json
import unicodedata
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy import Engine

from app.db import Database, current_revision, head_revision, make_engine, upgrade
from app.problems import DomainError
from app.settings import Settings

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            typer.echo(f"error: {where}: {error['msg']}", err=True)
        raise typer.Exit(2) from None


def ready_database(settings: Settings) -> Database:
    """The database on a current schema (see ready_engine)."""
    return Database(ready_engine(settings))


def ready_engine(settings: Settings) -> Engine:
    """An engine on a current schema: the embedded SQLite file is upgraded in place."""
    engine = make_engine(settings.database_url)
    if settings.is_sqlite:
        upgrade(engine)
        return engine
    with engine.connect() as connection:
        current = current_revision(connection)
    if current != head_revision():
        typer.echo(
            f"error: the database schema is at {current}, not {head_revision()}; "
            "run `honeytrace db upgrade` first",
            err=True,
        )
        raise typer.Exit(1)
    return engine


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, default=str))


def fail(error: DomainError) -> typer.Exit:
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
