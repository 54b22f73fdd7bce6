"""What every CLI command shares: settings with clean errors, a migrated engine, output."""

import json
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
