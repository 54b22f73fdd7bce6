"""Big mints as jobs: accepted at once, minted and stored a chunk at a time, polled for
progress and then for the canaries they made.

A request that mints thousands of canaries would hold its connection for as many seconds
and, stored in one unit of work, SQLite's write lock too. A job stores each chunk in its own
short unit of work (its canaries, plants, evidence entries and audit entry, and the job's
progress), so other writers take their turns between chunks; the caller polls
`GET /v1/mints/{id}` and pages through `GET /v1/mints/{id}/canaries`.
"""

import dataclasses
import logging
import threading
import uuid

from sqlmodel import Session, col, func, select

from app.auth.actor import Actor
from app.auth.keys import reauthorise
from app.auth.permissions import Permission
from app.canary_index import LiveIndex
from app.db import Database, utcnow
from app.models.canaries import Canary, MintJob, MintJobStatus, PlantChannel
from app.planting.service import MintPlan, mintable_link, plan_mint, store_minted
from app.problems import DomainError, NotFoundError
from app.progress_jobs import ProgressJobs

log = logging.getLogger("honeytrace.mints")

# Up to this many canaries a request mints them itself (201); more go through a job (202).
SYNCHRONOUS_MINT_MAX = 1_000
MINT_MAX = 100_000
# Canaries stored per unit of work: a few hundred ms of SQLite's write lock (and of the
# evidence log's lock on PostgreSQL), which every other writer waits for.
CHUNK = 1_000
INTERRUPTED = "interrupted: the service stopped before the mint finished; mint the rest again"
MINT_JOBS = ProgressJobs(MintJob, INTERRUPTED)


class MintInterruptedError(Exception):
    """The service is shutting down: the mint ends as interrupted."""


def create_mint_job(session: Session, actor: Actor, link_id: uuid.UUID, count: int) -> MintJob:
    """The job's row, queued; refused now (not found, inactive link) as a mint would be."""
    link = mintable_link(session, actor, link_id)
    job = MintJob(
        link_id=link.id,
        count=count,
        status=MintJobStatus.QUEUED,
        actor=actor.name,
        minted_by=actor.key_id,
    )
    session.add(job)
    session.flush()
    return job


def run_mint_job(
    database: Database,
    actor: Actor,
    mint_id: uuid.UUID,
    channel: PlantChannel = PlantChannel.API,
    stop: threading.Event | None = None,
    index: LiveIndex | None = None,
) -> None:
    """Mint, store and plant the job's canaries a chunk at a time, recording progress with
    each chunk; a refusal (the actor's key revoked, the link gone inactive or out of the
    key's scope, its number pool used up) or a stop ends the job failed, saying why and
    keeping what was stored. `index`: the process's canary index, brought up to date (and
    its key table with it) before the job says `done`, so that no report's request derives
    the keys of up to 100,000 new canaries itself."""
    try:
        with database.write() as session:
            job = session.get(MintJob, mint_id)
            if job is None or job.status != MintJobStatus.QUEUED:
                return
            job.status = MintJobStatus.RUNNING
            job.started_at = job.updated_at = utcnow()
            link_id, count = job.link_id, job.count
        with database.read() as session:
            plan = plan_mint(session, actor, link_id, count)
        stored = 0
        while stored < count:
            if stop is not None and stop.is_set():
                raise MintInterruptedError
            size = min(CHUNK, count - stored)
            _mint_chunk(database, actor, plan, mint_id, stored, size, channel)
            stored += size
        if index is not None:
            with database.read() as session:
                index.refresh(session)
        with database.write() as session:
            job = session.get(MintJob, mint_id)
            if job is not None:
                job.status = MintJobStatus.DONE
                job.finished_at = job.updated_at = utcnow()
        log.info("mint finished", extra={"mint_id": str(mint_id), "count": count})
    except MintInterruptedError:
        _fail(database, mint_id, INTERRUPTED)
    except DomainError as refusal:
        _fail(database, mint_id, f"refused: {str(refusal)[:300]}", refused=True)
    except Exception as error:
        log.exception("mint failed", extra={"mint_id": str(mint_id)})
        _fail(database, mint_id, f"internal error ({type(error).__name__}); see the service log")


def _fail(database: Database, mint_id: uuid.UUID, reason: str, *, refused: bool = False) -> None:
    """End the job failed, saying why. A refusal says how many canaries were stored before
    it: they stay, as each chunk was allowed (key, scope, link) when it was stored."""
    with database.write() as session:
        job = session.get(MintJob, mint_id)
        if job is None:
            return
        if refused:
            reason += f" {job.minted:,} of {job.count:,} canaries were minted before; they stay."
            log.warning(
                "mint refused", extra={"mint_id": str(mint_id), "minted": job.minted, "why": reason}
            )
        job.status = MintJobStatus.FAILED
        job.error = reason
        job.finished_at = job.updated_at = utcnow()


def _mint_chunk(
    database: Database,
    actor: Actor,
    plan: MintPlan,
    mint_id: uuid.UUID,
    before: int,
    size: int,
    channel: PlantChannel,
) -> None:
    """Canaries `before` to `before + size` of the plan and their share of its controls
    (the shares add up to the plan's), stored with the job's progress in one unit."""
    controls = plan.controls * (before + size) // plan.count - plan.controls * before // plan.count
    chunk = dataclasses.replace(plan, count=size, controls=controls)
    # A number pool's free numbers are read and taken inside the unit that stores them.
    minted = None if chunk.pooled else chunk.records()
    with database.write() as session:
        # Still allowed now: the key not revoked, the link live and in the key's scope.
        acting = reauthorise(session, actor, Permission.CANARIES_MINT)
        mintable_link(session, acting, plan.link_id)
        if minted is None:
            fresh = plan_mint(session, acting, plan.link_id, size)
            chunk = dataclasses.replace(fresh, controls=controls)
            minted = chunk.records()
        result = store_minted(session, acting, chunk, minted, channel, mint_id=mint_id)
        job = session.get(MintJob, mint_id)
        if job is not None:
            job.minted += len(result.planted)
            job.controls += result.controls
            job.updated_at = utcnow()


def visible_mint_job(session: Session, actor: Actor, mint_id: uuid.UUID) -> MintJob:
    """The job, if the actor may see it: a partner sees only its own keys' jobs."""
    job = session.get(MintJob, mint_id)
    if job is None or (actor.scope_link_id is not None and job.minted_by != actor.key_id):
        raise NotFoundError(f"Mint {mint_id} not found.")
    return job


def mint_job_canaries(
    session: Session, actor: Actor, mint_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[Canary], int]:
    """The canaries the job stored so far (never its controls), oldest first."""
    visible_mint_job(session, actor, mint_id)
    query = select(Canary).where(Canary.mint_id == mint_id, col(Canary.control).is_(False))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = session.exec(
        query.order_by(col(Canary.minted_at), col(Canary.id)).limit(limit).offset(offset)
    ).all()
    return list(page), total
