"""`honeytrace serve` and `honeytrace db upgrade`: the service and its schema."""

from typing import Annotated

import typer

from app.console import load_settings, ready_database
from app.db import head_revision, make_engine, upgrade

db_cli = typer.Typer(help="The database schema.")


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address [HONEYTRACE_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port [HONEYTRACE_PORT]")] = None,
) -> None:
    """Serve the API (and its docs at /docs); the embedded SQLite file is upgraded first."""
    import uvicorn

    from app.main import create_app
    from app.ops.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level)
    database = ready_database(settings)
    uvicorn.run(
        create_app(settings, database),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to the newest migration."""
    settings = load_settings()
    upgrade(make_engine(settings.database_url))
    typer.echo(f"database at {head_revision()}")
