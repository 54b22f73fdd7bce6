"""`honeytrace mint` and `honeytrace canaries ...`."""

import csv
import dataclasses
import json
import random
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

import typer

from app.auth.actor import Actor
from app.canary_index import LiveIndex, key_table_path
from app.console import (
    JsonFlag,
    fail,
    load_settings,
    print_json,
    progress,
    ready_database,
    refuse,
)
from app.csvsafe import UTF8_BOM, spreadsheet_safe
from app.db import utcnow
from app.identifiers import UnidentifiedError, resolve_link
from app.models.canaries import PlantChannel
from app.planting.feeds import columns_by_content
from app.planting.rotation import rotate
from app.planting.schemas import CANARY_FIELDS, CanaryRead
from app.planting.service import audit_sample, mint_apart
from app.problems import DomainError
from canaries.realism import (
    ADDRESS_AUC_GOAL,
    AUC_GOAL,
    BUYER_VISIBLE,
    AucReport,
    AuditSampleError,
    RealismStats,
    classifier_auc,
    realism_stats,
)
from canaries.reference import ReferenceRecord, ReferenceSampleError, read_reference

canaries_cli = typer.Typer(help="Canaries: rotation and the realism audit.")


def mint(
    link: Annotated[
        str,
        typer.Option(help="The link to mint for and plant at: its id, short id, ref or name."),
    ],
    count: Annotated[int, typer.Option(min=1, max=100_000, help="How many canaries.")],
    output_format: Annotated[
        Literal["jsonl", "csv"], typer.Option("--format", help="jsonl: one JSON object a line.")
    ] = "jsonl",
    as_json: JsonFlag = False,
) -> None:
    """Mint canaries for a link and plant them there (channel `cli`); print them.

    `--json` prints one JSON array instead of JSON lines; `--format csv` a table for Excel
    (UTF-8 with a byte-order mark)."""
    if as_json and output_format == "csv":
        raise typer.BadParameter(
            "prints JSON, so it cannot be combined with --format csv; give one of them",
            param_hint="'--json'",
        )
    settings = load_settings()
    database = ready_database(settings)
    try:
        with database.read() as session:
            link_id = resolve_link(session, link)
        with progress("minting", count) as bar:

            def minted(done: int, total: int) -> None:
                # The records are most of the time; storing them follows in one unit of work.
                storing = "storing and planting" if done == total else "minting"
                bar.update(completed=done, total=total, description=storing)

            result = mint_apart(
                database, Actor.cli(), link_id, count, PlantChannel.CLI, on_progress=minted
            )
            # The key table every scan and server on this machine starts from takes the new
            # canaries now, so the next scan does not derive their keys before it can start.
            bar.update(description="indexing")
            with database.read() as session:
                LiveIndex(key_table_path(settings)).refresh(session)
            bar.update(description="minted")
        records = [CanaryRead.of(c).model_dump(mode="json") for c in result.planted]
    except UnidentifiedError as error:
        raise refuse(str(error)) from None
    except DomainError as error:
        raise fail(error) from None
    if as_json:
        print_json(records)
        return
    if output_format == "csv":
        sys.stdout.write(UTF8_BOM)
        writer = csv.DictWriter(sys.stdout, fieldnames=CANARY_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: spreadsheet_safe(v) for k, v in r.items()} for r in records)
        return
    for record in records:
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


@canaries_cli.command("rotate")
def rotate_command(as_json: JsonFlag = False) -> None:
    """Expire stale hand-outs and give quiet links fresh canaries."""
    database = ready_database(load_settings())
    with database.write() as session:
        report = rotate(session, Actor.cli(), utcnow())
    if as_json:
        print_json(report.__dict__)
    else:
        typer.echo(
            f"expired {report.expired_pending} pending and {report.expired_ready} ready; "
            f"{report.minted} fresh canaries for {report.links_refreshed} links"
        )


