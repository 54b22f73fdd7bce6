"""`honeytrace demo`: the story of a leak, from planting to the name of the leaker."""

import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from app.demo.story import LEAKER, DemoResult, demo_service, run_story
from app.localtime import shown


def demo(
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            file_okay=False,
            help="Where the demo's SQLite file and evidence go (a new temporary directory).",
        ),
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to serve the demo on.")] = None,
    exit_after: Annotated[
        bool, typer.Option("--exit", help="Stop when the story is told instead of serving on.")
    ] = False,
) -> None:
    """Plant canaries in a small courier, stage a leak at one outlet (a trading site on
    loopback, a scam SMS, a brushing order), run the watchers and name the leaker."""
    workdir = directory or Path(tempfile.mkdtemp(prefix="honeytrace-demo-"))
    typer.echo(f"honeytrace demo in {workdir}")
    with demo_service(workdir, port) as (settings, database, base):
        result = run_story(settings, database, base, say=typer.echo)
        show_attribution(result, settings.zone)
        if exit_after:
            return
        typer.echo("Serving until Ctrl-C.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return


def show_attribution(result: DemoResult, zone: ZoneInfo) -> None:
    typer.echo("")
    typer.echo("6. 归因结果 (attribution):")
    for incident in result.incidents:
        _show_incident(incident, result.base_url, zone)
    typer.echo("")
    typer.echo(f"The leak was staged at {LEAKER} ({result.leaker_id}).")
    typer.echo(f"API docs: {result.base_url}/docs")
    typer.echo(f"Investigator pages: {result.base_url}/ (sign in with the investigator key)")
    typer.echo(f"Investigator key (demo only, shown once): {result.investigator_key}")


def _show_incident(incident: dict[str, Any], base_url: str, zone: ZoneInfo) -> None:
    sightings = incident.get("sightings", [])
    sources = sorted({s["source"] for s in sightings})
    typer.echo(
        f"  事件 incident {incident['id']}: {len(sightings)} sightings ({', '.join(sources)})"
    )
    for rank, candidate in enumerate(incident.get("candidates", [])[:3], start=1):
        kind = candidate["link_kind"]
        typer.echo(
            f"    {rank}. {candidate['link_name']} ({kind})  p={candidate['probability']:.3f}"
        )
        if rank == 1:
            typer.echo(f"       {candidate['explanation']['zh']}")
            typer.echo(f"       {candidate['explanation']['en']}")
    if incident.get("window_start") and incident.get("window_end"):
        typer.echo(
            f"    泄露时间窗 leak window: {_shown(incident['window_start'], zone)} .. "
            f"{_shown(incident['window_end'], zone)}"
        )
    for digest in sorted({s["evidence_sha256"] or "" for s in sightings}):
        typer.echo(f"    证据 evidence sha256: {digest or '(only the leaked file hash, rule 5)'}")
    typer.echo(f"    页面 page: {base_url}/incidents/{incident['id']}")


def _shown(iso: str, zone: ZoneInfo) -> str:
    return shown(datetime.fromisoformat(iso), zone)
