"""`honeytrace incidents ...`: the incidents as the API shows them to an admin."""

import uuid
from typing import Annotated

import typer

from app.auth.actor import Actor
from app.console import JsonFlag, fail, load_settings, print_json, ready_database
from app.incidents import service
from app.incidents.schemas import IncidentRead, IncidentSummary
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
    database = ready_database(load_settings())
    with database.write() as session:
        items, _ = service.list_incidents(session, Actor.cli(), status=status, limit=limit)
        shown = [IncidentSummary.of(i) for i in items]
    if as_json:
        print_json([i.model_dump(mode="json") for i in shown])
        return
    for i in shown:
        top = "no link"
        if i.top_probability is not None:
            top = f"{i.top_link_id} p={i.top_probability:.3f}"
        typer.echo(
            f"{i.id}  {i.status}  {i.last_seen_at:%Y-%m-%d %H:%M}  "
            f"{i.sighting_count} sightings  {top}  {i.title}"
        )


@incidents_cli.command("show")
def show(
    incident_id: Annotated[uuid.UUID, typer.Argument(help="The incident's id.")],
    as_json: JsonFlag = False,
) -> None:
    """One incident: its candidates, explanation and sightings."""
    database = ready_database(load_settings())
    try:
        with database.write() as session:
            actor = Actor.cli()
            read = IncidentRead.build(
                session, actor, service.get_incident(session, actor, incident_id)
            )
    except DomainError as error:
        raise fail(error) from None
    if as_json:
        print_json(read.model_dump(mode="json"))
        return
    typer.echo(f"{read.id}  {read.status}  {read.title}")
    if read.explanation is not None:
        typer.echo(read.explanation.zh)
        typer.echo(read.explanation.en)
    for rank, candidate in enumerate(read.candidates, start=1):
        typer.echo(
            f"  {rank}. {candidate.link_name} ({candidate.link_kind})  "
            f"p={candidate.probability:.3f}  {candidate.link_id}"
        )
    for s in read.sightings:
        evidence = s.evidence_sha256 or "-"
        typer.echo(
            f"  {s.observed_at:%Y-%m-%d %H:%M}  {s.source}  canary {s.canary_id}  "
            f"score {'none (no content)' if s.score is None else s.score}  evidence {evidence}"
        )
