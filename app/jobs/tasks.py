"""Every job honeytrace runs: register one here with `@jobs.job(...)`.

This is the top of the app: the registry names jobs that live in every domain, and code
below defers them by name (`runtime.jobs.defer(session, "site_poll", site_id=...)`), so no
domain imports it. Each job opens its own units of work and calls a plain function that the
tests and the CLI run too. Arguments are keyword-only JSON values (ids as strings).
"""

import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

from app.alerts.delivery import deliver, sweep_deliveries
from app.auth.actor import Actor
from app.incidents.refresh import REFRESH_DELAY_SECONDS, pending_refreshes, refresh_incident
from app.jobs.runtime import Runtime
from app.models.canaries import PlantChannel
from app.planting.mint_jobs import run_mint_job
from app.planting.rotation import rotate
from app.queueing.jobs import JobRegistry
from app.queueing.postgres import retry_stalled_jobs
from app.scans.service import run_scan_job
from app.settings import Settings
from app.sites.service import due_sites, poll_site
from app.telephony.reconcile import reconcile_job

log = logging.getLogger("honeytrace.jobs")

jobs = JobRegistry[Runtime]()

ActorJson = dict[str, str | None]


@jobs.job(lock="rotation", queueing_lock="rotation", every=lambda s: s.rotation_interval_seconds)
def rotation(runtime: Runtime, *, timestamp: int) -> None:
    """Expire stale hand-outs, give quiet links fresh canaries and owed replacements
    (app.planting.rotation), as of the tick."""
    with runtime.database.write() as session:
        report = rotate(session, Actor.scheduler(), datetime.fromtimestamp(timestamp, UTC))
    log.info("rotation", extra={"job": "rotation", **report.__dict__})


@jobs.job(lock="site:{site_id}", queueing_lock="site:{site_id}")
def site_poll(runtime: Runtime, *, site_id: str) -> None:
    """Crawl one trading site and match what is new (app.sites.service.poll_site); one
    worker at a time per site."""
    summary = runtime.crawls.run(
        lambda crawler: poll_site(runtime.intake, crawler, uuid.UUID(site_id))
    )
    log.info("site poll", extra={"job": "site_poll", **summary.model_dump(mode="json")})


@jobs.job(
    lock="sites_due",
    queueing_lock="sites_due",
    every=lambda s: s.site_check_interval_seconds,
)
def sites_due(runtime: Runtime, *, timestamp: int) -> None:
    """Defer a poll of every enabled site whose interval has passed since its last poll."""
    # A plain read first: a tick with nothing due takes no write lock (SQLite has one).
    with runtime.database.read() as session:
        due = due_sites(session, datetime.fromtimestamp(timestamp, UTC))
    if not due:
        return
    with runtime.database.write() as session:
        for site_id in due:
            runtime.jobs.defer(session, "site_poll", site_id=str(site_id))


def _twilio_reconcile_every(settings: Settings) -> int:
    configured = settings.twilio_account_sid and settings.twilio_auth_token.get_secret_value()
    return settings.twilio_reconcile_interval_seconds if configured else 0


@jobs.job(lock="twilio", queueing_lock="twilio", every=_twilio_reconcile_every)
def twilio_reconcile(runtime: Runtime, *, timestamp: int) -> None:
    """List the last day of calls and messages to Twilio pool numbers and record what a
    webhook missed (app.telephony.reconcile); runs only when Twilio is configured."""
    reconcile_job(runtime.intake, runtime.settings)


# A scan records its own failure on the scan and deletes its file: a retry would find
# neither. On workers the spooled file must be where they can read it (a shared
# HONEYTRACE_SCAN_SPOOL_DIR).
@jobs.job(retry=None)
def scan(runtime: Runtime, *, scan_id: str, path: str, actor: ActorJson) -> None:
    """Scan an uploaded leaked file for canaries (app.scans.service.run_scan_job)."""
    run_scan_job(
        runtime.intake,
        Actor.from_json(actor),
        uuid.UUID(scan_id),
        Path(path),
        stop=runtime.stop,
    )


# A mint records its own failure on its row and keeps what it stored: a retry would find
# the job no longer queued and do nothing, so there is none.
@jobs.job(retry=None)
def mint(runtime: Runtime, *, mint_id: str, actor: ActorJson) -> None:
    """Mint, store and plant a big mint's canaries a chunk at a time
    (app.planting.mint_jobs.run_mint_job)."""
    run_mint_job(
        runtime.database,
        Actor.from_json(actor),
        uuid.UUID(mint_id),
        PlantChannel.API,
        stop=runtime.stop,
        index=runtime.intake.index,
    )


@jobs.job(lock="alert:{delivery_id}", queueing_lock="alert:{delivery_id}")
def deliver_alert(runtime: Runtime, *, delivery_id: str) -> None:
    """POST one alert (app.alerts.delivery.deliver); a 5xx, a timeout or a refused
    connection raises, to be retried with the backoff."""
    deliver(runtime.database, runtime.settings, uuid.UUID(delivery_id))


@jobs.job(
    lock="alert_sweep",
    queueing_lock="alert_sweep",
    every=lambda s: s.alert_sweep_interval_seconds,
)
def alert_sweep(runtime: Runtime, *, timestamp: int) -> None:
    """Queue the pending alerts no job has taken up (app.alerts.delivery.sweep_deliveries)."""
    sweep_deliveries(runtime.database, runtime.jobs, datetime.fromtimestamp(timestamp, UTC))


@jobs.job(
    lock="incident:{incident_id}",
    queueing_lock="incident:{incident_id}",
    delay=REFRESH_DELAY_SECONDS,
)
def incident_refresh(runtime: Runtime, *, incident_id: str) -> None:
    """Recompute one incident's attribution after new sightings and raise its alerts
    (app.incidents.refresh.refresh_incident); one at a time per incident, a moment after
    the sighting that asked for it, so that a burst of sightings (a campaign of messages,
    a run of reports) is weighed once, not once each over ever more sightings."""
    refresh_incident(runtime.database, uuid.UUID(incident_id), runtime.settings.zone, runtime.jobs)


@jobs.job(
    lock="incident_sweep",
    queueing_lock="incident_sweep",
    every=lambda s: s.incident_sweep_interval_seconds,
)
def incident_sweep(runtime: Runtime, *, timestamp: int) -> None:
    """Defer a refresh of every incident whose attribution is behind its sightings (one
    whose job was lost when a SQLite `serve` stopped, or stored by a process without jobs)."""
    with runtime.database.read() as session:
        pending = pending_refreshes(session)
    if not pending:
        return
    with runtime.database.write() as session:
        for incident_id in pending:
            runtime.jobs.defer(session, "incident_refresh", incident_id=str(incident_id))


def _stalled_jobs_every(settings: Settings) -> int:
    # On SQLite the jobs live in the `serve` process and end with it: none is left running
    # in a table, and the sweeps above pick up what they were doing.
    return 0 if settings.is_sqlite else settings.stalled_job_check_interval_seconds


# No lock: a worker killed while running this would hold it, and nothing would free it.
@jobs.job(retry=None, queueing_lock="stalled_jobs", every=_stalled_jobs_every)
def stalled_jobs(runtime: Runtime, *, timestamp: int) -> None:
    """Put back in the queue the jobs of workers that died under them (SIGKILL, out of
    memory, a lost host), which would otherwise hold their locks for ever
    (app.queueing.postgres.retry_stalled_jobs)."""
    done = retry_stalled_jobs(runtime.settings.database_url)
    if done.retried or done.superseded or done.given_up:
        log.warning("stalled jobs", extra={"job": "stalled_jobs", **done.__dict__})
