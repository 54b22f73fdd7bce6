"""`honeytrace mint` and `honeytrace canaries ...`."""

import csv
import json
import sys
import uuid
from typing import Annotated, Literal

import typer

from app.auth.actor import Actor
from app.console import JsonFlag, fail, load_settings, print_json, ready_engine
from app.db import session_scope, utcnow
from app.planting.models import PlantChannel
from app.planting.rotation import rotate
from app.planting.schemas import CANARY_FIELDS, CanaryRead
from app.planting.service import mint_canaries
from app.problems import DomainError

canaries_cli = typer.Typer(help="Canaries: rotation and the realism audit.")


def mint(
    link: Annotated[uuid.UUID, typer.Option(help="The link to mint for and plant at.")],
    count: Annotated[int, typer.Option(min=1, max=100_000, help="How many canaries.")],
    output_format: Annotated[
        Literal["jsonl", "csv"], typer.Option("--format", help="jsonl: one JSON object a line.")
    ] = "jsonl",
    as_json: JsonFlag = False,
) -> None:
    """Mint canaries for a link and plant them there (channel `cli`); print them.

    `--json` prints one JSON array instead of JSON lines."""
    engine = ready_engine(load_settings())
    try:
        with session_scope(engine) as session:
            result = mint_canaries(session, Actor.cli(), link, count, PlantChannel.CLI)
            records = [CanaryRead.of(c).model_dump(mode="json") for c in result.planted]
    except DomainError as error:
        raise fail(error) from None
    if as_json:
        print_json(records)
        return
    if output_format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=CANARY_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return
    for record in records:
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


@canaries_cli.command("rotate")
def rotate_command(as_json: JsonFlag = False) -> None:
    """Expire stale hand-outs and give quiet links fresh canaries."""
    engine = ready_engine(load_settings())
    with session_scope(engine) as session:
        report = rotate(session, Actor.cli(), utcnow())
    if as_json:
        print_json(report.__dict__)
    else:
        typer.echo(
            f"expired {report.expired_pending} pending and {report.expired_ready} ready; "
            f"{report.minted} fresh canaries for {report.links_refreshed} links"
        )
