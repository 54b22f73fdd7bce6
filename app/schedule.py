"""The in-process scheduler of the embedded default: periodic jobs inside `honeytrace serve`.

Each job is a plain function over a session (the same one the CLI runs); a failing run is
logged and retried at the next tick, never fatal to the server.
"""

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.auth.actor import Actor
from app.db import session_scope, utcnow
from app.planting.rotation import rotate

log = logging.getLogger("honeytrace.jobs")


def rotation_job(session: Session) -> None:
    report = rotate(session, Actor.scheduler(), utcnow())
    log.info("rotation", extra={"job": "rotation", **report.__dict__})


async def run_periodically(
    engine: Engine, job: Callable[[Session], None], every_seconds: float
) -> None:
    while True:
        await asyncio.sleep(every_seconds)
        try:
            await run_in_threadpool(_run_once, engine, job)
        except Exception:
            log.exception("job failed", extra={"job": job.__name__})


def _run_once(engine: Engine, job: Callable[[Session], None]) -> None:
    with session_scope(engine) as session:
        job(session)
