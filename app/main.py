"""The FastAPI application: built by create_app, its resources made in the lifespan."""

import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from app.alerts.routes import router as alerts_router
from app.audit.routes import router as audit_router
from app.canary_index import LiveIndex, key_table_path
from app.db import Database, make_engine
from app.evidence.store import EvidenceStore
from app.incidents.routes import router as incidents_router
from app.intake.pipeline import Intake
from app.jobs.lifespan import serve_jobs
from app.keys.routes import router as keys_router
from app.links.routes import IMPORT_PATH
from app.links.routes import router as links_router
from app.numbers.routes import router as numbers_router
from app.openapi import install_problem_openapi
from app.ops.middleware import HttpMetrics, RequestMiddleware
from app.ops.routes import router as ops_router
from app.planting.routes import STYLE_SAMPLE_BYTES, STYLE_SAMPLE_PATH
from app.planting.routes import router as planting_router
from app.problems import install_problem_handlers
from app.queueing.jobs import JobQueue, NoQueue
from app.ratelimit import RateLimiter
from app.reports.routes import FILES_PATH
from app.reports.routes import router as reports_router
from app.resources import install_resources
from app.scans.routes import SCANS_PATH
from app.scans.routes import router as scans_router
from app.screening.routes import MAX_SCREEN_BYTES, SCREEN_PATH
from app.screening.routes import router as screening_router
from app.settings import Settings, get_settings
from app.sightings.routes import router as sightings_router
from app.sites.crawling import CrawlLoop
from app.sites.routes import router as sites_router
from app.telephony.provider_webhooks import router as provider_router
from app.telephony.twilio_webhooks import router as twilio_router
from app.web.routes import install_web
from canaries.mint import load_tables

INTERLEAVE_PATH = re.compile(r"^/v1/links/[^/]+/feed/interleave$")
ROUTERS = (
    ops_router,
    links_router,
    planting_router,
    keys_router,
    audit_router,
    scans_router,
    reports_router,
    sightings_router,
    screening_router,
    numbers_router,
    twilio_router,
    provider_router,
    sites_router,
    alerts_router,
    incidents_router,
)


def create_app(
    settings: Settings | None = None, database: Database | None = None, *, jobs: bool = True
) -> FastAPI:
    """An app on `database` (made from the settings in the lifespan when not given).

    With `jobs` (as `honeytrace serve` runs) the app defers work to a job queue: in-process
    on SQLite, PostgreSQL's queue otherwise. Without, nothing is deferred: incidents are
    attributed in the unit of work that stores their sightings, alerts wait for a sweep,
    and routes that need a queue (scans) answer 503.
    """
    settings = settings or get_settings()
    # /docs and /redoc load Swagger UI and ReDoc from the package's own copies, not a CDN.
    app = FastAPIOffline(
        title="honeytrace",
        version="0.1.0",
        summary="Canary waybills that name the link that leaked them.",
    )
    resources = install_resources(app)
    resources.provide(Settings, settings)
    metrics = resources.provide(CollectorRegistry, CollectorRegistry())
    resources.provide(RateLimiter, RateLimiter(settings.requests_per_second))
    # One canary index per process, shared by every request and job it runs.
    index = resources.provide(LiveIndex, LiveIndex(key_table_path(settings)))
    evidence = resources.provide(EvidenceStore, EvidenceStore(settings.evidence_path))
    if database is not None:
        resources.provide(Database, database)
        if not jobs:
            resources.provide(JobQueue, NoQueue())
            resources.provide(Intake, Intake(database, index, evidence, settings.zone))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        owned = database is None
        db = database or Database(make_engine(settings.database_url))
        # The first canary burned would build minting's tables inside its write transaction.
        threading.Thread(target=load_tables, name="mint-tables", daemon=True).start()
        resources.provide(Database, db)
        # One HTTP client per process for the site watcher, shared by requests and jobs.
        crawls = resources.provide(
            CrawlLoop, CrawlLoop(allow_private=settings.fetch_private_addresses)
        )
        try:
            if not jobs:
                resources.provide(JobQueue, NoQueue())
                resources.provide(Intake, Intake(db, index, evidence, settings.zone))
                yield
                return
            async with serve_jobs(settings, db, index, evidence, crawls) as runtime:
                resources.provide(JobQueue, runtime.jobs)
                resources.provide(Intake, runtime.intake)
                yield
        finally:
            await run_in_threadpool(crawls.close)
            if owned:
                db.engine.dispose()

    app.router.lifespan_context = lifespan
    install_problem_handlers(app)
    install_problem_openapi(app)
    app.add_middleware(
        RequestMiddleware,
        metrics=HttpMetrics(metrics),
        max_body_bytes=settings.max_body_bytes,
        upload_limits={
            IMPORT_PATH: settings.max_upload_bytes,
            SCANS_PATH: settings.max_scan_bytes,
            FILES_PATH: settings.max_upload_bytes,
            SCREEN_PATH: MAX_SCREEN_BYTES,
        },
        pattern_limits=[(STYLE_SAMPLE_PATH, STYLE_SAMPLE_BYTES)],
        streaming_path=INTERLEAVE_PATH,
    )
    for router in ROUTERS:
        app.include_router(router)
    # The investigator pages answer to a session cookie, not a key: outside ROUTERS and the schema.
    install_web(app)
    return app
