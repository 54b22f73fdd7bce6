"""`honeytrace sites ...`: the trading sites the watcher crawls."""

import json
import uuid
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from app.auth.actor import Actor
from app.console import (
    JsonFlag,
    fail,
    load_settings,
    print_json,
    print_table,
    ready_database,
    refuse,
)
from app.identifiers import UnidentifiedError, resolve_site, short_id
from app.intake.pipeline import Intake
from app.localtime import shown
from app.problems import DomainError
from app.settings import Settings
from app.sites import service
from app.sites.crawling import CrawlLoop
from app.sites.schemas import PollSummary, SiteCreate, SiteRead

sites_cli = typer.Typer(help="Data-trading sites the watcher crawls.")


@sites_cli.command("add")
def add(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help='JSON: {"name": ..., "definition": {...}}'
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Add a site from a JSON file shaped like `POST /v1/sites`'s body."""
    try:
        body = SiteCreate.model_validate(json.loads(file.read_text("utf-8")))
    except (ValueError, ValidationError) as error:
        typer.echo(f"error: {file}: {error}", err=True)
        raise typer.Exit(2) from None
    database = ready_database(load_settings())
    try:
        with database.write() as session:
            site = SiteRead.of(service.create_site(session, Actor.cli(), body))
    except DomainError as error:
        raise fail(error) from None
    if as_json:
        print_json(site.model_dump(mode="json"))
    else:
        typer.echo(f"{site.id}  {site.name}")


@sites_cli.command("list")
def list_sites(as_json: JsonFlag = False) -> None:
    """Every site, with its last poll."""
    settings = load_settings()
    database = ready_database(settings)
    with database.read() as session:
        sites = [SiteRead.of(s) for s in service.list_sites(session)]
    if as_json:
        print_json([s.model_dump(mode="json") for s in sites])
        return
    rows = [
        [
            short_id(s.id),
            s.name,
            "on" if s.enabled else "off",
            f"{s.poll_interval_seconds}s",
            shown(s.last_polled_at, settings.zone) if s.last_polled_at else "never",
        ]
        for s in sites
    ]
    print_table(["ID", "NAME", "STATE", "EVERY", "LAST POLLED"], rows)


@sites_cli.command("poll")
def poll(
    site: Annotated[str, typer.Argument(help="The site's name, id or short id.")],
    as_json: JsonFlag = False,
) -> None:
    """Poll one site now, whatever its schedule, and print what it came to."""
    settings = load_settings()
    database = ready_database(settings)
    try:
        with database.read() as session:
            site_id = resolve_site(session, site)
            site_name = service.get_site(session, site_id).name
        summary = _poll(Intake.standalone(database, settings), settings, site_id)
    except UnidentifiedError as error:
        raise refuse(str(error)) from None
    except DomainError as error:
        raise fail(error) from None
    show_summary(summary, as_json, site_name)


def _poll(intake: Intake, settings: Settings, site_id: uuid.UUID) -> PollSummary:
    crawls = CrawlLoop(allow_private=settings.fetch_private_addresses)
    try:
        return crawls.run(lambda crawler: service.poll_site(intake, crawler, site_id))
    finally:
        crawls.close()


def show_summary(summary: PollSummary, as_json: bool, site_name: str | None = None) -> None:
    if as_json:
        print_json(summary.model_dump(mode="json"))
        return
    typer.echo(
        f"{site_name or summary.site_id}: {summary.pages_fetched} pages, "
        f"{summary.listings_seen} listings "
        f"({summary.listings_changed} new or changed), {summary.attachments_scanned} sample "
        f"files, {summary.sightings_added} sightings added, {len(summary.errors)} errors"
    )
    for error in summary.errors[:20]:
        typer.echo(f"  {error['url']}: {error['reason']}", err=True)
