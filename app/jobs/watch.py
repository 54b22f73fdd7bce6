"""`honeytrace watch run [--once]`: the watchers from the command line, without a server.

The same functions the jobs run: every trading site due a poll is crawled, and Twilio is
reconciled when it is configured. Useful on a laptop, from cron, or to try a watcher.
"""

import dataclasses
import time
import uuid
from typing import Annotated

import typer

from app.console import JsonFlag, load_settings, print_json, progress, ready_database
from app.db import utcnow
from app.intake.pipeline import Intake
from app.localtime import shown
from app.sites.commands import show_summary
from app.sites.crawling import CrawlLoop
from app.sites.schemas import PollSummary
from app.sites.service import due_sites, list_sites, poll_site
from app.telephony.reconcile import reconcile_job

watch_cli = typer.Typer(help="Run the watchers from the command line.")


def _poll(crawls: CrawlLoop, intake: Intake, site_id: uuid.UUID) -> PollSummary:
    return crawls.run(lambda crawler: poll_site(intake, crawler, site_id))


@watch_cli.command("run")
def run(
    once: Annotated[
        bool, typer.Option("--once", help="One round (every due site, Twilio), then exit.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Poll the trading sites as they fall due and reconcile Twilio, until Ctrl-C."""
    settings = load_settings()
    database = ready_database(settings)
    intake = Intake.standalone(database, settings)
    crawls = CrawlLoop(allow_private=settings.fetch_private_addresses)
    twilio = bool(settings.twilio_account_sid and settings.twilio_auth_token.get_secret_value())
    try:
        while True:
            with database.read() as session:
                now = utcnow()
                due = due_sites(session, now)
                names = {site.id: site.name for site in list_sites(session)}
            if not as_json:
                twilio_said = "reconciling Twilio" if twilio else "Twilio not configured"
                typer.echo(
                    f"{shown(now, settings.zone, seconds=True)}: {len(due)} of {len(names)} sites "
                    f"due a poll; {twilio_said}"
                )
            with progress("polling sites", len(due)) as bar:
                for site_id in due:
                    show_summary(_poll(crawls, intake, site_id), as_json, names.get(site_id))
                    bar.advance()
            if twilio:
                report = reconcile_job(intake, settings)
                if as_json:
                    print_json({"twilio": dataclasses.asdict(report)})
                else:
                    typer.echo(
                        f"twilio: {report.numbers_checked} numbers, {report.contacts_added} new "
                        f"contacts, {report.sightings_added} sightings, "
                        f"{len(report.errors)} errors"
                    )
            if once:
                return
            time.sleep(max(1, settings.site_check_interval_seconds))
    except KeyboardInterrupt:
        return
    finally:
        crawls.close()
        database.engine.dispose()
