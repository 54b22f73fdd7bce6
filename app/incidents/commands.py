"""`honeytrace incidents ...`: the incidents as the API shows them to an admin."""

from typing import Annotated

import typer

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
from app.identifiers import UnidentifiedError, link_names, resolve_incident, short_id, waybills
from app.incidents import service
from app.incidents.schemas import IncidentRead, IncidentSummary
from app.localtime import shown
from app.models.incidents import IncidentStatus
from app.problems import DomainError

incidents_cli = typer.Typer(help="Incidents: sightings grouped by leak, with their attribution.")


@incidents_cli.command("list")
def list_incidents(
    status: Annotated[IncidentStatus | None, typer.Option(help="open or closed")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Incidents, the most recently seen first."""
    settings = load_settings()
    database = ready_database(settings)
    with database.read() as session:
        items, _ = service.list_incidents(session, Actor.cli(), status=status, limit=limit)
        summaries = [IncidentSummary.of(i) for i in items]
        names = link_names(session, {i.top_link_id for i in summaries if i.top_link_id})
    if as_json:
        print_json([i.model_dump(mode="json") for i in summaries])
        return
    rows = []
    for i in summaries:
        top = "-"
        if i.top_link_id is not None and i.top_probability is not None:
            top = f"{names.get(i.top_link_id, short_id(i.top_link_id))} ({i.top_probability:.0%})"
        rows.append(
            [
                short_id(i.id),
                str(i.status),
                shown(i.last_seen_at, settings.zone),
                str(i.sighting_count),
                top,
                i.title,
            ]
        )
    print_table(["ID", "STATUS", "LAST SEEN", "SIGHTINGS", "MOST LIKELY LEAKER", "TITLE"], rows)


@incidents_cli.command("show")
def show(
    incident: Annotated[str, typer.Argument(help="The incident's id or short id.")],
    as_json: JsonFlag = False,
) -> None:
    """One incident: its candidates, explanation and sightings."""
    settings = load_settings()
    database = ready_database(settings)
    try:
        with database.read() as session:
            actor = Actor.cli()
            incident_id = resolve_incident(session, incident)
            read = IncidentRead.build(
                session, actor, service.get_incident(session, actor, incident_id)
            )
            numbers = waybills(
                session, {s.canary_id for s in read.sightings if s.canary_id is not None}
            )
    except UnidentifiedError as error:
        raise refuse(str(error)) from None
    except DomainError as error:
        raise fail(error) from None
    if as_json:
        print_json(read.model_dump(mode="json"))
        return
    typer.echo(f"{read.id}  {read.status}  {read.title}")
    typer.echo(
        f"seen {shown(read.first_seen_at, settings.zone)} .. "
        f"{shown(read.last_seen_at, settings.zone)}, {read.sighting_count} sightings"
    )
    if read.explanation is not None:
        typer.echo(read.explanation.zh)
        typer.echo(read.explanation.en)
    for rank, candidate in enumerate(read.candidates, start=1):
        typer.echo(
            f"  {rank}. {candidate.link_name} ({candidate.link_kind})  "
            f"p={candidate.probability:.3f}  {short_id(candidate.link_id)}"
        )
    for s in read.sightings:
        evidence = s.evidence_sha256 or "-"
        waybill = "-" if s.canary_id is None else numbers.get(s.canary_id, str(s.canary_id))
        typer.echo(
            f"  {shown(s.observed_at, settings.zone)}  {s.source}  waybill {waybill}  "
            f"score {'none (no content)' if s.score is None else s.score}  evidence {evidence}"
        )
