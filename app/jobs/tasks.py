"""Every job honeytrace runs: register one here with `@jobs.job(...)`.

Each opens its own unit of work and calls a plain function that the tests and the CLI run
too. Arguments are keyword-only JSON values (ids as strings).
"""

import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session

from app.alerts.delivery import deliver, sweep_deliveries
from app.auth.actor import Actor
from app.db import session_scope
from app.evidence.store import EvidenceStore
from app.incidents.refresh import RefreshLater, pending_refreshes, refresh_incident
from app.jobs.registry import JobQueue, JobRegistry, Runtime
from app.models.keys import Role
from app.planting.rotation import rotate
from app.settings import Settings
from app.sightings.service import run_scan_job
from app.sites.service import due_sites, poll_site
from app.telephony.reconcile import reconcile_job

log = logging.getLogger("honeytrace.jobs")

jobs = JobRegistry()

ActorJson = dict[str, str | None]


@jobs.job(lock="rotation", queueing_lock="rotation", every=lambda s: s.rotation_interval_seconds)
def rotation(runtime: Runtime, *, timestamp: int) -> None:
    """Expire stale hand-outs and give quiet links fresh canaries (app.planting.rotation),
    as of the tick."""
    with session_scope(runtime.engine) as session:
        report = rotate(session, Actor.scheduler(), datetime.fromtimestamp(timestamp, UTC))
    log.info("rotation", extra={"job": "rotation", **report.__dict__})


@jobs.job(lock="site:{site_id}", queueing_lock="site:{site_id}")
def site_poll(runtime: Runtime, *, site_id: str) -> None:
    """Crawl one trading site and match what is new (app.sites.service.poll_site); one
    worker at a time per site."""
    store = EvidenceStore(runtime.settings.evidence_path)
    summary = runtime.crawls.run(
        lambda crawler: poll_site(
            runtime.engine,
            runtime.index_holder,
            store,
            crawler,
            uuid.UUID(site_id),
            refresh=refresh_in_jobs(runtime.jobs),
        )
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
    with Session(runtime.engine) as session:
        due = due_sites(session, datetime.fromtimestamp(timestamp, UTC))
    if not due:
        return
    with session_scope(runtime.engine) as session:
        for site_id in due:
            runtime.jobs.defer(session, site_poll, site_id=str(site_id))


def _twilio_reconcile_every(settings: Settings) -> int:
    configured = settings.twilio_account_sid and settings.twilio_auth_token.get_secret_value()
    return settings.twilio_reconcile_interval_seconds if configured else 0


@jobs.job(lock="twilio", queueing_lock="twilio", every=_twilio_reconcile_every)
def twilio_reconcile(runtime: Runtime, *, timestamp: int) -> None:
    """List the last day of calls and messages to Twilio pool numbers and record what a
    webhook missed (app.telephony.reconcile); runs only when Twilio is configured."""
    reconcile_job(
        runtime.engine,
        runtime.index_holder,
        runtime.settings,
        refresh=refresh_in_jobs(runtime.jobs),
    )


# A scan records its own failure on the scan and deletes its file: a retry would find
# neither. On workers the spooled file must be where they can read it (a shared
# HONEYTRACE_SCAN_SPOOL_DIR).
@jobs.job(retry=None)
def scan(runtime: Runtime, *, scan_id: str, path: str, actor: ActorJson) -> None:
    """Scan an uploaded leaked file for canaries (app.sightings.service.run_scan_job)."""
    run_scan_job(
        runtime.engine,
        runtime.index_holder,
        actor_from_json(actor),
        uuid.UUID(scan_id),
        Path(path),
        stop=runtime.stop,
        refresh=refresh_in_jobs(runtime.jobs),
    )


@jobs.job(lock="alert:{delivery_id}", queueing_lock="alert:{delivery_id}")
def deliver_alert(runtime: Runtime, *, delivery_id: str) -> None:
    """POST one alert (app.alerts.delivery.deliver); a 5xx, a timeout or a refused
    connection raises, to be retried with the backoff."""
    deliver(runtime.engine, runtime.settings, uuid.UUID(delivery_id))


@jobs.job(
    lock="alert_sweep",
    queueing_lock="alert_sweep",
    every=lambda s: s.alert_sweep_interval_seconds,
)
def alert_sweep(runtime: Runtime, *, timestamp: int) -> None:
    """Queue the pending alerts no job has taken up (app.alerts.delivery.sweep_deliveries)."""
    sweep_deliveries(
        runtime.engine,
        lambda session, delivery_id: runtime.jobs.defer(
            session, deliver_alert, delivery_id=str(delivery_id)
        ),
        datetime.fromtimestamp(timestamp, UTC),
    )


@jobs.job(lock="incident:{incident_id}", queueing_lock="incident:{incident_id}")
def incident_refresh(runtime: Runtime, *, incident_id: str) -> None:
    """Recompute one incident's attribution after new sightings and raise its alerts
    (app.incidents.refresh.refresh_incident); one at a time per incident."""
    refresh_incident(runtime.engine, uuid.UUID(incident_id), runtime.jobs)


@jobs.job(
    lock="incident_sweep",
    queueing_lock="incident_sweep",
    every=lambda s: s.incident_sweep_interval_seconds,
)
def incident_sweep(runtime: Runtime, *, timestamp: int) -> None:
    """Defer a refresh of every incident whose attribution is behind its sightings (one
    whose job was lost when a SQLite `serve` stopped, or stored by a process without jobs)."""
    with Session(runtime.engine) as session:
        pending = pending_refreshes(session)
    if not pending:
        return
    defer = refresh_in_jobs(runtime.jobs)
    with session_scope(runtime.engine) as session:
        for incident_id in pending:
            defer(session, incident_id)


def refresh_in_jobs(jobs: JobQueue) -> RefreshLater:
    """How a session hands the incidents its sightings touch to `incident_refresh` jobs
    (app.incidents.refresh.refresh_later)."""

    def defer(session: Session, incident_id: uuid.UUID) -> None:
        jobs.defer(session, incident_refresh, incident_id=str(incident_id))

    return defer


def actor_json(actor: Actor) -> ActorJson:
    """An actor as a job argument: whoever started the job is who it acts as."""
    return {
        "key_id": None if actor.key_id is None else str(actor.key_id),
        "name": actor.name,
        "role": actor.role.value,
        "scope_link_id": None if actor.scope_link_id is None else str(actor.scope_link_id),
    }


def actor_from_json(value: ActorJson) -> Actor:
    key_id, name, role, scope = (value[k] for k in ("key_id", "name", "role", "scope_link_id"))
    if name is None or role is None:
        raise ValueError("a job's actor needs a name and a role")
    return Actor(
        None if key_id is None else uuid.UUID(key_id),
        name,
        Role(role),
        None if scope is None else uuid.UUID(scope),
    )
