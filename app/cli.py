"""The `honeytrace` command. Scripts rely on these names and on the `--json` outputs."""

import uuid
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from app.audit.service import record_audit
from app.auth import keys as key_service
from app.auth.actor import Actor
from app.console import JsonFlag, fail, load_settings, print_json, ready_database
from app.db import head_revision, make_engine, upgrade
from app.demo.commands import demo
from app.evidence.commands import evidence_cli
from app.incidents.commands import incidents_cli
from app.jobs.commands import worker
from app.jobs.watch import watch_cli
from app.keys.routes import KeyRead
from app.links import service as link_service
from app.links.importer import import_links_csv
from app.links.schemas import LinkCreate, LinkRead
from app.models.keys import Role
from app.planting.commands import canaries_cli, mint
from app.problems import DomainError
from app.scans.commands import scan
from app.sites.commands import sites_cli
from attribution.kinds import LinkKind
from canaries.couriers import Courier

cli = typer.Typer(help="honeytrace: canary waybills that name the link that leaked them.")
db_cli = typer.Typer(help="The database schema.")
keys_cli = typer.Typer(help="API keys.")
links_cli = typer.Typer(help="Links of the data chain.")
cli.add_typer(db_cli, name="db")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(links_cli, name="links")
cli.add_typer(canaries_cli, name="canaries")
cli.add_typer(evidence_cli, name="evidence")
cli.add_typer(incidents_cli, name="incidents")
cli.add_typer(sites_cli, name="sites")
cli.add_typer(watch_cli, name="watch")
cli.command("mint")(mint)
cli.command("scan")(scan)
cli.command("worker")(worker)
cli.command("demo")(demo)


@cli.command()
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


@keys_cli.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="What the key may do.")],
    scope: Annotated[
        uuid.UUID | None,
        typer.Option(
            help="The link a partner key acts below, or whose feeds alone an integration key uses."
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="Who or what holds the key.")] = "cli",
    as_json: JsonFlag = False,
) -> None:
    """Create an API key; the key is printed once and stored only as a hash."""
    database = ready_database(load_settings())
    try:
        with database.write() as session:
            issued = key_service.issue_key(session, role=role, name=name, scope_link_id=scope)
            record_audit(
                session,
                Actor.cli(),
                "key.create",
                "api_key",
                issued.record.id,
                {"role": role.value, "prefix": issued.record.prefix, "scope": str(scope)},
            )
    except DomainError as error:
        raise fail(error) from None
    view = KeyRead.of(issued.record).model_dump(mode="json")
    if as_json:
        print_json({**view, "key": issued.secret})
    else:
        typer.echo(f"{issued.secret}\n(id {view['id']}, role {role}; shown once, store it now)")


@keys_cli.command("list")
def keys_list(as_json: JsonFlag = False) -> None:
    """List API keys (never the keys themselves)."""
    database = ready_database(load_settings())
    with database.write() as session:
        views = [KeyRead.of(k).model_dump(mode="json") for k in key_service.list_keys(session)]
    if as_json:
        print_json(views)
        return
    for v in views:
        state = "revoked" if v["revoked_at"] else "live"
        typer.echo(f"{v['id']}  ht_{v['prefix']}_…  {v['role']:<12} {state:<8} {v['name']}")


@keys_cli.command("revoke")
def keys_revoke(key_id: uuid.UUID) -> None:
    """Revoke an API key; requests with it are refused from now on."""
    database = ready_database(load_settings())
    try:
        with database.write() as session:
            record = key_service.revoke_key(session, key_id)
            record_audit(
                session, Actor.cli(), "key.revoke", "api_key", record.id, {"prefix": record.prefix}
            )
    except DomainError as error:
        raise fail(error) from None
    typer.echo(f"revoked {key_id}")


@links_cli.command("add")
def links_add(
    name: Annotated[str, typer.Option(help="The link's name.")],
    kind: Annotated[LinkKind, typer.Option(help="What kind of party or system it is.")],
    region: Annotated[str, typer.Option(help="GB/T 2260 division code, e.g. 330106.")],
    courier: Annotated[Courier, typer.Option(help="Courier brand.")],
    parent: Annotated[uuid.UUID | None, typer.Option(help="Parent link id.")] = None,
    ref: Annotated[str | None, typer.Option(help="Your own id for the link.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Register one link."""
    database = ready_database(load_settings())
    try:
        data = LinkCreate(
            name=name, kind=kind, region=region, courier=courier, parent_id=parent, external_ref=ref
        )
        with database.write() as session:
            view = LinkRead.of(link_service.create_link(session, Actor.cli(), data))
    except ValidationError as exc:
        for error in exc.errors():
            typer.echo(f"error: {'.'.join(map(str, error['loc']))}: {error['msg']}", err=True)
        raise typer.Exit(2) from None
    except DomainError as error:
        raise fail(error) from None
    if as_json:
        print_json(view.model_dump(mode="json"))
    else:
        typer.echo(f"{view.id}  {view.kind}  {view.region_name}  {view.name}")


@links_cli.command("import")
def links_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    as_json: JsonFlag = False,
) -> None:
    """Import links from a CSV file (UTF-8 or GB18030): all rows or, on any error, none."""
    database = ready_database(load_settings())
    try:
        with database.write() as session:
            report = import_links_csv(session, Actor.cli(), file.read_bytes())
    except DomainError as error:
        raise fail(error) from None
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        typer.echo(f"imported {report.created} links from {file}")


@links_cli.command("list")
def links_list(
    kind: Annotated[LinkKind | None, typer.Option(help="Only links of this kind.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List registered links."""
    database = ready_database(load_settings())
    views: list[LinkRead] = []
    with database.write() as session:
        offset = 0
        while True:
            page, total = link_service.list_links(
                session, Actor.cli(), kind=kind, limit=1000, offset=offset
            )
            views.extend(LinkRead.of(x) for x in page)
            offset += len(page)
            if not page or offset >= total:
                break
    if as_json:
        print_json([v.model_dump(mode="json") for v in views])
        return
    for v in views:
        state = "" if v.active else "  (inactive)"
        typer.echo(f"{v.id}  {v.kind:<13} {v.region}  {v.name}{state}")


def main() -> None:
    cli(prog_name="honeytrace")


if __name__ == "__main__":
    main()
