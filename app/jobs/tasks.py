"""Every job honeytrace runs: register one here with `@jobs.job(...)`.

Each opens its own unit of work and calls a plain function that the tests and the CLI run
too. Arguments are keyword-only JSON values (ids as strings).
"""

import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

from app.auth.actor import Actor
from app.auth.models import Role
from app.db import session_scope
from app.jobs.registry import JobRegistry, Runtime
from app.planting.rotation import rotate
from app.sightings.service import run_scan_job

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
    )


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