@canaries_cli.command("audit")
def audit_command(
    reference: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="A CSV sample of real records: read once, never stored.",
        ),
    ] = None,
    link: Annotated[
        str | None, typer.Option(help="Only this link's canaries (id, short id, ref or name).")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=100, help="How many stored canaries to audit.")
    ] = 20_000,
    reference_limit: Annotated[
        int, typer.Option(min=100, help="How many reference rows to sample at most.")
    ] = 50_000,
    max_auc: Annotated[
        float,
        typer.Option(
            min=0.5, max=1.0, help="Fail when the AUC on all buyer-visible features is higher."
        ),
    ] = AUC_GOAL,
    max_address_auc: Annotated[
        float,
        typer.Option(min=0.5, max=1.0, help="Fail when the AUC on address tokens is higher."),
    ] = ADDRESS_AUC_GOAL,
    as_json: JsonFlag = False,
) -> None:
    """The figures a data buyer could use to filter canaries out, and with --reference the AUC
    of a classifier trained to tell canaries from real records, masked as the reference is.

    The reference is any real export (CSV, TSV or NDJSON, any encoding): columns are found
    by header or, where the header says nothing, by content. Exits 2 when the AUC on the
    buyer-visible features is over --max-auc (0.6) or on address tokens over
    --max-address-auc (0.55)."""
    database = ready_database(load_settings())
    with database.read() as session:
        try:
            link_id = None if link is None else resolve_link(session, link)
        except UnidentifiedError as error:
            raise refuse(str(error)) from None
        with progress("reading the canaries", None) as bar:
            sample = audit_sample(session, link_id, limit)
            bar.update(completed=len(sample), total=len(sample), description="read the canaries")
    if not sample:
        typer.echo("error: no canaries stored yet; mint some first", err=True)
        raise typer.Exit(1)
    steps = ["the figures"] + ([] if reference is None else ["the reference", "the classifier"])
    with progress(f"auditing {len(sample):,} canaries", len(steps)) as bar:
        bar.update(description=f"auditing: {steps[0]}")
        stats = realism_stats(sample)
        bar.advance()
        auc: AucReport | None = None
        if reference is not None:
            try:
                bar.update(description=f"auditing: {steps[1]}")
                columns = columns_by_content(reference)
                rows = _reservoir(read_reference(reference, columns), reference_limit)
                bar.advance()
                bar.update(description=f"auditing: {steps[2]}")
                auc = classifier_auc(sample, rows)
                bar.advance()
            except (ReferenceSampleError, AuditSampleError) as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(1) from None
        bar.update(description=f"audited {len(sample):,} canaries")
    failed = auc is not None and auc.over_goal(max_auc, max_address_auc)
    if as_json:
        print_json({**stats, "classifier": None if auc is None else dataclasses.asdict(auc)})
    else:
        for label, shown in _realism_lines(stats):
            typer.echo(f"{label:<34} {shown}")
        if auc is not None:
            _print_auc(auc, max_auc, max_address_auc)
    if failed:
        raise typer.Exit(2)


def _realism_lines(stats: RealismStats) -> list[tuple[str, str]]:
    """The figures as a person reads them: shares as percentages, the longest lists cut."""

    def share(value: float) -> str:
        return f"{value:.1%}"

    lengths = ", ".join(
        f"{n} characters {share(s)}" for n, s in stats["name_length_shares"].items()
    )
    surnames = ", ".join(f"{name} {share(s)}" for name, s in stats["surname_top10"])
    prefixes = list(stats["mobile_prefix_shares"].items())
    shown_prefixes = ", ".join(f"{p} {share(s)}" for p, s in prefixes[:10])
    if len(prefixes) > 10:
        shown_prefixes += f" and {len(prefixes) - 10} more"
    return [
        ("canaries audited", f"{stats['count']:,}"),
        ("name lengths", lengths or "-"),
        ("top surnames", surnames or "-"),
        ("top-5 surname share", share(stats["surname_top5_share"])),
        ("division consistency", share(stats["division_consistency_rate"])),
        ("mobiles checked", f"{stats['mobile_checked_count']:,}"),
        ("mobiles placed by the geocoder", f"{stats['mobile_placed_count']:,}"),
        ("mobile province agreement", share(stats["mobile_province_agreement_rate"])),
        ("mobile city agreement", share(stats["mobile_city_agreement_rate"])),
        ("mobile carrier agreement", share(stats["mobile_carrier_agreement_rate"])),
        ("mobile prefixes", shown_prefixes or "-"),
        ("waybill validity", share(stats["waybill_validity_rate"])),
        ("duplicate waybills", f"{stats['duplicate_waybills']:,}"),
        ("duplicate name+address", f"{stats['duplicate_name_addresses']:,}"),
        ("duplicate name+mobile", f"{stats['duplicate_name_mobiles']:,}"),
        ("control share", share(stats["control_share"])),
    ]


def _print_auc(auc: AucReport, max_auc: float, max_address_auc: float) -> None:
    visible = auc.group_aucs.get(BUYER_VISIBLE, auc.auc)
    verdict = "ok" if visible <= max_auc else "TOO EASY TO TELL APART"
    typer.echo(
        f"{'classifier_auc (buyer-visible)':<34} {visible:.3f} (goal <= {max_auc}: {verdict})"
    )
    address = auc.group_aucs.get("address_tokens")
    if address is not None:
        verdict = "ok" if address <= max_address_auc else "TOO EASY TO TELL APART"
        typer.echo(
            f"{'classifier_auc (address tokens)':<34} {address:.3f} "
            f"(goal <= {max_address_auc}: {verdict})"
        )
    typer.echo(f"{'classifier_auc (every field)':<34} {auc.auc:.3f}")
    for name, value in auc.group_aucs.items():
        if name != BUYER_VISIBLE:
            typer.echo(f"  group {name:<26} {value:.3f}")
    for name, value in list(auc.feature_aucs.items())[:8]:
        typer.echo(f"  {name:<32} {value:.3f}")


def _reservoir(records: Iterable[ReferenceRecord], size: int) -> list[ReferenceRecord]:
    """A uniform sample of a stream of any length (Algorithm R), so memory stays bounded."""
    rng = random.Random()  # noqa: S311 (sampling, not secrecy)
    kept: list[ReferenceRecord] = []
    for seen, record in enumerate(records):
        if seen < size:
            kept.append(record)
        elif (slot := rng.randrange(seen + 1)) < size:
            kept[slot] = record
    return kept
