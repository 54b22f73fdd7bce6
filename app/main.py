"""The FastAPI application: built by create_app, resources made in the lifespan."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from app.alerts.routes import router as alerts_router
from app.audit.routes import router as audit_router
from app.auth.routes import router as keys_router
from app.db import make_engine
from app.incidents.routes import router as incidents_router
from app.jobs.lifespan import serve_jobs
from app.jobs.tasks import refresh_in_jobs
from app.links.routes import IMPORT_PATH
from app.links.routes import router as links_router
from app.ops.middleware import HttpMetrics, RequestMiddleware
from app.ops.routes import router as ops_router
from app.planting.routes import router as planting_router
from app.problems import install_problem_handlers
from app.ratelimit import RateLimiter
from app.screening.routes import MAX_SCREEN_BYTES, SCREEN_PATH
from app.screening.routes import router as screening_router
from app.settings import Settings, get_settings
from app.sightings.index import IndexHolder
from app.sightings.reports import FILES_PATH
from app.sightings.reports import router as sightings_router
from app.sightings.routes import SCANS_PATH
from app.sightings.routes import router as scans_router
from app.sites.crawling import CrawlLoop
from app.sites.routes import router as sites_router
from app.telephony.providers import router as telephony_router
from app.telephony.routes import router as numbers_router
from app.telephony.webhooks import router as twilio_router
from app.web.routes import install_web

INTERLEAVE_PATH = re.compile(r"^/v1/links/[^/]+/feed/interleave$")
ROUTERS = (
    ops_router,
    links_router,
    planting_router,
    keys_router,
    audit_router,
    scans_router,
    sightings_router,
    screening_router,
    numbers_router,
    twilio_router,
    telephony_router,
    sites_router,
    alerts_router,
    incidents_router,
)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """An app on `engine` (made from the settings in the lifespan when not given)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        app.state.engine = engine if engine is not None else make_engine(settings.database_url)
        # One HTTP client per process for the site watcher, shared by requests and jobs.
        app.state.crawls = crawls = CrawlLoop(allow_private=settings.fetch_private_addresses)
        try:
            async with serve_jobs(
                settings, app.state.engine, app.state.index_holder, crawls
            ) as jobs:
                app.state.jobs = jobs
                app.state.refresh_later = refresh_in_jobs(jobs)
                yield
        finally:
            await run_in_threadpool(crawls.close)
            if owned:
                app.state.engine.dispose()

    app = FastAPI(
        title="honeytrace",
        version="0.1.0",
        summary="Canary waybills that name the link that leaked them.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics_registry = registry = CollectorRegistry()
    # One canary index per process, shared by every scan it runs.
    app.state.index_holder = IndexHolder()
    app.state.rate_limiter = RateLimiter(settings.requests_per_second)
    if engine is not None:
        app.state.engine = engine
    install_problem_handlers(app)
    app.add_middleware(
        RequestMiddleware,
        metrics=HttpMetrics(registry),
        max_body_bytes=settings.max_body_bytes,
        upload_limits={
            IMPORT_PATH: settings.max_upload_bytes,
            SCANS_PATH: settings.max_scan_bytes,
            FILES_PATH: settings.max_upload_bytes,
            SCREEN_PATH: MAX_SCREEN_BYTES,
        },
        streaming_path=INTERLEAVE_PATH,
    )
    for router in ROUTERS:
        app.include_router(router)
    # The investigator pages answer to a session cookie, not a key: outside ROUTERS and the schema.
    install_web(app)
    return app
