"""/v1/sites: the data-trading sites the watcher crawls; thin routes over app.sites.service."""

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from app.audit.service import record_audit
from app.deps import SessionDep, SiteManager, SiteReader
from app.evidence.store import EvidenceStore
from app.settings import Settings
from app.sites import service
from app.sites.crawling import CrawlLoop
from app.sites.schemas import ListingRead, PollSummary, SiteCreate, SitePage, SiteRead, SiteUpdate

router = APIRouter(prefix="/v1/sites", tags=["sites"])


@router.get("")
def list_sites(session: SessionDep, actor: SiteReader) -> SitePage:
    """Every site, with how its last poll went."""
    sites = service.list_sites(session)
    return SitePage(items=[SiteRead.of(s) for s in sites], total=len(sites))


@router.post("", status_code=status.HTTP_201_CREATED)
def create_site(session: SessionDep, actor: SiteManager, body: SiteCreate) -> SiteRead:
    return SiteRead.of(service.create_site(session, actor, body))


@router.get("/{site_id}")
def get_site(session: SessionDep, actor: SiteReader, site_id: uuid.UUID) -> SiteRead:
    return SiteRead.of(service.get_site(session, site_id))


@router.patch("/{site_id}")
def update_site(
    session: SessionDep, actor: SiteManager, site_id: uuid.UUID, body: SiteUpdate
) -> SiteRead:
    return SiteRead.of(service.update_site(session, actor, site_id, body))


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_site(session: SessionDep, actor: SiteManager, site_id: uuid.UUID) -> None:
    service.delete_site(session, actor, site_id)


@router.get("/{site_id}/listings")
def list_listings(
    session: SessionDep,
    actor: SiteReader,
    site_id: uuid.UUID,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ListingRead]:
    """Listings seen on the site, most recently changed first."""
    rows, _total = service.list_listings(session, site_id, limit, offset)
    return [
        ListingRead(
            url=r.url,
            sha256=r.sha256,
            first_seen_at=r.first_seen_at,
            changed_at=r.changed_at,
            sightings=r.sightings,
        )
        for r in rows
    ]


@router.post("/{site_id}/poll")
async def poll_now(
    request: Request, session: SessionDep, actor: SiteManager, site_id: uuid.UUID
) -> PollSummary:
    """Poll the site now and wait for the result (to try a new definition); scheduled polls
    run as jobs."""
    settings: Settings = request.app.state.settings

    def audit() -> None:
        service.get_site(session, site_id)
        record_audit(session, actor, "site.poll_requested", "site", site_id)
        # Release the request's transaction (on SQLite, the write lock) before the crawl.
        session.commit()

    await asyncio.to_thread(audit)
    store = EvidenceStore(settings.evidence_path)
    crawls: CrawlLoop = request.app.state.crawls
    return await crawls.run_async(
        lambda crawler: service.poll_site(
            request.app.state.engine,
            request.app.state.index_holder,
            store,
            crawler,
            site_id,
            refresh=getattr(request.app.state, "refresh_later", None),
        )
    )
