"""`honeytrace keys ...`: API keys, printed once and stored only as a hash."""

from typing import Annotated

import typer

from app.audit.service import record_audit
from app.auth import keys as key_service
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
from app.identifiers import UnidentifiedError, link_names, resolve_key, resolve_link, short_id
from app.keys.routes import KeyRead
from app.localtime import shown
from app.models.keys import Role
from app.problems import DomainError

keys_cli = typer.Typer(help="API keys.")


@keys_cli.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="What the key may do.")],
    scope: Annotated[
        str | None,
        typer.Option(
            help="The link a partner key acts below, or whose feeds alone an integration key "
            "uses: id, short id, ref or name."
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="Who or what holds the key.")] = "cli",
    as_json: JsonFlag = False,
) -> None:
    """Create an API key; the key is printed once and stored only as a hash."""
    database = ready_database(load_settings())
    try:
        with database.write() as session:
            scope_id = None if scope is None else resolve_link(session, scope)
            issued = key_service.issue_key(session, role=role, name=name, scope_link_id=scope_id)
            record_audit(
                session,
                Actor.cli(),
                "key.create",
                "api_key",
                issued.record.id,
                {"role": role.value, "prefix": issued.record.prefix, "scope": str(scope_id)},
            )
    except UnidentifiedError as error:
        raise refuse(str(error)) from None
    except DomainError as error:
        raise fail(error) from None
    view = KeyRead.of(issued.record).model_dump(mode="json")
    if as_json:
        print_json({**view, "key": issued.secret})
    else:
        typer.echo(f"{issued.secret}\n(id {view['id']}, role {role}; shown once, store it now)")


@keys_cli.command("list")
def keys_list(as_json: JsonFlag = False) -> None:
    """List API keys (never the keys themselves), with the link a key is scoped to."""
    settings = load_settings()
    database = ready_database(settings)
    with database.read() as session:
        keys = [KeyRead.of(k) for k in key_service.list_keys(session)]
        scopes = link_names(session, {k.scope_link_id for k in keys if k.scope_link_id})
    if as_json:
        print_json([k.model_dump(mode="json") for k in keys])
        return
    rows = [
        [
            short_id(k.id),
            f"ht_{k.prefix}_…",
            str(k.role),
            "revoked" if k.revoked_at else "live",
            shown(k.last_used_at, settings.zone) if k.last_used_at else "never",
            "-" if k.scope_link_id is None else scopes.get(k.scope_link_id, "?"),
            k.name,
        ]
        for k in keys
    ]
    print_table(["ID", "KEY", "ROLE", "STATE", "LAST USED", "SCOPE", "NAME"], rows)


@keys_cli.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's id, short id, name or prefix.")],
) -> None:
    """Revoke an API key; requests with it are refused from now on."""
    database = ready_database(load_settings())
    try:
        with database.write() as session:
            record = key_service.revoke_key(session, resolve_key(session, key))
            record_audit(
                session, Actor.cli(), "key.revoke", "api_key", record.id, {"prefix": record.prefix}
            )
            revoked = f"{record.id} ({record.name}, ht_{record.prefix}_…)"
    except UnidentifiedError as error:
        raise refuse(str(error)) from None
    except DomainError as error:
        raise fail(error) from None
    typer.echo(f"revoked {revoked}")
