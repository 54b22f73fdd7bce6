"""`honeytrace evidence verify` and `honeytrace evidence anchors`."""

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError

from app.console import JsonFlag, load_settings, print_json, ready_database
from app.evidence.log import Anchor, daily_anchors
from app.evidence.rows import verify_evidence
from app.evidence.store import EvidenceStore

evidence_cli = typer.Typer(help="The evidence log: verify the chain, export daily anchors.")

ANCHORS = TypeAdapter(list[Anchor])


def read_anchors(path: Path) -> list[Anchor]:
    """Anchors as `evidence anchors --json` printed them; exit 2 on anything else."""
    try:
        return ANCHORS.validate_json(path.read_bytes())
    except ValidationError as exc:
        for error in exc.errors()[:20]:
            where = ".".join(str(p) for p in error["loc"]) or "file"
            typer.echo(f"error: {path}: {where}: {error['msg']}", err=True)
        raise typer.Exit(2) from None


@evidence_cli.command("verify")
def verify(
    anchors: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            help="A file of anchors (from `evidence anchors --json`) that must still hold.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Recompute the whole chain, check every kept blob and every table the chain covers
    against it; exit 1 naming the first broken entry or row."""
    pinned = read_anchors(anchors) if anchors is not None else []
    settings = load_settings()
    database = ready_database(settings)
    # A plain session, not a unit of work: verifying reads only and must not hold SQLite's
    # write lock (which would stall every request) for as long as it takes.
    with database.read() as session:
        if not database.is_sqlite:
            # The chain and the tables as of one moment, though writers go on (SQLite's
            # read transaction sees one snapshot already).
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        result = verify_evidence(session, EvidenceStore(settings.evidence_path), pinned)
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "entries": result.entries,
                "blobs": result.blobs,
                "anchors": result.anchors,
                "rows": result.rows,
                "head": None if result.head is None else result.head.model_dump(mode="json"),
                "broken_seq": result.broken_seq,
                "problem": result.problem,
            }
        )
    elif result.ok:
        head = "" if result.head is None else f"; head {result.head.seq} {result.head.hash}"
        typer.echo(
            f"evidence valid: {result.entries} entries, {result.blobs} blobs, "
            f"{result.anchors} anchors and {result.rows} table rows checked{head}"
        )
    else:
        typer.echo(f"evidence BROKEN: {result.problem}", err=True)
    if not result.ok:
        raise typer.Exit(1)


@evidence_cli.command("anchors")
def anchors_command(
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="The first UTC day to include (YYYY-MM-DD)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """One anchor per UTC day: the hash of the day's last entry, to publish or send to a third
    party; `evidence verify --anchors FILE` later shows the chain up to each still holds."""
    database = ready_database(load_settings())
    first: date | None = None if since is None else since.date()
    with database.read() as session:
        found = daily_anchors(session, first)
    if as_json:
        print_json([a.model_dump(mode="json") for a in found])
        return
    for anchor in found:
        typer.echo(f"{anchor.day}  {anchor.seq}  {anchor.hash}")
