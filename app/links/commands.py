"""`honeytrace links ...`: the links of the data chain."""

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
    progress,
    ready_database,
    refuse,
)
from app.identifiers import UnidentifiedError, resolve_link, short_id
from app.links import service as link_service
from app.links.importer import import_links_csv
from app.links.schemas import LinkCreate, LinkRead
from app.problems import DomainError
from attribution.kinds import LinkKind
from canaries.couriers import Courier

links_cli = typer.Typer(help="Links of the data chain.")


@links_cli.command("add")
def links_add(
    name: Annotated[str, typer.Option(help="The link's name.")],
    kind: Annotated[LinkKind, typer.Option(help="What kind of party or system it is.")],
    region: Annotated[str, typer.Option(help="GB/T 2260 division code, e.g. 330106.")],
    courier: Annotated[Courier, typer.Option(help="Courier brand.")],
    parent: Annotated[
        str | None, typer.Option(help="The parent link: its id, short id, ref or name.")
    ] = None,
    ref: Annotated[str | None, typer.Option(help="Your own id for the link.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Register one link."""
    database = ready_database(load_settings())
    try:
        with database.write() as session:
            parent_id = None if parent is None else resolve_link(session, parent)
            data = LinkCreate(
                name=name,
                kind=kind,
                region=region,
                courier=courier,
                parent_id=parent_id,
                external_ref=ref,
            )
            view = LinkRead.of(link_service.create_link(session, Actor.cli(), data))
    except UnidentifiedError as error:
        raise refuse(str(error)) from None
    except ValidationError as exc:
        for problem in exc.errors():
            typer.echo(f"error: {'.'.join(map(str, problem['loc']))}: {problem['msg']}", err=True)
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
        with progress(f"importing {file.name}", None) as bar, database.write() as session:
            report = import_links_csv(session, Actor.cli(), file.read_bytes())
            bar.update(completed=1, total=1, description=f"imported {file.name}")
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
    """List registered links as a tree: each under its parent, by name."""
    database = ready_database(load_settings())
    views: list[LinkRead] = []
    with database.read() as session:
        offset = 0
        while True:
            page, total = link_service.list_links(session, Actor.cli(), limit=1000, offset=offset)
            views.extend(LinkRead.of(x) for x in page)
            offset += len(page)
            if not page or offset >= total:
                break
    names = {v.id: v.name for v in views}
    tree = [(depth, v) for depth, v in _by_hierarchy(views) if kind is None or v.kind == kind]
    if as_json:
        print_json([v.model_dump(mode="json") for _, v in tree])
        return
    rows = [
        [
            short_id(v.id),
            "  " * depth + v.name,
            v.kind,
            v.region,
            v.external_ref or "-",
            "-" if v.parent_id is None else names.get(v.parent_id, short_id(v.parent_id)),
            "active" if v.active else "inactive",
        ]
        for depth, v in tree
    ]
    print_table(["ID", "NAME", "KIND", "REGION", "REF", "PARENT", "STATE"], rows)


def _by_hierarchy(views: list[LinkRead]) -> list[tuple[int, LinkRead]]:
    """Depth-first: roots by name, each link followed by its children by name."""
    known = {v.id for v in views}
    children: dict[uuid.UUID | None, list[LinkRead]] = {}
    for v in views:
        parent = v.parent_id if v.parent_id in known else None
        children.setdefault(parent, []).append(v)
    ordered: list[tuple[int, LinkRead]] = []
    stack = [(0, v) for v in sorted(children.get(None, []), key=_name_order, reverse=True)]
    while stack:
        depth, view = stack.pop()
        ordered.append((depth, view))
        below = sorted(children.get(view.id, []), key=_name_order, reverse=True)
        stack.extend((depth + 1, v) for v in below)
    placed = {v.id for _, v in ordered}  # a cycle of parents, were one ever stored, goes last
    return ordered + [(0, v) for v in sorted(views, key=_name_order) if v.id not in placed]


def _name_order(view: LinkRead) -> tuple[str, str]:
    return (view.name, str(view.id))
