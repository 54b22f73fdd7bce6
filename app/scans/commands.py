"""`honeytrace scan FILE...`: look for canaries in leaked files."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import Session

from app.auth.actor import Actor
from app.console import JsonFlag, Ticker, load_settings, print_json, progress, ready_engine
from app.db import Database
from app.identifiers import link_names, waybills
from app.intake.pipeline import Intake
from app.scans.schemas import ScanMatch
from app.scans.service import close_scan, create_scan, match_views
from watchers.scan import ScanProgress, ScanResult


def scan(
    files: Annotated[
        list[Path],
        typer.Argument(exists=True, dir_okay=False, readable=True, help="Leaked files."),
    ],
    record: Annotated[
        bool,
        typer.Option(
            "--record", help="Store the matches as sightings (source dump, the file's hash)."
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Scan leaked files (CSV/TSV/text, XLSX, JSON, HTML, ZIP/GZ) for canaries.

    Only the files' hashes, counts and matched rows are ever stored (with --record); exit
    status 1 when a file could not be read to its end."""
    settings = load_settings()
    database = Database(ready_engine(settings))
    intake = Intake.standalone(database, settings)
    incomplete = False
    for path in files:
        with progress(path.name, path.stat().st_size, in_bytes=True) as bar:
            with path.open("rb") as stream:
                result = intake.scan(stream, path.name, on_progress=_reporter(bar, path.name))
            done = _so_far(path.name, result.report.rows, len(result.matches))
            bar.update(completed=result.size, description=done)
        # A scan that only reports reads; one that records is a unit of work.
        with database.write() if record else database.read() as session:
            views = _named(session, match_views(session, result.matches))
            if record:
                scan_row = create_scan(session, Actor.cli(), path.name)
                close_scan(session, intake, Actor.cli(), scan_row, result)
        incomplete |= not result.complete
        if as_json:
            print_json(_as_json(path, result, views))
        else:
            _print_text(path, result, views, record)
    if incomplete:
        raise typer.Exit(1)


def _reporter(bar: Ticker, name: str) -> Callable[[ScanProgress], None]:
    def report(p: ScanProgress) -> None:
        bar.update(completed=p.bytes_read, description=_so_far(name, p.rows, p.matches))

    return report


def _so_far(name: str, rows: int, matches: int) -> str:
    return f"{name}: {rows:,} rows, {matches} matches"


def _named(session: Session, matches: list[ScanMatch]) -> list[dict[str, Any]]:
    """The matches as --json prints them, with the waybill and the link's name beside the ids."""
    numbers = waybills(session, {m.canary_id for m in matches})
    names = link_names(session, {m.link_id for m in matches if m.link_id is not None})
    return [
        {
            **m.model_dump(mode="json"),
            "waybill_no": numbers.get(m.canary_id),
            "link_name": None if m.link_id is None else names.get(m.link_id),
        }
        for m in matches
    ]


def _as_json(path: Path, result: ScanResult, views: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "file": str(path),
        "sha256": result.sha256,
        "size": result.size,
        "rows": result.report.rows,
        "complete": result.complete,
        "error": result.error,
        "skipped": dict(result.report.skipped),
        "encodings": dict(result.report.encodings),
        "seconds": round(result.seconds, 3),
        "matches": views,
    }


def _print_text(path: Path, result: ScanResult, views: list[dict[str, Any]], record: bool) -> None:
    typer.echo(
        f"{path}: sha256 {result.sha256}, {result.size:,} bytes, {result.report.rows:,} rows, "
        f"{len(views)} matches in {result.seconds:.1f} s"
    )
    for reason, count in sorted(result.report.skipped.items()):
        typer.echo(f"  skipped {count:,}: {reason}")
    for view in views:
        fields = ", ".join(
            f"{k} {v['level']} {v['weight']:+.1f}" for k, v in view["fields"].items()
        )
        where = f"{view['member']} row {view['row']}" if view["member"] else f"row {view['row']}"
        control = " (CONTROL canary: noise or a leak inside honeytrace)" if view["control"] else ""
        link = view["link_name"] or "an unknown link"
        typer.echo(
            f"  {where}: waybill {view['waybill_no']} of link {link}, "
            f"score {view['score']:.1f} bits ({fields}){control}"
        )
    if record and views:
        typer.echo(f"  recorded as sightings (source dump, evidence sha256 {result.sha256})")
    if result.error is not None:
        typer.echo(f"error: {path}: {result.error} (read {result.report.rows:,} rows)", err=True)
